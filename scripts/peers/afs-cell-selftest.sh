#!/usr/bin/env bash
# afs-cell-selftest.sh: end-to-end check of afs-cell.sh on this machine (root needed, ~70 s).
# Uses two throwaway cells named selftest1/selftest2 (state under <repo>/.state/) and wipes them at the end;
# AFS_CELL_SELFTEST_A/AFS_CELL_SELFTEST_B choose other names (e.g. when another checkout runs it too).
#   scripts/peers/afs-cell-selftest.sh
set -euo pipefail

CELLSH=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/afs-cell.sh
A=${AFS_CELL_SELFTEST_A:-selftest1}
B=${AFS_CELL_SELFTEST_B:-selftest2}
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
check "FUSE write + read back" bash -c "echo written > '$F:user.bob/new.txt' && grep -qx written '$F:user.bob/new.txt' && rm '$F:user.bob/new.txt'"

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

say "6. a second file server: up, backupsys on both, stop/start, freeze/thaw"
check "FUSE client back (up --fuse on a running cell)" "$CELLSH" up --name "$A" --fuse
secs "$CELLSH" fileserver2 up --name "$A" >"$TMP/env2" 2>"$TMP/fs2up.log"
echo "fileserver2 up: $ELAPSED s"
# shellcheck disable=SC1091
source "$TMP/env2"
S1=$AFSBOT_AFS_SERVER
S2=$AFSBOT_AFS_SERVER2
check "env2 names server 2 in the cell's subnet" bash -c "[[ $S2 == ${S1%.1}.3 ]]"
check "vos listaddrs shows both servers" bash -c "vos listaddrs ${V[*]} | grep -xF -e $S1 -e $S2 | wc -l | grep -qx 2"
check "vos create on server 2" vos create "$S2" a s2.vol -maxquota 0 "${V[@]}"
check "backupsys: no failure" bash -c "vos backupsys ${V[*]} 2>&1 | grep -q 'failed to backup: 0\$'"
check "backupsys cloned on server 1 (user.bob.backup)" bash -c "vos listvol $S1 ${V[*]} | grep -q '^user\.bob\.backup '"
check "backupsys cloned on server 2 (s2.vol.backup)" bash -c "vos listvol $S2 ${V[*]} | grep -q '^s2\.vol\.backup '"
check "vos dump -time 0 -file of a clone on server 2" vos dump -id s2.vol.backup -time 0 -file "$TMP/s2.dump" "${V[@]}"
check "FUSE write + read back on server 2" bash -c "echo on-s2 > '$F:s2.vol/f.txt' && sync '$F:s2.vol/f.txt' && grep -qx on-s2 '$F:s2.vol/f.txt'"
secs "$CELLSH" fileserver2 stop --name "$A" 2>/dev/null
echo "fileserver2 stop: $ELAPSED s"
check "status says stopped" bash -c "'$CELLSH' fileserver2 status --name $A 2>/dev/null | grep -qx stopped"
check "vos examine on stopped server 2 fails within 5 s with vos's error" bash -c "! timeout 5 vos examine s2.vol ${V[*]} >$TMP/ex.out 2>&1 && grep -q 'Possible communication failure' $TMP/ex.out"
check "server 1 still answers" vos examine user.alice "${V[@]}"
check "backupsys with server 2 stopped: rc 0, 1 failed" bash -c "vos backupsys ${V[*]} 2>&1 | grep -q 'failed to backup: 1\$'"
secs "$CELLSH" fileserver2 start --name "$A" 2>/dev/null
echo "fileserver2 start: $ELAPSED s"
check "vos examine after start" vos examine s2.vol "${V[@]}"
check "freeze" "$CELLSH" fileserver2 freeze --name "$A"
check "status says frozen" bash -c "'$CELLSH' fileserver2 status --name $A 2>/dev/null | grep -qx frozen"
check "vos examine on frozen server 2 hangs (no answer within 3 s)" bash -c "timeout 3 vos examine s2.vol ${V[*]}; [[ \$? == 124 ]]"
check "thaw" "$CELLSH" fileserver2 thaw --name "$A"
check "vos examine after thaw" vos examine s2.vol "${V[@]}"
check "fileserver2 up again is a no-op" bash -c "'$CELLSH' fileserver2 up --name $A | grep -qx AFSBOT_AFS_SERVER2=$S2"
"$CELLSH" fileserver2 freeze --name "$A" 2>/dev/null # down must cope with a frozen server

say "4. down --wipe of everything leaves nothing behind"
NETS=() PIDS=()
for n in "$A" "$B"; do
	st=$("$CELLSH" env --name "$n" | sed -n 's/^AFSBOT_AFS_STATE=//p')
	NETS+=("$(sed -n 's/^NET=//p' "$st/cell.conf")")
	PIDS+=($(cat "$st/run/"*.pid "$st/local/"*.pid "$st/fs2/run/"*.pid "$st/fs2/local/"*.pid 2>/dev/null || true))
done
"$CELLSH" down --name "$A" --wipe 2>/dev/null
"$CELLSH" down --name "$B" --wipe 2>/dev/null
check "no netns afsbot-$A / afsbot-$A.fs2 / afsbot-$B" bash -c "! ip netns list 2>/dev/null | grep -qE '^afsbot-($A|$A\.fs2|$B)( |\$)'"
check "no veth afsb${NETS[0]}-h / afsb${NETS[1]}-h" bash -c "! ip link show afsb${NETS[0]}-h && ! ip link show afsb${NETS[1]}-h"
check "no mounts under their state dirs" bash -c "! grep -E '/cell-($A|$B)' /proc/self/mountinfo"
check "no state dirs" bash -c "[[ ! -e $(dirname "$AFSBOT_AFS_STATE")/cell-$A && ! -e $(dirname "$AFSBOT_AFS_STATE")/cell-$B ]]"
check "none of their processes left (pids ${PIDS[*]})" bash -c 'for p in "$@"; do s=$(awk "{print \$3}" /proc/$p/stat 2>/dev/null) || continue; [[ $s == Z ]] || exit 1; done' _ "${PIDS[@]}"

echo
if ((FAILS)); then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
