#!/usr/bin/env bash
# Second local IRC server with services accounts for afsbot's tests: Debian's ngIRCd 26 (client port
# and services-link port on 127.0.0.1 only) linked to Atheme 7 services (NickServ) through Atheme's
# protocol/ngircd module. The counterpart of irc-server.sh (InspIRCd), for an IRCd that vouches for
# much less: no SASL, no IRCv3 account capabilities (see "What ngIRCd offers" below).
#
# Usage:
#   ngircd.sh up     --name NAME [--state DIR] [--accounts "acct:pass,acct2:pass2"]
#                               [--class default|fast] [--port P]
#   ngircd.sh down   --name NAME [--state DIR] [--wipe]
#   ngircd.sh status --name NAME [--state DIR]
#   ngircd.sh env    --name NAME [--state DIR]
#
# State dir: default <repo>/.state/ngircd-<name>. `up` prints KEY=value lines (also in <state>/env):
#   AFSBOT_IRC_HOST=127.0.0.1  AFSBOT_IRC_PORT=<client port>  AFSBOT_IRC_STATE=<state dir>
#   AFSBOT_IRC_SERVICES_SERVER=<the services server's name>
# Account passwords are kept in <state>/accounts (mode 0600, "acct:pass" lines), never printed.
# Accounts are registered with NickServ REGISTER and checked with NickServ IDENTIFY (no SASL here).
# `up` installs the Debian packages ngircd and atheme-services when missing (as root, apt-get;
# their init scripts are not allowed to start the system daemons). Progress and errors go to stderr.
#
# Connect classes: "default" = ngIRCd's stock flood handling (MaxPenaltyTime=-1: most commands
# cost a "penalty" second during which the client's further input is not read); "fast" = no
# penalties (MaxPenaltyTime=0). Changing the class of a running instance restarts ngircd.
#
# What ngIRCd offers (26.1, measured here with a raw client):
# - CAP LS 302 answers only "multi-prefix": no sasl, account-tag, account-notify, extended-join,
#   message-tags or server-time (CAP REQ for them gets NAK); AUTHENTICATE is "421 Unknown command".
# - After NickServ IDENTIFY (any nick), WHOIS shows "330 <me> <nick> <account> :is logged in as".
# - Atheme sets user mode +R (":NickServ!NickServ@services.test MODE <nick> :+R", and WHOIS then
#   has "307 :is a registered nick") only while the nick is the account's registered nick; a
#   client identified under another nick gets no +R, only the 330. LOGOUT sends MODE -R.
# - Messages carry no per-message account data (no tags): ":nick!~user@127.0.0.1 PRIVMSG #c :text".
# - A client that connects with a registered nick and has not identified gets a NickServ NOTICE
#   ("This nickname is registered. Please choose a different nickname, or identify via ...").
#   Clients cannot set +R themselves ("484 ... Cannot modify user mode (+R) -- Use IRC services").
#
# Good to know (measured on this setup):
# - Class default: a client's first command after 001 (e.g. JOIN) is answered after ~1 s, and
#   two commands in a row take ~1 s each; a burst of PRIVMSGs goes out at ~3 lines/s (200 lines:
#   65 s, nobody killed). Class fast: all of that within milliseconds (1000 lines: 7 ms).
# - `up` from scratch: ~2.5 s (class default; NickServ checks wait out the penalty), ~0.6 s
#   (fast); `up` when already up ~1.4 s / ~0.4 s; a class switch restarts ngircd and waits
#   for Atheme to relink: ~2.5 s (recontime 2 s), and connected clients are dropped.
# - One listening port per role: clients use AFSBOT_IRC_PORT; Atheme links on a second port
#   (ngIRCd itself accepts clients and servers on every port it listens on).
# - ngIRCd runs as nobody (it refuses to keep root) and logs to <state>/ngircd.out; Atheme's
#   log is <state>/atheme.log. Its log line "Got KILL command from services.test for NickServ"
#   at every link is Atheme clearing the nick before introducing NickServ: harmless.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
HELPER="$SCRIPT_DIR/ngircd-helper.mjs"
PORTS_HELPER="$SCRIPT_DIR/irc-helper.mjs" # its `ports N`
MARKER_NAME=".afsbot-ngircd"
HOST=127.0.0.1
SERVER_NAME="irc.test"
SERVICES_NAME="services.test"
NGIRCD_BIN=/usr/sbin/ngircd

