#!/usr/bin/env bash
# Local IRC server with services accounts for afsbot's tests and demo:
# InspIRCd 3 (client + server-link port on 127.0.0.1 only) linked to Atheme 7 services
# (NickServ + SaslServ: SASL PLAIN, account-tag, account-notify).
#
# Usage:
#   irc-server.sh up           --name NAME [--state DIR] [--accounts "acct:pass,acct2:pass2"]
#                                          [--class default|fast] [--port P]
#   irc-server.sh restart-ircd --name NAME [--state DIR] [--wait-services]
#   irc-server.sh down         --name NAME [--state DIR] [--wipe]
#   irc-server.sh status       --name NAME [--state DIR]
#   irc-server.sh env          --name NAME [--state DIR]
#
# State dir: default <repo>/.state/irc-<name>. `up` prints KEY=value lines (also in <state>/env):
#   AFSBOT_IRC_HOST=127.0.0.1  AFSBOT_IRC_PORT=<client port>  AFSBOT_IRC_STATE=<state dir>
#   AFSBOT_IRC_SERVICES_SERVER=<the services server's name, where NickServ is>
# Account passwords are kept in <state>/accounts (mode 0600, "acct:pass" lines), never printed.
# Progress and errors go to stderr.
#
# Connect classes: "default" = InspIRCd's stock flood limits (threshold=10 commandrate=1000
# fakelag=yes recvq=8192); "fast" = effectively unthrottled (threshold=1000 commandrate=100000,
# recvq=65536).
#
# Good to know (measured on this setup):
# - InspIRCd completes client registrations on its one-second tick: 001 comes 0-1 s after NICK/USER.
# - restart-ircd keeps the client port; clients can connect again ~0.1 s later, but until Atheme
#   relinks (~2 s, recontime=2) the server does not offer the "sasl" capability: a client
#   connecting in that window gets in without an account (irc-framework emits 'sasl failed'
#   {reason:'capability_missing'} and carries on unauthenticated).
# - Each InspIRCd start gets a new server id; see random_sid() for the Atheme crash that avoids.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
HELPER="$SCRIPT_DIR/irc-helper.mjs"
MARKER_NAME=".afsbot-irc-server"
HOST=127.0.0.1
SERVER_NAME="irc.test"
SERVICES_NAME="services.test"

PEER=irc-server
# shellcheck source=scripts/peers/lib.sh
. "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------- arguments
CMD="${1:-}"
[[ -n "$CMD" ]] || usage
shift
NAME="" STATE="" ACCOUNTS_ARG="" CLASS="" PORT_ARG="" WIPE=0 WAIT_SERVICES=0
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
    --wait-services) WAIT_SERVICES=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$CMD" in up|restart-ircd|down|status|env) ;; -h|--help|help) usage ;; *) die "unknown command '$CMD' (up|restart-ircd|down|status|env)" ;; esac
[[ -n "$NAME" ]] || die "--name NAME is required"
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "--name must match [A-Za-z0-9._-]+"
if [[ -n "$CLASS" && "$CLASS" != default && "$CLASS" != fast ]]; then die "--class must be 'default' or 'fast'"; fi
if [[ -n "$PORT_ARG" ]] && ! [[ "$PORT_ARG" =~ ^[0-9]+$ && "$PORT_ARG" -ge 1 && "$PORT_ARG" -le 65535 ]]; then
  die "--port must be a TCP port number"
fi

[[ -n "$STATE" ]] || STATE="$REPO_DIR/.state/irc-$NAME"
STATE="$(realpath -m -- "$STATE")"

