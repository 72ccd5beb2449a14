# Shared by the bench/*.sh scripts: build, start a twitcher, run wrk, read numbers.
# Source it; it sets BIN and defines the functions below.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# TWITCHER_BIN: measure that binary (e.g. the static one install.sh builds) instead of a fresh
# cargo build --release.
BIN="${TWITCHER_BIN:-$ROOT/target/release/twitcher}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
WORKDIR="$(mktemp -d /tmp/twitcher-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (Debian: apt-get install $2)" >&2; exit 1; }; }
need wrk wrk
need curl curl

build() { [ -n "${TWITCHER_BIN:-}" ] || (cd "$ROOT" && cargo build --release --locked -q); }

# start_twitcher NAME [ENV=VALUE...]: starts a server in WORKDIR/NAME; sets NAME_PORT and NAME_PID.
# TWITCHER_WRAP: a command to run it under (e.g. valgrind); NAME_PID is then that one's.
start_twitcher() {
  local name=$1; shift
  local dir="$WORKDIR/$name"
  local -a wrap=()
  [ -n "${TWITCHER_WRAP:-}" ] && read -ra wrap <<<"$TWITCHER_WRAP"
  mkdir -p "$dir"
  (cd "$dir" && env TWITCHER_PASSWORD=bench "$@" setsid "${wrap[@]}" "$BIN" serve --bind 127.0.0.1:0 \
      --db "$dir/db.sqlite" >/dev/null 2>"$dir/stderr.log" </dev/null) &
  local pid=$!
  PIDS+=("$pid")
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$dir/stderr.log" 2>/dev/null | sed 's/.*://') || true
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "bench: $name did not start:" >&2; cat "$dir/stderr.log" >&2; exit 1; }
  # The pid of the server itself (setsid runs it in place of the subshell's child).
  printf -v "${name}_PORT" '%s' "$port"
  local server_pid
  server_pid=$(pgrep -f "$dir/db.sqlite" | head -n1)
  printf -v "${name}_PID" '%s' "$server_pid"
  # The subshell may not have exec'd into the server; stop the server itself too.
  PIDS+=("$server_pid")
}

# emu_and_token URL BACKEND: registers BACKEND as the service `emu` on the twitcher at
# URL, and prints an access token of a new client's.
emu_and_token() {
  curl -fsS -u admin:bench -d "{\"name\": \"emu\", \"url\": \"$2\"}" "$1/services" >/dev/null
  local client id secret
  client=$(curl -fsS -u admin:bench "$1/oauth/client?name=bench")
  id=$(python3 -c "import json,sys; print(json.load(sys.stdin)['client_id'])" <<<"$client")
  secret=$(python3 -c "import json,sys; print(json.load(sys.stdin)['client_secret'])" <<<"$client")
  curl -fsS -u "$id:$secret" -d grant_type=client_credentials "$1/oauth/token" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

# nginx_conf_head WORKERS: the start of an nginx.conf in WORKDIR/nginx, up to the open
# `http {` block. As root, its workers would drop to nobody, who cannot read the private
# work folder.
nginx_conf_head() {
  [ "$(id -u)" = 0 ] && echo "user root;"
  cat <<NGINX
worker_processes $1;
pid $WORKDIR/nginx/nginx.pid;
error_log $WORKDIR/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORKDIR/nginx/body;
  proxy_temp_path $WORKDIR/nginx/proxy;
  fastcgi_temp_path $WORKDIR/nginx/fastcgi;
  uwsgi_temp_path $WORKDIR/nginx/uwsgi;
  scgi_temp_path $WORKDIR/nginx/scgi;
  keepalive_requests 1000000;
NGINX
}

# wrk_run URL CONNECTIONS [wrk args...]: prints "REQ_PER_SEC P99_MS NON2XX".
wrk_run() {
  local url=$1 conns=$2; shift 2
  local out
  out=$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "$@" "$url")
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  echo "${rps:-0} ${p99:-0} ${non2xx:-0}"
}

# peak_rss_kib PID: the highest resident set size the process reached.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cpu_ticks PID: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# user_ticks PID: the user part of it, what the process's own code costs (the system
# part is mostly the same system calls in every blocking proxy).
user_ticks() { awk '{ print $14 }' "/proc/$1/stat"; }

# us_per_request TICKS_BEFORE TICKS_AFTER REQ_PER_SEC: CPU microseconds per request over
# one wrk run of DURATION.
us_per_request() {
  awk -v a="$1" -v b="$2" -v r="$3" -v hz="$(getconf CLK_TCK)" -v d="${DURATION%s}" \
    'BEGIN { if (r > 0) printf "%.1f", (b - a) * 1e6 / hz / (r * d); else print "n/a" }'
}

# ctxt: context switches so far on the whole machine; their count per request tells a
# blocking proxy's cost from an event loop's (every hop between wrk, proxy and backend
# that wakes a thread is a switch) and does not swing with the machine's load as req/s does.
ctxt() { awk '/^ctxt/ { print $2 }' /proc/stat; }

# switches_per_request CTXT_BEFORE CTXT_AFTER REQ_PER_SEC: over one wrk run of DURATION.
switches_per_request() {
  awk -v a="$1" -v b="$2" -v r="$3" -v d="${DURATION%s}" \
    'BEGIN { if (r > 0) printf "%.2f", (b - a) / (r * d); else print "n/a" }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
