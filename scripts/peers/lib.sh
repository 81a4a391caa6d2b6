# Helpers shared by the test peers' scripts (irc-server.sh, sshd.sh, and the ngIRCd one): logging,
# usage from the script's own header, the state dir and its files, ports, and processes by PID. Sourced
# after the script sets PEER (its name in log lines), and before it parses its arguments.
# shellcheck shell=bash

log() { printf '%s[%s]: %s\n' "$PEER" "${NAME:-?}" "$*" >&2; }
die() { printf '%s[%s]: ERROR: %s\n' "$PEER" "${NAME:-?}" "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
T0="$(now_ms)"

usage() { # the header comment of the script itself, up to `set -euo`
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 64
}

# ------------------------------------------------------------------ the state dir and its files
# A state dir is this peer's own once it carries $MARKER (its name is $MARKER_NAME); `down --wipe`
# deletes only such a dir. META holds KEY=VALUE lines the script keeps across down/up.
prepare_state_dir() { # [EXTRA_DIR...]
  if [[ -d "$STATE" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$STATE" 2>/dev/null)" ]]; then
    die "$STATE exists, is not empty and is not a $PEER state dir (no $MARKER_NAME); refusing to use it"
  fi
  mkdir -p "$STATE" "$@"
  [[ -f "$MARKER" ]] || printf 'state dir of scripts/peers (%s %s); safe to delete with down --wipe\n' "$PEER" "$NAME" >"$MARKER"
}

meta_get() { [[ -f "$META" ]] && sed -n "s/^$1=//p" "$META" | tail -n1 || true; }

write_meta() { # KEY=VALUE...
  (umask 077; printf '%s\n' "$@" >"$META.tmp")
  mv -f "$META.tmp" "$META"
}

write_env_file() { # KEY=VALUE...: the env file `up` prints and `env` shows, written atomically
  printf '%s\n' "$@" >"$ENV_FILE.tmp"
  chmod 0644 "$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || die "no env file at $ENV_FILE; run 'up --name $NAME' first"
  cat "$ENV_FILE"
}

tail_log() { # FILE
  if [[ -s "$1" ]]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 15 "$1" >&2
  fi
}

# ------------------------------------------------------------------ ports (on $HOST)
port_in_use() { # PORT: anything listening on it, on any address
  [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

port_listening() { # PORT [PID]: listening on $HOST:PORT (by PID, if given)
  local lines
  lines="$(ss -Hltnp "sport = :$1" 2>/dev/null | awk -v a="$HOST:$1" '$4==a')"
  [[ -n "$lines" ]] || return 1
  [[ -z "${2:-}" ]] || grep -q "pid=$2," <<<"$lines"
}

wait_port_closed() { # PORT TIMEOUT_S
  local i
  for ((i = 0; i < $2 * 50; i++)); do port_listening "$1" || return 0; sleep 0.02; done
  return 1
}

# ------------------------------------------------------------------ processes, by PID only
proc_gone() { # PID: exited (gone, or a zombie waiting to be reaped)
  local st
  [[ -d "/proc/$1" ]] || return 0
  st="$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null || true)"
  [[ -z "$st" || "$st" == Z ]]
}

wait_gone() { # PID TIMEOUT_S
  local i
  for ((i = 0; i < $2 * 50; i++)); do proc_gone "$1" && return 0; sleep 0.02; done
  return 1
}

close_extra_fds() { # in a subshell about to exec a daemon: it inherits no lock and no caller's pipe
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    if [[ "$fd" =~ ^[0-9]+$ && "$fd" -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

# pid_alive PIDFILE CONF: prints the recorded PID if it is a live (non-zombie) process whose command
# line names our config file -- never trusts a PID that has been reused by something else.
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

# stop_pid PIDFILE CONF LABEL: SIGTERM, then SIGKILL after 5 s, by recorded PID only (and only if that
# PID still runs with our config file on its command line); adds it to STOPPED_PIDS.
STOPPED_PIDS=()
stop_pid() {
  local pidfile="$1" conf="$2" label="$3" pid
  if pid="$(pid_alive "$pidfile" "$conf")"; then
    log "stopping $label (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 5; then
      log "$label (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || die "could not stop $label (pid $pid)"
    fi
    STOPPED_PIDS+=("$pid")
  fi
  rm -f "$pidfile"
}

wait_reaped() { # PID...: up to 2 s each for init to reap exited daemons, so `ps` right after is clean
  local pid i
  for pid in "$@"; do
    for ((i = 0; i < 100; i++)); do [[ -d "/proc/$pid" ]] || break; sleep 0.02; done
  done
}

# ------------------------------------------------------------------ Debian packages
# ensure_debs PKG...: installs the packages that are not installed yet (as root; apt-get update first),
# and nothing when all are there. The packages' maintainer scripts may not start their system
# services (a stock ngircd would listen on 0.0.0.0:6667): where the machine has no
# /usr/sbin/policy-rc.d, one that denies every start is put there for the install and removed after.
ensure_debs() {
  local p missing=() policy=/usr/sbin/policy-rc.d tag='# afsbot scripts/peers: temporary' rc=0
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  [[ "$(id -u)" == 0 ]] || die "missing Debian packages: ${missing[*]}; as root: apt-get install -y --no-install-recommends ${missing[*]}"
  log "installing ${missing[*]} (apt-get)"
  if [[ ! -e "$policy" ]]; then printf '#!/bin/sh\n%s\nexit 101\n' "$tag" >"$policy" && chmod 0755 "$policy"; fi
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}"
  } >&2 || rc=$?
  if [[ -f "$policy" ]] && grep -qF -- "$tag" "$policy"; then rm -f "$policy"; fi
  [[ $rc -eq 0 ]] || die "apt-get install ${missing[*]} failed (exit $rc)"
}

# ---------------------------------------------------------------- IRC accounts (irc-server.sh, ngircd.sh)
# register_accounts LOGS: makes sure every account from $ACCOUNTS_FILE and --accounts ($ACCOUNTS_ARG)
# exists with its password (`node $HELPER register` checks existing ones and registers new ones with
# NickServ), then rewrites $ACCOUNTS_FILE (0600). LOGS names the logs to read when it fails.
register_accounts() {
  local entry acct pass merged="" names
  declare -A pw=()
  local order=()
  if [[ -f "$ACCOUNTS_FILE" ]]; then
    while IFS= read -r entry; do
      [[ "$entry" == *:* ]] || continue
      acct="${entry%%:*}"
      [[ -v "pw[$acct]" ]] || order+=("$acct")
      pw[$acct]="${entry#*:}"
    done <"$ACCOUNTS_FILE"
  fi
  if [[ -n "$ACCOUNTS_ARG" ]]; then
    local entries=()
    IFS=',' read -r -a entries <<<"$ACCOUNTS_ARG"
    for entry in "${entries[@]}"; do
      entry="${entry#"${entry%%[![:space:]]*}"}"; entry="${entry%"${entry##*[![:space:]]}"}"
      [[ -n "$entry" ]] || continue
      [[ "$entry" == *:* ]] || die "--accounts entry '$entry' has no ':password' (format: acct:pass,acct2:pass2)"
      acct="${entry%%:*}"; pass="${entry#*:}"
      [[ -n "$acct" && -n "$pass" ]] || die "--accounts entries must look like acct:pass"
      [[ "$acct" =~ $ACCOUNT_RE ]] || die "account name '$acct' is not a valid IRC nick (letters, digits and _-[]{}|^; not starting with a digit or -; at most 30)"
      [[ ! "$pass" =~ [[:space:]] ]] || die "password for '$acct' must not contain whitespace"
      [[ -v "pw[$acct]" ]] || order+=("$acct")
      pw[$acct]="$pass"
    done
  fi
  [[ ${#order[@]} -gt 0 ]] || return 0
  for acct in "${order[@]}"; do merged+="$acct:${pw[$acct]}"$'\n'; done
  names="$(printf '%s' "$merged" | cut -d: -f1 | paste -sd, -)"
  log "ensuring accounts: $names"
  if ! printf '%s' "$merged" | node "$HELPER" register "$HOST" "$(meta_get CLIENT_PORT)" >/dev/null; then
    die "account registration failed (see messages above; logs: $1)"
  fi
  umask 077
  printf '%s' "$merged" >"$ACCOUNTS_FILE.tmp"
  chmod 0600 "$ACCOUNTS_FILE.tmp"
  mv -f "$ACCOUNTS_FILE.tmp" "$ACCOUNTS_FILE"
}
