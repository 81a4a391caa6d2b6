#!/usr/bin/env bash
# afs-cell.sh: bring a real, throwaway OpenAFS 1.8 cell up and down for afsbot's tests and demo.
#
#   afs-cell.sh up     [--name NAME] [--state DIR] [--net N] [--cell CELL] [--seed] [--fuse]
#   afs-cell.sh down   [--name NAME] [--state DIR] [--wipe]
#   afs-cell.sh status [--name NAME] [--state DIR]
#   afs-cell.sh env    [--name NAME] [--state DIR]
#   afs-cell.sh exec   [--name NAME] [--state DIR] -- CMD [ARG...]
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
	sed -n '2,8p' "$SELF" | sed 's/^# \{0,1\}//'
	cat <<'EOF'

options:
  --name NAME   cell instance name (default: test); netns is afsbot-NAME
  --state DIR   state dir (default: <repo>/.state/cell-NAME)
  --net N       use 10.77.N.0/24 (default: test=77, demo=78, others derived from the name)
  --cell CELL   AFS cell name (default: afsbot.test; realm is the upper-cased cell)
  --fuse        also run the FUSE client (afsd.fuse) mounted at <state>/afs
  --seed        create and fill user.alice user.bob db.alice mail.alice (implies --fuse)
  --wipe        (down) also delete the state dir (only one this script created)
EOF
}