PEER=ngircd
# shellcheck source=scripts/peers/lib.sh
. "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------- arguments
CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
NAME="" STATE="" ACCOUNTS_ARG="" CLASS="" PORT_ARG="" WIPE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --name=*) NAME="${1#*=}"; shift ;;
    --state) STATE="${2:?--state needs a value}"; shift 2 ;;
    --state=*) STATE="${1#*=}"; shift ;;
    --accounts) ACCOUNTS_ARG="${2?--accounts needs a value}"; shift 2 ;;
    --accounts=*) ACCOUNTS_ARG="${1#*=}"; shift ;;
    --class) CLASS="${2:?--class needs a value}"; shift 2 ;;
    --class=*) CLASS="${1#*=}"; shift ;;
    --port) PORT_ARG="${2:?--port needs a value}"; shift 2 ;;
    --port=*) PORT_ARG="${1#*=}"; shift ;;
    --wipe) WIPE=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$CMD" in up|down|status|env) ;; -h|--help|help) usage ;; *) die "unknown command '$CMD' (up|down|status|env)" ;; esac
[[ -n "$NAME" ]] || die "--name NAME is required"
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "--name must match [A-Za-z0-9._-]+"
if [[ -n "$CLASS" && "$CLASS" != default && "$CLASS" != fast ]]; then die "--class must be 'default' or 'fast'"; fi
if [[ -n "$PORT_ARG" ]] && ! [[ "$PORT_ARG" =~ ^[0-9]+$ && "$PORT_ARG" -ge 1 && "$PORT_ARG" -le 65535 ]]; then
  die "--port must be a TCP port number"
fi

