#!/usr/bin/env bash
# Install the Debian packages the test beds need (virtual microphone, virtual serial port, audio libs).
# Idempotent; safe to run on every test run. See ../shared/TESTBEDS.md.
set -euo pipefail
PKGS="libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins socat sox"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "testbeds: missing Debian packages:$missing (run as root or install them)" >&2
  fi
fi
