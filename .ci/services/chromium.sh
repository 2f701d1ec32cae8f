#!/usr/bin/env bash
# Debian's Chromium and chromedriver for the browser test of the serving page
# (tests/serving/test_server.py, marker `browser`); root only, idempotent.
set -euo pipefail
command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null \
  || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }
command -v chromedriver >/dev/null
