#!/usr/bin/env bash
# afs-cell.sh: bring a real, throwaway OpenAFS 1.8 cell up and down for afsbot's tests and demo.
#
#   afs-cell.sh up     [--name NAME] [--state DIR] [--net N] [--cell CELL] [--seed] [--fuse]
#   afs-cell.sh down   [--name NAME] [--state DIR] [--wipe]
#   afs-cell.sh status [--name NAME] [--state DIR]
#   afs-cell.sh env    [--name NAME] [--state DIR]
#   afs-cell.sh exec   [--name NAME] [--state DIR] -- CMD [ARG...]
#   afs-cell.sh fileserver2 up|stop|start|freeze|thaw|down|status|env [--name NAME] [--state DIR]
#   afs-cell.sh fileserver2 exec [--name NAME] [--state DIR] -- CMD [ARG...]
#
# Layout (all cell data lives in the state dir, default <repo>/.state/cell-NAME):
#   * network namespace afsbot-NAME, veth pair afsbN-n (10.77.N.1, inside) / afsbN-h (10.77.N.2, root ns);
#   * bosserver and its children (ptserver, vlserver, dafs) run inside that namespace AND in a mount
#     namespace of their own in which <state>/etc, db, local, log, vicepa are bind-mounted over
#     /etc/openafs, /var/lib/openafs/{db,local}, /var/log/openafs and /vicepa: the host copies are never
#     written;
#   * <state>/config (ThisCell, CellServDB, KeyFileExt) lets `vos ... -localauth -config <state>/config`
#     and `pts ... -config` reach the cell from the ROOT namespace over the veth;
#   * optional FUSE client afsd.fuse, mounted at <state>/afs in the root mount namespace; any volume is
#     reachable (read and write) at <state>/afs/.:mount/<cell>:<volume>/ without a mount point.
#     afsd.fuse runs in the cell's NETWORK namespace (see start_fuse for why), its mount is in the root
#     MOUNT namespace, so every process on the host sees it.
#
# A second file server (`fileserver2`, for tests where one of two servers fails during a run), on a cell
# that is up:
#   * network namespace afsbot-NAME.fs2 (the dot cannot occur in a cell name, so no other instance's
#     namespace can be called that) with 10.77.N.3 on veth afsbN-2n; its peer afsbN-2b sits in the
#     FIRST namespace, on a bridge afsbN-br that `fileserver2 up` creates there and that takes over
#     afsbN-n and the address 10.77.N.1 (moved once, in a few ms; the bridge has afsbN-n's MAC). The
#     root namespace reaches 10.77.N.3 over the same veth afsbN-h and its existing /24 route: nothing
#     changes in the root namespace and nothing is routed or forwarded anywhere, it is all one L2 segment;
#   * its own bosserver (same KeyFileExt) with only a `dafs` instance, in a mount namespace of its own
#     with <state>/fs2/{etc,db,local,log,vicepa} bind-mounted like the first server's; the fileserver
#     registers 10.77.N.3 in the cell's VLDB on start (`vos listaddrs`);
#   * `fileserver2 up` prints AFSBOT_AFS_SERVER2* lines and keeps them in <state>/env2; idempotent (it
#     also starts a stopped or thaws a frozen server). `stop` = `bos stop dafs -wait` (vos calls to it
#     then fail with vos's own error), `start` = `bos start dafs` and wait until the volserver answers;
#     `freeze`/`thaw` send SIGSTOP/SIGCONT to its dafileserver and davolserver (PIDs from the pid files
#     bosserver writes and the namespace's own PIDs, each checked); `down` stops it and removes its
#     namespace (state kept); `status` prints up, stopped, frozen, degraded or down (exit 0, 1, 1, 1, 3);
#     `exec` runs a command in its namespaces (e.g. bos status 10.77.N.3 -localauth).
#   * `down` of the cell (and any restart of it by `up`) takes the second server down as well; `--wipe`
#     deletes its state with the rest. After the cell comes up again, run `fileserver2 up` again.
#
# After `up`, <state>/env holds KEY=value lines (AFSBOT_AFS_*), also printed on stdout.
# Progress goes to stderr. Exit codes: 0 ok; 1 error; status: 0 up, 1 degraded, 3 down.
# Needs root, iproute2, util-linux and the Debian packages openafs-dbserver openafs-fileserver
# openafs-client openafs-krb5 (and openafs-fuse for --fuse/--seed). It installs nothing.
set -euo pipefail
shopt -s nullglob

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname -- "$SELF")
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
AFS_LIBEXEC=/usr/lib/openafs
HOST_REG=/run/afsbot-afs-cell          # host-level record of what we created outside state dirs
SEED_VOLUMES=(user.alice user.bob db.alice mail.alice)
SERVER_COMMS='^(bosserver|ptserver|vlserver|dafileserver|davolserver|salvageserver|dasalvager|fileserver|volserver|salvager)$'
T0_US=${EPOCHREALTIME/./}

NAME=test
STATE=""
NET=""
CELL=""
SEED=0
FUSE=0
WIPE=0
EXEC_ARGV=()
CMD=""
SUB=""

# ---------------------------------------------------------------------------------------------- output
log() {
	local now=$EPOCHREALTIME e
	e=$(((${now/./} - T0_US) / 10000))
	printf '%(%H:%M:%S)T.%s afs-cell[%s] +%d.%02ds %s\n' "${now%.*}" "${now:(-6):3}" "$NAME" \
		$((e / 100)) $((e % 100)) "$*" >&2
}
die() {
	log "ERROR: $*"
	exit 1
}
close_fds() { # in a daemon launcher: close every inherited fd above 2 (pipes of the caller, our locks)
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
	done
}
must() { # run a command; on failure say which one
	local out
	out=$("$@" 2>&1) || die "'$*' failed: ${out//$'\n'/ }"
}
usage() {
	awk 'NR == 1 { next } /^#$/ && ++n == 2 { exit } { sub(/^# ?/, ""); print }' "$SELF"
	cat <<'EOF'

options:
  --name NAME   cell instance name (default: test); netns is afsbot-NAME
  --state DIR   state dir (default: <repo>/.state/cell-NAME)
  --net N       use 10.77.N.0/24 (default: test=77, demo=78, others derived from the name)
  --cell CELL   AFS cell name (default: afsbot.test; realm is the upper-cased cell)
  --fuse        also run the FUSE client (afsd.fuse) mounted at <state>/afs
  --seed        create and fill user.alice user.bob db.alice mail.alice (implies --fuse)
  --wipe        (down) also delete the state dir (only one this script created)

fileserver2 (a second file server at 10.77.N.3 in the cell; the cell must be up):
  up            start it (netns afsbot-NAME.fs2); prints AFSBOT_AFS_SERVER2*=... (kept in <state>/env2)
  stop | start  bos stop dafs -wait | bos start dafs and wait until its volserver answers
  freeze | thaw SIGSTOP | SIGCONT its dafileserver and davolserver
  down          stop it and remove its namespace (state kept; `down` of the cell does this too)
  status        print up, stopped, frozen, degraded or down (exit 0, 1, 1, 1, 3)
  env | exec    print <state>/env2 | run a command in its network and mount namespaces
EOF
}

# ------------------------------------------------------------------------------------------- arguments
parse_args() {
	CMD=${1:-}
	[[ $# -gt 0 ]] && shift
	if [[ $CMD == fileserver2 && -n ${1:-} && ${1:-} != -* ]]; then
		SUB=$1
		shift
	fi
	while (($#)); do
		case $1 in
		--name) NAME=${2:?--name needs a value}; shift 2 ;;
		--name=*) NAME=${1#*=}; shift ;;
		--state) STATE=${2:?--state needs a value}; shift 2 ;;
		--state=*) STATE=${1#*=}; shift ;;
		--net) NET=${2:?--net needs a value}; shift 2 ;;
		--net=*) NET=${1#*=}; shift ;;
		--cell) CELL=${2:?--cell needs a value}; shift 2 ;;
		--cell=*) CELL=${1#*=}; shift ;;
		--seed) SEED=1; FUSE=1; shift ;;
		--fuse) FUSE=1; shift ;;
		--wipe) WIPE=1; shift ;;
		-h | --help) usage; exit 0 ;;
		--) shift; EXEC_ARGV=("$@"); break ;;
		*) usage >&2; die "unknown argument '$1'" ;;
		esac
	done
	[[ $NAME =~ ^[a-z0-9][a-z0-9-]{0,23}$ ]] ||
		die "bad --name '$NAME': use 1-24 characters from a-z 0-9 -"
	if [[ -z $STATE ]]; then STATE=$REPO_ROOT/.state/cell-$NAME; fi
	STATE=$(readlink -m -- "$STATE")
	[[ $STATE =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "bad --state '$STATE': use a path without spaces or special characters"
	case $STATE in / | /etc* | /usr* | /var/lib/openafs* | /var/log/openafs* | /vicep*)
		die "refusing --state $STATE: choose a dedicated directory" ;;
	esac
	if [[ $NET =~ ^[0-9]{1,3}$ ]]; then NET=$((10#$NET)); fi
	if [[ -n $NET ]] && ! [[ $NET =~ ^[0-9]+$ && $NET -ge 1 && $NET -le 254 ]]; then
		die "bad --net '$NET': must be 1..254 (the cell uses 10.77.N.0/24)"
	fi
	if [[ -n $CELL ]] && ! [[ $CELL =~ ^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$ ]]; then
		die "bad --cell '$CELL': use a lower-case DNS-like name such as afsbot.test"
	fi
}

default_net() {
	case $1 in
	test) echo 77 ;;
	demo) echo 78 ;;
	*) local c; c=$(printf '%s' "$1" | cksum); echo $((100 + ${c%% *} % 150)) ;;
	esac
}

