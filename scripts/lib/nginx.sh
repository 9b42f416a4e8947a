# Shared by deploy/run-nodes.sh and bench/run.sh: nginx from Debian, installed when missing.
# shellcheck shell=bash

ensure_nginx() {
  command -v nginx >/dev/null && return 0
  echo "nginx not found; installing Debian's nginx-light package..." >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nginx-light >/dev/null || \
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nginx >/dev/null
  command -v nginx >/dev/null || { echo "nginx install failed" >&2; return 1; }
}
