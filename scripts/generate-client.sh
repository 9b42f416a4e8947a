#!/usr/bin/env bash
# Regenerates the typed C# client (clients/Holdfast.Client/Generated) from the committed OpenAPI
# document (docs/openapi/v1.json) with Kiota (the version pinned in .config/dotnet-tools.json).
# Usage: scripts/generate-client.sh [OUTPUT_DIR]   (default: the committed location)
# ClientGenerationTests runs it into a temp folder and fails when the committed client differs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-clients/Holdfast.Client/Generated}"
export KIOTA_UPDATE__DISABLED=true KIOTA_CLI_TELEMETRY_OPTOUT=true KIOTA_TUTORIAL_ENABLED=false
dotnet tool restore >/dev/null
dotnet kiota generate --language CSharp --openapi docs/openapi/v1.json --output "$OUT" \
  --class-name HoldfastApiClient --namespace-name Holdfast.Client --exclude-backward-compatible \
  --clean-output --log-level Warning >/dev/null
# Kiota writes a lock file with its own absolute paths; keep what is stable.
rm -f "$OUT/kiota-lock.json"
# Kiota validates in parallel: which of its warnings reach .kiota.log, and in what order, differs
# from run to run. The log is not the client: it is shown, then not kept.
if [ -f "$OUT/.kiota.log" ]; then LC_ALL=C sort -u "$OUT/.kiota.log" >&2; rm -f "$OUT/.kiota.log"; fi