# Paths and names derived from NAME/STATE/NET/CELL (call after load_conf).
derive() {
	S=$STATE
	MARKER=$S/.afsbot-afs-cell
	CONF=$S/cell.conf
	ENVF=$S/env
	RUN=$S/run
	LOGD=$S/log
	CONFIG=$S/config
	NETNS=afsbot-$NAME
	SRV_IP=10.77.$NET.1
	HOST_IP=10.77.$NET.2
	VETH_H=afsb$NET-h
	VETH_N=afsb$NET-n
	REALM=${CELL^^}
	VOSA=(-localauth -config "$CONFIG" -noresolve)
	# the second file server (fileserver2)
	FS2=$S/fs2
	FS2_RUN=$FS2/run
	ENV2=$S/env2
	NETNS2=afsbot-$NAME.fs2
	SRV2_IP=10.77.$NET.3
	BR=afsb$NET-br
	VETH2_B=afsb$NET-2b
	VETH2_N=afsb$NET-2n
	MAC2=$(printf '02:af:5b:00:%02x:03' "$NET") # locally administered; unique on the cell's own segment
	srv_ctx 1
}

# Which server's bosserver the process and namespace helpers below act on: 1 = the cell's own (netns
# afsbot-NAME, private dirs in <state>), 2 = the second file server (afsbot-NAME.fs2, <state>/fs2).
srv_ctx() {
	case $1 in
	1) SNETNS=$NETNS SDIR=$S SRUN=$RUN SLOG=$LOGD SIP=$SRV_IP SWHO="" ;;
	2) SNETNS=$NETNS2 SDIR=$FS2 SRUN=$FS2_RUN SLOG=$FS2/log SIP=$SRV2_IP SWHO="file server 2: " ;;
	*) die "internal error: srv_ctx $1" ;;
	esac
}

# cell.conf pins NET and CELL for the lifetime of the state dir (the VLDB stores the server address).
load_conf() {
	local c_net="" c_cell="" c_name=""
	CELL_INITIALIZED=0
	if [[ -s $STATE/etc/server/KeyFileExt ]] || [[ -d $STATE/db && -n $(ls -A "$STATE/db") ]]; then
		CELL_INITIALIZED=1
	fi
	if [[ -f $STATE/cell.conf ]]; then
		c_net=$(sed -n 's/^NET=//p' "$STATE/cell.conf")
		c_cell=$(sed -n 's/^CELL=//p' "$STATE/cell.conf")
		c_name=$(sed -n 's/^NAME=//p' "$STATE/cell.conf")
		[[ -z $c_name || $c_name == "$NAME" ]] ||
			die "state dir $STATE belongs to cell instance '$c_name', not '$NAME'"
		if ((!CELL_INITIALIZED)); then # nothing depends on the stored values yet
			[[ -n $NET ]] || NET=$c_net
			[[ -n $CELL ]] || CELL=$c_cell
			c_net=$NET c_cell=$CELL
		fi
		if [[ -n $NET && $NET != "$c_net" ]]; then
			die "state dir $STATE was created with --net $c_net; pass --net $c_net or run 'down --name $NAME --wipe' first"
		fi
		if [[ -n $CELL && $CELL != "$c_cell" ]]; then
			die "state dir $STATE holds cell $c_cell; pass --cell $c_cell or run 'down --name $NAME --wipe' first"
		fi
		NET=$c_net
		CELL=$c_cell
	fi
	[[ -n $NET ]] || NET=$(default_net "$NAME")
	[[ -n $CELL ]] || CELL=afsbot.test
	derive
}

