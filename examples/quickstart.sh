#!/usr/bin/env bash
# Register a WPS service, add a client application, get it a token, and run a protected
# WPS Execute through the OWS proxy with that token. Needs twitcherctl, jq and curl.
#
#   TWITCHER_URL=http://localhost:8000 TWITCHER_USERNAME=admin TWITCHER_PASSWORD=... \
#   WPS_URL=http://127.0.0.1:5000/wps ./examples/quickstart.sh
set -euo pipefail
export TWITCHER_URL="${TWITCHER_URL:-http://localhost:8000}"

# No --name: twitcherctl picks an unused adjective_bird name.
name=$(twitcherctl register "${WPS_URL:-http://127.0.0.1:5000/wps}" | jq -r .name)
echo "registered the service as $name" >&2

# The secret is shown once; hand it on in the environment, not on command lines.
client=$(twitcherctl add --name quickstart)
TWITCHER_CLIENT_ID=$(jq -r .client_id <<<"$client")
TWITCHER_CLIENT_SECRET=$(jq -r .client_secret <<<"$client")
export TWITCHER_CLIENT_ID TWITCHER_CLIENT_SECRET

token=$(twitcherctl gentoken --scope compute | jq -r .access_token)

curl -sS --fail-with-body -H "Authorization: Bearer $token" \
  "$TWITCHER_URL/ows/proxy/$name?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=tux"
