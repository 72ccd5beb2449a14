#!/usr/bin/env bash
# The interop suite: the release binary driven over HTTP on 127.0.0.1 by real third-party
# software: Twitcher 0.11.3's own twitcherctl and twitcher.client, requests-oauthlib,
# OWSLib, birdy, nginx (auth_request), PyJWT tokens against a keycloak_token server,
# and schemathesis. See "Interop suite" in the README.
#
#   tests/interop/run.sh [PYTEST ARGS...]      e.g. -k owslib, -x, -v
#
# It builds the release binary (or takes TWITCHER_BIN), installs nginx and curl with
# apt-get when they are missing, creates two venvs from the pinned requirements files
# here (or reuses them while the pins are unchanged), starts the servers on free
# loopback ports (Emu under gunicorn, the JWKS server, two twitchers from INI files,
# nginx), runs pytest with a JUnit report, and stops the servers on exit, even on failure.
# A setup step that fails stops the run with a message and a non-zero exit: the suite
# never skips.
#
# Environment:
#   TWITCHER_BIN      binary under test (default: cargo build --release --locked)
#   INTEROP_PYTHON    CPython 3.11 that makes the venvs (default: python3)
#   INTEROP_CACHE     where the venvs live (default: ${XDG_CACHE_HOME:-~/.cache}/twitcher-interop)
#   INTEROP_OUT       JUnit report and logs (default: target/interop)
#   INTEROP_EXAMPLES  schemathesis examples per API operation (default: 25)
#   INTEROP_KEEP=1    keep the temporary folder (configs, databases, logs)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${INTEROP_OUT:-$root/target/interop}"
cache_home="${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}"
cache="${INTEROP_CACHE:-${cache_home:-$root/target}/twitcher-interop}"
python="${INTEROP_PYTHON:-python3}"
pip_version="26.3"
# Nothing of ours writes bytecode into the work tree.
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

started=$SECONDS
say() { printf 'interop: %s\n' "$*" >&2; }
die() {
  printf 'interop: FAILED: %s\n' "$*" >&2
  exit 1
}
phase() { say "$1 ($((SECONDS - started)) s)"; }

# Logs may hold tokens in URLs or headers, and the admin password: mask them.
secrets=()
redact() {
  local args=(-E
    -e 's/(access_token=)[^&[:space:]"'\'']*/\1***/g'
    -e 's/(Bearer )[^[:space:]"'\'']+/\1***/g'
    -e 's/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/<jwt>/g')
  local s
  for s in "${secrets[@]}"; do args+=(-e "s/$s/***/g"); done
  sed "${args[@]}"
}
show_log() { # NAME FILE
  say "last lines of the $1 log ($2):"
  if [ -f "$2" ]; then tail -n 40 "$2" | redact | sed 's/^/    /' >&2; fi
}

# --- 1. Tools from Debian: nginx with auth_request, and curl ------------------------------
find_nginx() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}
nginx_ok() { [ -n "$1" ] && "$1" -V 2>&1 | grep -q -- '--with-http_auth_request_module'; }

nginx_bin="$(find_nginx)"
need=()
nginx_ok "$nginx_bin" || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing ${need[*]}: install them (Debian: apt-get install ${need[*]}), or run this as root to let it do so"
  fi
  say "installing ${need[*]} with apt-get"
  # Keep the package scripts from starting a system-wide nginx on port 80.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt_log="$(mktemp)"
  apt_ok=0
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >"$apt_log" 2>&1 \
    || { apt-get update -q >>"$apt_log" 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >>"$apt_log" 2>&1; }; then
    apt_ok=1
  fi
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$apt_ok" != 1 ]; then
    tail -n 20 "$apt_log" >&2
    die "apt-get install ${need[*]} failed"
  fi
  rm -f "$apt_log"
  nginx_bin="$(find_nginx)"
fi
nginx_ok "$nginx_bin" || die "nginx ($nginx_bin) lacks the auth_request module"
command -v curl >/dev/null || die "curl is missing"

