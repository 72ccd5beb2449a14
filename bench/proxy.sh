#!/usr/bin/env bash
# The OWS proxy against nginx's proxy_pass, in one run, in front of one fast static
# backend (nginx serving a WPS capabilities document and a large file):
#   - proxied GetCapabilities (public, URLs rewritten), Execute with a bearer token,
#     and /ows/verify: req/s and p99 under wrk, twitcher and nginx proxy_pass (with
#     upstream keep-alive, as a fair baseline). twitcher writes an access line per
#     request, so the baseline nginx front does too (to a file, nginx's default); the
#     ratios are against it, and also given against a front with access_log off;
#   - GetCapabilities through bench/blocking_proxy.rs, the least a blocking proxy with a
#     thread per connection can do: what the model costs, apart from twitcher's layers;
#   - GetCapabilities through bench/crates_proxy.rs, tiny_http and ureq alone (twitcher's
#     fixed crates, with its transport and buffer sizes): what the crates cost on top of
#     the model, apart from twitcher's own layers;
#   - CPU time (user + system, and user alone) per request of twitcher and of the two
#     minimal proxies, from /proc: steadier than req/s on a shared machine, and what the
#     gap is made of;
#   - context switches per request on the whole machine (wrk, proxy and backend
#     together): what a thread per connection pays against nginx's event loop;
#   - streaming a large file (1 GiB by default): throughput through each, and
#     twitcher's peak RSS.
#
#   bench/proxy.sh            DURATION=5s ROUNDS=3 CONNS=32 BIG_MIB=1024 by default
DURATION="${DURATION:-5s}"
source "$(dirname "$0")/lib.sh"
CONNS="${CONNS:-32}"
ROUNDS="${ROUNDS:-3}"
BIG_MIB="${BIG_MIB:-1024}"
need nginx nginx-light
need python3 python3
build

# up URL: polls until URL answers 2xx, for up to 5 s.
up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BACKEND_PORT=$(port)
FRONT_PORT=$(port)
QUIET_PORT=$(port)

# The backend's files: what PyWPS's capabilities look like, and a big file.
mkdir -p "$WORKDIR/www/wps" "$WORKDIR/nginx/logs"
BACKEND="http://127.0.0.1:$BACKEND_PORT/wps"
python3 - "$WORKDIR/www/wps/index.xml" "$BACKEND" <<'PY'
import sys
path, url = sys.argv[1], sys.argv[2]
ops = "".join(
    f'<ows:Operation name="{op}"><ows:DCP><ows:HTTP><ows:Get xlink:href="{url}"/><ows:Post xlink:href="{url}"/></ows:HTTP></ows:DCP></ows:Operation>'
    for op in ("GetCapabilities", "DescribeProcess", "Execute"))
procs = "".join(
    f'<wps:Process wps:processVersion="1.0"><ows:Identifier>proc{i}</ows:Identifier><ows:Title>Process {i}</ows:Title></wps:Process>'
    for i in range(20))
open(path, "w").write(f'''<?xml version="1.0" encoding="UTF-8"?>
<!-- PyWPS 4.6.0 -->
<wps:Capabilities service="WPS" version="1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1">
<ows:OperationsMetadata>{ops}</ows:OperationsMetadata>
<wps:ProcessOfferings>{procs}</wps:ProcessOfferings>
</wps:Capabilities>
''')
PY
head -c "$((BIG_MIB << 20))" /dev/zero >"$WORKDIR/www/wps/big.bin"

