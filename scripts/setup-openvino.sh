#!/usr/bin/env bash
# Fetches the OpenVINO runtime, idempotently, from its PyPI wheel (Apache-2.0): the C API
# headers and the shared libraries the CPU inference path loads (core, C API, CPU plugin, ONNX
# frontend, oneTBB). The wheel's file name and SHA-256 are pinned in models/registry.json
# ("runtimes"); the wheel is refused on a mismatch. Everything lands in .cache/openvino, which
# Package.swift links against when it exists (detector.engine "openvino", the default).
# Why OpenVINO: docs/performance.md, "Inference engine".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.cache"
DEST="$CACHE/openvino"
log() { echo "setup-openvino: $*" >&2; }

read -r PKG WHEEL WANT < <(python3 - "$ROOT/models/registry.json" <<'PY'
import json, sys
r = [r for r in json.load(open(sys.argv[1]))["runtimes"] if r["id"] == "openvino"][0]
s = r["source"]
print(s["package"] + "==" + s["version"], s["wheel"], s["wheel_sha256"])
PY
)
if [ -f "$DEST/.complete" ] && [ "$(cat "$DEST/.complete")" = "$WANT" ]; then exit 0; fi

WHEELS="$CACHE/runtime-wheels"
mkdir -p "$WHEELS"
if [ ! -f "$WHEELS/$WHEEL" ]; then
  log "fetching $PKG from PyPI (the inference engine)"
  # The wheel is tagged for CPython 3.11 but only its C libraries are used: ask for that tag
  # whatever python3 is here, so the same file (and hash) comes down everywhere.
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 -d "$WHEELS" "$PKG"
fi
got=$(sha256sum "$WHEELS/$WHEEL" | cut -d' ' -f1)
if [ "$got" != "$WANT" ]; then
  log "$WHEEL has SHA-256 $got, registry expects $WANT: refusing it"
  rm -f "$WHEELS/$WHEEL"
  exit 1
fi

WORK=$(mktemp -d "$CACHE/openvino-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
python3 - "$WHEELS/$WHEEL" "$WORK" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
libs = ["libopenvino.so.2641", "libopenvino_c.so.2641", "libopenvino_intel_cpu_plugin.so",
        "libopenvino_onnx_frontend.so.2641", "libtbb.so.12"]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("openvino/include/openvino/c/") and name.endswith(".h"):
            dest = os.path.join(out, "include", name[len("openvino/include/"):])
        elif name.startswith("openvino/libs/") and os.path.basename(name) in libs:
            dest = os.path.join(out, "lib", os.path.basename(name))
        elif ".dist-info/licenses/" in name:
            dest = os.path.join(out, "licenses", name.split(".dist-info/licenses/", 1)[1])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(z.read(name))
missing = [l for l in libs if not os.path.exists(os.path.join(out, "lib", l))]
if missing:
    sys.exit("setup-openvino: the wheel lacks " + ", ".join(missing))
PY
# The linker looks for libopenvino_c.so when told -lopenvino_c.
ln -s libopenvino_c.so.2641 "$WORK/lib/libopenvino_c.so"
rm -rf "$DEST"
mv "$WORK" "$DEST"
trap - EXIT
echo "$WANT" > "$DEST/.complete"
log "runtime ok: $DEST ($PKG, wheel $got)"
