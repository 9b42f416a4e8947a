#!/usr/bin/env bash
# The README's *run* command: a private PostgreSQL in .data/postgres on port 55432, migrated and
# loaded with the demo catalogue, and the API plus the demo page on http://127.0.0.1:8080.
# Running it again reuses the cluster and its data. Ctrl-C stops the app and the cluster.
# Unless you configure identity providers yourself (ExternalLogin__Providers__*, README "Sign in
# with an identity provider"), a fake OpenID Connect provider (tools/FakeIdentityProvider, a sign-in
# form where you type who you are) runs on http://127.0.0.1:8090 as provider "local".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh

PG_DIR="$PWD/.data/postgres"
PG_PORT="${HOLDFAST_PG_PORT:-55432}"
URL="${HOLDFAST_URL:-http://127.0.0.1:8080}"
CONNECTION="Host=127.0.0.1;Port=$PG_PORT;Username=holdfast;Database=holdfast;Maximum Pool Size=50"
IDP_URL="${HOLDFAST_IDP_URL:-http://127.0.0.1:8090}"

ensure_postgres_binaries
start_cluster "$PG_DIR" "$PG_PORT"
APP_PID=""
IDP_PID=""
cleanup() {
  trap - INT TERM EXIT
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
  [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null && { wait "$IDP_PID" 2>/dev/null || true; }
  stop_cluster "$PG_DIR"
  echo "Stopped Holdfast and its PostgreSQL."
}
trap cleanup INT TERM EXIT

ensure_database "$PG_PORT" holdfast

dotnet build src -c Release -nologo -v quiet

# The local identity provider, unless providers were configured (then those are used, as they are).
if ! env | grep -q '^ExternalLogin__Providers__'; then
  dotnet build tools/FakeIdentityProvider -c Release -nologo -v quiet
  dotnet tools/FakeIdentityProvider/bin/Release/net10.0/FakeIdentityProvider.dll --url "$IDP_URL" &
  IDP_PID=$!
  for _ in $(seq 1 60); do
    curl -sf -o /dev/null "$IDP_URL/.well-known/openid-configuration" && break
    kill -0 "$IDP_PID" 2>/dev/null || { echo "The fake identity provider did not start (is ${IDP_URL##*:} in use?)." >&2; IDP_PID=""; exit 1; }
    sleep 0.5
  done
  curl -sf -o /dev/null "$IDP_URL/.well-known/openid-configuration" || { echo "The fake identity provider does not answer on $IDP_URL." >&2; exit 1; }
  export ExternalLogin__Providers__0__Name=local
  export ExternalLogin__Providers__0__Authority="$IDP_URL/"
  export ExternalLogin__Providers__0__ClientId=holdfast-local
  export ExternalLogin__Providers__0__ClientSecret=local-fake-provider-secret   # the fake's, not a secret
  export ExternalLogin__Providers__0__RequireHttpsMetadata=false
fi
# The customer page's signed-in.html, on both names of the loopback address, unless set.
if ! env | grep -q '^ExternalLogin__RedirectUris__'; then
  export ExternalLogin__RedirectUris__0="$URL/signed-in.html"
  export ExternalLogin__RedirectUris__1="${URL/127.0.0.1/localhost}/signed-in.html"
fi
APP="dotnet src/bin/Release/net10.0/Holdfast.dll"
export ASPNETCORE_ENVIRONMENT=Development
export ConnectionStrings__Holdfast="$CONNECTION"
# Emails become .eml files here; the VAPID key pair for web push is generated here once.
export Email__PickupDirectory="$PWD/.data/mail"
# Text messages become .txt files here unless Sms__Mode=twilio (README: SMS).
export Sms__PickupDirectory="${Sms__PickupDirectory:-$PWD/.data/sms}"
export WebPush__KeyFile="$PWD/.data/vapid-keys.json"
# One node and no balancer: nobody to drain to, so Ctrl-C stops at once (deploy/run-nodes.sh drains).
export Server__DrainSeconds="${Server__DrainSeconds:-0}"
$APP migrate
$APP seed --days "${HOLDFAST_SEED_DAYS:-30}"
echo "Holdfast on $URL (demo page: $URL/, API: $URL/openapi/v1.json). Ctrl-C stops it."
# The content root is src/ so the demo page (src/wwwroot) is served.
(cd src && exec dotnet bin/Release/net10.0/Holdfast.dll --urls "$URL") &
APP_PID=$!
wait "$APP_PID"
