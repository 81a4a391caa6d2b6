#!/usr/bin/env bash
# Private OpenSSH server on 127.0.0.1, an SFTP remote for restic in afsbot's tests and benchmarks.
# Its own config, host key, client key, authorized_keys and pid file, all in the state dir; it never
# touches the system sshd (config, host keys, service) and uses neither /root/.ssh nor any ~/.ssh.
#
# Usage:
#   sshd.sh up     --name NAME [--state DIR] [--user USER]
#   sshd.sh down   --name NAME [--state DIR] [--wipe]
#   sshd.sh status --name NAME [--state DIR]
#   sshd.sh env    --name NAME [--state DIR]
#
# State dir: default <repo>/.state/sshd-<name>. `up` prints KEY=value lines (also in <state>/env):
#   AFSBOT_SFTP_HOST=127.0.0.1        AFSBOT_SFTP_PORT=<port>       AFSBOT_SFTP_USER=<login user>
#   AFSBOT_SFTP_KEY=<client private key>   AFSBOT_SFTP_KNOWN_HOSTS=<known_hosts for [127.0.0.1]:port>
#   AFSBOT_SFTP_REPOS=<dir for SFTP repositories>   AFSBOT_SFTP_STATE=<state dir>
# --user: the account clients log in as (default root, or the one of the previous `up`); it must
# exist and must not be locked ("!" password), since the private sshd runs with UsePAM no. For a
# user other than root the repos dir and the client key are chowned to that user.
# `up` is idempotent (already up and healthy: prints the env); keys are generated once and kept
# across down/up; the port is kept across down/up when it is still free. `down` stops the recorded
# sshd and any sessions it spawned (by PID, never by name); `down --wipe` also deletes the state dir
# (only if it carries this script's marker file). `status` exits 0 when up. Progress goes to stderr.
#
# Client side (restic 0.14):
#   restic -r "sftp:$AFSBOT_SFTP_USER@127.0.0.1:$AFSBOT_SFTP_REPOS/REPO" -o sftp.command="ssh -p PORT
#     -i KEY -o UserKnownHostsFile=KNOWN_HOSTS -o StrictHostKeyChecking=yes USER@127.0.0.1 -s sftp" ...
#   (restic ignores host/port/user of the sftp: URL once sftp.command is given; the command decides.)
# Needs root (sshd must be able to switch to the login user); creates /run/sshd (sshd's privilege
# separation dir) if missing and leaves it in place (harmless; shared by all instances).
#
# Good to know (measured on this setup, OpenSSH 9.2, restic 0.14):
# - `up` from scratch ~0.45 s (keys, start, a real login as self-test); `up` when already up ~0.1 s.
# - A state dir below a group/world-writable dir (e.g. under /tmp) needs StrictModes no, else sshd
#   logs "bad ownership or modes for directory /tmp" and refuses the key; `up` decides this itself.
# - sshd with UsePAM no refuses accounts with a '!' password even for keys; `up` checks that first.
# - Sessions outlive a SIGTERM of the listener (own sessions); `down` stops them too, by PID.
# - `down` may wait up to 2 s for PID 1 to reap the exited sshd, so `ps` right after is clean.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
MARKER_NAME=".afsbot-sshd"
HOST=127.0.0.1
SSHD_BIN=/usr/sbin/sshd

PEER=sshd
# shellcheck source=scripts/peers/lib.sh
. "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------- arguments
CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
NAME="" STATE="" USER_ARG="" WIPE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --name=*) NAME="${1#*=}"; shift ;;
    --state) STATE="${2:?--state needs a value}"; shift 2 ;;
    --state=*) STATE="${1#*=}"; shift ;;
    --user) USER_ARG="${2:?--user needs a value}"; shift 2 ;;
    --user=*) USER_ARG="${1#*=}"; shift ;;
    --wipe) WIPE=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$CMD" in up|down|status|env) ;; -h|--help|help) usage ;; *) die "unknown command '$CMD' (up|down|status|env)" ;; esac
[[ -n "$NAME" ]] || die "--name NAME is required"
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "--name must match [A-Za-z0-9._-]+"
if [[ -n "$USER_ARG" ]] && ! [[ "$USER_ARG" =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]]; then
  die "--user must be a plain account name"
fi

