#!/usr/bin/env bash
# Fails when an include crosses the layering DESIGN.md fixes:
#   - serve/core/ includes no protocol folder (serve/v1, kserve, edge, ops, ...);
#   - a protocol folder includes no other protocol folder;
#   - engine/ includes nothing of vision, tasks, model, serve, bench, cli;
#   - vision/ and tasks/ include nothing of model, serve, bench, cli (tasks
#     may use the engine's public header);
#   - model/ includes nothing of serve, bench, cli;
#   - media/ (camera streams) includes nothing but vision/ and util/;
#   - bench/ includes nothing but itself (it never links the engine);
#   - no two folders include each other (a cycle).
# Usage: scripts/check-layers.sh [SOURCE_DIR]
set -uo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root/src" || exit 2
fail=0
bad() { echo "check-layers: $1"; fail=1; }

# includes of files under $1 matching the pattern $2, as file:line
grep_inc() { grep -rnE "^#include \"($2)" "$1" --include='*.c' --include='*.h' 2>/dev/null; }

protocols=$(find serve -mindepth 1 -maxdepth 1 -type d ! -name core -printf '%f\n' | sort)
proto_re=$(echo "$protocols" | paste -sd'|' -)

[ -n "$proto_re" ] && while read -r hit; do
    [ -n "$hit" ] && bad "core includes a protocol: $hit"
done <<<"$(grep_inc serve/core "serve/($proto_re)/")"

for p in $protocols; do
    others=$(echo "$protocols" | grep -vx "$p" | paste -sd'|' -)
    [ -z "$others" ] && continue
    while read -r hit; do
        [ -n "$hit" ] && bad "protocol $p includes another protocol: $hit"
    done <<<"$(grep_inc "serve/$p" "serve/($others)/")"
done

check() { # folder, forbidden include prefixes (regex)
    while read -r hit; do
        [ -n "$hit" ] && bad "$1 must not include this: $hit"
    done <<<"$(grep_inc "$1" "$2")"
}
check engine "vision/|tasks/|model/|serve/|bench/|cli/"
check vision "engine/|tasks/|model/|serve/|bench/|cli/"
check tasks "vision/|model/|serve/|bench/|cli/"
check model "serve/|bench/|cli/"
check media "engine/|tasks/|model/|serve/|bench/|cli/"
check bench "engine/|vision/|tasks/|model/|serve/|cli/|glint/"
check util "engine/|vision/|tasks/|model/|serve/|bench/|cli/|glint/"

# folder-level cycles: a includes b and b includes a
folders=$(find . -name '*.[ch]' -printf '%h\n' | sed 's|^\./||' | sort -u)
declare -A edge
for f in $folders; do
    for inc in $(grep -hoE '^#include "[a-z_]+(/[a-z_0-9]+)*/' "$f"/*.[ch] 2>/dev/null |
                 sed -E 's/^#include "//; s|/$||' | sort -u); do
        [ "$inc" != "$f" ] && [ -d "$inc" ] && edge["$f>$inc"]=1
    done
done
for k in "${!edge[@]}"; do
    a=${k%>*} b=${k#*>}
    [[ "$a" < "$b" ]] && [ -n "${edge[$b>$a]:-}" ] && bad "cycle: $a and $b include each other"
done

[ $fail -eq 0 ] && echo "check-layers: ok ($(echo "$folders" | wc -l) folders)"
exit $fail
