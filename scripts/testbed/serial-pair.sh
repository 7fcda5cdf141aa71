#!/usr/bin/env bash
# A virtual serial cable: a socat pty pair DIR/ttyECG-sensor <-> DIR/ttyECG-host (../shared/TESTBEDS.md §3).
#
#   bash scripts/testbed/serial-pair.sh up DIR     # start socat (idempotent), wait for both links
#   bash scripts/testbed/serial-pair.sh down DIR   # stop the socat this script started ("unplug")
#
# A writer plays the sensor: it prints samples as text lines into DIR/ttyECG-sensor; the host side
# (edgewise's SerialSource, pyserial) reads DIR/ttyECG-host. `down` then `up` on the same DIR is a
# cable pulled and plugged back in: socat removes the links when it stops, the reader's next read
# fails, and the new socat re-creates both links (pointing at new /dev/pts/N). socat's pid is in
# DIR/socat.pid, its log in DIR/socat.log. socat is installed with apt when missing (needs root then).
# Messages go to stderr.
set -euo pipefail
ACTION="${1:-}"; DIR="${2:-}"
log() { echo "serial-pair: $*" >&2; }
die() { log "$*"; exit 2; }
[[ "$ACTION" =~ ^(up|down)$ && -n "$DIR" ]] || die "usage: $0 up|down DIR"

SENSOR="$DIR/ttyECG-sensor"; HOST="$DIR/ttyECG-host"; PIDFILE="$DIR/socat.pid"

# running, not a zombie (an exited child of a gone parent waits for PID 1 to reap it, up to ~1 s here)
running() { local s; s=$(cut -d" " -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
alive() { [ -f "$PIDFILE" ] && running "$(cat "$PIDFILE")"; }

down() {
  if alive; then
    local pid; pid=$(cat "$PIDFILE")
    log "stopping socat (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.02; done
    running "$pid" && { log "socat ignored TERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$PIDFILE"
  # socat unlinks its links on TERM; a KILLed one leaves them dangling
  for l in "$SENSOR" "$HOST"; do [ -L "$l" ] && [ ! -e "$l" ] && rm -f "$l"; done
  return 0
}

up() {
  mkdir -p "$DIR"
  if alive && [ -e "$SENSOR" ] && [ -e "$HOST" ]; then
    log "already up (pid $(cat "$PIDFILE")): $SENSOR <-> $HOST"
    return 0
  fi
  down
  if ! command -v socat >/dev/null; then
    [ "$(id -u)" = 0 ] || die "socat is missing and installing it needs root: apt-get install socat"
    log "apt-get install socat"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >&2
  fi
  log "socat pty pair $SENSOR <-> $HOST"
  # setsid: the pair outlives the shell that started it and gets no terminal signals
  setsid socat -d -d "pty,raw,echo=0,link=$SENSOR" "pty,raw,echo=0,link=$HOST" \
    </dev/null >>"$DIR/socat.log" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 250); do
    [ -e "$SENSOR" ] && [ -e "$HOST" ] && { log "up (pid $(cat "$PIDFILE"))"; return 0; }
    alive || break
    sleep 0.02
  done
  tail -5 "$DIR/socat.log" >&2 || true
  down
  die "socat did not create $SENSOR and $HOST"
}

"$ACTION"
