#!/usr/bin/env bash
# A virtual microphone: a PulseAudio null sink whose monitor is remapped as the source "vmic"
# (../shared/TESTBEDS.md §2). Whatever is played into the sink (paplay --device=vmic_sink clip.wav)
# is what a recording program hears.
#
#   bash scripts/testbed/vmic.sh up RUN        # start PulseAudio + the keep-alive recorder (idempotent)
#   eval "$(bash scripts/testbed/vmic.sh env RUN)"   # XDG_RUNTIME_DIR, HOME, PULSE_SERVER for clients
#   bash scripts/testbed/vmic.sh down RUN      # stop both (pids in RUN/*.pid)
#
# sounddevice reaches it as the input device "pulse" (or "default"): Debian's PortAudio has no
# PulseAudio backend and goes through the ALSA pulse plugin (libasound2-plugins), which connects to
# $PULSE_SERVER. A null sink starts with 2 s of latency, and a process's first capture stream then gets
# no callback for up to 2 s; one low-latency `parecord` kept attached fixes that (the keep-alive).
# Installs libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins with apt when missing (root).
# PulseAudio runs as root with a warning; it is started with --system=no and anonymous auth on a socket
# under RUN, so it touches nothing outside RUN. Messages go to stderr; `env` prints to stdout.
set -euo pipefail
ACTION="${1:-}"; RUN="${2:-}"
log() { echo "vmic: $*" >&2; }
die() { log "$*"; exit 2; }
[[ "$ACTION" =~ ^(up|down|env)$ && -n "$RUN" ]] || die "usage: $0 up|down|env RUN"
mkdir -p "$RUN"
RUN="$(cd "$RUN" && pwd)"
SOCK="$RUN/native"

print_env() {
  cat <<EOF
export XDG_RUNTIME_DIR=$RUN/xdg
export HOME=$RUN/home
export PULSE_SERVER=unix:$SOCK
EOF
}
use_env() {
  export XDG_RUNTIME_DIR="$RUN/xdg" HOME="$RUN/home" PULSE_SERVER="unix:$SOCK"
  mkdir -p "$XDG_RUNTIME_DIR" "$HOME"; chmod 700 "$XDG_RUNTIME_DIR"
}
# running, not a zombie (an exited child of a gone parent waits for PID 1 to reap it, up to ~1 s here)
running() { local s; s=$(cut -d" " -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
alive() { [ -f "$RUN/$1.pid" ] && running "$(cat "$RUN/$1.pid")"; }
stop() {  # $1: name of a pid file
  if alive "$1"; then
    local pid; pid=$(cat "$RUN/$1.pid")
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do running "$pid" || break; sleep 0.02; done
    running "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$1.pid"
}

down() {
  stop parecord
  stop pulseaudio
  rm -f "$SOCK"
}

install_missing() {
  local need=()
  [ -n "$(ldconfig -p | grep libportaudio.so.2)" ] || need+=(libportaudio2)
  command -v pulseaudio >/dev/null || need+=(pulseaudio)
  command -v pactl >/dev/null && command -v paplay >/dev/null && command -v parecord >/dev/null || need+=(pulseaudio-utils)
  [ -e /usr/share/alsa/alsa.conf.d/pulse.conf ] || need+=(libasound2-plugins)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}; installing them needs root: apt-get install ${need[*]}"
  log "apt-get install ${need[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

up() {
  install_missing
  use_env
  if alive pulseaudio && pactl info >/dev/null 2>&1 && alive parecord; then
    log "already up (pulseaudio pid $(cat "$RUN/pulseaudio.pid")) at $PULSE_SERVER"
    return 0
  fi
  down
  log "pulseaudio with null sink vmic_sink (48 kHz mono) and source vmic at $PULSE_SERVER"
  setsid pulseaudio --daemonize=no -n --exit-idle-time=-1 --disallow-exit --use-pid-file=no --system=no \
    --log-target=file:"$RUN/pulseaudio.log" \
    -L "module-native-protocol-unix socket=$SOCK auth-anonymous=1" \
    -L "module-null-sink sink_name=vmic_sink rate=48000 channels=1" \
    -L "module-remap-source master=vmic_sink.monitor source_name=vmic" \
    </dev/null >>"$RUN/pulseaudio.log" 2>&1 &
  echo $! > "$RUN/pulseaudio.pid"
  local ok=0
  for _ in $(seq 250); do
    pactl info >/dev/null 2>&1 && { ok=1; break; }
    alive pulseaudio || break
    sleep 0.02
  done
  if [ $ok = 0 ]; then tail -5 "$RUN/pulseaudio.log" >&2 || true; down; die "pulseaudio did not start"; fi
  pactl set-default-source vmic
  pactl set-default-sink vmic_sink
  log "keep-alive: parecord --latency-msec=10 on vmic_sink.monitor"
  setsid parecord --latency-msec=10 --device=vmic_sink.monitor /dev/null \
    </dev/null >>"$RUN/parecord.log" 2>&1 &
  echo $! > "$RUN/parecord.pid"
  sleep 0.1
  alive parecord || { tail -5 "$RUN/parecord.log" >&2 || true; down; die "the keep-alive parecord did not start"; }
  log "up: play into the mic with: paplay --device=vmic_sink FILE"
}

case "$ACTION" in
  up) up ;;
  down) down ;;
  env) print_env ;;
esac
