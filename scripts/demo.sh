#!/usr/bin/env bash
# `make demo`: builds redact (release), makes a sample clip with a real face, runs
# pipelines/demo.json, verifies the receipt, and says where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product redact
BIN="$(swift build -c release --show-bin-path)/redact"
mkdir -p .cache/demo .cache/keys
[ -f .cache/demo/sample.mp4 ] || scripts/make-sample.sh .cache/faces/face0.jpg .cache/demo/sample.mp4
[ -f .cache/keys/demo.key ] || "$BIN" keygen -o .cache/keys/demo.key >/dev/null
"$BIN" run pipelines/demo.json --models models
OUT=out/demo/sample.redacted.mp4
echo
echo "input:    .cache/demo/sample.mp4"
echo "redacted: $OUT"
echo "receipt:  $OUT.receipt.json"
echo -n "verify:   "
"$BIN" verify "$OUT" --input .cache/demo/sample.mp4 --trusted-key .cache/keys/demo.key.pub
