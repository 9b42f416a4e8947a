#!/usr/bin/env bash
# Lints the committed OpenAPI document (docs/openapi/v1.json) with Redocly CLI's recommended rules.
# Exit code 0 when it reports no error (warnings are printed). Node and npm come from Debian when
# missing; Redocly CLI (pinned) is installed once into .data/tools/redocly. Test-time tooling only:
# the service itself never needs Node.
set -euo pipefail
cd "$(dirname "$0")/.."
REDOCLY_VERSION=2.77.0
if ! command -v npm >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nodejs npm >/dev/null
fi
TOOLS=.data/tools/redocly
if [ ! -x "$TOOLS/node_modules/.bin/redocly" ] || ! grep -q "\"version\": \"$REDOCLY_VERSION\"" "$TOOLS/node_modules/@redocly/cli/package.json"; then
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "@redocly/cli@$REDOCLY_VERSION" >/dev/null
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$TOOLS/node_modules/.bin/redocly" lint docs/openapi/v1.json --format=summary
