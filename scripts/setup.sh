#!/usr/bin/env bash
# Installs what afsbot and its test peers need on Debian 12, as root, and only what is missing:
# apt packages (OpenAFS servers and client, FUSE client, restic, InspIRCd and Atheme, ccrypt, zstd,
# OpenSSH server) and the npm dependencies. Safe to run again: a second run changes nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[setup %s] %s\n' "$(date +%T)" "$*" >&2; }

packages=(
  openafs-dbserver openafs-fileserver openafs-client openafs-krb5 openafs-fuse fuse3
  restic borgbackup inspircd ngircd atheme-services ccrypt zstd openssh-server iproute2 procps systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]}; run this as root, or: apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # --no-install-recommends keeps the OpenAFS kernel module (which cannot load here) out.
  # The packages' own daemons (sshd, inspircd, ngircd, atheme) must not start: they would listen on
  # every address. The tests start their own on loopback. policy-rc.d exit 101 = "not allowed".
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# afsbot setup.sh: no daemon starts while packages install\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f "$guard"; trap - EXIT; fi
fi

if ! command -v node >/dev/null; then
  say "Node.js 20 is required (node not found on PATH)"
  exit 1
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
stamp="$root/node_modules/.afsbot-installed"
if [ ! -f "$stamp" ] || [ "$root/package-lock.json" -nt "$stamp" ]; then
  say "installing npm dependencies"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$stamp"
fi
say "ready"
