#!/usr/bin/env bash
# An emulated Raspberry Pi on its own network: an OpenSSH server running inside the arm64 rootfs
# (chroot; qemu-aarch64 via binfmt, QEMU_CPU=cortex-a72) in a network namespace reached over a veth pair.
#
#   eval "$(bash scripts/testbed/device-netns.sh up [NAME] [SLOT])"    # prints EW_DEVICE_* variables
#   ssh -i "$EW_DEVICE_KEY" -o UserKnownHostsFile="$EW_DEVICE_KNOWN_HOSTS" pi@"$EW_DEVICE_ADDR" uname -m   # aarch64
#   bash scripts/testbed/device-netns.sh down [NAME]
#   bash scripts/testbed/device-netns.sh status [NAME]                  # the variables, exit 1 when down
#
# NAME (default pi0; [a-z0-9-], at most 10 characters) names the namespace ew-NAME and the host-side
# interface ew-NAME. SLOT (default 0) picks the link-local /30: host 169.254.77.(4*SLOT+1), device
# 169.254.77.(4*SLOT+2) (slot 1: .5/.6) - ../shared/TESTBEDS.md section 4. Only these addresses are used.
# EW_DEVICE_VOID_ADDR (169.254.77.(128+SLOT)) is a "device that never answers": the host routes it into
# the veth with a fixed neighbour entry, and the namespace (no forwarding) silently drops the packets, so
# a connection there times out (a test of ConnectTimeout); nothing leaves the machine.
#
# The device's file system is an overlay (the cached rootfs of arm64-rootfs.sh as the read-only lower
# layer, a per-device upper layer; a full `cp -a` copy where overlayfs is refused), so every `up`
# starts from a clean device and several devices share one rootfs. The overlay is visible on the host at
# EW_DEVICE_ROOT (tests use it to look at the device's files, mount a small tmpfs to fill its disk, or
# hide its python3). sshd runs in the host's mount namespace (nsenter --net, not `ip netns exec`), so
# mounts made there later are seen by the device. Login: user `pi` (uid 1000, home /home/pi) with a test
# key generated for this device under the state folder (never ~/.ssh); the device has its own freshly
# generated ed25519 host key, recorded in EW_DEVICE_KNOWN_HOSTS. /proc and /sys are NOT mounted: the rootfs
# carries a Pi 4's CPU description as plain files (/proc/cpuinfo, /sys/devices/system/cpu/*), which the
# runtimes read, and whose "Model" line ("edgewise test bed (qemu-user ...)") marks results as emulated.
#
# State: ${EDGEWISE_TESTBED_RUN:-/tmp/edgewise-testbed}/NAME (keys, known_hosts, overlay layers, env).
# `up` is idempotent (a running, answering device is left as it is); `down` kills every process running
# inside the device's root, unmounts, deletes the namespace (and with it the veth pair) and the state.
# Root is needed (netns, mounts, chroot); messages go to stderr, the variables to stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ACTION="${1:-}"; NAME="${2:-pi0}"; SLOT="${3:-0}"
log() { echo "device-netns[$NAME]: $*" >&2; }
die() { log "$*"; exit 2; }

[[ "$ACTION" =~ ^(up|down|status)$ ]] || die "usage: $0 up|down|status [NAME] [SLOT]"
[[ "$NAME" =~ ^[a-z0-9][a-z0-9-]{0,9}$ ]] || die "NAME must be [a-z0-9-], at most 10 characters, got '$NAME'"
[[ "$SLOT" =~ ^[0-9]+$ ]] && [ "$SLOT" -lt 32 ] || die "SLOT must be 0..31, got '$SLOT'"
[ "$(id -u)" = 0 ] || die "needs root (network namespace, mounts, chroot)"

