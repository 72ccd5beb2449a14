#!/usr/bin/env bash
# POST /oauth/token issuance (client-credentials grant) under wrk, for random_token
# (one synced SQLite write per token) and custom_token (an HS256 JWT, no write), in one
# run against a release build. As a second figure, the check of each kind's token:
# GET /services/emu with a bearer token of scope `register` (the registry accepts it in
# place of the admin's password), with GET /info as the HTTP-only baseline.
#
#   bench/token.sh               DURATION=10s CONNS=32 by default
source "$(dirname "$0")/lib.sh"
CONNS="${CONNS:-32}"
need python3 python3
build

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# setup NAME: a client with scopes compute+register, a wrk script that asks for tokens,
# one token, and a registered service; sets NAME_LUA and NAME_TOKEN.
setup() {
  local name=$1 port_var="${1}_PORT"
  local url="http://127.0.0.1:${!port_var}"
  local client id secret
  client=$(curl -fsS -u admin:bench "$url/oauth/client?name=bench&scope=compute+register")
  id=$(json_field client_id <<<"$client")
  secret=$(json_field client_secret <<<"$client")
  cat >"$WORKDIR/$name.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=$id&client_secret=$secret"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
  printf -v "${name}_LUA" '%s' "$WORKDIR/$name.lua"
  printf -v "${name}_TOKEN" '%s' "$(curl -fsS -u "$id:$secret" -d grant_type=client_credentials \
    "$url/oauth/token" | json_field access_token)"
  curl -fsS -u admin:bench -d '{"name": "emu", "url": "http://127.0.0.1:5000/wps"}' "$url/services" >/dev/null
}

start_twitcher random TWITCHER_TOKEN_TYPE=random_token
start_twitcher custom TWITCHER_TOKEN_TYPE=custom_token TWITCHER_TOKEN_SECRET="$(openssl rand -hex 32 2>/dev/null || echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef)"
setup random
setup custom

read -r ri_rps ri_p99 ri_bad < <(wrk_run "http://127.0.0.1:$random_PORT/oauth/token" "$CONNS" -s "$random_LUA")
read -r ci_rps ci_p99 ci_bad < <(wrk_run "http://127.0.0.1:$custom_PORT/oauth/token" "$CONNS" -s "$custom_LUA")
read -r rc_rps rc_p99 rc_bad < <(wrk_run "http://127.0.0.1:$random_PORT/services/emu" "$CONNS" -H "Authorization: Bearer $random_TOKEN")
read -r cc_rps cc_p99 cc_bad < <(wrk_run "http://127.0.0.1:$custom_PORT/services/emu" "$CONNS" -H "Authorization: Bearer $custom_TOKEN")
read -r info_rps info_p99 _ < <(wrk_run "http://127.0.0.1:$custom_PORT/info" "$CONNS")
tokens=$(sqlite3 "$WORKDIR/random/db.sqlite" 'SELECT count(*) FROM token' 2>/dev/null || echo '?')

echo "twitcher $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DURATION"
printf '%-52s %12s %10s %8s\n' "case" "req/s" "p99 ms" "non-2xx"
printf '%-52s %12s %10s %8s\n' "POST /oauth/token, random_token (synced write)" "$ri_rps" "$ri_p99" "$ri_bad"
printf '%-52s %12s %10s %8s\n' "POST /oauth/token, custom_token (HS256 JWT)" "$ci_rps" "$ci_p99" "$ci_bad"
printf '%-52s %12s %10s %8s\n' "GET /services/emu, random_token bearer (lookup)" "$rc_rps" "$rc_p99" "$rc_bad"
printf '%-52s %12s %10s %8s\n' "GET /services/emu, custom_token bearer (HS256)" "$cc_rps" "$cc_p99" "$cc_bad"
printf '%-52s %12s %10s %8s\n' "GET /info (baseline)" "$info_rps" "$info_p99" "-"
echo "random tokens stored after the run: $tokens"
echo "peak RSS: random $(( $(peak_rss_kib "$random_PID") / 1024 )) MiB, custom $(( $(peak_rss_kib "$custom_PID") / 1024 )) MiB"
