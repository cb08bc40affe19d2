#!/usr/bin/env bash
# Installs Debian's chromium for the browser test (test/example-app.test.ts drives it with playwright-core).
# Idempotent: does nothing when /usr/bin/chromium is already there. Needs root (CI machines run as root).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "install-chromium: /usr/bin/chromium is already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-chromium: needs root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