# One nginx: the static backend, and a front that proxy_passes to it.
{ nginx_conf_head 2; cat <<NGINX
  types { text/xml xml; application/octet-stream bin; }
  sendfile on;
  server {
    listen 127.0.0.1:$BACKEND_PORT;
    root $WORKDIR/www;
    location = /wps { default_type text/xml; try_files /wps/index.xml =404; }
    location /wps/ { }
  }
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$FRONT_PORT;
    access_log $WORKDIR/nginx/logs/access.log;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
  server {
    listen 127.0.0.1:$QUIET_PORT;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
} >"$WORKDIR/nginx/nginx.conf"
nginx -p "$WORKDIR/nginx" -c "$WORKDIR/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=("$!")
up "http://127.0.0.1:$FRONT_PORT/wps" || { echo "bench: nginx did not start" >&2; cat "$WORKDIR/nginx/logs/error.log" >&2; exit 1; }

# The model's floor: a minimal blocking thread-per-connection proxy (bench/blocking_proxy.rs).
need rustc rustc
rustc -O --edition 2021 -o "$WORKDIR/blocking_proxy" "$ROOT/bench/blocking_proxy.rs"
MIN_PORT=$(port)
"$WORKDIR/blocking_proxy" "127.0.0.1:$MIN_PORT" "127.0.0.1:$BACKEND_PORT" >/dev/null &
MIN_PID=$!
PIDS+=("$MIN_PID")
up "http://127.0.0.1:$MIN_PORT/wps" || { echo "bench: the blocking proxy did not start" >&2; exit 1; }

# The crates' floor: tiny_http and ureq alone (bench/crates_proxy.rs).
(cd "$ROOT" && cargo build --release --locked -q --features bench-baselines --example crates_proxy)
CRATES_PORT=$(port)
"$ROOT/target/release/examples/crates_proxy" "127.0.0.1:$CRATES_PORT" "127.0.0.1:$BACKEND_PORT" >/dev/null &
CRATES_PID=$!
PIDS+=("$CRATES_PID")
up "http://127.0.0.1:$CRATES_PORT/wps" || { echo "bench: the crates proxy did not start" >&2; exit 1; }

start_twitcher tw
TW="http://127.0.0.1:$tw_PORT"
token=$(emu_and_token "$TW" "$BACKEND")
auth="Authorization: Bearer $token"

caps_q="service=WPS&request=GetCapabilities"
exec_q="service=WPS&version=1.0.0&request=Execute&identifier=proc1&DataInputs=name=x"
# Sanity: the proxy answers, rewrites, and refuses without a token.
curl -fsS "$TW/ows/proxy/emu?$caps_q" | grep -q "$TW/ows/proxy/emu" || { echo "bench: no rewritten capabilities" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$TW/ows/proxy/emu?$exec_q")" = 401 ] || { echo "bench: Execute without a token was not refused" >&2; exit 1; }

# The machine is shared and noisy: every case runs ROUNDS times, interleaved, and the
# median of each is reported (req/s and p99 independently).
# The last field: the process whose CPU time per request is reported (nginx's is
# spread over workers, and not the point).
cases=(
  "GetCapabilities  nginx proxy_pass|http://127.0.0.1:$FRONT_PORT/wps?$caps_q||"
  "GetCapabilities  nginx, access_log off|http://127.0.0.1:$QUIET_PORT/wps?$caps_q||"
  "GetCapabilities  twitcher (rewritten)|$TW/ows/proxy/emu?$caps_q||$tw_PID"
  "GetCapabilities  minimal blocking proxy|http://127.0.0.1:$MIN_PORT/wps?$caps_q||$MIN_PID"
  "GetCapabilities  tiny_http + ureq alone|http://127.0.0.1:$CRATES_PORT/wps?$caps_q||$CRATES_PID"
  "Execute + bearer nginx proxy_pass|http://127.0.0.1:$FRONT_PORT/wps?$exec_q|$auth|"
  "Execute + bearer nginx, access_log off|http://127.0.0.1:$QUIET_PORT/wps?$exec_q|$auth|"
  "Execute + bearer twitcher (token checked)|$TW/ows/proxy/emu?$exec_q|$auth|$tw_PID"
  "/ows/verify Execute + bearer twitcher|$TW/ows/verify/emu?$exec_q|$auth|$tw_PID"
)
declare -A rps p99 bad cpu ucpu sw
for _ in $(seq 1 "$ROUNDS"); do
  for c in "${cases[@]}"; do
    IFS='|' read -r name url header pid <<<"$c"
    [ -n "$pid" ] && { t0=$(cpu_ticks "$pid"); u0=$(user_ticks "$pid"); }
    s0=$(ctxt)
    if [ -n "$header" ]; then
      read -r r p b < <(wrk_run "$url" "$CONNS" -H "$header")
    else
      read -r r p b < <(wrk_run "$url" "$CONNS")
    fi
    if [ -n "$pid" ]; then
      cpu[$name]+="$(us_per_request "$t0" "$(cpu_ticks "$pid")" "$r") "
      ucpu[$name]+="$(us_per_request "$u0" "$(user_ticks "$pid")" "$r") "
    fi
    sw[$name]+="$(switches_per_request "$s0" "$(ctxt)" "$r") "
    rps[$name]+="$r "
    p99[$name]+="$p "
    bad[$name]=$(( ${bad[$name]:-0} + b ))
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-46s %12s %10s %8s %10s %10s %12s   %s\n' "case (median of $ROUNDS)" "req/s" "p99 ms" "non-2xx" "CPU us/req" "user us" "switches/req" "req/s of each round"
for c in "${cases[@]}"; do
  name=${c%%|*}
  c_us=- u_us=-
  [ -n "${cpu[$name]:-}" ] && { c_us=$(median "${cpu[$name]}"); u_us=$(median "${ucpu[$name]}"); }
  printf '%-46s %12s %10s %8s %10s %10s %12s   %s\n' "$name" "$(median "${rps[$name]}")" "$(median "${p99[$name]}")" "${bad[$name]}" "$c_us" "$u_us" "$(median "${sw[$name]}")" "${rps[$name]}"
done
n_caps=$(median "${rps[GetCapabilities  nginx proxy_pass]}")
q_caps=$(median "${rps[GetCapabilities  nginx, access_log off]}")
t_caps=$(median "${rps[GetCapabilities  twitcher (rewritten)]}")
n_exec=$(median "${rps[Execute + bearer nginx proxy_pass]}")
q_exec=$(median "${rps[Execute + bearer nginx, access_log off]}")
t_exec=$(median "${rps[Execute + bearer twitcher (token checked)]}")
t_ver=$(median "${rps[/ows/verify Execute + bearer twitcher]}")
m_caps=$(median "${rps[GetCapabilities  minimal blocking proxy]}")
c_caps=$(median "${rps[GetCapabilities  tiny_http + ureq alone]}")
echo "ratios to nginx proxy_pass: GetCapabilities $(ratio "$t_caps" "$n_caps")x, Execute $(ratio "$t_exec" "$n_exec")x, verify $(ratio "$t_ver" "$n_exec")x (target >= 0.6)"
echo "the blocking thread-per-connection model: minimal proxy / nginx $(ratio "$m_caps" "$n_caps")x, twitcher / minimal proxy $(ratio "$t_caps" "$m_caps")x (GetCapabilities)"
echo "the crates: tiny_http + ureq alone / nginx $(ratio "$c_caps" "$n_caps")x, twitcher / tiny_http + ureq alone $(ratio "$t_caps" "$c_caps")x (GetCapabilities)"
cpu_of() { echo "$(median "${cpu[GetCapabilities  $1]}") us ($(median "${ucpu[GetCapabilities  $1]}") user)"; }
echo "CPU per proxied GetCapabilities (user + system): twitcher $(cpu_of "twitcher (rewritten)"), tiny_http + ureq alone $(cpu_of "tiny_http + ureq alone"), minimal proxy $(cpu_of "minimal blocking proxy")"
echo "ratios to nginx with access_log off: GetCapabilities $(ratio "$t_caps" "$q_caps")x, Execute $(ratio "$t_exec" "$q_exec")x, verify $(ratio "$t_ver" "$q_exec")x"

# Streaming: one client downloading the big file through each, three times; the best.
stream() { # URL [curl args] -> MiB/s
  local best=0 url=$1; shift
  for _ in 1 2 3; do
    local bps
    bps=$(curl -fsS -o /dev/null -w '%{speed_download}' "$@" "$url")
    best=$(awk -v a="$bps" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
  done
  awk -v b="$best" 'BEGIN { printf "%.0f", b / 1048576 }'
}
rss_before=$(peak_rss_kib "$tw_PID")
n_stream=$(stream "http://127.0.0.1:$FRONT_PORT/wps/big.bin")
t_stream=$(stream "$TW/ows/proxy/emu/big.bin" -H "$auth")
rss=$(peak_rss_kib "$tw_PID")
echo "streaming ${BIG_MIB} MiB: nginx proxy_pass ${n_stream} MiB/s, twitcher ${t_stream} MiB/s: $(ratio "$t_stream" "$n_stream")x (target >= 0.8)"
echo "twitcher peak RSS: $((rss / 1024)) MiB after the streaming runs ($((rss_before / 1024)) MiB before them; target < 32 MiB)"
echo "twitcher $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DURATION x $ROUNDS rounds, nginx $(nginx -v 2>&1 | sed 's/.*\///')"