[[ -n "$STATE" ]] || STATE="$REPO_DIR/.state/sshd-$NAME"
STATE="$(realpath -m -- "$STATE")"
# The paths go into sshd_config (where % is a token and blanks need quoting) and into the env file.
[[ "$STATE" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "state dir path '$STATE' may only contain [A-Za-z0-9._/+-]"
[[ "$STATE" != / ]] || die "refusing / as state dir"

# ---------------------------------------------------------------- state layout
MARKER="$STATE/$MARKER_NAME"
META="$STATE/meta"                     # PORT, USER
ENV_FILE="$STATE/env"
SSHD_CONF="$STATE/sshd_config"
SSHD_LOG="$STATE/sshd.log"             # sshd -E
SSHD_OUT="$STATE/sshd.out"             # stdout/stderr of the sshd process (early errors)
SSHD_OWN_PID="$STATE/sshd.pid"         # PidFile that sshd writes itself (and removes on exit)
DAEMON_PID="$STATE/daemon.pid"         # PID recorded by this script: the only one it stops
HOST_KEY="$STATE/ssh_host_ed25519_key"
CLIENT_KEY="$STATE/client_key"
AUTH_KEYS="$STATE/authorized_keys"
KNOWN_HOSTS="$STATE/known_hosts"
REPOS="$STATE/repos"

# ---------------------------------------------------------------- helpers
require_bins() {
  if [[ ! -x "$SSHD_BIN" ]] || ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
    die "OpenSSH server/client missing ($SSHD_BIN, ssh, ssh-keygen); install with: apt-get install -y openssh-server openssh-client"
  fi
  getent passwd sshd >/dev/null 2>&1 \
    || die "the 'sshd' privilege separation user is missing; install with: apt-get install -y openssh-server openssh-client"
  command -v ss >/dev/null 2>&1 || die "ss (iproute2) is required"
  command -v flock >/dev/null 2>&1 || die "flock (util-linux) is required"
}


# pid_alive: the recorded PID is a live (non-zombie) process whose command line names our
# config file -- never trusts a PID that has been reused by something else.
sshd_pid() {
  local pid st
  [[ -f "$DAEMON_PID" ]] || return 1
  pid="$(tr -dc '0-9' <"$DAEMON_PID")"
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  st="$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  [[ "$st" != Z && -n "$st" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$SSHD_CONF" || return 1
  echo "$pid"
}


# The port answers with an SSH identification string.
banner_ok() { # PORT
  local line=""
  line="$( (exec 3<>"/dev/tcp/$HOST/$1" && IFS= read -r -t 3 l <&3 && printf '%s' "$l") 2>/dev/null || true)"
  [[ "$line" == SSH-2.0-* ]]
}

healthy() {
  local pid port
  pid="$(sshd_pid)" || return 1
  port="$(meta_get PORT)"
  [[ -n "$port" ]] && port_listening "$port" "$pid" && banner_ok "$port"
}


proc_start() { # PID -> start time (field 22 of /proc/PID/stat), empty if gone
  local line rest
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
  rest="${line##*) }"
  # shellcheck disable=SC2086
  set -- $rest
  echo "${20}"
}

# descendants PID: "pid starttime" of every process below PID (the per-connection sshd
# processes and whatever the sessions run).
descendants() {
  local f line rest pid
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid="${line%% *}"
    rest="${line##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    printf '%s %s %s\n' "$pid" "$2" "${20}"
  done | awk -v root="$1" '
    { ppid[$1] = $2; st[$1] = $3; n++; pids[n] = $1 }
    END {
      want[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (i = 1; i <= n; i++) { p = pids[i]; if (!(p in want) && (ppid[p] in want)) { want[p] = 1; changed = 1 } }
      }
      for (p in want) if (p != root) print p, st[p]
    }'
}




STOPPED_PIDS=()

# Stops the recorded sshd (SIGTERM, SIGKILL after 5 s) and then the processes it had spawned
# (sessions survive a SIGTERM of the listener, as they run in their own sessions).
stop_sshd() {
  local pid kids=() k kpid kst
  if pid="$(sshd_pid)"; then
    mapfile -t kids < <(descendants "$pid")
    log "stopping sshd (pid $pid${kids[*]:+, ${#kids[@]} session process(es)})"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 5; then
      log "sshd (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || die "could not stop sshd (pid $pid)"
    fi
    STOPPED_PIDS+=("$pid")
    for k in "${kids[@]}"; do
      kpid="${k%% *}"; kst="${k#* }"
      [[ -n "$kpid" && "$(proc_start "$kpid")" == "$kst" ]] || continue
      kill -TERM "$kpid" 2>/dev/null || true
      STOPPED_PIDS+=("$kpid")
    done
    for k in "${kids[@]}"; do
      kpid="${k%% *}"; kst="${k#* }"
      [[ -n "$kpid" ]] || continue
      if ! wait_gone "$kpid" 3 && [[ "$(proc_start "$kpid")" == "$kst" ]]; then
        log "session process $kpid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$kpid" 2>/dev/null || true
      fi
    done
  fi
  rm -f "$DAEMON_PID" "$SSHD_OWN_PID"
}


# A port below the kernel's ephemeral range (so outgoing connections never take it) and free now.
pick_port() {
  local lo hi i p
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { lo=32768; hi=60999; }
  local a=10000 b=$((lo - 1))
  if ((b - a < 1000)); then a=$((hi + 1)); b=65535; fi
  ((b - a >= 100)) || die "no port range left outside the ephemeral range $lo-$hi"
  for ((i = 0; i < 200; i++)); do
    p=$((a + (RANDOM * 32768 + RANDOM) % (b - a + 1)))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# StrictModes yes works only if every directory from the state dir up to / is owned by root or
# the login user and is not group/world-writable (e.g. not for a state dir under /tmp).
strict_modes_ok() { # UID
  local d="$STATE" st
  while :; do
    st="$(stat -c '%u %a' -- "$d")" || return 1
    local owner="${st% *}" mode="${st#* }"
    [[ "$owner" == 0 || "$owner" == "$1" ]] || return 1
    (((8#$mode & 8#022) == 0)) || return 1
    [[ "$d" == / ]] && return 0
    d="$(dirname -- "$d")"
  done
}

# ---------------------------------------------------------------- files

ensure_keys() { # USER UID GID
  local f kind
  for f in "$HOST_KEY" "$CLIENT_KEY"; do
    [[ "$f" == "$HOST_KEY" ]] && kind=host || kind=client
    if [[ ! -s "$f" ]]; then
      rm -f "$f" "$f.pub"
      ssh-keygen -q -t ed25519 -N '' -C "afsbot-sftp-$NAME-$kind" -f "$f" </dev/null >/dev/null \
        || die "ssh-keygen failed for $f"
      log "generated ed25519 $kind key $f"
    elif [[ ! -s "$f.pub" ]]; then
      ssh-keygen -y -f "$f" >"$f.pub" || die "cannot derive $f.pub from $f"
    fi
  done
  chown 0:0 "$HOST_KEY"; chmod 0600 "$HOST_KEY"
  chmod 0644 "$HOST_KEY.pub" "$CLIENT_KEY.pub"
  # whoever logs in as USER may want to use the key; root can read it either way
  chown "$2:$3" "$CLIENT_KEY"; chmod 0600 "$CLIENT_KEY"
  # restrict: no forwarding, no pty, no ~/.ssh/rc; commands and the sftp subsystem still work
  printf 'restrict %s\n' "$(cat "$CLIENT_KEY.pub")" >"$AUTH_KEYS.tmp"
  chmod 0644 "$AUTH_KEYS.tmp"
  mv -f "$AUTH_KEYS.tmp" "$AUTH_KEYS"
}

write_known_hosts() { # PORT
  local kt key
  read -r kt key _ <"$HOST_KEY.pub"
  printf '[%s]:%s %s %s\n' "$HOST" "$1" "$kt" "$key" >"$KNOWN_HOSTS.tmp"
  chmod 0644 "$KNOWN_HOSTS.tmp"
  mv -f "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
}

write_sshd_conf() { # PORT USER STRICT(yes|no)
  local port="$1" user="$2" strict="$3" root_login=no
  [[ "$user" == root ]] && root_login=prohibit-password
  cat >"$SSHD_CONF.tmp" <<EOF
# Generated by scripts/peers/sshd.sh for afsbot tests ($NAME). Do not edit.
# A private sshd: own port, host key, keys file and pid file; no Include of /etc/ssh.
Port $port
ListenAddress $HOST
AddressFamily inet
HostKey $HOST_KEY
PidFile $SSHD_OWN_PID
LogLevel INFO

AllowUsers $user
PermitRootLogin $root_login
PubkeyAuthentication yes
AuthorizedKeysFile $AUTH_KEYS
AuthorizedKeysCommand none
AuthorizedPrincipalsFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes $strict
UseDNS no
PermitUserEnvironment no

AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
# no pty sessions: nothing ever gets written to utmp/wtmp/lastlog
PermitTTY no
PrintMotd no
PrintLastLog no
Banner none

# parallel tests may open many connections at once
MaxStartups 100:30:200
MaxSessions 20
LoginGraceTime 30
ClientAliveInterval 30
ClientAliveCountMax 4

Subsystem sftp internal-sftp
EOF
  chmod 0644 "$SSHD_CONF.tmp"
  mv -f "$SSHD_CONF.tmp" "$SSHD_CONF"
}

write_env() {
  write_env_file "AFSBOT_SFTP_HOST=$HOST" "AFSBOT_SFTP_PORT=$(meta_get PORT)" "AFSBOT_SFTP_USER=$(meta_get USER)" \
    "AFSBOT_SFTP_KEY=$CLIENT_KEY" "AFSBOT_SFTP_REPOS=$REPOS" "AFSBOT_SFTP_KNOWN_HOSTS=$KNOWN_HOSTS" \
    "AFSBOT_SFTP_STATE=$STATE"
}

# ---------------------------------------------------------------- start
# start_sshd PORT: 0 = listening; 2 = the port was taken meanwhile (try another); dies otherwise.
start_sshd() {
  local port="$1" pid i out_start
  : >>"$SSHD_OUT"
  printf '\n=== %s starting sshd on %s:%s ===\n' "$(date -Is)" "$HOST" "$port" >>"$SSHD_OUT"
  printf '\n=== %s starting sshd on %s:%s ===\n' "$(date -Is)" "$HOST" "$port" >>"$SSHD_LOG"
  out_start="$(wc -l <"$SSHD_LOG")"
  # own session (setsid), so signals for the caller's process group don't reach it; no inherited
  # fds (our lock, a caller's pipes), so nobody waits on it by accident. Absolute path: sshd
  # re-executes itself for every connection.
  (
    close_extra_fds
    exec setsid "$SSHD_BIN" -D -f "$SSHD_CONF" -E "$SSHD_LOG" </dev/null >>"$SSHD_OUT" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$DAEMON_PID"
  for ((i = 0; i < 500; i++)); do # 10 s
    if port_listening "$port" "$pid"; then return 0; fi
    if proc_gone "$pid"; then break; fi
    sleep 0.01
  done
  if proc_gone "$pid" && tail -n +"$((out_start + 1))" "$SSHD_LOG" | grep -q 'Address already in use'; then
    rm -f "$DAEMON_PID"
    return 2
  fi
  tail_log "$SSHD_OUT"
  tail_log "$SSHD_LOG"
  proc_gone "$pid" || kill -TERM "$pid" 2>/dev/null || true
  rm -f "$DAEMON_PID"
  die "sshd did not start listening on $HOST:$port; see $SSHD_LOG and $SSHD_OUT"
}

# A real login with the client key and the known_hosts file (sftp subsystem, EOF right away).
self_test() { # PORT USER
  local out
  if ! out="$(ssh -F none -p "$1" -i "$CLIENT_KEY" -o IdentitiesOnly=yes -o IdentityAgent=none \
      -o BatchMode=yes -o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
      -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -o LogLevel=ERROR \
      "$2@$HOST" -s sftp </dev/null 2>&1)"; then
    tail_log "$SSHD_LOG"
    die "login self-test as $2@$HOST:$1 failed: ${out:-no output}"
  fi
}

# Checks for `up`, before anything is created: root, and the login user (LOGIN_USER/UID/GID).
check_up() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (sshd needs it to switch to the login user)"
  LOGIN_USER="${USER_ARG:-$(meta_get USER)}"; LOGIN_USER="${LOGIN_USER:-root}"
  local pw
  pw="$(getent passwd "$LOGIN_USER")" || die "user '$LOGIN_USER' does not exist"
  LOGIN_UID="$(cut -d: -f3 <<<"$pw")"; LOGIN_GID="$(cut -d: -f4 <<<"$pw")"
  # with UsePAM no, sshd refuses accounts whose password field starts with '!' even for keys
  if [[ "$(getent shadow "$LOGIN_USER" 2>/dev/null | cut -d: -f2)" == '!'* ]]; then
    die "account '$LOGIN_USER' is locked ('!' in /etc/shadow); sshd (UsePAM no) refuses locked accounts; pick another --user"
  fi
}

cmd_up() {
  local user="$LOGIN_USER" uid="$LOGIN_UID" gid="$LOGIN_GID" port strict rc tries

  if healthy && [[ "$user" == "$(meta_get USER)" ]]; then
    log "already up on $HOST:$(meta_get PORT) (user $user)"
    write_env
    cat "$ENV_FILE"
    return 0
  fi
  if sshd_pid >/dev/null; then
    if [[ "$user" != "$(meta_get USER)" ]]; then log "already up for user $(meta_get USER); restarting for user $user"
    else log "found an unhealthy sshd; restarting it"; fi
  fi

  STARTING=1 # a failure from here on stops whatever was started (see the EXIT trap)
  stop_sshd
  [[ -d /run/sshd ]] || { mkdir -p -m 0755 /run/sshd; log "created /run/sshd (sshd's privilege separation dir; left in place)"; }
  ensure_keys "$user" "$uid" "$gid"
  mkdir -p "$REPOS"
  if [[ "$user" == root ]]; then chmod 0700 "$STATE" "$REPOS"
  else
    chmod 0711 "$STATE"          # the login user must reach authorized_keys and repos/
    chown "$uid:$gid" "$REPOS"; chmod 0700 "$REPOS"
  fi
  if strict_modes_ok "$uid"; then strict=yes
  else strict=no; log "StrictModes no: a directory above $STATE is group/world-writable or foreign-owned"; fi

  # port: the previous one if still free (stable env across down/up), else a new one
  port="$(meta_get PORT)"
  if [[ -z "$port" ]] || port_in_use "$port"; then port="$(pick_port)" || die "could not find a free port on $HOST"; fi
  for ((tries = 1; ; tries++)); do
    write_sshd_conf "$port" "$user" "$strict"
    rc=0; start_sshd "$port" || rc=$?
    [[ "$rc" == 0 ]] && break
    ((tries < 10)) || die "could not bind a port on $HOST after $tries tries"
    log "port $port was taken meanwhile; trying another"
    port="$(pick_port)" || die "could not find a free port on $HOST"
  done
  write_meta "PORT=$port" "USER=$user"
  write_known_hosts "$port"
  log "sshd (pid $(cat "$DAEMON_PID")) listening on $HOST:$port after $(($(now_ms) - T0)) ms"
  self_test "$port" "$user"
  STARTING=0
  write_env
  log "ready in $(($(now_ms) - T0)) ms"
  cat "$ENV_FILE"
}

cmd_down() {
  if [[ -d "$STATE" ]]; then
    stop_sshd
    local p
    p="$(meta_get PORT)"
    if [[ -n "$p" ]]; then
      wait_port_closed "$p" 5 || log "WARNING: $HOST:$p is still listening (not a process recorded by this script)"
    fi
    rm -f "$ENV_FILE"
    # Exited daemons are zombies until init reaps them; wait a little so `ps` right after
    # `down` is clean.
    local pid i
    for pid in "${STOPPED_PIDS[@]}"; do
      for ((i = 0; i < 100; i++)); do [[ -d "/proc/$pid" ]] || break; sleep 0.02; done
    done
  fi
  if [[ "$WIPE" == 1 && -d "$STATE" ]]; then
    if [[ -f "$MARKER" ]]; then
      rm -rf -- "$STATE"
      log "removed $STATE"
    else
      die "not wiping $STATE: it has no $MARKER_NAME marker file"
    fi
  fi
  log "down"
}

cmd_status() {
  local pid port
  port="$(meta_get PORT)"
  if pid="$(sshd_pid)"; then
    if [[ -n "$port" ]] && port_listening "$port" "$pid" && banner_ok "$port"; then
      log "up: sshd pid $pid on $HOST:$port, user $(meta_get USER)"
      return 0
    fi
    log "sshd pid $pid runs but does not answer on $HOST:${port:-?} (log: $SSHD_LOG)"
    return 1
  fi
  log "not running${port:+ (last port $port)}"
  return 1
}


STARTING=0
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && "$STARTING" == 1 ]]; then
    STARTING=0
    log "start failed; stopping what was started"
    stop_sshd || true
  fi
}
trap on_exit EXIT

# One command at a time per instance (the lock lives inside the state dir).
if [[ "$CMD" == up ]]; then require_bins; check_up; prepare_state_dir; fi
# (No lock file is created in a dir without our marker.)
if [[ -f "$MARKER" ]]; then
  exec 9>>"$STATE/.lock"
  flock -w 120 9 || die "timed out waiting for the lock $STATE/.lock"
fi

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
esac
