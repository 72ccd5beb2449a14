#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind's callgrind: a number
# that does not move with the machine's load, for telling small changes apart where
# req/s and CPU time swing by ±20% between identical runs (bench/proxy.sh has the
# req/s). One client sends N requests, one after the other, over one kept-alive
# connection, to a twitcher in front of an nginx static backend; the counters are zeroed
# after a warm-up and read after the N requests.
#
#   bench/instructions.sh          N=1000 by default; TWITCHER_BIN to measure another binary
#
# callgrind counts `rep stosb`/`rep movsb` (memset, memcpy) once per byte, so buffers
# zeroed or copied weigh more here than in time.
source "$(dirname "$0")/lib.sh"
N="${N:-1000}"
need nginx nginx-light
need python3 python3
need valgrind valgrind
need callgrind_control valgrind
build

up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BACKEND_PORT=$(port)
BACKEND="http://127.0.0.1:$BACKEND_PORT/wps"
mkdir -p "$WORKDIR/www/wps" "$WORKDIR/nginx/logs"
# A small capabilities document with the backend's URL in it, to be rewritten.
python3 - "$WORKDIR/www/wps/index.xml" "$BACKEND" <<'PY'
import sys
path, url = sys.argv[1], sys.argv[2]
ops = "".join(
    f'<ows:Operation name="{op}"><ows:DCP><ows:HTTP><ows:Get xlink:href="{url}"/></ows:HTTP></ows:DCP></ows:Operation>'
    for op in ("GetCapabilities", "DescribeProcess", "Execute"))
procs = "".join(f'<wps:Process><ows:Identifier>proc{i}</ows:Identifier></wps:Process>' for i in range(20))
open(path, "w").write(f'''<?xml version="1.0" encoding="UTF-8"?>
<wps:Capabilities service="WPS" version="1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1">
<ows:OperationsMetadata>{ops}</ows:OperationsMetadata><wps:ProcessOfferings>{procs}</wps:ProcessOfferings>
</wps:Capabilities>
''')
PY
{ nginx_conf_head 1; cat <<NGINX
  server {
    listen 127.0.0.1:$BACKEND_PORT;
    root $WORKDIR/www;
    location = /wps { default_type text/xml; try_files /wps/index.xml =404; }
  }
}
NGINX
} >"$WORKDIR/nginx/nginx.conf"
nginx -p "$WORKDIR/nginx" -c "$WORKDIR/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=("$!")
up "$BACKEND" || { echo "bench: nginx did not start" >&2; exit 1; }

TWITCHER_WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$WORKDIR/tw/callgrind.out" \
  start_twitcher tw
dir="$WORKDIR/tw"
vg_pid=$tw_PID
TW="http://127.0.0.1:$tw_PORT"
token=$(emu_and_token "$TW" "$BACKEND")

# requests URL N [AUTHORIZATION]: N GETs over one connection; fails unless all are 200.
requests() {
  python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
url, n = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2])
headers = {"Authorization": sys.argv[3]} if len(sys.argv) > 3 else {}
c = http.client.HTTPConnection(url.hostname, url.port)
for _ in range(n):
    c.request("GET", url.path + "?" + url.query, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"bench: {url.path} answered {r.status}")
PY
}

caps="$TW/ows/proxy/emu?service=WPS&request=GetCapabilities"
exec="$TW/ows/proxy/emu?service=WPS&version=1.0.0&request=Execute&identifier=proc1&DataInputs=name=x"
verify="$TW/ows/verify/emu?service=WPS&version=1.0.0&request=Execute&identifier=proc1&DataInputs=name=x"
for c in "GetCapabilities|$caps|" "Execute + bearer|$exec|Bearer $token" "/ows/verify Execute + bearer|$verify|Bearer $token"; do
  IFS='|' read -r name url auth <<<"$c"
  requests "$url" 50 ${auth:+"$auth"}
  callgrind_control -i on "$vg_pid" >/dev/null 2>&1
  callgrind_control -z "$vg_pid" >/dev/null 2>&1
  requests "$url" "$N" ${auth:+"$auth"}
  callgrind_control -d "$vg_pid" >/dev/null 2>&1
  callgrind_control -i off "$vg_pid" >/dev/null 2>&1
  dump=$(ls -t "$dir"/callgrind.out.* | head -n1)
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  printf '%-30s %8d instructions per request\n' "$name" "$((total / N))"
done
echo "twitcher ${TWITCHER_BIN:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')}, $N requests per case over one connection, valgrind $(valgrind --version | sed 's/valgrind-//')"