# ----------------------------------------------------------------------------------------- requirements
require_root() {
	[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, bind mounts, FUSE); try: sudo $0 $CMD --name $NAME"
}
need_bin() { # need_bin PATH-or-NAME PACKAGE
	if [[ $1 == /* ]]; then [[ -x $1 ]] && return 0; else command -v "$1" >/dev/null 2>&1 && return 0; fi
	MISSING+=("$1 (apt package $2)")
}
require_bins() {
	MISSING=()
	need_bin ip iproute2
	need_bin unshare util-linux
	need_bin nsenter util-linux
	need_bin flock util-linux
	need_bin setsid util-linux
	need_bin timeout coreutils
	need_bin vos openafs-client
	need_bin pts openafs-client
	need_bin bos openafs-client
	need_bin /usr/sbin/bosserver openafs-fileserver
	need_bin $AFS_LIBEXEC/dafileserver openafs-fileserver
	need_bin $AFS_LIBEXEC/davolserver openafs-fileserver
	need_bin $AFS_LIBEXEC/salvageserver openafs-fileserver
	need_bin $AFS_LIBEXEC/dasalvager openafs-fileserver
	need_bin $AFS_LIBEXEC/ptserver openafs-dbserver
	need_bin $AFS_LIBEXEC/vlserver openafs-dbserver
	need_bin /usr/sbin/asetkey openafs-krb5
	if ((FUSE)); then
		need_bin /usr/sbin/afsd.fuse openafs-fuse
		[[ -c /dev/fuse ]] || MISSING+=("/dev/fuse (load the fuse kernel module: modprobe fuse)")
	fi
	local d
	for d in /etc/openafs /var/lib/openafs/db /var/lib/openafs/local /var/log/openafs; do
		[[ -d $d ]] || MISSING+=("$d (mount point for the cell's private copy; reinstall openafs-fileserver/openafs-dbserver)")
	done
	if ((${#MISSING[@]})); then
		local m
		for m in "${MISSING[@]}"; do log "missing: $m"; done
		die "required programs or paths are missing; install with: apt-get install -y --no-install-recommends openafs-dbserver openafs-fileserver openafs-client openafs-krb5 openafs-fuse iproute2"
	fi
}

# ------------------------------------------------------------------------------------------------ locks
lock_cell() { # serialise commands on one cell; fd 9 (never inherited by daemons)
	exec 9<"$S"
	flock -w 120 9 || die "another afs-cell.sh command holds the lock on $S for more than 120 s"
}
lock_host() { # serialise host-level changes (netns, veth, /vicepa); fd 8
	exec 8<"$SELF"
	flock -w 60 8 || die "could not get the host lock ($SELF) within 60 s"
}
unlock_host() {
	flock -u 8 2>/dev/null || true
	exec 8<&-
}

# -------------------------------------------------------------------------------------------- processes
pid_running() { # alive and not a zombie
	[[ ${1:-} =~ ^[0-9]+$ ]] || return 1
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z && ${st%% *} != X ]]
}
pid_comm() { cat "/proc/$1/comm" 2>/dev/null || true; }
pid_stopped() { # in job-control stop (SIGSTOP), state T
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} == T ]]
}
read_pid() {
	local p=""
	if [[ -f $1 ]]; then read -r p <"$1" 2>/dev/null || true; fi
	[[ $p =~ ^[0-9]+$ ]] && printf '%s' "$p"
	return 0
}
netns_inode() { stat -L -c %i "/run/netns/$SNETNS" 2>/dev/null; }
pid_in_netns() {
	local want
	want=$(netns_inode) || return 1
	[[ $(readlink "/proc/$1/ns/net" 2>/dev/null) == "net:[$want]" ]]
}
pid_in_cell_mountns() { # its /etc/openafs is our <state>/etc (<state>/fs2/etc for server 2)
	local a b
	a=$(stat -c %d:%i "/proc/$1/root/etc/openafs" 2>/dev/null) || return 1
	b=$(stat -c %d:%i "$SDIR/etc" 2>/dev/null) || return 1
	[[ $a == "$b" ]]
}
pid_is_cell_server() {
	pid_running "$1" || return 1
	[[ $(pid_comm "$1") =~ $SERVER_COMMS ]] || return 1
	pid_in_netns "$1" || pid_in_cell_mountns "$1"
}
pid_is_our_fuse() {
	pid_running "$1" || return 1
	[[ $(pid_comm "$1") == afsd.fuse ]] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$S/afs"
}
wait_gone() { # wait_gone TIMEOUT_S PID...; returns 0 when all are gone
	local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000)) p alive
	shift
	while :; do
		alive=0
		for p in "$@"; do pid_running "$p" && alive=1 && break; done
		((alive)) || return 0
		((${EPOCHREALTIME/./} < deadline)) || return 1
		sleep 0.05
	done
}
still_running() { local p; for p in "$@"; do pid_running "$p" && printf '%s ' "$p"; done; return 0; }
# like still_running, re-checking each PID is still one of this cell's processes before it is signalled
still_ours() {
	local p
	for p in "$@"; do
		if pid_is_cell_server "$p" || { pid_running "$p" && pid_in_netns "$p"; }; then printf '%s ' "$p"; fi
	done
	return 0
}

is_mounted() { awk -v p="$1" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# ---------------------------------------------------------------------------------------- run in cell
# Run a command inside the cell's network namespace and a fresh mount namespace with the cell's private
# OpenAFS directories bind-mounted (the way bosserver sees the world). Propagation "slave": mounts made in
# there never reach the host, while unmounts on the host (e.g. of another cell's FUSE mount or netns)
# still propagate in, so no stale references are kept alive.
ns_cmd() { # prints nothing; sets NSCMD array (for the server selected by srv_ctx)
	NSCMD=(ip netns exec "$SNETNS" unshare --mount --propagation slave -- "$SELF" __ns-inner "$S" --srv "$SDIR")
}
ns_run() {
	ns_cmd
	AFSCELL_HOST_MNTNS=$(readlink /proc/self/ns/mnt) "${NSCMD[@]}" -- "$@" 9<&- 8<&-
}
ns_inner() { # __ns-inner STATE [--srv DIR] [--pidfile F] -- CMD...
	local s=$1 pidfile="" d=$1
	shift
	if [[ ${1:-} == --srv ]]; then d=$2; shift 2; fi
	if [[ ${1:-} == --pidfile ]]; then pidfile=$2; shift 2; fi
	[[ $d == "$s" || $d == "$s/fs2" ]] || { echo "afs-cell: bad server dir $d" >&2; exit 1; }
	[[ ${1:-} == -- ]] && shift
	local mine
	mine=$(readlink /proc/self/ns/mnt)
	if [[ -z ${AFSCELL_HOST_MNTNS:-} || $mine == "$AFSCELL_HOST_MNTNS" ]]; then
		echo "afs-cell: refusing to bind-mount: not in a private mount namespace" >&2
		exit 1
	fi
	[[ -f $s/.afsbot-afs-cell ]] || { echo "afs-cell: $s is not a cell state dir" >&2; exit 1; }
	# Drop this namespace's copies of FUSE mounts (e.g. another cell's afsd.fuse): the root namespace's
	# "/" is private, so their unmount would not propagate here and the copy would pin that client.
	local mp
	while read -r mp; do
		umount -l "$(printf '%b' "$mp")" 2>/dev/null || true
	done < <(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) print $5; break } }' /proc/self/mountinfo)
	mount --bind "$d/etc" /etc/openafs
	mount --bind "$d/db" /var/lib/openafs/db
	mount --bind "$d/local" /var/lib/openafs/local
	mount --bind "$d/log" /var/log/openafs
	mount --bind "$d/vicepa" /vicepa
	cd /var/log/openafs
	unset AFSCELL_HOST_MNTNS
	if [[ -n $pidfile ]]; then echo $$ >"$pidfile"; fi
	# bash makes background jobs ignore SIGINT/SIGQUIT; give the servers default signal handling back
	exec env --default-signal -- "$@"
}

# ---------------------------------------------------------------------------------------------- network
ip2int() { local IFS=.; set -- $1; echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4)); }
# Refuse if 10.77.NET.0/24 overlaps any address or route in the root namespace.
check_subnet_free() {
	local want_lo want_hi line dest cidr len lo hi
	want_lo=$(ip2int "10.77.$NET.0")
	want_hi=$((want_lo + 255))
	{
		ip -4 -o addr show | awk '{ print $4 "\t" $2 " " $4 }'
		ip -4 route show table all | awk '
			{ d = $1; if (d ~ /^(unicast|local|broadcast|multicast|throw|unreachable|prohibit|blackhole|nat|anycast)$/) d = $2
			  print d "\t" $0 }'
	} | while IFS=$'\t' read -r dest line; do
		[[ $dest == default || $dest == 0.0.0.0/0 ]] && continue
		[[ $dest =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]] || continue
		cidr=${dest%/*}
		len=32
		[[ $dest == */* ]] && len=${dest#*/}
		lo=$(ip2int "$cidr")
		if ((len == 0)); then continue; fi
		lo=$((lo & ((0xffffffff << (32 - len)) & 0xffffffff)))
		hi=$((lo + (1 << (32 - len)) - 1))
		if ((lo <= want_hi && hi >= want_lo)); then
			echo "$dest ($line)"
		fi
	done >"$RUN/overlap.txt"
	if [[ -s $RUN/overlap.txt ]]; then
		log "10.77.$NET.0/24 overlaps with:"
		sed 's/^/    /' "$RUN/overlap.txt" >&2
		rm -f "$RUN/overlap.txt"
		die "subnet 10.77.$NET.0/24 is already in use on this host; pick another with --net N (1..254)"
	fi
	rm -f "$RUN/overlap.txt"
}

setup_net() {
	lock_host
	if [[ -e /run/netns/$NETNS ]]; then
		unlock_host
		die "network namespace $NETNS exists but this state dir does not own it; if it is a leftover: ip netns pids $NETNS (stop them), then ip netns delete $NETNS"
	fi
	check_subnet_free
	if ip link show dev "$VETH_H" >/dev/null 2>&1; then
		unlock_host
		die "interface $VETH_H already exists in the root namespace; pick another --net or remove it (ip link del $VETH_H) if it is a leftover"
	fi
	mkdir -p "$HOST_REG"
	if [[ ! -d /run/netns ]]; then : >"$HOST_REG/created-run-netns"; fi
	must ip netns add "$NETNS"
	: >"$RUN/netns.created"
	must ip link add "$VETH_H" type veth peer name "$VETH_N" netns "$NETNS"
	: >"$RUN/veth.created"
	must ip addr add "$HOST_IP/24" dev "$VETH_H"
	must ip link set "$VETH_H" up
	must ip -n "$NETNS" link set lo up
	must ip -n "$NETNS" addr add "$SRV_IP/24" dev "$VETH_N"
	must ip -n "$NETNS" link set "$VETH_N" up
	# the partition mount point: bind target only, the host's /vicepa is never written
	if [[ ! -e /vicepa ]]; then
		mkdir -m 0700 /vicepa
		: >"$HOST_REG/created-vicepa"
		log "created empty mount point /vicepa (removed again by the last 'down')"
	elif [[ ! -d /vicepa ]]; then
		unlock_host
		die "/vicepa exists and is not a directory; the cell needs it as a bind-mount target"
	fi
	unlock_host
	log "network: netns $NETNS, $VETH_N $SRV_IP (cell) <-> $VETH_H $HOST_IP (root ns)"
}

teardown_net() {
	lock_host
	if [[ -f $RUN/veth.created ]] && ip link show dev "$VETH_H" >/dev/null 2>&1; then
		ip link del "$VETH_H" 2>/dev/null || true
	fi
	rm -f "$RUN/veth.created"
	if [[ -f $RUN/netns.created && -e /run/netns/$NETNS ]]; then
		ip netns delete "$NETNS" || log "WARNING: ip netns delete $NETNS failed"
	fi
	rm -f "$RUN/netns.created"
	host_cleanup
	unlock_host
}

vicepa_in_use() { # does any mount namespace still have something mounted on /vicepa?
	local f ns seen=" "
	for f in /proc/[0-9]*/mountinfo; do
		ns=$(readlink "${f%/mountinfo}/ns/mnt" 2>/dev/null) || continue
		[[ $seen == *" $ns "* ]] && continue
		seen+="$ns "
		awk '$5 == "/vicepa" { f = 1 } END { exit !f }' "$f" 2>/dev/null && return 0
	done
	return 1
}

host_cleanup() { # called with the host lock held
	if [[ -f $HOST_REG/created-vicepa ]] && ! vicepa_in_use; then
		if [[ -d /vicepa && -z $(ls -A /vicepa) ]] && ! is_mounted /vicepa; then
			rmdir /vicepa && rm -f "$HOST_REG/created-vicepa" && log "removed the empty /vicepa this script created"
		elif [[ ! -e /vicepa ]]; then
			rm -f "$HOST_REG/created-vicepa"
		else
			log "WARNING: leaving /vicepa in place: it is no longer empty"
		fi
	fi
	if [[ -f $HOST_REG/created-run-netns ]] && [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
		local n=0
		while is_mounted /run/netns && ((n++ < 5)); do umount /run/netns 2>/dev/null || break; done
		rmdir /run/netns 2>/dev/null && rm -f "$HOST_REG/created-run-netns"
	fi
	rmdir "$HOST_REG" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------- state files
prepare_state() {
	if [[ -e $S && ! -d $S ]]; then die "$S exists and is not a directory"; fi
	if [[ -d $S && ! -f $S/.afsbot-afs-cell ]]; then
		if [[ -n $(ls -A "$S") ]]; then
			die "$S exists, is not empty and was not created by afs-cell.sh (no marker .afsbot-afs-cell); choose another --state or move it away"
		fi
	fi
	mkdir -p "$S"
	chmod 0755 "$S"
	lock_cell
	if [[ ! -f $MARKER ]]; then
		printf 'created by %s on %(%Y-%m-%dT%H:%M:%S%z)T for cell instance %s\n' "$SELF" -1 "$NAME" >"$MARKER"
	fi
	mkdir -p "$S/etc/server" "$S/db" "$S/local" "$S/log" "$S/vicepa" "$CONFIG" "$RUN"
	chmod 0755 "$S/etc" "$S/etc/server" "$S/log" "$CONFIG"
	chmod 0700 "$S/db" "$S/local" "$S/vicepa" "$RUN"
	if [[ ! -f $CONF ]] || ((!CELL_INITIALIZED)); then
		printf 'NAME=%s\nNET=%s\nCELL=%s\n' "$NAME" "$NET" "$CELL" >"$CONF"
	fi
}

# MIT keytab v0x502 with one aes256-cts-hmac-sha1-96 (enctype 18) entry, kvno 1, random key.
u8() { printf "\\x$(printf %02x $(($1 & 255)))"; }
u16() { u8 $(($1 >> 8)); u8 "$1"; }
u32() { u16 $((($1 >> 16) & 65535)); u16 $(($1 & 65535)); }
cstr() { u16 ${#1}; printf '%s' "$1"; }
write_keytab() { # write_keytab FILE CELL REALM
	local f=$1 cell=$2 realm=$3 size
	size=$((2 + 2 + ${#realm} + 2 + 3 + 2 + ${#cell} + 4 + 4 + 1 + 2 + 2 + 32 + 4))
	(
		umask 077
		{
			printf '\x05\x02'
			u32 "$size"
			u16 2 # components (not counting the realm)
			cstr "$realm"
			cstr afs
			cstr "$cell"
			u32 1 # KRB5_NT_PRINCIPAL
			u32 "$(printf '%(%s)T' -1)"
			u8 1   # kvno (8 bit)
			u16 18 # aes256-cts-hmac-sha1-96
			u16 32
			head -c 32 /dev/urandom
			u32 1 # kvno (32 bit)
		} >"$f"
	)
	[[ $(stat -c %s "$f") -eq $((6 + size)) ]] || die "internal error: keytab $f has the wrong size"
}

init_cell_files() {
	local cellservdb
	cellservdb=$(printf '>%s\t#afsbot throwaway cell %s\n%s\t#afsbot-%s\n' "$CELL" "$NAME" "$SRV_IP" "$NAME")
	printf '%s\n' "$CELL" >"$S/etc/server/ThisCell"
	printf '%s\n' "$cellservdb" >"$S/etc/server/CellServDB"
	printf '%s\n' "$CELL" >"$S/etc/ThisCell"
	printf '%s\n' "$cellservdb" >"$S/etc/CellServDB"
	printf '%s\n' "$SRV_IP" >"$S/local/NetInfo"
	: >"$S/vicepa/AlwaysAttach"
	# BosConfig: no scheduled restarts; dafs stays stopped (goal 0) until ptserver/vlserver have quorum
	# and the host ACL entries exist, then `bos start dafs` (also on every later `up`).
	cat >"$S/etc/BosConfig" <<EOF
restrictmode 0
restarttime 16 0 0 0 0
checkbintime 16 0 0 0 0
bnode simple ptserver 1
parm $AFS_LIBEXEC/ptserver
end
bnode simple vlserver 1
parm $AFS_LIBEXEC/vlserver
end
bnode dafs dafs 0
parm $AFS_LIBEXEC/dafileserver -L
parm $AFS_LIBEXEC/davolserver
parm $AFS_LIBEXEC/salvageserver
parm $AFS_LIBEXEC/dasalvager
end
EOF
	if [[ ! -s $S/etc/server/KeyFileExt ]]; then
		local kt=$RUN/afs.keytab
		write_keytab "$kt" "$CELL" "$REALM"
		if ! ns_run /usr/sbin/asetkey add rxkad_krb5 1 18 "$kt" "afs/$CELL@$REALM" >"$LOGD/asetkey.log" 2>&1; then
			rm -f "$kt"
			sed 's/^/    /' "$LOGD/asetkey.log" >&2
			die "asetkey could not store the cell key (see $LOGD/asetkey.log)"
		fi
		rm -f "$kt"
		[[ -s $S/etc/server/KeyFileExt ]] || die "asetkey ran but $S/etc/server/KeyFileExt is missing"
		log "key: rxkad_krb5 kvno 1 enctype 18 for afs/$CELL@$REALM in $S/etc/server/KeyFileExt"
	fi
	# the copy the root namespace uses with `vos/pts -config`
	cp "$S/etc/server/ThisCell" "$S/etc/server/CellServDB" "$CONFIG/"
	install -m 0600 "$S/etc/server/KeyFileExt" "$CONFIG/KeyFileExt"
}

write_env() {
	{
		echo "AFSBOT_AFS_CELL=$CELL"
		echo "AFSBOT_AFS_SERVER=$SRV_IP"
		echo "AFSBOT_AFS_PARTITION=a"
		echo "AFSBOT_AFS_CONFIG_DIR=$CONFIG"
		echo "AFSBOT_AFS_NETNS=$NETNS"
		if fuse_healthy; then echo "AFSBOT_AFS_FUSE_MOUNT=$S/afs"; fi
		echo "AFSBOT_AFS_STATE=$S"
	} >"$ENVF.tmp"
	mv -f "$ENVF.tmp" "$ENVF"
}

# ------------------------------------------------------------------------------------------ servers
start_bosserver() { # of the server selected by srv_ctx
	rm -f "$SRUN/bosserver.pid" "$SDIR/local/"*.pid
	ns_cmd
	(
		exec </dev/null >>"$SLOG/bosserver.stdout" 2>&1
		close_fds
		export AFSCELL_HOST_MNTNS
		AFSCELL_HOST_MNTNS=$(readlink /proc/self/ns/mnt)
		exec setsid "${NSCMD[@]}" --pidfile "$SRUN/bosserver.pid" -- /usr/sbin/bosserver -nofork -pidfiles
	) &
	local launcher=$! pid="" i
	for ((i = 0; i < 200; i++)); do
		pid=$(read_pid "$SRUN/bosserver.pid")
		if [[ -n $pid ]] && [[ $(pid_comm "$pid") == bosserver ]]; then break; fi
		if ! pid_running "$launcher" && [[ -z $pid ]]; then break; fi
		sleep 0.025
	done
	if [[ -z $pid ]] || [[ $(pid_comm "$pid") != bosserver ]]; then
		tail -n 20 "$SLOG/bosserver.stdout" >&2 2>/dev/null || true
		die "${SWHO}bosserver did not start; see $SLOG/bosserver.stdout and $SLOG/BosLog"
	fi
	log "${SWHO}bosserver running, pid $pid (recorded in $SRUN/bosserver.pid)"
}

# retry CMD until it succeeds or TIMEOUT_S passes; output of the last try in $LAST_OUT
LAST_OUT=""
retry_until() { # retry_until TIMEOUT_S CMD...
	local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000))
	shift
	while :; do
		if LAST_OUT=$(timeout -k 1 8 "$@" 2>&1 </dev/null); then return 0; fi
		((${EPOCHREALTIME/./} < deadline)) || return 1
		sleep 0.2
	done
}

wait_quorum() {
	retry_until 30 pts examine system:administrators -localauth -config "$CONFIG" ||
		die "ptserver did not answer within 30 s (pts examine: ${LAST_OUT//$'\n'/ }); see $LOGD/PtLog and $LOGD/BosLog"
	retry_until 20 vos listvldb "${VOSA[@]}" ||
		die "vos listvldb did not answer within 20 s (${LAST_OUT//$'\n'/ }); see $LOGD/VLLog and $LOGD/BosLog"
	log "ptserver and vlserver have quorum"
}

# IP-named pts users in system:administrators: what lets the unauthenticated FUSE client write. Must
# exist before the fileserver first sees the host (it caches a host's CPS).
ensure_host_acl() {
	local ip out
	for ip in "$SRV_IP" "$HOST_IP"; do
		if ! out=$(pts examine "$ip" -localauth -config "$CONFIG" 2>&1); then
			out=$(pts createuser -name "$ip" -localauth -config "$CONFIG" 2>&1) ||
				die "pts createuser -name $ip failed: $out"
		fi
		if ! pts membership "$ip" -localauth -config "$CONFIG" 2>/dev/null | grep -q 'system:administrators'; then
			out=$(pts adduser -user "$ip" -group system:administrators -localauth -config "$CONFIG" 2>&1) ||
				die "pts adduser -user $ip -group system:administrators failed: $out"
		fi
	done
	log "host entries $SRV_IP and $HOST_IP are in system:administrators"
}

start_fileserver() { # of the server selected by srv_ctx
	local out
	out=$(ns_run bos start -server "$SIP" -instance dafs -localauth 2>&1) ||
		die "${SWHO}bos start dafs failed: $out; see $SLOG/BosLog"
}

wait_volserver() { # of the server selected by srv_ctx
	retry_until 30 vos listpart "$SIP" "${VOSA[@]}" ||
		die "vos listpart $SIP did not answer within 30 s (${LAST_OUT//$'\n'/ }); see $SLOG/VolserLog, $SLOG/FileLog and $SLOG/BosLog"
	[[ $LAST_OUT == */vicepa* ]] ||
		die "${SWHO}the fileserver attached no /vicepa partition (vos listpart: ${LAST_OUT//$'\n'/ }); see $SLOG/FileLog"
	log "${SWHO}fileserver and volserver are up (partition /vicepa)"
}

# wait_stored VOLUME KB: until the file server reports at least KB kilobytes used in VOLUME
wait_stored() {
	local used="" i
	for ((i = 0; i < 600; i++)); do
		used=$(vos examine "$1" -format "${VOSA[@]}" 2>/dev/null | awk '$1 == "diskused" { print $2 }')
		[[ -n $used ]] && ((used >= $2)) && return 0
		sleep 0.1
	done
	die "the files written into $1 through FUSE did not reach the file server within 60 s ($used of $2 KB); see $LOGD/afsd.fuse.log"
}

volume_exists() {
	local out
	if out=$(vos listvldb -name "$1" -quiet "${VOSA[@]}" 2>&1); then return 0; fi
	[[ $out == *"no such entry"* ]] && return 1
	die "vos listvldb -name $1 failed: ${out//$'\n'/ }"
}
ensure_volume() { # ensure_volume NAME [vos create options]
	local v=$1 out
	shift
	volume_exists "$v" && return 1
	out=$(vos create -server "$SRV_IP" -partition a -name "$v" "$@" "${VOSA[@]}" 2>&1) ||
		die "vos create $v failed: ${out//$'\n'/ }; see $LOGD/VolserLog"
	log "created volume $v"
	return 0
}

stop_servers() { # of the server selected by srv_ctx
	local pids=() p f cand=()
	p=$(read_pid "$SRUN/bosserver.pid")
	local bos=""
	pid_is_cell_server "$p" && bos=$p
	for f in "$SDIR/local/"*.pid; do cand+=("$(read_pid "$f")"); done
	# Other processes in the namespace are ours only when this state dir made the namespace: a second
	# checkout's cell of the same name must never stop the first one's processes.
	if [[ -e /run/netns/$SNETNS && -f $SRUN/netns.created ]]; then
		while read -r p; do cand+=("$p"); done < <(ip netns pids "$SNETNS" 2>/dev/null || true)
	fi
	for p in "${cand[@]}"; do
		[[ -n $p && $p != "$bos" ]] || continue
		[[ " ${pids[*]} " == *" $p "* ]] && continue
		if pid_is_cell_server "$p"; then
			pids+=("$p")
		elif pid_running "$p" && pid_in_netns "$p"; then
			log "${SWHO}also stopping pid $p ($(pid_comm "$p")): it runs in $SNETNS"
			pids+=("$p")
		fi
	done
	if [[ -z $bos && ${#pids[@]} -eq 0 ]]; then
		rm -f "$SRUN/bosserver.pid" "$SDIR/local/"*.pid
		return 0
	fi
	# a process held by SIGSTOP (fileserver2 freeze, or a test) would not act on SIGTERM: continue it
	for p in $bos "${pids[@]}"; do
		if pid_stopped "$p"; then
			log "${SWHO}pid $p ($(pid_comm "$p")) is stopped (SIGSTOP); sending SIGCONT first"
			kill -CONT "$p" 2>/dev/null || true
		fi
	done
	if [[ -n $bos ]]; then
		# bosserver first, so it restarts nothing; it stops its children itself on SIGTERM
		kill -TERM "$bos" 2>/dev/null || true
		wait_gone 5 "$bos" "${pids[@]}" || true
	fi
	local left
	left=$(still_ours "$bos" "${pids[@]}")
	if [[ -n $left ]]; then
		kill -TERM $left 2>/dev/null || true
		if ! wait_gone 2 $left; then
			left=$(still_ours $left)
			log "${SWHO}still running after SIGTERM: $left; sending SIGQUIT (a stuck dafileserver stops on it)"
			[[ -n $left ]] && { kill -QUIT $left 2>/dev/null || true; }
			if ! wait_gone 3 $left; then
				left=$(still_ours $left)
				log "${SWHO}still running after SIGQUIT: $left; sending SIGKILL"
				[[ -n $left ]] && { kill -KILL $left 2>/dev/null || true; }
				wait_gone 3 $left || log "WARNING: could not stop pids: $(still_running $left)"
			fi
		fi
	fi
	rm -f "$SRUN/bosserver.pid" "$SDIR/local/"*.pid
	log "${SWHO}servers stopped"
}

# ------------------------------------------------------------------------------------------------ FUSE
fuse_pid() { local p; p=$(read_pid "$RUN/afsd.pid"); pid_is_our_fuse "$p" && printf '%s' "$p"; return 0; }
fuse_healthy() {
	[[ -n $(fuse_pid) ]] && is_mounted "$S/afs" &&
		timeout -k 1 5 stat -c %i "$S/afs/.:mount/$CELL:root.cell/" >/dev/null 2>&1
}

# afsd.fuse runs in the cell's network namespace but in the ROOT mount namespace: the mount at
# <state>/afs is visible to every process on the host (tests, bot), while its long-lived Rx socket (a
# random UDP port bound to 0.0.0.0, which also serves the fileserver's callbacks) exists only inside the
# namespace. Started in the root network namespace it works too (measured: reads and writes fine, the
# fileserver then sees 10.77.N.2), but that socket would listen on the machine's external interface.
# The fileserver sees this client as 10.77.N.1; both .1 and .2 are in system:administrators.
start_fuse() {
	local c=$S/client
	mkdir -p "$c" "$S/cache" "$S/afs"
	chmod 0700 "$S/cache"
	printf '%s\n' "$CELL" >"$c/ThisCell"
	printf '>%s\t#afsbot throwaway cell %s\n%s\t#afsbot-%s\n' "$CELL" "$NAME" "$SRV_IP" "$NAME" >"$c/CellServDB"
	printf '%s:%s:65536\n' "$S/afs" "$S/cache" >"$c/cacheinfo"
	rm -f "$RUN/afsd.pid"
	(
		exec </dev/null >>"$LOGD/afsd.fuse.log" 2>&1
		close_fds
		exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$RUN/afsd.pid" \
			nsenter "--net=/run/netns/$NETNS" -- env --default-signal -- \
			/usr/sbin/afsd.fuse -f -memcache -blocks 65536 -dynroot -fakestat -nosettime \
			-confdir "$c" -cachedir "$S/cache" -mountdir "$S/afs"
	) &
	FUSE_LAUNCHER=$!
}
wait_fuse() {
	local deadline=$((${EPOCHREALTIME/./} + 30 * 1000000)) p
	while :; do
		p=$(fuse_pid)
		if [[ -n $p ]] && is_mounted "$S/afs" &&
			timeout -k 1 5 ls "$S/afs/.:mount/$CELL:root.cell/" >/dev/null 2>&1; then
			break
		fi
		# the launcher execs its way into afsd.fuse (same pid): if it is gone, afsd.fuse died
		if [[ -z $p ]] && ! pid_running "${FUSE_LAUNCHER:-}"; then
			tail -n 20 "$LOGD/afsd.fuse.log" >&2 || true
			die "afsd.fuse exited; see $LOGD/afsd.fuse.log"
		fi
		((${EPOCHREALTIME/./} < deadline)) ||
			die "$S/afs/.:mount/$CELL:root.cell/ not readable within 30 s; see $LOGD/afsd.fuse.log and $LOGD/FileLog"
		sleep 0.1
	done
	log "FUSE client up, pid $(fuse_pid): $S/afs/.:mount/$CELL:<volume>/"
}
stop_fuse() {
	local p mnt=$S/afs
	p=$(fuse_pid)
	if is_mounted "$mnt"; then
		umount "$mnt" 2>/dev/null || true
	fi
	if [[ -n $p ]]; then
		kill -TERM "$p" 2>/dev/null || true
		if ! wait_gone 3 "$p"; then
			kill -KILL "$p" 2>/dev/null || true
			wait_gone 2 "$p" || log "WARNING: afsd.fuse pid $p does not exit"
		fi
	fi
	if is_mounted "$mnt"; then
		umount -l "$mnt" 2>/dev/null || log "WARNING: could not unmount $mnt"
	fi
	rm -f "$RUN/afsd.pid"
	[[ -n $p ]] && log "FUSE client stopped"
	return 0
}

# ------------------------------------------------------------------------------------------------ seed
seed_tree() { # seed_tree VOLUME DIR: the reference copy of a seeded volume's content
	local v=$1 d=$2
	rm -rf "$d"
	mkdir -p "$d"
	case $v in
	user.alice)
		mkdir -p "$d/projects"
		printf 'Alice'"'"'s notes\n- nightly backups of user.alice, db.alice and mail.alice\n- ask bob about restoring last week'"'"'s mail\n' >"$d/notes.txt"
		printf '# Plan\n\n1. Back up every volume nightly (vos backupsys).\n2. Keep dumps in restic.\n3. Restore from chat: `!restore user.alice`.\n' >"$d/projects/plan.md"
		printf 'id,task,done\n1,write plan,yes\n2,test restore,no\n' >"$d/projects/tasks.csv"
		head -c 1048576 /dev/urandom >"$d/projects/data.bin"
		;;
	user.bob)
		mkdir -p "$d/bin" "$d/notes"
		printf 'Bob'"'"'s home volume.\n' >"$d/README.txt"
		printf 'Meeting 2026-11-20\n- alice owns the backup bot\n- bob tests restores\n' >"$d/notes/2026-11-20.txt"
		printf '#!/bin/sh\necho "hello from bob"\n' >"$d/bin/hello.sh"
		chmod 0755 "$d/bin/hello.sh"
		;;
	db.alice)
		mkdir -p "$d/schema"
		cat >"$d/alice.sql" <<'EOF'
-- dump of database alice
BEGIN TRANSACTION;
CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
INSERT INTO contacts VALUES (1, 'Bob', 'bob@afsbot.test');
INSERT INTO contacts VALUES (2, 'Carol', 'carol@afsbot.test');
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO notes VALUES (1, 'restore drill every friday');
COMMIT;
EOF
		printf 'CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n' >"$d/schema/tables.sql"
		;;
	mail.alice)
		mkdir -p "$d/folders"
		cat >"$d/inbox.mbox" <<'EOF'
From bob@afsbot.test Mon Nov 23 09:12:00 2026
From: Bob <bob@afsbot.test>
To: Alice <alice@afsbot.test>
Subject: restore test

Can you restore my notes from Friday?

From carol@afsbot.test Tue Nov 24 14:03:00 2026
From: Carol <carol@afsbot.test>
To: Alice <alice@afsbot.test>
Subject: lunch

Lunch on Thursday?

EOF
		cat >"$d/sent.mbox" <<'EOF'
From alice@afsbot.test Mon Nov 23 09:30:00 2026
From: Alice <alice@afsbot.test>
To: Bob <bob@afsbot.test>
Subject: Re: restore test

Done, see user.bob.restored.

EOF
		cat >"$d/folders/projects.mbox" <<'EOF'
From alice@afsbot.test Wed Nov 25 08:00:00 2026
From: Alice <alice@afsbot.test>
To: ops@afsbot.test
Subject: backup plan

Nightly vos backupsys, then vos dump into restic.

EOF
		;;
	*) die "internal error: no seed content for $v" ;;
	esac
}

seed_volumes() {
	local v dst out
	mkdir -p "$S/seed"
	for v in "${SEED_VOLUMES[@]}"; do
		if volume_exists "$v"; then
			if [[ -f $S/seed/.done-$v ]]; then continue; fi
		else
			ensure_volume "$v" -maxquota 0 || true
			rm -f "$S/seed/.done-$v"
		fi
		seed_tree "$v" "$S/seed/$v"
		dst=$S/afs/.:mount/$CELL:$v
		out=$(timeout -k 1 60 cp -R "$S/seed/$v/." "$dst/" 2>&1) ||
			die "writing seed files into $dst failed: $out; see $LOGD/afsd.fuse.log and $LOGD/FileLog"
		# afsd.fuse stores a file only at RELEASE, which the kernel sends after close() returned (it has no
		# flush or fsync): wait until the file server holds every kilobyte before anyone clones it
		wait_stored "$v" "$(cd "$S/seed/$v" && find . -type f -printf '%s\n' | awk '{ kb += int(($1 + 1023) / 1024) } END { print kb + 0 }')"
		(cd "$S/seed/$v" && find . -type f -print0 | xargs -0 -r sha256sum) >"$S/seed/$v.sha256"
		out=$(cd "$dst" && timeout -k 1 30 sha256sum --quiet -c "$S/seed/$v.sha256" 2>&1) ||
			die "seed files read back from $dst differ from $S/seed/$v: $out"
		: >"$S/seed/.done-$v"
		log "seeded $v ($(find "$S/seed/$v" -type f | wc -l) files)"
	done
}

# ------------------------------------------------------------------------------------------- health
# servers_healthy: quiet check; sets WHY on failure
servers_healthy() {
	WHY=""
	[[ -f $MARKER && -f $CONF ]] || { WHY="no state in $S"; return 1; }
	[[ -e /run/netns/$NETNS ]] || { WHY="network namespace $NETNS does not exist"; return 1; }
	ip -4 -o addr show dev "$VETH_H" 2>/dev/null | grep -qF " $HOST_IP/" ||
		{ WHY="host interface $VETH_H with $HOST_IP is missing"; return 1; }
	local p
	p=$(read_pid "$RUN/bosserver.pid")
	pid_is_cell_server "$p" && [[ $(pid_comm "$p") == bosserver ]] ||
		{ WHY="bosserver is not running (pid file $RUN/bosserver.pid: ${p:-none})"; return 1; }
	timeout -k 1 5 pts examine system:administrators -localauth -config "$CONFIG" >/dev/null 2>&1 ||
		{ WHY="ptserver does not answer"; return 1; }
	timeout -k 1 5 vos listvldb -name root.cell -quiet "${VOSA[@]}" >/dev/null 2>&1 ||
		{ WHY="vlserver does not answer or root.cell is missing"; return 1; }
	timeout -k 1 5 vos listpart "$SRV_IP" "${VOSA[@]}" 2>/dev/null | grep -q /vicepa ||
		{ WHY="fileserver/volserver do not answer"; return 1; }
	return 0
}
cell_healthy() { # servers, and the FUSE client if one was started
	servers_healthy || return 1
	if [[ -f $RUN/afsd.pid ]] && ! fuse_healthy; then
		WHY="FUSE client at $S/afs is not working"
		return 1
	fi
	return 0
}
anything_running() {
	[[ -e /run/netns/$NETNS && -f $RUN/netns.created ]] && return 0
	[[ -n $(fuse_pid) ]] && return 0
	is_mounted "$S/afs" && return 0
	pid_is_cell_server "$(read_pid "$RUN/bosserver.pid")" && return 0
	local f
	for f in "$S/local/"*.pid; do pid_is_cell_server "$(read_pid "$f")" && return 0; done
	[[ -f $RUN/veth.created ]] && return 0
	fs2_anything_running && return 0
	return 1
}

# -------------------------------------------------------------------------------- second file server
# See the header. Everything here runs with srv_ctx 2 and switches back to 1 before it returns.
fs2_ns1_ok() { [[ -e /run/netns/$NETNS && -f $RUN/netns.created ]]; }
fs2_net_ok() {
	[[ -e /run/netns/$NETNS2 && -f $FS2_RUN/netns.created ]] && fs2_ns1_ok || return 1
	ip -n "$NETNS2" -4 -o addr show dev "$VETH2_N" 2>/dev/null | grep -qF " $SRV2_IP/" || return 1
	ip -n "$NETNS" -o link show dev "$VETH2_B" 2>/dev/null | grep -qF " master $BR " || return 1
	ip -n "$NETNS" -4 -o addr show dev "$BR" 2>/dev/null | grep -qF " $SRV_IP/"
}

# The bridge in the first namespace: created once per life of that namespace; afsbN-n and 10.77.N.1 move
# onto it. The bridge gets afsbN-n's MAC, so the root namespace's ARP entry for 10.77.N.1 stays right.
# The servers there bind 0.0.0.0; the address is gone for a few ms (measured 6 ms), which Rx retransmits
# cover: ptserver, vlserver, fileserver and the FUSE client carry on.
fs2_ensure_bridge() { # called with the host lock held
	if ! ip -n "$NETNS" link show dev "$BR" >/dev/null 2>&1; then
		local mac
		mac=$(ip -n "$NETNS" -o link show dev "$VETH_N" | sed -n 's/.* link\/ether \([0-9a-f:]*\) .*/\1/p')
		[[ $mac =~ ^[0-9a-f:]{17}$ ]] || die "could not read the MAC address of $VETH_N in $NETNS"
		must ip -n "$NETNS" link add "$BR" address "$mac" type bridge stp_state 0 forward_delay 0
		must ip -n "$NETNS" link set "$BR" up
	fi
	if ! ip -n "$NETNS" -4 -o addr show dev "$BR" | grep -qF " $SRV_IP/"; then
		local out
		out=$(printf '%s\n' "address del $SRV_IP/24 dev $VETH_N" "link set $VETH_N master $BR" \
			"address add $SRV_IP/24 dev $BR" | ip -n "$NETNS" -batch - 2>&1) ||
			die "moving $SRV_IP from $VETH_N onto bridge $BR in $NETNS failed: ${out//$'\n'/ }"
		log "network: bridge $BR in $NETNS now holds $VETH_N and $SRV_IP"
	fi
}

fs2_setup_net() {
	lock_host
	if [[ -e /run/netns/$NETNS2 ]]; then
		unlock_host
		die "network namespace $NETNS2 exists but this state dir does not own it; if it is a leftover: ip netns pids $NETNS2 (stop them), then ip netns delete $NETNS2"
	fi
	fs2_ensure_bridge
	if ip -n "$NETNS" link show dev "$VETH2_B" >/dev/null 2>&1; then # a leftover of an earlier try
		ip -n "$NETNS" link del "$VETH2_B" 2>/dev/null || true
	fi
	must ip netns add "$NETNS2"
	: >"$FS2_RUN/netns.created"
	# Both ends are created inside namespaces: nothing appears in the root namespace. 10.77.N.3 always
	# gets the same MAC: the root namespace's afsbN-h and the first namespace outlive this namespace, and
	# their neighbour entries for 10.77.N.3 (often REACHABLE) would otherwise point at the previous
	# incarnation's MAC for up to a minute (measured: vos listpart failing for 30 s after a down/up).
	must ip -n "$NETNS" link add "$VETH2_B" type veth peer name "$VETH2_N" address "$MAC2" netns "$NETNS2"
	must ip -n "$NETNS" link set "$VETH2_B" master "$BR"
	must ip -n "$NETNS" link set "$VETH2_B" up
	must ip -n "$NETNS2" link set lo up
	must ip -n "$NETNS2" addr add "$SRV2_IP/24" dev "$VETH2_N"
	must ip -n "$NETNS2" link set "$VETH2_N" up
	unlock_host
	log "network: netns $NETNS2, $VETH2_N $SRV2_IP <-> $VETH2_B on bridge $BR in $NETNS ($SRV_IP; root ns $HOST_IP via $VETH_H)"
}

fs2_teardown_net() {
	lock_host
	if fs2_ns1_ok && ip -n "$NETNS" link show dev "$VETH2_B" >/dev/null 2>&1; then
		ip -n "$NETNS" link del "$VETH2_B" 2>/dev/null || true
	fi
	if [[ -f $FS2_RUN/netns.created && -e /run/netns/$NETNS2 ]]; then
		ip netns delete "$NETNS2" || log "WARNING: ip netns delete $NETNS2 failed"
	fi
	rm -f "$FS2_RUN/netns.created"
	host_cleanup
	unlock_host
}

fs2_prepare_state() {
	mkdir -p "$FS2/etc/server" "$FS2/db" "$FS2/local" "$FS2/log" "$FS2/vicepa" "$FS2_RUN"
	chmod 0755 "$FS2" "$FS2/etc" "$FS2/etc/server" "$FS2/log"
	chmod 0700 "$FS2/db" "$FS2/local" "$FS2/vicepa" "$FS2_RUN"
}

fs2_init_files() { # the cell's ThisCell, CellServDB (the db servers are at 10.77.N.1) and key
	cp "$S/etc/server/ThisCell" "$S/etc/server/CellServDB" "$FS2/etc/server/"
	cp "$S/etc/ThisCell" "$S/etc/CellServDB" "$FS2/etc/"
	install -m 0600 "$S/etc/server/KeyFileExt" "$FS2/etc/server/KeyFileExt"
	printf '%s\n' "$SRV2_IP" >"$FS2/local/NetInfo"
	: >"$FS2/vicepa/AlwaysAttach"
	# only the file server; it stays stopped (goal 0) until bosserver runs, then `bos start dafs`
	cat >"$FS2/etc/BosConfig" <<BOSCONFIG
restrictmode 0
restarttime 16 0 0 0 0
checkbintime 16 0 0 0 0
bnode dafs dafs 0
parm $AFS_LIBEXEC/dafileserver -L
parm $AFS_LIBEXEC/davolserver
parm $AFS_LIBEXEC/salvageserver
parm $AFS_LIBEXEC/dasalvager
end
BOSCONFIG
}

fs2_write_env() {
	{
		echo "AFSBOT_AFS_SERVER2=$SRV2_IP"
		echo "AFSBOT_AFS_SERVER2_PARTITION=a"
		echo "AFSBOT_AFS_SERVER2_NETNS=$NETNS2"
		echo "AFSBOT_AFS_SERVER2_STATE=$FS2"
	} >"$ENV2.tmp"
	mv -f "$ENV2.tmp" "$ENV2"
}

fs2_bos_pid() { # the second server's bosserver, if it runs
	local p
	srv_ctx 2
	p=$(read_pid "$FS2_RUN/bosserver.pid")
	if pid_is_cell_server "$p" && [[ $(pid_comm "$p") == bosserver ]]; then printf '%s' "$p"; fi
	srv_ctx 1
	return 0
}

# fs2_pids REGEX: the second server's running processes whose comm matches REGEX, each checked to be a
# cell server process in its namespace or mount namespace (candidates: bosserver's pid files and the
# PIDs of the namespace this state dir created)
fs2_pids() {
	local re=$1 p f cand=() out=" "
	srv_ctx 2
	for f in "$FS2/local/"*.pid; do cand+=("$(read_pid "$f")"); done
	if [[ -e /run/netns/$NETNS2 && -f $FS2_RUN/netns.created ]]; then
		while read -r p; do cand+=("$p"); done < <(ip netns pids "$NETNS2" 2>/dev/null || true)
	fi
	for p in "${cand[@]}"; do
		[[ -n $p && $out != *" $p "* ]] || continue
		if [[ $(pid_comm "$p") =~ $re ]] && pid_is_cell_server "$p"; then out+="$p "; fi
	done
	srv_ctx 1
	out=${out# }
	printf '%s' "${out% }"
}
FS2_FROZEN_COMMS='^(dafileserver|davolserver)$'

# fs2_state sets FS2_ST: up | stopped (bosserver runs, dafs does not) | frozen | degraded | down; and WHY
fs2_state() {
	WHY=""
	FS2_ST=down
	local bos p fsv n=0 t=0
	bos=$(fs2_bos_pid)
	if [[ -z $bos ]]; then
		if [[ -e /run/netns/$NETNS2 && -f $FS2_RUN/netns.created ]] || [[ -n $(fs2_pids "$SERVER_COMMS") ]]; then
			WHY="bosserver of file server 2 is not running"
			FS2_ST=degraded
		else
			WHY="file server 2 is not running"
			FS2_ST=down
		fi
		return 0
	fi
	fs2_net_ok || { WHY="the network of file server 2 ($NETNS2, $SRV2_IP) is incomplete"; FS2_ST=degraded; return 0; }
	fsv=$(fs2_pids "$FS2_FROZEN_COMMS")
	for p in $fsv; do
		n=$((n + 1))
		pid_stopped "$p" && t=$((t + 1))
	done
	if ((t > 0)); then
		WHY="$t of its fileserver/volserver processes are stopped by SIGSTOP (pids $fsv)"
		FS2_ST=frozen
	elif ((n == 0)); then
		WHY="bosserver (pid $bos) runs, dafs does not"
		FS2_ST=stopped
	elif ((n < 2)); then
		WHY="only pid $fsv of dafileserver/davolserver runs"
		FS2_ST=degraded
	elif ! timeout -k 1 5 vos listpart "$SRV2_IP" "${VOSA[@]}" 2>/dev/null | grep -q /vicepa; then
		WHY="its volserver at $SRV2_IP does not answer"
		FS2_ST=degraded
	else
		FS2_ST=up
	fi
}
fs2_anything_running() {
	[[ -e /run/netns/$NETNS2 && -f $FS2_RUN/netns.created ]] && return 0
	[[ -n $(fs2_bos_pid) || -n $(fs2_pids "$SERVER_COMMS") ]] && return 0
	fs2_ns1_ok && ip -n "$NETNS" link show dev "$VETH2_B" >/dev/null 2>&1 && return 0
	return 1
}

fs2_teardown() { # stop the second server and remove its namespace; keep <state>/fs2
	[[ -d $FS2 ]] || return 0
	fs2_anything_running || { rm -f "$ENV2" "$FS2_RUN/frozen.pids"; return 0; }
	srv_ctx 2
	stop_servers
	srv_ctx 1
	fs2_teardown_net
	rm -f "$ENV2" "$FS2_RUN/frozen.pids"
	log "file server 2 is down"
}

fs2_wait_registered() {
	# shellcheck disable=SC2016 # expanded by that bash
	retry_until 30 bash -c 'vos listaddrs "${@:2}" | grep -qxF "$1"' _ "$SRV2_IP" "${VOSA[@]}" ||
		die "file server 2 ($SRV2_IP) is not in the VLDB after 30 s (vos listaddrs: ${LAST_OUT//$'\n'/ }); see $FS2/log/FileLog"
}

fs2_start_dafs() { # start (bos start) and wait until its volserver answers and the VLDB knows it
	srv_ctx 2
	start_fileserver
	wait_volserver
	srv_ctx 1
	fs2_wait_registered
}

FS2_UP_STARTED=0
on_fs2_up_exit() {
	local rc=$?
	if ((rc != 0 && FS2_UP_STARTED)) && [[ -z ${AFSBOT_AFS_KEEP_ON_FAILURE:-} ]]; then
		log "fileserver2 up failed (rc=$rc); stopping what was started (logs stay in $FS2/log)"
		set +e
		srv_ctx 1
		fs2_teardown
	fi
}

fs2_require_cell() { # the cell's state, loaded and locked
	require_root
	[[ -f $STATE/.afsbot-afs-cell && -f $STATE/cell.conf ]] ||
		die "no cell state in $STATE: run '$0 up --name $NAME' first"
	load_conf
	lock_cell
}
fs2_require_running() { # bosserver of server 2 runs
	[[ -n $(fs2_bos_pid) ]] || die "file server 2 of cell $NAME is not running (run: $0 fileserver2 up --name $NAME)"
}

cmd_fs2_up() {
	FUSE=0
	require_bins
	fs2_require_cell
	servers_healthy || die "cell $NAME is not up ($WHY): run '$0 up --name $NAME' first"
	fs2_ns1_ok || die "network namespace $NETNS was not created by this state dir ($S); refusing to change it"
	fs2_prepare_state
	fs2_state
	case $FS2_ST in
	up)
		log "file server 2 is already up ($SRV2_IP, state $FS2)"
		;;
	stopped | frozen)
		log "file server 2 is $FS2_ST ($WHY); continuing and starting it"
		fs2_thaw
		fs2_start_dafs
		;;
	*)
		if fs2_anything_running; then
			log "found a partial second file server ($WHY); stopping it first"
			fs2_teardown
		fi
		trap on_fs2_up_exit EXIT
		trap 'exit 130' INT TERM HUP
		FS2_UP_STARTED=1
		log "bringing up file server 2 of cell $CELL in $NETNS2 ($SRV2_IP), state $FS2"
		fs2_setup_net
		fs2_init_files
		srv_ctx 2
		start_bosserver
		srv_ctx 1
		fs2_start_dafs
		trap - EXIT INT TERM HUP
		;;
	esac
	fs2_write_env
	log "file server 2 is up: $(vos listaddrs "${VOSA[@]}" 2>/dev/null | tr '\n' ' ')in the VLDB"
	cat "$ENV2"
}

cmd_fs2_stop() {
	fs2_require_cell
	fs2_require_running
	fs2_thaw
	fs2_state
	if [[ $FS2_ST == stopped ]]; then
		log "file server 2: dafs is already stopped"
		return 0
	fi
	local out pids p
	pids=$(fs2_pids "$SERVER_COMMS")
	srv_ctx 2
	ns_cmd
	srv_ctx 1
	if ! out=$(AFSCELL_HOST_MNTNS=$(readlink /proc/self/ns/mnt) timeout -k 1 60 "${NSCMD[@]}" -- \
		bos stop -server "$SRV2_IP" -instance dafs -localauth -wait 2>&1 9<&- 8<&-); then
		die "file server 2: bos stop dafs -wait failed: ${out//$'\n'/ }; see $FS2/log/BosLog"
	fi
	# bos -wait returns when bosserver has seen its children exit; check (only those that were ours)
	local left=()
	for p in $pids; do
		[[ $(pid_comm "$p") == bosserver ]] && continue
		left+=("$p")
	done
	if ((${#left[@]})) && ! wait_gone 10 "${left[@]}"; then
		die "file server 2: still running after bos stop: $(still_running "${left[@]}")"
	fi
	log "file server 2: dafs stopped (bosserver keeps running; '$0 fileserver2 start --name $NAME' starts it)"
}

cmd_fs2_start() {
	fs2_require_cell
	fs2_require_running
	fs2_thaw
	fs2_state
	if [[ $FS2_ST == up ]]; then
		log "file server 2 is already running"
		return 0
	fi
	fs2_start_dafs
	log "file server 2: dafs started"
}

fs2_freeze() {
	local pids p
	pids=$(fs2_pids "$FS2_FROZEN_COMMS")
	if [[ -z $pids ]]; then
		fs2_state
		die "file server 2: no dafileserver or davolserver is running (state: $FS2_ST, $WHY)"
	fi
	tr ' ' '\n' <<<"$pids" >"$FS2_RUN/frozen.pids"
	for p in $pids; do
		kill -STOP "$p" || die "kill -STOP $p failed"
	done
	local i
	for ((i = 0; i < 100; i++)); do
		local all=1
		for p in $pids; do pid_stopped "$p" || all=0; done
		((all)) && break
		sleep 0.02
	done
	for p in $pids; do pid_stopped "$p" || die "file server 2: pid $p did not stop"; done
	log "file server 2: frozen (SIGSTOP) pids $pids ($(for p in $pids; do printf '%s ' "$(pid_comm "$p")"; done | sed 's/ $//'))"
}

fs2_thaw() { # SIGCONT to what freeze stopped and any of the server's processes in state T
	local p pids="" recorded=""
	if [[ -f $FS2_RUN/frozen.pids ]]; then recorded=$(tr '\n' ' ' <"$FS2_RUN/frozen.pids"); fi
	for p in $recorded $(fs2_pids "$SERVER_COMMS"); do
		[[ " $pids " == *" $p "* ]] && continue
		pid_stopped "$p" || continue
		srv_ctx 2
		if pid_is_cell_server "$p"; then pids+="$p "; fi
		srv_ctx 1
	done
	rm -f "$FS2_RUN/frozen.pids"
	[[ -n $pids ]] || return 0
	for p in $pids; do kill -CONT "$p" 2>/dev/null || true; done
	log "file server 2: continued (SIGCONT) pids ${pids% }"
}

cmd_fs2() {
	case $SUB in
	up) cmd_fs2_up ;;
	stop) cmd_fs2_stop ;;
	start) cmd_fs2_start ;;
	freeze)
		fs2_require_cell
		fs2_require_running
		fs2_freeze
		;;
	thaw)
		fs2_require_cell
		fs2_thaw
		;;
	down)
		fs2_require_cell
		if fs2_anything_running; then fs2_teardown; else log "file server 2 was not running"; rm -f "$ENV2"; fi
		;;
	status)
		require_root
		if [[ ! -f $STATE/.afsbot-afs-cell || ! -f $STATE/cell.conf ]]; then
			echo down
			log "no cell state in $STATE"
			exit 3
		fi
		load_conf
		fs2_state
		echo "$FS2_ST"
		log "file server 2 ($SRV2_IP): $FS2_ST${WHY:+ ($WHY)}"
		case $FS2_ST in up) return 0 ;; down) exit 3 ;; *) exit 1 ;; esac
		;;
	env)
		[[ -f $STATE/env2 ]] || die "no env file $STATE/env2: file server 2 is not up (run: $0 fileserver2 up --name $NAME)"
		cat "$STATE/env2"
		;;
	exec)
		require_root
		((${#EXEC_ARGV[@]})) || die "usage: $0 fileserver2 exec --name $NAME -- CMD [ARG...]"
		[[ -f $STATE/.afsbot-afs-cell ]] || die "no cell state in $STATE"
		load_conf
		[[ -e /run/netns/$NETNS2 && -d $FS2/etc ]] || die "file server 2 of cell $NAME is not up (no netns $NETNS2)"
		srv_ctx 2
		ns_run "${EXEC_ARGV[@]}"
		;;
	"") usage >&2; die "fileserver2 needs a subcommand: up, stop, start, freeze, thaw, down, status, env or exec" ;;
	*) usage >&2; die "unknown fileserver2 subcommand '$SUB'" ;;
	esac
}

