#!/usr/bin/env bash
# The demo: afsbot's main job on an embedded default, a local sandbox with no outside accounts.
# Installs what is missing, starts a throwaway OpenAFS cell (seeded with user.alice, user.bob,
# db.alice, mail.alice) in a network namespace of its own, a local IRC server with services on
# loopback with an admin account for you, and the bot connected to both. This terminal is a console
# chat: type !help. Ctrl-C (or the end of piped input) stops everything it started.
#
#   printf '!whoami\n!help\n' | scripts/demo.sh    # scripted: answers, then a clean shutdown
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[demo %s] %s\n' "$(date +%T)" "$*" >&2; }

started=$(date +%s%N)
scripts/setup.sh

state="$root/.state/demo"
mkdir -p "$state"
chmod 700 "$state"

cleanup() {
  trap - EXIT INT TERM
  say "stopping the sandbox"
  scripts/peers/irc-server.sh down --name demo --wipe >/dev/null 2>&1 || say "the IRC server did not stop cleanly; see scripts/peers/irc-server.sh status --name demo"
  scripts/peers/afs-cell.sh down --name demo --wipe >/dev/null 2>&1 || say "the AFS cell did not stop cleanly; see scripts/peers/afs-cell.sh status --name demo"
  rm -rf "$state"
  say "everything the demo started is stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Throwaway credentials for this sandbox only, made fresh on every run.
admin_pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
admin2_pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
alice_pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
bot_pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')

say "starting the OpenAFS cell and the IRC server"
scripts/peers/afs-cell.sh up --name demo --seed >"$state/cell.env" 2>"$state/cell.log" &
cell_job=$!
scripts/peers/irc-server.sh up --name demo --accounts "admin:$admin_pw,admin2:$admin2_pw,alice:$alice_pw,afsbot:$bot_pw" >"$state/irc.env" 2>"$state/irc.log" &
irc_job=$!
wait $cell_job || { say "the AFS cell did not start:"; tail -20 "$state/cell.log" >&2; exit 1; }
wait $irc_job || { say "the IRC server did not start:"; tail -20 "$state/irc.log" >&2; exit 1; }
# shellcheck disable=SC1091
set -a; . "$state/cell.env"; . "$state/irc.env"; set +a
# alice, the owner of user.alice and no admin, is an AFS user too: she may ask for her own files back
pts examine alice -localauth -config "$AFSBOT_AFS_CONFIG_DIR" -cell "$AFSBOT_AFS_CELL" >/dev/null 2>&1 ||
  pts createuser -name alice -localauth -config "$AFSBOT_AFS_CONFIG_DIR" -cell "$AFSBOT_AFS_CELL" >>"$state/cell.log" 2>&1 ||
  say "could not make the AFS user alice; !request-restore will say so"

umask 077
printf '%s\n' "$bot_pw" >"$state/irc-password"
head -c 24 /dev/urandom | base64 >"$state/archive.password" # the archive's password, this sandbox only
me=$(id -un)
metrics_port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$state/config.json" <<JSON
{
  "name": "afsbot (demo sandbox)",
  "databasePath": "$state/afsbot.db",
  "dumps": { "dir": "$state/dumps", "stagingDir": "$state/staging" },
  "log": { "level": "info", "file": "$state/afsbot.log" },
  "admins": [
    { "name": "you", "irc": ["admin"], "console": ["$me"] },
    { "name": "second", "irc": ["admin2"] }
  ],
  "console": { "enabled": true },
  "metrics": { "port": $metrics_port },
  "irc": {
    "enabled": true, "host": "$AFSBOT_IRC_HOST", "port": $AFSBOT_IRC_PORT, "tls": false,
    "nick": "afsbot", "account": "afsbot", "passwordFile": "$state/irc-password",
    "channels": ["#afsbot"]
  },
  "afs": { "cell": "$AFSBOT_AFS_CELL", "configDir": "$AFSBOT_AFS_CONFIG_DIR" },
  "archive": {
    "repository": "$state/archive", "passwordFile": "$state/archive.password", "cacheDir": "$state/archive-cache"
  }
}
JSON

elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
cat >&2 <<TXT

  afsbot demo sandbox is up (${elapsed} ms)
  AFS cell:   $AFSBOT_AFS_CELL, file server $AFSBOT_AFS_SERVER in network namespace $AFSBOT_AFS_NETNS
              volumes user.alice user.bob db.alice mail.alice
  IRC:        server $AFSBOT_IRC_HOST port $AFSBOT_IRC_PORT (no TLS), channel #afsbot
              log in with SASL PLAIN as account "admin", password "$admin_pw": that is you, the same admin
              as this console; in irssi:
                /network add -sasl_mechanism PLAIN -sasl_username admin -sasl_password $admin_pw afsbot-demo
                /server add -network afsbot-demo -notls $AFSBOT_IRC_HOST $AFSBOT_IRC_PORT
                /connect afsbot-demo
                /join #afsbot
              a second admin, to approve what you ask for (!promote): account "admin2", password "$admin2_pw"
              a user who is no admin, alice (the owner of user.alice): account "alice", password
              "$alice_pw"; after a !nightly run she can ask for her file back with
                !request-restore user.alice notes.txt
              and you approve it with !approve <n>; she is told where it is, for 7 days
  Bot log:    $state/afsbot.log
  Metrics:    http://127.0.0.1:$metrics_port/metrics and /healthz (Prometheus)
  Archive:    a borg repository in $state/archive
  This terminal is a console chat as unix user $me (admin "you"): try !help, !nightly run (the nightly
  job: clones, dumps, the archive, the report), !nightly status, !nightly report, !backup list,
  !restore user.alice, !restore-file user.alice notes.txt, !dump user.alice, !jobs, !keys.
  Ctrl-C stops everything.

TXT

# In the foreground, so that it reads this terminal (or the piped script) and gets Ctrl-C itself.
# --exit-at-eof: the end of piped input (or Ctrl-D) ends the demo, although the bot is also on IRC
bin/afsbot --config "$state/config.json" --exit-at-eof