# --- 2. The venvs, keyed by a hash of their pins ------------------------------------------
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
  || die "the pins are for CPython 3.11; $python is $("$python" -V 2>/dev/null || echo "not runnable") (set INTEROP_PYTHON)"
pyver="$("$python" -c 'import sys; print(sys.version)')"
mkdir -p "$cache"

venv_dir() { # NAME REQUIREMENTS
  local key
  key="$( { printf '%s\n%s\n' "$pyver" "$pip_version"; cat "$2"; } | sha256sum | cut -c1-16)"
  echo "$cache/$1-$key"
}
make_venv() { # NAME REQUIREMENTS: creates the venv unless a complete one exists
  local dir log
  dir="$(venv_dir "$1" "$2")"
  [ -f "$dir/.complete" ] && return 0
  log="$cache/$1.log"
  rm -rf "$dir"
  {
    "$python" -m venv "$dir" \
      && "$dir/bin/python" -m pip install -q "pip==$pip_version" \
      && "$dir/bin/python" -m pip install -q --no-deps -r "$2" \
      && "$dir/bin/python" -m pip check
  } >"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    rm -rf "$dir"
    return 1
  }
  touch "$dir/.complete"
  # Older venvs of the same name had other pins.
  local old
  for old in "$cache/$1"-*; do
    if [ "$old" != "$dir" ] && [ -d "$old" ]; then rm -rf "$old"; fi
  done
}

clients="$(venv_dir clients "$here/requirements.txt")"
emu="$(venv_dir emu "$here/requirements-emu.txt")"
if [ -f "$clients/.complete" ] && [ -f "$emu/.complete" ]; then
  say "reusing the venvs in $cache"
else
  say "creating the venvs in $cache (pinned; a few minutes the first time)"
  make_venv clients "$here/requirements.txt" &
  clients_job=$!
  make_venv emu "$here/requirements-emu.txt" &
  emu_job=$!
  clients_rc=0
  emu_rc=0
  wait "$clients_job" || clients_rc=$?
  wait "$emu_job" || emu_rc=$?
  [ "$clients_rc" = 0 ] || die "could not install $here/requirements.txt into $clients (log: $cache/clients.log)"
  [ "$emu_rc" = 0 ] || die "could not install $here/requirements-emu.txt into $emu (log: $cache/emu.log)"
  phase "venvs ready"
fi
py="$clients/bin/python"

# --- 3. The binary under test ---------------------------------------------------------------
if [ -n "${TWITCHER_BIN:-}" ]; then
  bin="$TWITCHER_BIN"
else
  say "building the release binary"
  (cd "$root" && cargo build --release --locked -q) || die "cargo build --release failed"
  bin="$root/target/release/twitcher"
fi
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then die "no executable twitcher at $bin"; fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
phase "binary: $bin"

