# shellcheck shell=bash
# Sourced by setup-test-env.sh (npm test) and setup-engine.sh (npm start): what the native
# engine (native/: oneDNN's recurrent primitives and sgemm) needs to build and load.

ADDON=native/build/Release/rnnlm_native.node

native_loads() { node -e "require('./$ADDON')" >/dev/null 2>&1; }

dnnl_dev_present() {
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' libdnnl-dev 2>/dev/null | grep -q 'install ok installed'
    return
  fi
  compgen -G '/usr/include/oneapi/dnnl/dnnl.h' >/dev/null
}

# The Debian packages the engine lacks to build, space-separated (empty when none).
engine_missing_pkgs() {
  local pkgs=''
  dnnl_dev_present || pkgs+=' libdnnl-dev'
  command -v g++ >/dev/null 2>&1 || pkgs+=' g++'
  command -v make >/dev/null 2>&1 || pkgs+=' make'
  command -v python3 >/dev/null 2>&1 || pkgs+=' python3'
  printf '%s' "${pkgs# }"
}

# Builds native/ quietly; on failure prints the build's output and returns 1.
build_native() {
  local log
  log=$(mktemp)
  if ! npm run -s build:native >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}
