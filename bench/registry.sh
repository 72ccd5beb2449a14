#!/usr/bin/env bash
# GET /services/{name} with HTTP Basic, under wrk -c32, against a release build.
# Baselines in the same run: GET /info on the same server (HTTP layer alone, no auth, no
# database), and, when the reference deployment of ../shared/reference is set up, the
# Python Twitcher 0.11.3 answering the same request.
#
#   bench/registry.sh            DURATION=10s CONNS=32 by default
source "$(dirname "$0")/lib.sh"
CONNS="${CONNS:-32}"
build
start_twitcher tw
auth="Authorization: Basic $(printf 'admin:bench' | base64)"
curl -fsS -u admin:bench -d '{"name": "emu", "url": "http://127.0.0.1:5000/wps"}' \
  "http://127.0.0.1:$tw_PORT/services" >/dev/null

read -r get_rps get_p99 get_bad < <(wrk_run "http://127.0.0.1:$tw_PORT/services/emu" "$CONNS" -H "$auth")
read -r info_rps info_p99 _ < <(wrk_run "http://127.0.0.1:$tw_PORT/info" "$CONNS")
rss=$(peak_rss_kib "$tw_PID")

echo "twitcher $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DURATION"
printf '%-44s %12s %10s\n' "case" "req/s" "p99 ms"
printf '%-44s %12s %10s\n' "GET /services/emu (Basic auth) twitcher" "$get_rps" "$get_p99"
printf '%-44s %12s %10s\n' "GET /info (baseline) twitcher" "$info_rps" "$info_p99"
echo "registry lookup with auth / bare /info: $(ratio "$get_rps" "$info_rps")x"
echo "non-2xx responses in the registry run: $get_bad"
echo "twitcher peak RSS: $((rss / 1024)) MiB ($rss KiB)"

PEER="$ROOT/../shared/reference"
peer_alive() { [ -f /tmp/peer-twitcher.pid ] && kill -0 "$(cat /tmp/peer-twitcher.pid)" 2>/dev/null; }
if [ -x /tmp/peer-venvs/twitcher/bin/pserve ] && [ -x "$PEER/start.sh" ] && [ "${SKIP_PEER:-0}" != 1 ]; then
  if peer_alive; then
    echo "(Python Twitcher already running from another session: skipped; SKIP_PEER=1 silences this)"
    exit 0
  fi
  port=$(( 20000 + RANDOM % 20000 ))
  "$PEER/start.sh" "$port" >/dev/null
  # Stop only the Python Twitcher; the Emu backend may serve others.
  trap 'kill "$(cat /tmp/peer-twitcher.pid)" 2>/dev/null; rm -f /tmp/peer-twitcher.pid; cleanup' EXIT
  curl -fsS -u demo:demo -H 'Content-Type: application/json' -d '{"name": "emu", "url": "http://127.0.0.1:5000/wps"}' \
    "http://127.0.0.1:$port/services" >/dev/null
  read -r py_rps py_p99 py_bad < <(wrk_run "http://127.0.0.1:$port/services/emu" "$CONNS" -H "Authorization: Basic $(printf 'demo:demo' | base64)")
  printf '%-44s %12s %10s\n' "GET /services/emu Python Twitcher 0.11.3" "$py_rps" "$py_p99"
  echo "twitcher / Python Twitcher: $(ratio "$get_rps" "$py_rps")x (python non-2xx: $py_bad)"
fi