[[ -n "$STATE" ]] || STATE="$REPO_DIR/.state/ngircd-$NAME"
STATE="$(realpath -m -- "$STATE")"
# ngircd.conf has no quoting: a path with blanks or ';'/'#' would not survive it
[[ "$STATE" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "state dir path '$STATE' may only contain [A-Za-z0-9._/+-]"

# ---------------------------------------------------------------- state layout
MARKER="$STATE/$MARKER_NAME"
META="$STATE/meta"                 # CLIENT_PORT, LINK_PORT, CLASS, LINK_PASS
ENV_FILE="$STATE/env"
ACCOUNTS_FILE="$STATE/accounts"
IRCD_CONF="$STATE/ngircd.conf"
IRCD_INCLUDE="$STATE/ngircd.conf.d" # empty: keeps ngIRCd from reading /etc/ngircd/ngircd.conf.d
IRCD_MOTD="$STATE/ngircd.motd"
IRCD_OUT="$STATE/ngircd.out"       # ngircd -n logs here (stdout/stderr)
IRCD_PID="$STATE/ngircd.pid"       # PID recorded by this script
ATHEME_CONF="$STATE/atheme.conf"
ATHEME_LOG="$STATE/atheme.log"
ATHEME_OUT="$STATE/atheme.out"
ATHEME_PID="$STATE/atheme.pid"
ATHEME_DATA="$STATE/atheme-data"
RUN_DIR="$STATE/run"               # pid files the daemons write themselves
SYNC_RE='finished synching with uplink'
# shellcheck disable=SC2016 # a literal backtick, nothing to expand
ACCOUNT_RE='^[][A-Za-z_{}|^\`][][A-Za-z0-9_{}|^\`-]{0,29}$'

# ---------------------------------------------------------------- helpers
require_bins() {
  ensure_debs ngircd atheme-services
  [[ -x "$NGIRCD_BIN" ]] || die "$NGIRCD_BIN is missing although package ngircd is installed"
  command -v atheme-services >/dev/null 2>&1 || die "atheme-services is missing although its package is installed"
  command -v node >/dev/null 2>&1 || die "node (Node.js 20) is required for $HELPER"
}

ircd_pid() { pid_alive "$IRCD_PID" "$IRCD_CONF"; }
atheme_pid() { pid_alive "$ATHEME_PID" "$ATHEME_CONF"; }

sync_count() {
  local n=0
  if [[ -f "$ATHEME_LOG" ]]; then n="$(grep -c -- "$SYNC_RE" "$ATHEME_LOG" || true)"; fi
  echo "${n:-0}"
}

# Atheme holds an established connection to the link port and its log's last link event is a
# completed sync (not a later disconnect).
services_linked() {
  local apid lport last
  apid="$(atheme_pid)" || return 1
  lport="$(meta_get LINK_PORT)"
  [[ -n "$lport" ]] || return 1
  ss -Htnp state established "dport = :$lport" 2>/dev/null | grep -q "pid=$apid," || return 1
  [[ -f "$ATHEME_LOG" ]] || return 1
  last="$(grep -E -- "$SYNC_RE|uplink_connect\(\)|irc_handle_connect\(\)|connection_close\(\)" "$ATHEME_LOG" | tail -n1 || true)"
  [[ "$last" == *"$SYNC_RE"* ]]
}

ircd_listening() { # both ports, by our ngircd
  local pid
  pid="$(ircd_pid)" || return 1
  port_listening "$(meta_get CLIENT_PORT)" "$pid" && port_listening "$(meta_get LINK_PORT)" "$pid"
}

healthy() {
  ircd_listening && services_linked
}

# ---------------------------------------------------------------- config files
write_ircd_conf() { # CLIENT_PORT LINK_PORT CLASS LINK_PASS
  local cport="$1" lport="$2" class="$3" pass="$4" penalty
  if [[ "$class" == fast ]]; then penalty=0; else penalty=-1; fi
  mkdir -p "$RUN_DIR" "$IRCD_INCLUDE"
  [[ -f "$IRCD_MOTD" ]] || echo "afsbot test IRC server, ngIRCd ($NAME)" >"$IRCD_MOTD"
  umask 077
  # ngIRCd reads its config (and the MOTD) as root before it switches to nobody.
  cat >"$IRCD_CONF.tmp" <<EOF
# Generated by scripts/peers/ngircd.sh for afsbot tests ($NAME). Do not edit.
[Global]
	Name = $SERVER_NAME
	Info = afsbot test IRC server (ngIRCd)
	Network = AfsbotTest
	AdminInfo1 = afsbot tests
	AdminInfo2 = scripts/peers/ngircd.sh
	AdminEMail = admin@example.invalid
	Listen = $HOST
	Ports = $cport, $lport
	MotdFile = $IRCD_MOTD
	ServerUID = nobody
	ServerGID = nogroup

[Limits]
	# class: $class
	MaxPenaltyTime = $penalty
	MaxConnectionsIP = 0
	MaxNickLength = 30
	MaxJoins = 50
	PingTimeout = 120
	PongTimeout = 20

[Options]
	# never ask the system resolver or an ident server; no PAM
	DNS = no
	Ident = no
	PAM = no
	ConnectIPv6 = no
	IncludeDir = $IRCD_INCLUDE

[Server]
	# Atheme, connecting to us (passive: no Port)
	Name = $SERVICES_NAME
	Host = $HOST
	MyPassword = $pass
	PeerPassword = $pass
	ServiceMask = *Serv
EOF
  mv -f "$IRCD_CONF.tmp" "$IRCD_CONF"
}

write_atheme_conf() { # LINK_PORT LINK_PASS
  local lport="$1" pass="$2"
  mkdir -p "$ATHEME_DATA"
  umask 077
  # No SaslServ: ngIRCd has no SASL, and Atheme's protocol/ngircd has no SASL support either.
  cat >"$ATHEME_CONF.tmp" <<EOF
/* Generated by scripts/peers/ngircd.sh for afsbot tests ($NAME). Do not edit. */
loadmodule "modules/protocol/ngircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/help";
loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/info";
loadmodule "modules/nickserv/logout";
loadmodule "modules/nickserv/status";

/* cheapest allowed hashing, so registering and logins stay fast */
pbkdf2v2 {
	digest = "SHA256";
	rounds = 10000;
};

serverinfo {
	name = "$SERVICES_NAME";
	desc = "afsbot test services";
	recontime = 2;
	netname = "AfsbotTest";
	hidehostsuffix = "users.test";
	adminname = "afsbot tests";
	adminemail = "admin@example.invalid";
	registeremail = "noreply@example.invalid";
	mta = "/bin/true";
	loglevel = { error; info; admin; network; };
	maxlogins = 50;
	maxusers = 50;
	mdlimit = 30;
	emaillimit = 1000;
	emailtime = 300;
	auth = none;
	casemapping = ascii;
};

uplink "$SERVER_NAME" {
	host = "$HOST";
	send_password = "$pass";
	receive_password = "$pass";
	port = $lport;
};

nickserv {
	nick = "NickServ";
	user = "NickServ";
	host = "$SERVICES_NAME";
	real = "Nickname Services";
	maxnicks = 5;
	expire = 0;
};

general {
	ratelimit_uses = 1000;
	ratelimit_period = 1;
	commit_interval = 1;
	flood_msgs = 0;
	flood_time = 10;
	kline_time = 7;
	clone_time = 0;
	uplink_sendq_limit = 1048576;
	immune_level = immune;
};
EOF
  mv -f "$ATHEME_CONF.tmp" "$ATHEME_CONF"
}

# ---------------------------------------------------------------- start/stop daemons

start_ircd() { # CLIENT_PORT LINK_PORT
  local cport="$1" lport="$2" pid i out_start
  if port_in_use "$cport"; then die "client port $cport is already in use by another process (ss -ltnp 'sport = :$cport')"; fi
  if port_in_use "$lport"; then die "link port $lport is already in use by another process (ss -ltnp 'sport = :$lport')"; fi
  : >>"$IRCD_OUT"
  printf '\n=== %s starting ngircd ===\n' "$(date -Is)" >>"$IRCD_OUT"
  out_start="$(wc -l <"$IRCD_OUT")"
  # own session (setsid), so signals for the caller's process group don't reach it; no
  # inherited fds (our lock, a caller's pipes), so nobody waits on it by accident.
  (
    close_extra_fds
    exec setsid "$NGIRCD_BIN" --nodaemon --config "$IRCD_CONF" </dev/null >>"$IRCD_OUT" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$IRCD_PID"
  for ((i = 0; i < 500; i++)); do # 10 s
    if port_listening "$cport" "$pid" && port_listening "$lport" "$pid"; then return 0; fi
    if proc_gone "$pid"; then break; fi
    # ngIRCd keeps running when one port fails to bind ("Can't bind socket to address ...")
    if tail -n +"$((out_start + 1))" "$IRCD_OUT" | grep -qi "can't bind"; then break; fi
    sleep 0.02
  done
  tail_log "$IRCD_OUT"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || true
  die "ngircd did not start listening on $HOST:$cport/$lport; see $IRCD_OUT"
}

start_atheme() {
  local pid
  # Atheme refuses to start ("daemon is already running") while the PID in its own pid file
  # still exists -- e.g. a killed atheme that init has not reaped yet. We track PIDs ourselves.
  rm -f "$RUN_DIR/atheme.pid"
  : >>"$ATHEME_OUT"
  printf '\n=== %s starting atheme-services ===\n' "$(date -Is)" >>"$ATHEME_OUT"
  (
    close_extra_fds
    exec setsid atheme-services -n -c "$ATHEME_CONF" -D "$ATHEME_DATA" -l "$ATHEME_LOG" \
      -p "$RUN_DIR/atheme.pid" </dev/null >>"$ATHEME_OUT" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$ATHEME_PID"
}

# wait_sync BEFORE_COUNT TIMEOUT_S: wait for a new "finished synching with uplink" line.
wait_sync() {
  local before="$1" timeout="$2" i
  for ((i = 0; i < timeout * 50; i++)); do
    if [[ "$(sync_count)" -gt "$before" ]]; then return 0; fi
    # the PID itself, not its command line: until the subshell has exec'ed atheme-services the
    # command line is still this script's
    if proc_gone "$(tr -dc '0-9' <"$ATHEME_PID")"; then
      tail_log "$ATHEME_OUT"; tail_log "$ATHEME_LOG"
      die "atheme-services exited; see $ATHEME_LOG and $ATHEME_OUT"
    fi
    sleep 0.02
  done
  tail_log "$ATHEME_LOG"; tail_log "$IRCD_OUT"
  die "Atheme did not finish synching with ngIRCd within ${timeout}s; see $ATHEME_LOG and $IRCD_OUT"
}

stop_all() {
  stop_pid "$ATHEME_PID" "$ATHEME_CONF" atheme-services
  stop_pid "$IRCD_PID" "$IRCD_CONF" ngircd
  rm -f "$RUN_DIR"/*.pid
}

write_env() {
  write_env_file "AFSBOT_IRC_HOST=$HOST" "AFSBOT_IRC_PORT=$(meta_get CLIENT_PORT)" "AFSBOT_IRC_STATE=$STATE" \
    "AFSBOT_IRC_SERVICES_SERVER=$SERVICES_NAME"
}

# ---------------------------------------------------------------- commands

# restart_ircd: a new ngircd with the current meta (same ports); waits for Atheme to relink.
restart_ircd() {
  local cport lport before
  cport="$(meta_get CLIENT_PORT)"; lport="$(meta_get LINK_PORT)"
  before="$(sync_count)"
  stop_pid "$IRCD_PID" "$IRCD_CONF" ngircd
  write_ircd_conf "$cport" "$lport" "$(meta_get CLASS)" "$(meta_get LINK_PASS)"
  wait_port_closed "$cport" 10 || die "port $HOST:$cport still listening after ngircd stopped"
  wait_port_closed "$lport" 10 || die "port $HOST:$lport still listening after ngircd stopped"
  start_ircd "$cport" "$lport"
  atheme_pid >/dev/null || die "atheme-services is not running; see $ATHEME_LOG (run 'up' again)"
  wait_sync "$before" 30 # Atheme retries every recontime (2 s)
}

cmd_up() {
  local t0="$T0" cport lport class pass ports before
  class="${CLASS:-$(meta_get CLASS)}"; class="${class:-default}"

  if healthy; then
    cport="$(meta_get CLIENT_PORT)"
    if [[ -n "$PORT_ARG" && "$PORT_ARG" != "$cport" ]]; then
      die "already up on port $cport (asked for --port $PORT_ARG); run 'down --name $NAME' first"
    fi
    if [[ "$class" != "$(meta_get CLASS)" ]]; then
      log "already up; switching connect class $(meta_get CLASS) -> $class (restarting ngircd)"
      write_meta "CLIENT_PORT=$cport" "LINK_PORT=$(meta_get LINK_PORT)" "CLASS=$class" "LINK_PASS=$(meta_get LINK_PASS)"
      restart_ircd
    else
      log "already up on $HOST:$cport (class $class)"
    fi
  elif ircd_listening && [[ -z "$PORT_ARG" || "$PORT_ARG" == "$(meta_get CLIENT_PORT)" ]] \
    && [[ "$class" == "$(meta_get CLASS)" ]]; then
    # ngIRCd is fine (its clients stay connected); only the services need attention.
    local i
    if atheme_pid >/dev/null; then
      log "atheme-services is running but not linked; giving it up to 5 s to relink"
      for ((i = 0; i < 250; i++)); do services_linked && break; sleep 0.02; done
    fi
    if ! services_linked; then
      stop_pid "$ATHEME_PID" "$ATHEME_CONF" atheme-services
      write_atheme_conf "$(meta_get LINK_PORT)" "$(meta_get LINK_PASS)"
      before="$(sync_count)"
      log "starting atheme-services (ngircd already up on $HOST:$(meta_get CLIENT_PORT))"
      start_atheme
      wait_sync "$before" 20
    fi
    log "services linked after $(($(now_ms) - t0)) ms"
  else
    if ircd_pid >/dev/null || atheme_pid >/dev/null; then
      log "found a partly running instance; restarting it"
    fi
    STARTING=1 # a failure from here on stops whatever was started (see the EXIT trap)
    stop_all
    # ports: --port, else the previous client port if still free (stable env), else a new one
    cport="${PORT_ARG:-$(meta_get CLIENT_PORT)}"
    mapfile -t ports < <(node "$PORTS_HELPER" ports 3)
    [[ ${#ports[@]} -eq 3 ]] || die "could not pick free ports on $HOST"
    if [[ -z "$cport" ]] || { [[ -z "$PORT_ARG" ]] && port_in_use "$cport"; }; then cport="${ports[0]}"; fi
    lport="${ports[1]}"
    [[ "$lport" != "$cport" ]] || lport="${ports[2]}"
    pass="$(meta_get LINK_PASS)"
    [[ -n "$pass" ]] || pass="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    write_meta "CLIENT_PORT=$cport" "LINK_PORT=$lport" "CLASS=$class" "LINK_PASS=$pass"
    write_ircd_conf "$cport" "$lport" "$class" "$pass"
    write_atheme_conf "$lport" "$pass"

    log "starting ngircd on $HOST:$cport (link port $lport, class $class)"
    start_ircd "$cport" "$lport"
    before="$(sync_count)"
    log "starting atheme-services"
    start_atheme
    wait_sync "$before" 20
    STARTING=0
    log "services linked after $(($(now_ms) - t0)) ms"
  fi
  register_accounts "$ATHEME_LOG, $IRCD_OUT"
  write_env
  log "ready in $(($(now_ms) - t0)) ms"
  cat "$ENV_FILE"
}

cmd_down() {
  if [[ -d "$STATE" ]]; then
    stop_all
    # belt and braces: nothing of ours may still hold the ports
    local p
    for p in "$(meta_get CLIENT_PORT)" "$(meta_get LINK_PORT)"; do
      [[ -n "$p" ]] || continue
      wait_port_closed "$p" 5 || log "WARNING: $HOST:$p is still listening (not a process recorded by this script)"
    done
    rm -f "$ENV_FILE"
    # Exited daemons are zombies until init reaps them; wait a little so `ps` right after is clean.
    wait_reaped "${STOPPED_PIDS[@]}"
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
  local ok=0 ipid apid
  ipid="$(ircd_pid)" || ipid=""
  apid="$(atheme_pid)" || apid=""
  if [[ -n "$ipid" ]] && ircd_listening; then
    log "ngircd: running (pid $ipid) on $HOST:$(meta_get CLIENT_PORT), class $(meta_get CLASS)"
  else
    log "ngircd: not running (log: $IRCD_OUT)"; ok=1
  fi
  if [[ -n "$apid" ]]; then
    if services_linked; then log "atheme-services: running (pid $apid), linked"
    else log "atheme-services: running (pid $apid), NOT linked (log: $ATHEME_LOG)"; ok=1; fi
  else
    log "atheme-services: not running (log: $ATHEME_LOG)"; ok=1
  fi
  return "$ok"
}


STARTING=0
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && "$STARTING" == 1 ]]; then
    STARTING=0
    log "start failed; stopping what was started"
    stop_all || true
  fi
}
trap on_exit EXIT

# One command at a time per instance (the lock lives inside the state dir).
if [[ "$CMD" == up ]]; then require_bins; prepare_state_dir "$RUN_DIR" "$ATHEME_DATA" "$IRCD_INCLUDE"; fi
if [[ -d "$STATE" ]]; then
  exec 9>>"$STATE/.lock"
  flock -w 120 9 || die "timed out waiting for the lock $STATE/.lock"
fi

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
esac