RUN="${EDGEWISE_TESTBED_RUN:-/tmp/edgewise-testbed}/$NAME"
NS="ew-$NAME"; HOSTIF="ew-$NAME"; DEVIF="ewd-$NAME"
HOST_ADDR="169.254.77.$((4 * SLOT + 1))"; DEV_ADDR="169.254.77.$((4 * SLOT + 2))"; VOID_ADDR="169.254.77.$((128 + SLOT))"
ROOT="$RUN/root"; KEY="$RUN/id_ed25519"; KNOWN="$RUN/known_hosts"
PIDFILE_IN_ROOT="/run/sshd-edgewise.pid"
CPU="${EDGEWISE_TESTBED_CPU:-cortex-a72}"

print_env() {
  cat <<EOF
EW_DEVICE_NAME=$NAME
EW_DEVICE_NETNS=$NS
EW_DEVICE_ADDR=$DEV_ADDR
EW_DEVICE_HOST_ADDR=$HOST_ADDR
EW_DEVICE_VOID_ADDR=$VOID_ADDR
EW_DEVICE_PORT=22
EW_DEVICE_USER=pi
EW_DEVICE_KEY=$KEY
EW_DEVICE_KNOWN_HOSTS=$KNOWN
EW_DEVICE_ROOT=$ROOT
EOF
}

ssh_dev() {  # run a command on the device as pi
  ssh -q -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$KNOWN" -o GlobalKnownHostsFile=/dev/null "pi@$DEV_ADDR" -- "$@"
}

root_pids() {  # every process whose root directory is the device's root (sshd, sessions, pip ...)
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [ "$r" = "$ROOT" ] && echo "${p#/proc/}"
  done
  return 0
}

down() {
  local pids mnt
  pids=$(root_pids)
  if [ -n "$pids" ]; then
    log "stopping $(echo $pids | wc -w) process(es) in the device"
    kill $pids 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(root_pids)" ] && break; sleep 0.1; done
    pids=$(root_pids); [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  fi
  # mounts inside the device (a test's tmpfs), deepest first, then the overlay itself
  if [ -d "$ROOT" ]; then
    for mnt in $(findmnt -rn -o TARGET | grep -E "^$ROOT(/|$)" | sort -r); do
      umount "$mnt" 2>/dev/null || umount -l "$mnt"
    done
  fi
  ip route del "$VOID_ADDR/32" dev "$HOSTIF" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$HOSTIF" 2>/dev/null || true
  rm -rf "$RUN"
}

is_up() {
  [ -f "$RUN/env" ] && ip netns list | grep -qw "$NS" && [ -n "$(root_pids)" ] && ssh_dev true 2>/dev/null
}

case "$ACTION" in
  status) if is_up; then print_env; exit 0; else log "down"; exit 1; fi ;;
  down) down; log "down"; exit 0 ;;
esac

need=()
command -v ssh-keygen >/dev/null && command -v ssh >/dev/null || need+=(openssh-client)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if is_up; then log "already up at $DEV_ADDR"; print_env; exit 0; fi
down  # leftovers of a crashed run

ROOTFS=$(bash "$HERE/arm64-rootfs.sh")
[ -f "$ROOTFS/.ready" ] || die "no ready rootfs at $ROOTFS"
ip netns list | awk '{print $1}' | grep -qx "$NS" && die "namespace $NS still exists"
if ip -4 -o addr show | grep -qE "inet ($HOST_ADDR|$DEV_ADDR)/"; then
  die "slot $SLOT ($HOST_ADDR/$DEV_ADDR) is used by another interface: $(ip -4 -o addr show | grep -E "inet ($HOST_ADDR|$DEV_ADDR)/" | awk '{print $2}' | head -1); pick another SLOT"
fi

log "device file system (overlay on $ROOTFS)"
mkdir -p "$RUN/upper" "$RUN/work" "$ROOT"
if ! mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$RUN/upper,workdir=$RUN/work" "$ROOT" 2>/dev/null; then
  log "overlayfs refused: copying the rootfs (cp -a)"
  rmdir "$ROOT" && cp -a "$ROOTFS" "$ROOT"
