#!/usr/bin/env bash
# A large XML request body through the proxy, against the same body sent straight to
# the backend in the same run. The proxy parses an XML body as it streams (DTDs,
# entities and depth are refused on the way), so the body is one of many small
# elements: the case where handing each parser event on alone cost a system call per
# few bytes (80x slower before 4fa1781).
#
#   bench/xml_upload.sh       ELEMENTS=3000000 (12 MB) RUNS=3 by default
source "$(dirname "$0")/lib.sh"
ELEMENTS="${ELEMENTS:-3000000}"
RUNS="${RUNS:-3}"
need python3 python3
build

python3 - "$ELEMENTS" >"$WORKDIR/body.xml" <<'PY'
import sys
n = int(sys.argv[1])
sys.stdout.write('<DescribeProcess service="WPS" version="1.0.0">' + '<a/>' * n + '</DescribeProcess>')
PY
# A backend that reads the whole body (by length or chunks) and says how much it got.
cat >"$WORKDIR/backend.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        got = 0
        if self.headers.get("Content-Length"):
            left = int(self.headers["Content-Length"])
            while left:
                c = self.rfile.read(min(65536, left))
                if not c:
                    break
                got += len(c); left -= len(c)
        else:
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline(); break
                got += len(self.rfile.read(size)); self.rfile.readline()
        body = f"<ok>{got}</ok>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORKDIR/backend.py" >"$WORKDIR/backend.port" &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$WORKDIR/backend.port" ] && break; sleep 0.05; done
BACKEND="http://127.0.0.1:$(cat "$WORKDIR/backend.port")/wps"
start_twitcher tw
TW="http://127.0.0.1:$tw_PORT"
# A protected service: its bodies are parsed (a public one gets them as they come).
curl -fsS -u admin:bench -d "{\"name\": \"emu\", \"url\": \"$BACKEND\"}" "$TW/services" >/dev/null
size=$(wc -c <"$WORKDIR/body.xml")

post() { # URL -> seconds; fails unless the backend got every byte
  local out
  out=$(curl -fsS -H 'Content-Type: text/xml' --data-binary @"$WORKDIR/body.xml" -w ' %{time_total}' "$1")
  [ "${out%% *}" = "<ok>$size</ok>" ] || { echo "bench: the backend got ${out%% *}, not $size bytes" >&2; exit 1; }
  echo "${out##* }"
}
best() { sort -g | head -n1; }
direct=$(for _ in $(seq 1 "$RUNS"); do post "$BACKEND"; done | best)
proxied=$(for _ in $(seq 1 "$RUNS"); do post "$TW/ows/proxy/emu"; done | best)
echo "XML body of $ELEMENTS elements ($((size / 1048576)) MiB), best of $RUNS:"
echo "  straight to the backend: ${direct} s"
echo "  through twitcher:        ${proxied} s ($(ratio "$direct" "$proxied")x the direct throughput)"