# -------------------------------------------------------------------------------------------- commands
UP_STARTED=0
on_up_exit() {
	local rc=$?
	if ((rc != 0 && UP_STARTED)) && [[ -z ${AFSBOT_AFS_KEEP_ON_FAILURE:-} ]]; then
		log "up failed (rc=$rc); stopping what was started (logs stay in $LOGD; set AFSBOT_AFS_KEEP_ON_FAILURE=1 to keep it running)"
		set +e
		teardown
	fi
}

cmd_up() {
	require_root
	require_bins
	load_conf
	prepare_state
	if servers_healthy; then
		log "cell $CELL is already up ($SRV_IP, state $S)"
		if { ((FUSE)) || [[ -f $RUN/afsd.pid ]]; } && ! fuse_healthy; then
			if [[ -f $RUN/afsd.pid ]] || is_mounted "$S/afs"; then
				log "the FUSE client is not working; restarting it"
				stop_fuse
			fi
			start_fuse
			wait_fuse
		fi
		((SEED)) && seed_volumes
		write_env
		cat "$ENVF"
		return 0
	fi
	if anything_running; then
		log "found a partial or stale cell ($WHY); stopping it first"
		teardown
	fi
	trap on_up_exit EXIT
	trap 'exit 130' INT TERM HUP
	UP_STARTED=1
	log "bringing up cell $CELL in $NETNS ($SRV_IP), state $S"
	setup_net
	init_cell_files
	start_bosserver
	wait_quorum
	ensure_host_acl
	start_fileserver
	((FUSE)) && start_fuse
	wait_volserver
	ensure_volume root.afs || true
	ensure_volume root.cell || true
	((FUSE)) && wait_fuse
	((SEED)) && seed_volumes
	write_env
	trap - EXIT INT TERM HUP
	log "cell $CELL is up"
	cat "$ENVF"
}

