#!/usr/bin/env bash
# Debian's eSpeak NG, which synthesises dataset=spoken_digits (src/data/spoken_digits.py) and so
# the audio tests and experiments; root only, idempotent.
set -euo pipefail
command -v espeak-ng >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends espeak-ng >/dev/null \
  || { apt-get update >/dev/null && apt-get install -y --no-install-recommends espeak-ng >/dev/null; }
command -v espeak-ng >/dev/null