# ---------------------------------------------------------------- state layout
MARKER="$STATE/$MARKER_NAME"
META="$STATE/meta"                 # CLIENT_PORT, LINK_PORT, CLASS, LINK_PASS
ENV_FILE="$STATE/env"
ACCOUNTS_FILE="$STATE/accounts"
IRCD_CONF="$STATE/inspircd.conf"
IRCD_LOG="$STATE/inspircd.log"
IRCD_OUT="$STATE/inspircd.out"     # stdout/stderr of the inspircd process
IRCD_PID="$STATE/inspircd.pid"     # PID recorded by this script
ATHEME_CONF="$STATE/atheme.conf"
ATHEME_LOG="$STATE/atheme.log"
ATHEME_OUT="$STATE/atheme.out"
ATHEME_PID="$STATE/atheme.pid"
ATHEME_DATA="$STATE/atheme-data"
RUN_DIR="$STATE/run"               # pid files the daemons write themselves
SYNC_RE='finished synching with uplink'
ACCOUNT_RE='^[][A-Za-z_{}|^\`][][A-Za-z0-9_{}|^\`-]{0,29}$'

# ---------------------------------------------------------------- helpers
require_bins() {
  local missing=()
  command -v inspircd >/dev/null 2>&1 || [[ -x /usr/sbin/inspircd ]] || missing+=(inspircd)
  command -v atheme-services >/dev/null 2>&1 || missing+=(atheme-services)
  if [[ ${#missing[@]} -gt 0 ]]; then
    die "missing ${missing[*]}; install with: apt-get install -y inspircd atheme-services"
  fi
  command -v node >/dev/null 2>&1 || die "node (Node.js 20) is required for $HELPER"
}
inspircd_bin() { command -v inspircd 2>/dev/null || echo /usr/sbin/inspircd; }


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
  ss -Htnp state established "dport = :$lport" 2>/dev/null | grep -q "pid=$apid," || return 1
  [[ -f "$ATHEME_LOG" ]] || return 1
  last="$(grep -E -- "$SYNC_RE|uplink_connect\(\)|irc_handle_connect\(\)|connection_close\(\)" "$ATHEME_LOG" | tail -n1 || true)"
  [[ "$last" == *"$SYNC_RE"* ]]
}

healthy() {
  ircd_pid >/dev/null && atheme_pid >/dev/null && port_listening "$(meta_get CLIENT_PORT)" && services_linked
}

# ---------------------------------------------------------------- config files
# A fresh server id (SID) on every InspIRCd start. InspIRCd numbers its users SID+AAAAAA,
# SID+AAAAAB, ... from scratch after a restart, while Atheme keeps SASL sessions of clients
# that authenticated but never finished registering (for up to a minute) keyed by that UID and
# pointing at the old, freed server. A new client with a reused UID that then does SASL makes
# Atheme 7.2.12 segfault (reproduced here). New SID => new UIDs => no collision.
random_sid() {
  local chars=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 sid
  while :; do
    sid="$((RANDOM % 10))${chars:$((RANDOM % 36)):1}${chars:$((RANDOM % 36)):1}"
    [[ "$sid" != 00A ]] && break
  done
  echo "$sid"
}

write_ircd_conf() { # CLIENT_PORT LINK_PORT CLASS LINK_PASS
  local cport="$1" lport="$2" class="$3" pass="$4" flood sid
  sid="$(random_sid)"
  if [[ "$class" == fast ]]; then
    # effectively unthrottled; a bigger RecvQ too, since even unthrottled InspIRCd kills a
    # client that writes more than recvq bytes in one go ("RecvQ exceeded")
    flood='threshold="1000" commandrate="100000" fakelag="yes" recvq="65536"'
    # (measured: the first ~10-30 KB of a burst pass at once, then ~10 KB/s)
  else
    # InspIRCd's defaults: ~10 lines burst, then 1 line/s; >8192 unprocessed bytes => killed
    flood='threshold="10" commandrate="1000" fakelag="yes" recvq="8192"'
  fi
  mkdir -p "$RUN_DIR" "$STATE/inspircd-data"
  [[ -f "$STATE/inspircd.motd" ]] || echo "afsbot test IRC server ($NAME)" >"$STATE/inspircd.motd"
  umask 077
  cat >"$IRCD_CONF.tmp" <<EOF
# Generated by scripts/peers/irc-server.sh for afsbot tests ($NAME). Do not edit.
<config format="xml">
<server name="$SERVER_NAME" description="afsbot test IRC server" network="AfsbotTest" id="$sid">
<admin name="afsbot tests" nick="admin" email="admin@example.invalid">
<bind address="$HOST" port="$cport" type="clients">
<bind address="$HOST" port="$lport" type="servers">
<path configdir="$STATE" datadir="$STATE/inspircd-data" logdir="$STATE" runtimedir="$RUN_DIR">
<pid file="$RUN_DIR/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$IRCD_LOG" flush="1">
<files motd="$STATE/inspircd.motd">
# never ask the system resolver (it is not on 127.0.0.1): no hostname lookups at all
<dns server="127.0.0.1" sourceip="127.0.0.1" timeout="1">
<performance nouserdns="yes" quietbursts="yes" softlimit="1024" somaxconn="128">

# class: $class
<connect name="afsbot-$class" allow="*" timeout="60" pingfreq="120"
         $flood
         softsendq="8192" hardsendq="262144"
         localmax="1000" globalmax="1000" maxchans="50" resolvehostnames="no" useident="no">

<channels users="50" opers="60">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15">
<security hideserver="" userstats="Pu" flatlinks="no" hidesplits="no" hideulines="no" maxtargets="20">

<module name="cap">
<module name="ircv3">
<module name="ircv3_accounttag">
<module name="ircv3_capnotify">
<module name="ircv3_servertime">
<module name="ircv3_echomessage">
<module name="sasl">
<module name="services_account">
<module name="spanningtree">
<module name="chghost">
<module name="svshold">
<module name="monitor">
<module name="servprotect">

<link name="$SERVICES_NAME" ipaddr="$HOST" port="$lport" allowmask="127.0.0.1/32"
      timeout="15" sendpass="$pass" recvpass="$pass">
<uline server="$SERVICES_NAME" silent="yes">
<sasl target="$SERVICES_NAME" requiressl="no">
EOF
  mv -f "$IRCD_CONF.tmp" "$IRCD_CONF"
}

write_atheme_conf() { # LINK_PORT LINK_PASS
  local lport="$1" pass="$2"
  mkdir -p "$ATHEME_DATA"
  umask 077
  cat >"$ATHEME_CONF.tmp" <<EOF
/* Generated by scripts/peers/irc-server.sh for afsbot tests ($NAME). Do not edit. */
loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/help";
loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/info";
loadmodule "modules/nickserv/logout";
loadmodule "modules/nickserv/status";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";

/* cheapest allowed hashing, so registering and SASL logins stay fast */
pbkdf2v2 {
	digest = "SHA256";
	rounds = 10000;
};

serverinfo {
	name = "$SERVICES_NAME";
	desc = "afsbot test services";
	numeric = "00A";
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
	casemapping = rfc1459;
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

saslserv {
	nick = "SaslServ";
	user = "SaslServ";
	host = "$SERVICES_NAME";
	real = "SASL Authentication Agent";
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

start_ircd() {
  local cport="$1" lport="$2" pid i
  if port_in_use "$cport"; then die "client port $cport is already in use by another process (ss -ltnp 'sport = :$cport')"; fi
  if port_in_use "$lport"; then die "link port $lport is already in use by another process (ss -ltnp 'sport = :$lport')"; fi
  : >>"$IRCD_OUT"
  printf '\n=== %s starting inspircd ===\n' "$(date -Is)" >>"$IRCD_OUT"
  local out_start
  out_start="$(wc -l <"$IRCD_OUT")"
  # own session (setsid), so signals for the caller's process group don't reach it; no
  # inherited fds (our lock, a caller's pipes), so nobody waits on it by accident.
  (
    close_extra_fds
    exec setsid "$(inspircd_bin)" --config "$IRCD_CONF" --nofork --runasroot </dev/null >>"$IRCD_OUT" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$IRCD_PID"
  for ((i = 0; i < 500; i++)); do # 10 s
    if port_listening "$cport" && port_listening "$lport"; then return 0; fi
    if proc_gone "$pid"; then break; fi
    # InspIRCd keeps running when a port fails to bind ("The following port(s) failed to bind")
    if tail -n +"$((out_start + 1))" "$IRCD_OUT" | grep -qi 'failed to bind'; then break; fi
    sleep 0.02
  done
  tail_log "$IRCD_OUT"
  tail_log "$IRCD_LOG"
  kill -TERM "$pid" 2>/dev/null || true
  die "InspIRCd did not start listening on $HOST:$cport/$lport; see $IRCD_OUT and $IRCD_LOG"
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
    # the PID itself, not its command line: until the subshell has exec'ed atheme-services (a
    # moment, longer on a busy machine) the command line is still this script's
    if proc_gone "$(tr -dc '0-9' <"$ATHEME_PID")"; then
      tail_log "$ATHEME_OUT"; tail_log "$ATHEME_LOG"
      die "atheme-services exited; see $ATHEME_LOG and $ATHEME_OUT"
    fi
    sleep 0.02
  done
  tail_log "$ATHEME_LOG"; tail_log "$IRCD_LOG"
  die "Atheme did not finish synching with InspIRCd within ${timeout}s; see $ATHEME_LOG and $IRCD_LOG"
}

stop_all() {
  stop_pid "$ATHEME_PID" "$ATHEME_CONF" atheme-services
  stop_pid "$IRCD_PID" "$IRCD_CONF" inspircd
  rm -f "$RUN_DIR"/*.pid
}

write_env() {
  write_env_file "AFSBOT_IRC_HOST=$HOST" "AFSBOT_IRC_PORT=$(meta_get CLIENT_PORT)" "AFSBOT_IRC_STATE=$STATE" \
    "AFSBOT_IRC_SERVICES_SERVER=$SERVICES_NAME"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local t0="$T0" cport lport class pass ports before
  class="${CLASS:-$(meta_get CLASS)}"; class="${class:-default}"

  if healthy; then
    cport="$(meta_get CLIENT_PORT)"
    if [[ -n "$PORT_ARG" && "$PORT_ARG" != "$cport" ]]; then
      die "already up on port $cport (asked for --port $PORT_ARG); run 'down --name $NAME' first"
    fi
    if [[ "$class" != "$(meta_get CLASS)" ]]; then
      log "already up; switching connect class $(meta_get CLASS) -> $class (restarting inspircd)"
      write_meta "CLIENT_PORT=$cport" "LINK_PORT=$(meta_get LINK_PORT)" "CLASS=$class" "LINK_PASS=$(meta_get LINK_PASS)"
      write_ircd_conf "$cport" "$(meta_get LINK_PORT)" "$class" "$(meta_get LINK_PASS)"
      restart_ircd 1
    else
      log "already up on $HOST:$cport (class $class)"
    fi
  elif ircd_pid >/dev/null && port_listening "$(meta_get CLIENT_PORT)" && port_listening "$(meta_get LINK_PORT)" \
    && [[ -z "$PORT_ARG" || "$PORT_ARG" == "$(meta_get CLIENT_PORT)" ]] && [[ "$class" == "$(meta_get CLASS)" ]]; then
    # InspIRCd is fine (its clients stay connected); only the services need attention.
    local i
    if atheme_pid >/dev/null; then
      log "atheme-services is running but not linked; giving it up to 5 s to relink"
      for ((i = 0; i < 250; i++)); do services_linked && break; sleep 0.02; done
    fi
    if ! services_linked; then
      stop_pid "$ATHEME_PID" "$ATHEME_CONF" atheme-services
      write_atheme_conf "$(meta_get LINK_PORT)" "$(meta_get LINK_PASS)"
      before="$(sync_count)"
      log "starting atheme-services (inspircd already up on $HOST:$(meta_get CLIENT_PORT))"
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
    mapfile -t ports < <(node "$HELPER" ports 3)
    [[ ${#ports[@]} -eq 3 ]] || die "could not pick free ports on $HOST"
    if [[ -z "$cport" ]] || { [[ -z "$PORT_ARG" ]] && port_in_use "$cport"; }; then cport="${ports[0]}"; fi
    lport="${ports[1]}"
    [[ "$lport" != "$cport" ]] || lport="${ports[2]}"
    pass="$(meta_get LINK_PASS)"
    [[ -n "$pass" ]] || pass="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    write_meta "CLIENT_PORT=$cport" "LINK_PORT=$lport" "CLASS=$class" "LINK_PASS=$pass"
    write_ircd_conf "$cport" "$lport" "$class" "$pass"
    write_atheme_conf "$lport" "$pass"

    log "starting inspircd on $HOST:$cport (link port $lport, class $class)"
    start_ircd "$cport" "$lport"
    before="$(sync_count)"
    log "starting atheme-services"
    start_atheme
    wait_sync "$before" 20
    STARTING=0
    log "services linked after $(($(now_ms) - t0)) ms"
  fi
  register_accounts "$ATHEME_LOG, $IRCD_LOG"
  write_env
  log "ready in $(($(now_ms) - t0)) ms"
  cat "$ENV_FILE"
}

# restart_ircd WAIT_SERVICES
restart_ircd() {
  local cport lport before t0 pid i
  t0="$(now_ms)"
  cport="$(meta_get CLIENT_PORT)"; lport="$(meta_get LINK_PORT)"
  before="$(sync_count)"
  stop_pid "$IRCD_PID" "$IRCD_CONF" inspircd
  rm -f "$RUN_DIR/inspircd.pid"
  write_ircd_conf "$cport" "$lport" "$(meta_get CLASS)" "$(meta_get LINK_PASS)" # new SID
  wait_port_closed "$cport" 10 || die "port $HOST:$cport still listening after inspircd stopped"
  wait_port_closed "$lport" 10 || die "port $HOST:$lport still listening after inspircd stopped"
  start_ircd "$cport" "$lport"
  log "inspircd accepting connections again on $HOST:$cport after $(($(now_ms) - t0)) ms"
  if [[ "$1" == 1 ]]; then
    atheme_pid >/dev/null || die "atheme-services is not running; see $ATHEME_LOG (run 'up' again)"
    wait_sync "$before" 30
    log "services re-synced after $(($(now_ms) - t0)) ms"
  fi
}

cmd_restart_ircd() {
  require_bins
  [[ -f "$MARKER" && -f "$META" ]] || die "no instance '$NAME' in $STATE; run 'up' first"
  ircd_pid >/dev/null || log "inspircd was not running; starting it"
  restart_ircd "$WAIT_SERVICES"
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
    # Exited daemons are zombies until init reaps them (can take up to ~1 s in containers
    # whose PID 1 reaps lazily); wait a little so `ps` right after `down` is clean.
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
  local ok=0 ipid apid
  ipid="$(ircd_pid)" || ipid=""
  apid="$(atheme_pid)" || apid=""
  if [[ -n "$ipid" ]] && port_listening "$(meta_get CLIENT_PORT)"; then
    log "inspircd: running (pid $ipid) on $HOST:$(meta_get CLIENT_PORT), class $(meta_get CLASS)"
  else
    log "inspircd: not running (log: $IRCD_LOG)"; ok=1
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
if [[ "$CMD" == up ]]; then require_bins; prepare_state_dir "$RUN_DIR" "$ATHEME_DATA"; fi
if [[ -d "$STATE" ]]; then
  exec 9>>"$STATE/.lock"
  flock -w 120 9 || die "timed out waiting for the lock $STATE/.lock"
fi

case "$CMD" in
  up) cmd_up ;;
  restart-ircd) cmd_restart_ircd ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
esac
