#!/usr/bin/env bash
# Install (once) Debian's headless Chromium and its WebDriver, and print their paths.
#
#   eval "$(bash scripts/testbed/chromium.sh)"     # sets EW_CHROMIUM and EW_CHROMEDRIVER
#
# The live page's browser tests (tests/runtime/live/test_live_page.py) drive this Chromium through
# chromedriver over the plain W3C WebDriver protocol (../shared/TESTBEDS.md: "a headless Chromium").
# Idempotent: apt runs only when a binary is missing. Root is needed for the install (apt-get);
# messages go to stderr, the variables to stdout.
set -euo pipefail
log() { echo "chromium: $*" >&2; }

find_bins() {
  CHROMIUM="$(command -v chromium || true)"
  DRIVER="$(command -v chromedriver || true)"
  [ -n "$DRIVER" ] || { [ -x /usr/bin/chromedriver ] && DRIVER=/usr/bin/chromedriver; } || true
}

find_bins
if [ -z "$CHROMIUM" ] || [ -z "$DRIVER" ]; then
  [ "$(id -u)" = 0 ] || { log "chromium/chromedriver missing and not root: apt-get install chromium chromium-driver"; exit 2; }
  log "apt-get install chromium chromium-driver (once, ~1 min)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >&2
  find_bins
fi
[ -n "$CHROMIUM" ] && [ -n "$DRIVER" ] || { log "chromium or chromedriver still missing after apt"; exit 2; }
echo "EW_CHROMIUM=$CHROMIUM"
echo "EW_CHROMEDRIVER=$DRIVER"
