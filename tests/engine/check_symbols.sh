#!/bin/sh
# Fails if the engine library exports a symbol outside its two prefixes:
# glint_ (the public API, include/glint/) and eng_ (engine-internal; see
# docs/engine.md "Symbol names"). Symbols a sanitizer adds (__odr_asan.*,
# __asan_*, __sancov_*) are not the engine's. Usage: check_symbols.sh libglint_engine.a
bad=$(nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' | grep -v '^glint_' | grep -v '^eng_' |
      grep -v '^__odr_asan\.' | grep -v '^__asan_' | grep -v '^__sancov_')
if [ -n "$bad" ]; then
    echo "symbols without the glint_ or eng_ prefix:"
    echo "$bad"
    exit 1
fi
echo "all $(nm -g --defined-only "$1" | awk 'NF == 3' | wc -l) exported symbols prefixed"
