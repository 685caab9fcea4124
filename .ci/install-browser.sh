#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (Playwright drives it via
# executable_path; `playwright install` is never used). Idempotent: does
# nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
