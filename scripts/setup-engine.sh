#!/usr/bin/env bash
# Runs before `npm start` (the `prestart` script): the native engine (native/: oneDNN) trains
# about ten times faster than tfjs alone, so a first start sets it up the way `npm test` does.
# Built already: nothing to do. As root with apt-get: installs what is missing and builds it.
# Otherwise: says in one block what is missing and the exact commands, and the service starts
# on tfjs alone (its startup log, /readyz and every job say so). With RNNLM_NATIVE_KERNELS=off
# it does nothing; under CI=true a missing engine is an error instead of a slower start.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/engine-deps.sh
. scripts/engine-deps.sh

say() { printf 'rnnlm: %s\n' "$*" >&2; }

[ "${RNNLM_NATIVE_KERNELS:-auto}" != off ] || exit 0
native_loads && exit 0

pkgs=$(engine_missing_pkgs)
if [ -n "$pkgs" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "setting up the native engine: apt-get install $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; then
    pkgs=$(engine_missing_pkgs)
  fi
fi
if [ -z "$pkgs" ]; then
  say 'building the native engine (npm run build:native)'
  build_native && native_loads && exit 0
  say 'the native engine failed to build (output above)'
fi

{
  say 'the native engine (oneDNN) is not set up: this service will train on tfjs alone, about ten times slower.'
  if [ -n "$pkgs" ]; then
    printf '  set it up with:  sudo apt-get install -y %s && npm run build:native\n' "$pkgs"
  else
    printf '  rebuild it with: npm run build:native\n'
  fi
} >&2
[ "${CI:-}" != true ] || {
  say 'CI=true: refusing to start without the native engine'
  exit 1
}
exit 0
