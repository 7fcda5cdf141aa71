"""What runs on the device during a deploy: small stdlib-only Python programs and one shell script.

They run before edgewise is installed there (the device's own ``python3``), so they use only the standard
library and Python >= 3.5 syntax (no f-strings): the version check of ``bundle.probe_device`` must be
able to tell an old Python that it is too old.

- ``PROBE``: architecture, Python, glibc, free space under the deploy root, the CPU model line (qemu ->
  emulated);
- ``VERIFY``: every sha256 and size of ``manifest.json``, no path outside the folder, no unlisted file;
- ``LOG``: append one event to ``<root>/deployments.json`` atomically (temp file, fsync, rename);
- ``STATE`` (shell): the ``current`` link, the releases and their state, the log - needs no Python.
"""
from __future__ import annotations

__all__ = ["PROBE", "VERIFY", "LOG", "STATE"]

PROBE = r"""
import json, os, platform, sys
root = os.path.expanduser(sys.argv[1])
probe = root
while not os.path.isdir(probe):
    probe = os.path.dirname(probe) or "/"
st = os.statvfs(probe)
try:
    with open("/proc/cpuinfo") as f:
        cpu = f.read()
except OSError:
    cpu = ""
model = [ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if ln.split(":")[0].strip() in ("Model", "model name")]
print(json.dumps({"arch": platform.machine(), "python": "%d.%d.%d" % sys.version_info[:3],
                  "glibc": platform.libc_ver()[1] if platform.libc_ver()[0] == "glibc" else None,
                  "home": os.path.expanduser("~"), "root": root, "free_bytes": st.f_bavail * st.f_frsize,
                  "cpu_model": model[0] if model else "", "executable": sys.executable,
                  "emulated": "qemu" in cpu.lower()}))
"""


VERIFY = r"""
import hashlib, json, os, sys
folder = os.path.realpath(os.path.expanduser(sys.argv[1]))
try:
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
except (OSError, ValueError, RecursionError) as e:  # RecursionError: absurdly nested JSON
    print(json.dumps(["manifest.json: unreadable (%s)" % e])); sys.exit(1)
if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts", {}), dict):
    print(json.dumps(["manifest.json: not an edgewise bundle manifest (expected an object with 'artifacts')"]))
    sys.exit(1)
bad, listed = [], {os.path.join(folder, "manifest.json")}
for name, entry in sorted(manifest.get("artifacts", {}).items()):
    path = os.path.realpath(os.path.join(folder, name))
    if not path.startswith(folder + os.sep):
        bad.append(name + ": outside the bundle folder"); continue
    listed.add(path)
    if not os.path.isfile(path):
        bad.append(name + ": missing"); continue
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk); size += len(chunk)
    if size != entry.get("size_bytes"):
        bad.append("%s: %d bytes, the manifest says %s (truncated or replaced)" % (name, size, entry.get("size_bytes")))
    elif h.hexdigest() != entry.get("sha256"):
        bad.append(name + ": sha256 differs from the manifest (corrupt or tampered)")
for d, _, files in os.walk(folder):
    for fn in files:
        p = os.path.join(d, fn)
        if os.path.realpath(p) not in listed and fn != ".installing":
            bad.append(os.path.relpath(p, folder) + ": not listed in the manifest")
print(json.dumps(bad))
sys.exit(1 if bad else 0)
"""

LOG = r"""
import json, os, sys
root = os.path.expanduser(sys.argv[1]); event = json.loads(sys.argv[2])
path = os.path.join(root, "deployments.json")
try:
    with open(path) as f:
        log = json.load(f)
    assert isinstance(log.get("events"), list)
except (OSError, ValueError, AssertionError, AttributeError):
    log = {"schema": sys.argv[3], "events": []}
log["events"].append(event)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(log, f, indent=1); f.write("\n"); f.flush(); os.fsync(f.fileno())
os.replace(tmp, path)
"""

STATE = r"""
R={root}
cd "$R" 2>/dev/null || {{ echo "root-missing"; exit 0; }}
printf 'current\t%s\n' "$(readlink current 2>/dev/null)"
for d in releases/*; do
  [ -d "$d" ] || continue
  s=ok; [ -e "$d/.installing" ] && s=installing; case "$d" in *.partial) s=partial;; esac
  printf 'release\t%s\t%s\n' "${{d#releases/}}" "$s"
done
echo log; cat deployments.json 2>/dev/null || true
"""