# ------------------------------------------------------------------------------------------- arguments
parse_args() {
	CMD=${1:-}
	[[ $# -gt 0 ]] && shift
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
read_pid() {
	local p=""
	if [[ -f $1 ]]; then read -r p <"$1" 2>/dev/null || true; fi
	[[ $p =~ ^[0-9]+$ ]] && printf '%s' "$p"
	return 0
}
netns_inode() { stat -L -c %i "/run/netns/$NETNS" 2>/dev/null; }
pid_in_netns() {
	local want
	want=$(netns_inode) || return 1
	[[ $(readlink "/proc/$1/ns/net" 2>/dev/null) == "net:[$want]" ]]
}
pid_in_cell_mountns() { # its /etc/openafs is our <state>/etc
	local a b
	a=$(stat -c %d:%i "/proc/$1/root/etc/openafs" 2>/dev/null) || return 1
	b=$(stat -c %d:%i "$S/etc" 2>/dev/null) || return 1
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
ns_cmd() { # prints nothing; sets NSCMD array
	NSCMD=(ip netns exec "$NETNS" unshare --mount --propagation slave -- "$SELF" __ns-inner "$S")
}
ns_run() {
	ns_cmd
	AFSCELL_HOST_MNTNS=$(readlink /proc/self/ns/mnt) "${NSCMD[@]}" -- "$@" 9<&- 8<&-
}
ns_inner() { # __ns-inner STATE [--pidfile F] -- CMD...
	local s=$1 pidfile=""
	shift
	if [[ ${1:-} == --pidfile ]]; then pidfile=$2; shift 2; fi
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
	mount --bind "$s/etc" /etc/openafs
	mount --bind "$s/db" /var/lib/openafs/db
	mount --bind "$s/local" /var/lib/openafs/local
	mount --bind "$s/log" /var/log/openafs
	mount --bind "$s/vicepa" /vicepa
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
start_bosserver() {
	rm -f "$RUN/bosserver.pid" "$S/local/"*.pid
	ns_cmd
	(
		exec </dev/null >>"$LOGD/bosserver.stdout" 2>&1
		close_fds
		export AFSCELL_HOST_MNTNS
		AFSCELL_HOST_MNTNS=$(readlink /proc/self/ns/mnt)
		exec setsid "${NSCMD[@]}" --pidfile "$RUN/bosserver.pid" -- /usr/sbin/bosserver -nofork -pidfiles
	) &
	local launcher=$! pid="" i
	for ((i = 0; i < 200; i++)); do
		pid=$(read_pid "$RUN/bosserver.pid")
		if [[ -n $pid ]] && [[ $(pid_comm "$pid") == bosserver ]]; then break; fi
		if ! pid_running "$launcher" && [[ -z $pid ]]; then break; fi
		sleep 0.025
	done
	if [[ -z $pid ]] || [[ $(pid_comm "$pid") != bosserver ]]; then
		tail -n 20 "$LOGD/bosserver.stdout" >&2 2>/dev/null || true
		die "bosserver did not start; see $LOGD/bosserver.stdout and $LOGD/BosLog"
	fi
	log "bosserver running, pid $pid (recorded in $RUN/bosserver.pid)"
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

start_fileserver() {
	local out
	out=$(ns_run bos start -server "$SRV_IP" -instance dafs -localauth 2>&1) ||
		die "bos start dafs failed: $out; see $LOGD/BosLog"
}

wait_volserver() {
	retry_until 30 vos listpart "$SRV_IP" "${VOSA[@]}" ||
		die "vos listpart $SRV_IP did not answer within 30 s (${LAST_OUT//$'\n'/ }); see $LOGD/VolserLog, $LOGD/FileLog and $LOGD/BosLog"
	[[ $LAST_OUT == */vicepa* ]] ||
		die "the fileserver attached no /vicepa partition (vos listpart: ${LAST_OUT//$'\n'/ }); see $LOGD/FileLog"
	log "fileserver and volserver are up (partition /vicepa)"
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

stop_servers() {
	local pids=() p f cand=()
	p=$(read_pid "$RUN/bosserver.pid")
	local bos=""
	pid_is_cell_server "$p" && bos=$p
	for f in "$S/local/"*.pid; do cand+=("$(read_pid "$f")"); done
	# Other processes in the namespace are ours only when this state dir made the namespace: a second
	# checkout's cell of the same name must never stop the first one's processes.
	if [[ -e /run/netns/$NETNS && -f $RUN/netns.created ]]; then
		while read -r p; do cand+=("$p"); done < <(ip netns pids "$NETNS" 2>/dev/null || true)
	fi
	for p in "${cand[@]}"; do
		[[ -n $p && $p != "$bos" ]] || continue
		[[ " ${pids[*]} " == *" $p "* ]] && continue
		if pid_is_cell_server "$p"; then
			pids+=("$p")
		elif pid_running "$p" && pid_in_netns "$p"; then
			log "also stopping pid $p ($(pid_comm "$p")): it runs in $NETNS"
			pids+=("$p")
		fi
	done
	if [[ -z $bos && ${#pids[@]} -eq 0 ]]; then
		rm -f "$RUN/bosserver.pid" "$S/local/"*.pid
		return 0
	fi
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
			log "still running after SIGTERM: $left; sending SIGQUIT (a stuck dafileserver stops on it)"
			[[ -n $left ]] && { kill -QUIT $left 2>/dev/null || true; }
			if ! wait_gone 3 $left; then
				left=$(still_ours $left)
				log "still running after SIGQUIT: $left; sending SIGKILL"
				[[ -n $left ]] && { kill -KILL $left 2>/dev/null || true; }
				wait_gone 3 $left || log "WARNING: could not stop pids: $(still_running $left)"
			fi
		fi
	fi
	rm -f "$RUN/bosserver.pid" "$S/local/"*.pid
	log "servers stopped"
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
		# FUSE writes are flushed asynchronously after close: fsync every file before anyone clones it
		(cd "$S/seed/$v" && find . -type f -print0 | (cd "$dst" && xargs -0 -r timeout -k 1 60 sync --)) ||
			die "fsync of the seed files in $dst failed; see $LOGD/afsd.fuse.log"
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
	return 1
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
		rm -f "$ENVF" "$RUN/"*.pid "$S/local/"*.pid
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
	"" | help | -h | --help) usage ;;
	*) usage >&2; die "unknown command '$CMD'" ;;
	esac
}

main "$@"
