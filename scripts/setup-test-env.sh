#!/usr/bin/env bash
# Runs before `npm test` (the `pretest` script): makes sure this machine has what the tests
# drive for real, so that `npm ci && npm test` passes on a fresh Debian/Ubuntu machine.
#   - redis-server: the integration tests use a Redis on 127.0.0.1:6379 (started here when none
#     answers), the fault tests start their own on other ports;
#   - redis-sentinel: the failover fault test runs a Sentinel deployment of its own;
#   - the native engine (native/, oneDNN): built by `npm ci` when libdnnl-dev, g++, make and
#     python3 are there, rebuilt here after they are installed (scripts/engine-deps.sh);
#   - Chromium: the dashboard's browser tests (/usr/bin/chromium, or CHROMIUM_PATH).
# As root with apt-get it installs what is missing; otherwise it stops at once, naming each
# missing piece and the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/engine-deps.sh
. scripts/engine-deps.sh
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

say() { printf 'rnnlm setup: %s\n' "$*"; }

redis_answers() {
  (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null
}

# Each missing piece: what it is for, and the Debian packages that bring it.
declare -a missing_what=() missing_pkgs=()
need() {
  missing_what+=("$1")
  missing_pkgs+=("$2")
}

find_missing() {
  missing_what=()
  missing_pkgs=()
  command -v redis-server >/dev/null 2>&1 || need 'redis-server (the integration and fault tests run a real Redis)' redis-server
  command -v redis-sentinel >/dev/null 2>&1 || need 'redis-sentinel (the failover fault test runs three sentinels)' redis-sentinel
  if ! native_loads; then
    local pkgs
    pkgs=$(engine_missing_pkgs)
    [ -z "$pkgs" ] || need "oneDNN and a compiler for the native engine ($pkgs; native/ is not built)" "$pkgs"
  fi
  [ -x "$CHROMIUM" ] || need "Chromium for the dashboard's browser tests ($CHROMIUM; or set CHROMIUM_PATH)" chromium
}

find_missing
if [ "${#missing_what[@]}" -gt 0 ]; then
  packages="${missing_pkgs[*]}"
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -qq --no-install-recommends $packages >/dev/null
    find_missing
  fi
fi
if [ "${#missing_what[@]}" -gt 0 ]; then
  {
    say 'the tests need these, which this machine lacks:'
    for i in "${!missing_what[@]}"; do
      printf '  - %s\n      install: apt-get install -y %s\n' "${missing_what[$i]}" "${missing_pkgs[$i]}"
    done
    if [ "$(id -u)" -ne 0 ]; then
      printf 'Run npm test as root (it installs them), or install them all at once:\n  sudo apt-get install -y %s\n' "${missing_pkgs[*]}"
    else
      printf 'apt-get is not available here: install them with your package manager.\n'
    fi
    printf 'Then run npm test again.\n'
  } >&2
  exit 1
fi

if ! native_loads; then
  say 'building the native engine (npm run build:native)'
  build_native || {
    say 'the native engine failed to build (output above); the tests compare it with tfjs and need it' >&2
    exit 1
  }
fi

if ! redis_answers; then
  say 'starting redis-server on 127.0.0.1:6379 (nothing answered there)'
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    redis_answers && break
    sleep 0.1
  done
  redis_answers || {
    say 'redis-server did not answer on 127.0.0.1:6379' >&2
    exit 1
  }
fi
#   - redis-sentinel: the failover fault test runs a Sentinel deployment of its own;
say "ready: redis on 127.0.0.1:6379, native engine built, chromium at $CHROMIUM"
