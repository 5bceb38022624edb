#!/bin/sh
# Runs every libFuzzer target of a GLINT_FUZZ build for a fixed time each.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS
#
# fuzz_X reads its committed seeds from fuzz/corpus/X/ and grows a working
# corpus in fuzz/corpus-work/X/ (gitignored; kept between runs). Crash, leak,
# timeout and out-of-memory inputs are written to fuzz/corpus-work/artifacts/X/
# (copy them elsewhere to keep them). Exits non-zero if any target failed.
#
# Build first:
#   CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DGLINT_FUZZ=ON \
#       -DGLINT_SANITIZE=ON && cmake --build build-fuzz -j2
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
secs=$2
case $secs in
    ''|*[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/fuzz/corpus-work

found=0
failed=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] || continue
    found=1
    name=$(basename "$bin")
    target=${name#fuzz_}
    seeds=$root/fuzz/corpus/$target
    mkdir -p "$work/$target" "$work/artifacts/$target"
    set -- "$work/$target"
    [ -d "$seeds" ] && set -- "$@" "$seeds"
    echo "== $name: $secs s, corpus $work/$target" >&2
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$bin" -max_total_time="$secs" -max_len=2000000 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" "$@"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "== $name FAILED (exit $rc); inputs in $work/artifacts/$target/" >&2
        failed=1
    fi
done
if [ $found -eq 0 ]; then
    echo "$0: no fuzz_* executables in $build (configure with -DGLINT_FUZZ=ON)" >&2
    exit 2
fi
exit $failed