fi

# user pi (uid/gid 1000), written as plain lines (no emulated useradd); "*" = no password, keys only
grep -q '^pi:' "$ROOT/etc/passwd" || echo 'pi:x:1000:1000:edgewise test bed:/home/pi:/bin/bash' >> "$ROOT/etc/passwd"
grep -q '^pi:' "$ROOT/etc/group" || echo 'pi:x:1000:' >> "$ROOT/etc/group"
grep -q '^pi:' "$ROOT/etc/shadow" || echo 'pi:*:20000:0:99999:7:::' >> "$ROOT/etc/shadow"
grep -q '^sshd:' "$ROOT/etc/passwd" || echo 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin' >> "$ROOT/etc/passwd"
ssh-keygen -q -t ed25519 -N "" -C "edgewise-testbed-$NAME" -f "$KEY"
install -d -m 755 -o 1000 -g 1000 "$ROOT/home/pi"
install -d -m 700 -o 1000 -g 1000 "$ROOT/home/pi/.ssh"
install -m 600 -o 1000 -g 1000 "$KEY.pub" "$ROOT/home/pi/.ssh/authorized_keys"

# the device's own host key (the rootfs's shared keys are not used) and the known_hosts that trusts it
rm -f "$ROOT"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N "" -C "edgewise-testbed-$NAME-host" -f "$ROOT/etc/ssh/ssh_host_ed25519_key"
echo "$DEV_ADDR $(cut -d' ' -f1,2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" > "$KNOWN"
install -d -m 755 "$ROOT/run/sshd"
cat > "$ROOT/etc/ssh/sshd_config_edgewise" <<EOF
# edgewise test bed (scripts/testbed/device-netns.sh): keys only, no PAM (no /proc in the chroot)
ListenAddress $DEV_ADDR:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile $PIDFILE_IN_ROOT
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
AllowUsers pi
PrintMotd no
MaxStartups 30:30:60
MaxSessions 30
# user sessions start new emulated processes: keep the emulated core (qemu-user reads QEMU_CPU)
SetEnv QEMU_CPU=$CPU
Subsystem sftp internal-sftp
EOF

log "network namespace $NS: host $HOST_ADDR <-> device $DEV_ADDR"
ip netns add "$NS"
ip link add "$HOSTIF" type veth peer name "$DEVIF"
ip link set "$DEVIF" netns "$NS"
ip -n "$NS" link set "$DEVIF" name eth0
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$DEV_ADDR/30" dev eth0
ip -n "$NS" link set eth0 up
ip addr add "$HOST_ADDR/30" dev "$HOSTIF"
ip link set "$HOSTIF" up
DEV_MAC=$(ip -n "$NS" -o link show eth0 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')
ip route replace "$VOID_ADDR/32" dev "$HOSTIF"
ip neigh replace "$VOID_ADDR" lladdr "$DEV_MAC" dev "$HOSTIF" nud permanent

log "sshd (emulated aarch64, QEMU_CPU=$CPU)"
nsenter --net="/run/netns/$NS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 QEMU_CPU="$CPU" \
  chroot "$ROOT" /usr/sbin/sshd -f /etc/ssh/sshd_config_edgewise -E /var/log/sshd-edgewise.log
ok=
for _ in $(seq 120); do
  if out=$(ssh_dev uname -m 2>/dev/null) && [ "$out" = aarch64 ]; then ok=1; break; fi
  sleep 0.5
done
if [ -z "$ok" ]; then
  log "sshd did not answer within 60 s; its log:"; tail -20 "$ROOT/var/log/sshd-edgewise.log" >&2 || true
  down; exit 1
fi
print_env > "$RUN/env"
log "up: ssh -i $KEY -o UserKnownHostsFile=$KNOWN pi@$DEV_ADDR"
print_env
