#!/usr/bin/env bash
# afs-cell-selftest.sh: end-to-end check of afs-cell.sh on this machine (root needed, ~40 s).
# Uses two throwaway cells named selftest1/selftest2 (state under <repo>/.state/) and wipes them at the end.
#   scripts/peers/afs-cell-selftest.sh
set -euo pipefail

CELLSH=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/afs-cell.sh
A=selftest1
B=selftest2
TMP=$(mktemp -d /tmp/afs-cell-selftest.XXXXXX)
FAILS=0

say() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { # check DESCRIPTION CMD...
	local d=$1
	shift
	if "$@" >"$TMP/out" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/     /' "$TMP/out" | tail -n 20; fi
}
secs() { # secs CMD...: run, print elapsed seconds into $ELAPSED
	local t0=${EPOCHREALTIME/./}
	"$@"
	local t1=${EPOCHREALTIME/./}
	ELAPSED=$(printf '%d.%02d' $(((t1 - t0) / 1000000)) $((((t1 - t0) / 10000) % 100)))
}
cleanup() {
	"$CELLSH" down --name "$A" --wipe >/dev/null 2>&1 || true
	"$CELLSH" down --name "$B" --wipe >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
"$CELLSH" down --name "$A" --wipe 2>/dev/null
"$CELLSH" down --name "$B" --wipe 2>/dev/null

say "1. up --seed from nothing"
secs "$CELLSH" up --name "$A" --seed >"$TMP/env" 2>"$TMP/up.log"
echo "up from nothing: $ELAPSED s"
# shellcheck disable=SC1091
source "$TMP/env"
C=$AFSBOT_AFS_CONFIG_DIR
V=(-localauth -config "$C" -noresolve)
check "env has all keys" grep -q AFSBOT_AFS_FUSE_MOUNT= "$TMP/env"
check "vos listvldb lists the 4 seeded volumes" \
	bash -c "vos listvldb ${V[*]} | grep -cE '^(user\.alice|user\.bob|db\.alice|mail\.alice) *\$' | grep -qx 4"
check "vos examine -format" bash -c "vos examine user.alice ${V[*]} -format | grep -q '^maxquota	0'"
check "vos backup" vos backup user.alice "${V[@]}"
check "vos dump -time 0 to stdout" bash -c "vos dump -id user.alice.backup -time 0 ${V[*]} 2>/dev/null | wc -c | awk '\$1 > 1000000 { ok = 1 } END { exit !ok }'"
mkdir "$TMP/rv"
check "restorevol of the dump shows the seeded files" bash -c "vos dump -id user.alice.backup -time 0 ${V[*]} 2>/dev/null | restorevol -dir $TMP/rv && cd $TMP/rv/user.alice && sha256sum --quiet -c $AFSBOT_AFS_STATE/seed/user.alice.sha256"
check "vos restore from stdin" bash -c "vos dump -id user.alice.backup -time 0 ${V[*]} 2>/dev/null | vos restore -server $AFSBOT_AFS_SERVER -partition a -name st.restored -overwrite full ${V[*]} && vos remove -id st.restored ${V[*]}"
F="$AFSBOT_AFS_FUSE_MOUNT/.:mount/$AFSBOT_AFS_CELL"
check "FUSE read of a seeded file" cmp "$F:user.alice/projects/data.bin" "$AFSBOT_AFS_STATE/seed/user.alice/projects/data.bin"
check "FUSE write + fsync + read back" bash -c "echo written > '$F:user.bob/new.txt' && sync '$F:user.bob/new.txt' && grep -qx written '$F:user.bob/new.txt' && rm '$F:user.bob/new.txt'"

say "2. idempotence"
secs "$CELLSH" up --name "$A" --seed >/dev/null 2>&1
echo "up when already up: $ELAPSED s"
check "status says up" bash -c "'$CELLSH' status --name $A 2>/dev/null | grep -qx up"
secs "$CELLSH" down --name "$A" 2>/dev/null
echo "down: $ELAPSED s"
check "status after down is non-zero" bash -c "! '$CELLSH' status --name $A"
check "down again" "$CELLSH" down --name "$A"
secs "$CELLSH" up --name "$A" --fuse >/dev/null 2>&1
echo "up again (state reused): $ELAPSED s"
check "seeded data survived down/up" cmp "$F:user.alice/projects/data.bin" "$AFSBOT_AFS_STATE/seed/user.alice/projects/data.bin"

say "3. two cells side by side"
check "second cell up" "$CELLSH" up --name "$B" --seed
check "both answer" bash -c "'$CELLSH' status --name $A && '$CELLSH' status --name $B"

say "5. kill -9 bosserver, then up recovers"
kill -9 "$(cat "$AFSBOT_AFS_STATE/run/bosserver.pid")"
check "status is not up" bash -c "! '$CELLSH' status --name $A"
check "up recovers" "$CELLSH" up --name "$A"
check "status says up" "$CELLSH" status --name "$A"

say "4. down --wipe of everything leaves nothing behind"
NETS=() PIDS=()
for n in "$A" "$B"; do
	st=$("$CELLSH" env --name "$n" | sed -n 's/^AFSBOT_AFS_STATE=//p')
	NETS+=("$(sed -n 's/^NET=//p' "$st/cell.conf")")
	PIDS+=($(cat "$st/run/"*.pid "$st/local/"*.pid 2>/dev/null || true))
done
"$CELLSH" down --name "$A" --wipe 2>/dev/null
"$CELLSH" down --name "$B" --wipe 2>/dev/null
check "no netns afsbot-$A / afsbot-$B" bash -c "! ip netns list 2>/dev/null | grep -qE '^afsbot-($A|$B)( |\$)'"
check "no veth afsb${NETS[0]}-h / afsb${NETS[1]}-h" bash -c "! ip link show afsb${NETS[0]}-h && ! ip link show afsb${NETS[1]}-h"
check "no mounts under their state dirs" bash -c "! grep -E '/cell-($A|$B)' /proc/self/mountinfo"
check "no state dirs" bash -c "[[ ! -e $(dirname "$AFSBOT_AFS_STATE")/cell-$A && ! -e $(dirname "$AFSBOT_AFS_STATE")/cell-$B ]]"
check "none of their processes left (pids ${PIDS[*]})" bash -c 'for p in "$@"; do s=$(awk "{print \$3}" /proc/$p/stat 2>/dev/null) || continue; [[ $s == Z ]] || exit 1; done' _ "${PIDS[@]}"

echo
if ((FAILS)); then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