teardown() { # stop everything, keep the state dir
	srv_ctx 1
	fs2_teardown # its network hangs off the first namespace
	stop_fuse
	stop_servers
	teardown_net
	rm -f "$ENVF"
}

cmd_down() {
	require_root
	if [[ ! -d $STATE ]]; then
		log "nothing to do: no state dir $STATE"
		return 0
	fi
	if [[ ! -f $STATE/.afsbot-afs-cell ]]; then
		die "$STATE was not created by afs-cell.sh (no marker .afsbot-afs-cell); refusing to touch it"
	fi
	load_conf
	lock_cell
	if anything_running; then
		log "stopping cell $CELL ($NETNS)"
		teardown
		log "cell $CELL is down"
	else
		lock_host
		host_cleanup
		unlock_host
		rm -f "$ENVF" "$ENV2" "$RUN/"*.pid "$S/local/"*.pid "$FS2_RUN/"*.pid "$FS2/local/"*.pid
		log "cell $CELL was not running"
	fi
	if ((WIPE)); then
		[[ -f $MARKER ]] || die "refusing to wipe $S: marker missing"
		is_mounted "$S/afs" && die "refusing to wipe $S: $S/afs is still mounted"
		rm -rf --one-file-system -- "$S"
		log "wiped $S"
	fi
}

