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
# Account passwords are kept in <state>/accounts (mode 0600, "acct:pass" lines), never printed.
# Progress and errors go to stderr.
#
# Connect classes: "default" = InspIRCd's stock flood limits (threshold=10 commandrate=1000
# fakelag=yes recvq=8192); "fast" = effectively unthrottled (threshold=1000 commandrate=100000).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
HELPER="$SCRIPT_DIR/irc-helper.mjs"
MARKER_NAME=".afsbot-irc-server"
HOST=127.0.0.1
SERVER_NAME="irc.test"
SERVICES_NAME="services.test"

log() { printf 'irc-server[%s]: %s\n' "${NAME:-?}" "$*" >&2; }
die() { printf 'irc-server[%s]: ERROR: %s\n' "${NAME:-?}" "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
T0="$(now_ms)"

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

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

meta_get() { [[ -f "$META" ]] && sed -n "s/^$1=//p" "$META" | tail -n1 || true; }

write_meta() { # CLIENT_PORT LINK_PORT CLASS LINK_PASS
  umask 077
  printf 'CLIENT_PORT=%s\nLINK_PORT=%s\nCLASS=%s\nLINK_PASS=%s\n' "$1" "$2" "$3" "$4" >"$META.tmp"
  mv -f "$META.tmp" "$META"
}

# pid_alive PIDFILE CONF: the recorded PID is a live (non-zombie) process whose command line
# names our config file -- never trusts a PID that has been reused by something else.
pid_alive() {
  local pidfile="$1" conf="$2" pid st
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  st="$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  [[ "$st" != Z && -n "$st" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf" || return 1
  echo "$pid"
}
ircd_pid() { pid_alive "$IRCD_PID" "$IRCD_CONF"; }
atheme_pid() { pid_alive "$ATHEME_PID" "$ATHEME_CONF"; }

port_listening() { # PORT
  ss -Hltn "sport = :$1" 2>/dev/null | awk -v p="$HOST:$1" '$4==p {f=1} END {exit !f}'
}

sync_count() { [[ -f "$ATHEME_LOG" ]] && grep -c -- "$SYNC_RE" "$ATHEME_LOG" || echo 0; }

# Atheme holds an established connection to the link port and its log's last link event is a
# completed sync (not a later disconnect).
services_linked() {
  local apid lport last
  apid="$(atheme_pid)" || return 1
  lport="$(meta_get LINK_PORT)"
  ss -Htnp state established "dport = :$lport" 2>/dev/null | grep -q "pid=$apid," || return 1
  [[ -f "$ATHEME_LOG" ]] || return 1
  last="$(grep -E -- "$SYNC_RE|connection to uplink|[Cc]onnection .*(closed|lost|failed)|error on socket|ERROR from server|[Cc]onnecting to " "$ATHEME_LOG" | tail -n1 || true)"
  [[ "$last" == *"$SYNC_RE"* ]]
}

healthy() {
  ircd_pid >/dev/null && atheme_pid >/dev/null && port_listening "$(meta_get CLIENT_PORT)" && services_linked
}

# stop_pid PIDFILE CONF LABEL: SIGTERM, then SIGKILL after 5 s, by recorded PID only.
stop_pid() {
  local pidfile="$1" conf="$2" label="$3" pid i
  if pid="$(pid_alive "$pidfile" "$conf")"; then
    log "stopping $label (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pidfile" "$conf" >/dev/null || break
      sleep 0.05
    done
    if pid_alive "$pidfile" "$conf" >/dev/null; then
      log "$label (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        pid_alive "$pidfile" "$conf" >/dev/null || break
        sleep 0.05
      done
      pid_alive "$pidfile" "$conf" >/dev/null && die "could not stop $label (pid $pid)"
    fi
  fi
  rm -f "$pidfile"
}

wait_port_closed() { # PORT TIMEOUT_S
  local i
  for ((i = 0; i < $2 * 20; i++)); do port_listening "$1" || return 0; sleep 0.05; done
  return 1
}

tail_log() { # FILE
  if [[ -s "$1" ]]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 15 "$1" >&2
  fi
}

# ---------------------------------------------------------------- config files
write_ircd_conf() { # CLIENT_PORT LINK_PORT CLASS LINK_PASS
  local cport="$1" lport="$2" class="$3" pass="$4" flood
  if [[ "$class" == fast ]]; then
    flood='threshold="1000" commandrate="100000" fakelag="yes"'
  else
    flood='threshold="10" commandrate="1000" fakelag="yes"' # InspIRCd's defaults
  fi
  mkdir -p "$RUN_DIR" "$STATE/inspircd-data"
  [[ -f "$STATE/inspircd.motd" ]] || echo "afsbot test IRC server ($NAME)" >"$STATE/inspircd.motd"
  umask 077
  cat >"$IRCD_CONF.tmp" <<EOF
# Generated by scripts/peers/irc-server.sh for afsbot tests ($NAME). Do not edit.
<config format="xml">
<server name="$SERVER_NAME" description="afsbot test IRC server" network="AfsbotTest" id="1AF">
<admin name="afsbot tests" nick="admin" email="admin@example.invalid">
<bind address="$HOST" port="$cport" type="clients">
<bind address="$HOST" port="$lport" type="servers">
<path configdir="$STATE" datadir="$STATE/inspircd-data" logdir="$STATE" runtimedir="$RUN_DIR">
<pid file="$RUN_DIR/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$IRCD_LOG" flush="1">
<files motd="$STATE/inspircd.motd">
# never ask the system resolver (it is not on 127.0.0.1): no hostname lookups at all
<dns server="127.0.0.1" timeout="1">
<performance nouserdns="yes" quietbursts="yes" softlimit="1024" somaxconn="128">

# class: $class
<connect name="afsbot-$class" allow="*" timeout="60" pingfreq="120"
         $flood
         recvq="8192" softsendq="8192" hardsendq="262144"
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
  if port_listening "$cport"; then die "client port $HOST:$cport is already in use by another process"; fi
  if port_listening "$lport"; then die "link port $HOST:$lport is already in use by another process"; fi
  : >>"$IRCD_OUT"
  printf '\n=== %s starting inspircd ===\n' "$(date -Is)" >>"$IRCD_OUT"
  # setsid: own session, so the caller's terminal/process group signals don't reach it.
  setsid "$(inspircd_bin)" --config "$IRCD_CONF" --nofork --runasroot </dev/null >>"$IRCD_OUT" 2>&1 &
  pid=$!
  echo "$pid" >"$IRCD_PID"
  for ((i = 0; i < 200; i++)); do # 10 s
    if port_listening "$cport" && port_listening "$lport"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.02
  done
  tail_log "$IRCD_OUT"
  tail_log "$IRCD_LOG"
  kill -TERM "$pid" 2>/dev/null || true
  die "InspIRCd did not start listening on $HOST:$cport/$lport; see $IRCD_OUT and $IRCD_LOG"
}

start_atheme() {
  local pid
  : >>"$ATHEME_OUT"
  printf '\n=== %s starting atheme-services ===\n' "$(date -Is)" >>"$ATHEME_OUT"
  setsid atheme-services -n -c "$ATHEME_CONF" -D "$ATHEME_DATA" -l "$ATHEME_LOG" -p "$RUN_DIR/atheme.pid" \
    </dev/null >>"$ATHEME_OUT" 2>&1 &
  pid=$!
  echo "$pid" >"$ATHEME_PID"
}

# wait_sync BEFORE_COUNT TIMEOUT_S: wait for a new "finished synching with uplink" line.
wait_sync() {
  local before="$1" timeout="$2" i
  for ((i = 0; i < timeout * 50; i++)); do
    if [[ "$(sync_count)" -gt "$before" ]]; then return 0; fi
    if ! atheme_pid >/dev/null; then
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
  umask 077
  printf 'AFSBOT_IRC_HOST=%s\nAFSBOT_IRC_PORT=%s\nAFSBOT_IRC_STATE=%s\n' "$HOST" "$(meta_get CLIENT_PORT)" "$STATE" >"$ENV_FILE.tmp"
  chmod 0644 "$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- accounts
# Registers the wanted accounts (--accounts plus the ones already in <state>/accounts that
# are new to this instance) and merges them into <state>/accounts.
register_accounts() {
  local want="" entry acct pass tmp out
  if [[ -n "$ACCOUNTS_ARG" ]]; then
    IFS=',' read -r -a entries <<<"$ACCOUNTS_ARG"
    for entry in "${entries[@]}"; do
      entry="${entry#"${entry%%[![:space:]]*}"}"; entry="${entry%"${entry##*[![:space:]]}"}"
      [[ -n "$entry" ]] || continue
      [[ "$entry" == *:* ]] || die "--accounts entry '${entry%%:*}' has no ':password'"
      acct="${entry%%:*}"; pass="${entry#*:}"
      [[ -n "$acct" && -n "$pass" ]] || die "--accounts entries must look like acct:pass"
      [[ "$pass" =~ [[:space:]] ]] && die "password for '$acct' must not contain whitespace"
      want+="$acct:$pass"$'\n'
    done
  fi
  [[ -n "$want" ]] || return 0
  # skip accounts already registered (recorded with the same password) on this instance
  local todo=""
  while IFS= read -r entry; do
    [[ -n "$entry" ]] || continue
    if [[ -f "$ACCOUNTS_FILE" ]] && grep -qxF -- "$entry" "$ACCOUNTS_FILE" && [[ "${FORCE_VERIFY:-0}" != 1 ]]; then
      continue
    fi
    todo+="$entry"$'\n'
  done <<<"$want"
  if [[ -z "$todo" ]]; then
    log "accounts already registered: $(printf '%s' "$want" | cut -d: -f1 | paste -sd, -)"
    return 0
  fi
  log "registering accounts: $(printf '%s' "$todo" | cut -d: -f1 | paste -sd, -)"
  if ! out="$(printf '%s' "$todo" | node "$HELPER" register "$HOST" "$(meta_get CLIENT_PORT)")"; then
    die "account registration failed (see messages above; logs: $ATHEME_LOG, $IRCD_LOG)"
  fi
  # merge into <state>/accounts: new entries replace old lines for the same account
  umask 077
  tmp="$ACCOUNTS_FILE.tmp"
  : >"$tmp"
  if [[ -f "$ACCOUNTS_FILE" ]]; then
    while IFS= read -r entry; do
      [[ -n "$entry" ]] || continue
      acct="${entry%%:*}"
      printf '%s' "$todo" | grep -q -- "^$(printf '%s' "$acct" | sed 's/[][\.*^$]/\\&/g'):" || printf '%s\n' "$entry" >>"$tmp"
    done <"$ACCOUNTS_FILE"
  fi
  printf '%s' "$todo" >>"$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$ACCOUNTS_FILE"
}

# ---------------------------------------------------------------- commands
prepare_state_dir() {
  if [[ -d "$STATE" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$STATE" 2>/dev/null)" ]]; then
    die "$STATE exists, is not empty and is not an irc-server.sh state dir (no $MARKER_NAME); refusing to use it"
  fi
  mkdir -p "$STATE" "$RUN_DIR" "$ATHEME_DATA"
  [[ -f "$MARKER" ]] || printf 'state dir of scripts/peers/irc-server.sh (%s); safe to delete with down --wipe\n' "$NAME" >"$MARKER"
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
      log "already up; switching connect class $(meta_get CLASS) -> $class (restarting inspircd)"
      write_meta "$cport" "$(meta_get LINK_PORT)" "$class" "$(meta_get LINK_PASS)"
      write_ircd_conf "$cport" "$(meta_get LINK_PORT)" "$class" "$(meta_get LINK_PASS)"
      restart_ircd 1
    else
      log "already up on $HOST:$cport (class $class)"
    fi
  else
    if ircd_pid >/dev/null || atheme_pid >/dev/null; then
      log "found a partly running/unlinked instance; restarting it"
    fi
    stop_all
    # ports: --port, else the previous client port if still free (stable env), else a new one
    cport="${PORT_ARG:-$(meta_get CLIENT_PORT)}"
    mapfile -t ports < <(node "$HELPER" ports 3)
    [[ ${#ports[@]} -eq 3 ]] || die "could not pick free ports on $HOST"
    if [[ -z "$cport" ]] || { [[ -z "$PORT_ARG" ]] && port_listening "$cport"; }; then cport="${ports[0]}"; fi
    lport="${ports[1]}"
    [[ "$lport" != "$cport" ]] || lport="${ports[2]}"
    pass="$(meta_get LINK_PASS)"
    [[ -n "$pass" ]] || pass="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    write_meta "$cport" "$lport" "$class" "$pass"
    write_ircd_conf "$cport" "$lport" "$class" "$pass"
    write_atheme_conf "$lport" "$pass"
    # Atheme keeps accounts in its own DB: a fresh DB means our record of accounts is stale.
    if [[ ! -s "$ATHEME_DATA/services.db" ]]; then rm -f "$ACCOUNTS_FILE"; fi

    log "starting inspircd on $HOST:$cport (link port $lport, class $class)"
    start_ircd "$cport" "$lport"
    before="$(sync_count)"
    log "starting atheme-services"
    start_atheme
    wait_sync "$before" 20
    log "services linked after $(($(now_ms) - t0)) ms"
    FORCE_VERIFY=0
  fi
  register_accounts
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

cmd_env() {
  [[ -f "$ENV_FILE" ]] || die "no env file at $ENV_FILE; run 'up --name $NAME' first"
  cat "$ENV_FILE"
}

# One command at a time per instance (the lock lives inside the state dir).
if [[ "$CMD" == up ]]; then require_bins; prepare_state_dir; fi
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
