#!/usr/bin/env bash
# The README's *test* command: formatting check, then the whole test suite against a throwaway
# PostgreSQL that the test run starts itself (tests/Infrastructure/PostgresServer.cs), or the
# server named by HOLDFAST_TEST_DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/postgres.sh

[ -n "${HOLDFAST_TEST_DATABASE_URL:-}" ] || ensure_postgres_binaries
# Debian packages the tests run for real, installed when missing:
# - python3-aiosmtpd: the email tests deliver to a real SMTP server, started by the tests;
# - chromium: the browser tests (tests/Browser) drive Debian's Chromium at /usr/bin/chromium,
#   never a browser downloaded at test time (docs/decisions/0022-browser-tests.md).
missing=()
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
dotnet restore Holdfast.slnx -nologo -v quiet
dotnet format Holdfast.slnx --verify-no-changes --no-restore
dotnet build Holdfast.slnx -c Release --no-restore -nologo -v quiet
dotnet test Holdfast.slnx -c Release --no-build "$@"