cmd_status() {
	require_root
	if [[ ! -f $STATE/.afsbot-afs-cell || ! -f $STATE/cell.conf ]]; then
		echo down
		log "no cell state in $STATE"
		exit 3
	fi
	load_conf
	if [[ -d $FS2 ]]; then
		fs2_state
		log "file server 2 ($SRV2_IP): $FS2_ST${WHY:+ ($WHY)}"
	fi
	if cell_healthy; then
		echo up
		log "cell $CELL in $NETNS: servers answer at $SRV_IP$([[ -n $(fuse_pid) ]] && echo ", FUSE at $S/afs")"
		return 0
	fi
	if anything_running; then
		echo degraded
		log "cell $CELL: $WHY"
		exit 1
	fi
	echo down
	log "cell $CELL is down"
	exit 3
}

cmd_env() {
	[[ -f $STATE/env ]] || die "no env file $STATE/env: the cell is not up (run: $0 up --name $NAME)"
	cat "$STATE/env"
}

cmd_exec() {
	require_root
	((${#EXEC_ARGV[@]})) || die "usage: $0 exec --name $NAME -- CMD [ARG...]"
	[[ -f $STATE/.afsbot-afs-cell ]] || die "no cell state in $STATE"
	load_conf
	[[ -e /run/netns/$NETNS ]] || die "cell $NAME is not up (no netns $NETNS)"
	ns_run "${EXEC_ARGV[@]}"
}

main() {
	if [[ ${1:-} == __ns-inner ]]; then
		shift
		ns_inner "$@"
	fi
	parse_args "$@"
	case $CMD in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	exec) cmd_exec ;;
	fileserver2) cmd_fs2 ;;
	"" | help | -h | --help) usage ;;
	*) usage >&2; die "unknown command '$CMD'" ;;
	esac
}

main "$@"