# --- 4. Servers -------------------------------------------------------------------------------
umask 077
tmp="$(mktemp -d "${TMPDIR:-/tmp}/twitcher-interop.XXXXXX")"
cd "$tmp"
logdb_dir=/dev/shm
if [ ! -d "$logdb_dir" ] || [ ! -w "$logdb_dir" ]; then logdb_dir="$tmp"; fi
logdb="$logdb_dir/$(basename "$tmp")-pywps-log.sqlite"
pids=()
names=()

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    local n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do
      sleep 0.1
      n=$((n + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "${names[$i]} (pid $pid) did not stop on TERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  rm -f "$logdb"
  if [ "$rc" != 0 ] && [ -d "$tmp" ]; then
    mkdir -p "$out/logs"
    local f
    for f in "$tmp"/*.log "$tmp"/nginx/error.log "$tmp"/emu/pywps.log; do
      local name="${f#"$tmp"/}"
      if [ -f "$f" ]; then redact <"$f" >"$out/logs/${name//\//-}"; fi
    done
    say "server logs (masked) are in $out/logs"
  fi
  if [ "${INTEROP_KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME LOG COMMAND...: runs COMMAND in the background, remembers its pid
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 </dev/null &
  pids+=($!)
  names+=("$name")
}

wait_http() { # NAME URL LOG SECONDS: polls until URL answers with any HTTP status
  local name=$1 url=$2 log=$3 deadline=$((SECONDS + $4)) pid="" i
  for i in "${!names[@]}"; do [ "${names[$i]}" = "$name" ] && pid=${pids[$i]}; done
  [ -n "$pid" ] || die "wait_http: $name was not started"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log "$name" "$log"
      die "$name exited during start-up"
    fi
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
    if [ -n "$code" ] && [ "$code" != 000 ]; then return 0; fi
    if [ $SECONDS -ge $deadline ]; then
      show_log "$name" "$log"
      die "$name did not answer at $url within $4 s"
    fi
    sleep 0.1
  done
}

render() { # TEMPLATE OUTPUT KEY=VALUE...: replaces every @KEY@
  local text out_file=$2 kv key value
  text="$(<"$1")"
  shift 2
  for kv in "$@"; do
    key="@${kv%%=*}@"
    value="${kv#*=}"
    text="${text//"$key"/"$value"}"
  done
  if [[ "$text" =~ @[A-Z_]+@ ]]; then die "$1: no value for ${BASH_REMATCH[0]}"; fi
  printf '%s\n' "$text" >"$out_file"
}

# The servers take their settings from their files only, not from this environment.
server_env=(env)
for v in $(compgen -e); do
  case "$v" in TWITCHER_* | KEYCLOAK_* | PYWPS_*) server_env+=(-u "$v") ;; esac
done

randhex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

read -r port_tw port_kc port_emu port_nginx port_nginx_h2 port_jwks < <("$py" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
admin_user=interop
admin_password="$(randhex 24)"
token_secret="$(randhex 32)"
secrets=("$admin_password" "$token_secret")

# Keycloak's certs endpoint, as a file.
jwks_dir="$tmp/jwks"
jwks_path=realms/demo/protocol/openid-connect/certs
mkdir -p "$jwks_dir/$(dirname "$jwks_path")"
start jwks "$tmp/jwks.log" "$py" -m http.server --bind 127.0.0.1 --directory "$jwks_dir" "$port_jwks"
wait_http jwks "http://127.0.0.1:$port_jwks/" "$tmp/jwks.log" 20

# Emu: gunicorn with its control socket off (several gunicorns on one host share it).
mkdir -p "$tmp/emu/outputs" "$tmp/emu/workdir"
render "$here/emu/emu.cfg.in" "$tmp/emu.cfg" "EMU_PORT=$port_emu" "EMU_DIR=$tmp/emu" "EMU_LOGDB=$logdb"
start emu "$tmp/emu.log" "${server_env[@]}" PYWPS_CFG="$tmp/emu.cfg" "$emu/bin/gunicorn" --chdir "$here/emu" \
  -b "127.0.0.1:$port_emu" -w 2 --threads 4 --timeout 120 --no-control-socket \
  --access-logfile "$tmp/emu-access.log" emu_app:application

render "$here/conf/twitcher.ini.in" "$tmp/twitcher.ini" "PORT=$port_tw" "DB=$tmp/twitcher.sqlite" \
  "ADMIN_USER=$admin_user" "ADMIN_PASSWORD=$admin_password" "TOKEN_SECRET=$token_secret"
start twitcher "$tmp/twitcher.log" "${server_env[@]}" "$bin" serve --config "$tmp/twitcher.ini"
wait_http twitcher "http://127.0.0.1:$port_tw/info" "$tmp/twitcher.log" 30

keycloak_issuer="http://127.0.0.1:$port_jwks/realms/demo"
render "$here/conf/twitcher-keycloak.ini.in" "$tmp/twitcher-keycloak.ini" "PORT=$port_kc" \
  "DB=$tmp/twitcher-keycloak.sqlite" "ADMIN_USER=$admin_user" "ADMIN_PASSWORD=$admin_password" \
  "JWKS_URL=http://127.0.0.1:$port_jwks/$jwks_path" "KEYCLOAK_ISSUER=$keycloak_issuer"
start twitcher-keycloak "$tmp/twitcher-keycloak.log" "${server_env[@]}" \
  "$bin" serve --config "$tmp/twitcher-keycloak.ini"
wait_http twitcher-keycloak "http://127.0.0.1:$port_kc/info" "$tmp/twitcher-keycloak.log" 30

# nginx as this user; as root its workers would otherwise drop to nobody.
mkdir -p "$tmp/nginx/tmp"
user_directive=""
[ "$(id -u)" = 0 ] && user_directive="user $(id -un) $(id -gn);"
render "$here/conf/nginx.conf.in" "$tmp/nginx/nginx.conf" "DIR=$tmp/nginx" "USER_DIRECTIVE=$user_directive" \
  "NGINX_PORT=$port_nginx" "NGINX_H2_PORT=$port_nginx_h2" "EMU_PORT=$port_emu" "TWITCHER_PORT=$port_tw"
"$nginx_bin" -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" >"$tmp/nginx-test.log" 2>&1 || {
  show_log "nginx -t" "$tmp/nginx-test.log"
  die "nginx rejected its configuration"
}
start nginx "$tmp/nginx.log" "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
wait_http nginx "http://127.0.0.1:$port_nginx/" "$tmp/nginx/error.log" 20

# Emu imports xarray, pandas and more: the slowest to come up.
wait_http emu "http://127.0.0.1:$port_emu/wps?service=WPS&request=GetCapabilities" "$tmp/emu.log" 120
phase "servers up: twitcher :$port_tw, twitcher-keycloak :$port_kc, emu :$port_emu, nginx :$port_nginx (HTTP/2 :$port_nginx_h2), jwks :$port_jwks"

# --- 5. The tests --------------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out/junit.xml"
rm -rf "$out/logs"
set +e
(
  cd "$here" \
    && HYPOTHESIS_STORAGE_DIRECTORY="$out/hypothesis" \
      INTEROP_TWITCHER_URL="http://127.0.0.1:$port_tw" \
      INTEROP_KEYCLOAK_TWITCHER_URL="http://127.0.0.1:$port_kc" \
      INTEROP_EMU_URL="http://127.0.0.1:$port_emu/wps" \
      INTEROP_EMU_ACCESS_LOG="$tmp/emu-access.log" \
      INTEROP_NGINX_URL="http://127.0.0.1:$port_nginx/wps" \
      INTEROP_NGINX_H2_URL="http://127.0.0.1:$port_nginx_h2/wps" \
      INTEROP_JWKS_FILE="$jwks_dir/$jwks_path" \
      INTEROP_KEYCLOAK_ISSUER="$keycloak_issuer" \
      INTEROP_ADMIN_USER="$admin_user" \
      INTEROP_ADMIN_PASSWORD="$admin_password" \
      INTEROP_TOKEN_SECRET="$token_secret" \
      INTEROP_TWITCHERCTL="$clients/bin/twitcherctl" \
      INTEROP_EXAMPLES="${INTEROP_EXAMPLES:-25}" \
      "$py" -m pytest -c "$here/pytest.ini" --rootdir "$here" --junitxml "$out/junit.xml" "$here" "$@"
)
rc=$?
set -e
phase "pytest exited $rc"
[ -f "$out/junit.xml" ] || die "pytest wrote no JUnit report"
summary_args=()
[ $# -eq 0 ] && summary_args=(--all)
"$py" "$here/summary.py" "${summary_args[@]}" "$out/junit.xml" || rc=1
if [ "$rc" != 0 ]; then
  for n in twitcher twitcher-keycloak emu; do show_log "$n" "$tmp/$n.log"; done
  show_log nginx "$tmp/nginx/error.log"
fi
say "JUnit report: $out/junit.xml"
exit "$rc"
