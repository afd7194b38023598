#!/usr/bin/env bash
# CI recall gate: redact golden clips with `redact run`, then prove from the decoded pixels
# with `redact eval` that the ground-truth objects are redacted. Stops at the first clip that
# misses a gate and exits 1 (docs/eval.md).
#
# usage: pipelines/ci-recall-gate.sh MANIFEST.json
#
#   MANIFEST.json  an ordinary `redact run` manifest (docs/manifest.md) listing the golden clips,
#                  with the settings production uses. Each job's input X.mp4 has its ground truth
#                  beside it as X.gt.csv (frame,id,x,y,w,h,class,visible_fraction).
#
# environment (defaults in brackets):
#   REDACT              the redact executable [redact]
#   MIN_RECALL          per-class recall floor [0.995]
#   MAX_LEAK_FRAMES     leak frames allowed per class [0]
#   MAX_OVER_REDACTION  over-redaction ceiling, e.g. 0.02 [unset: not gated]
#   EVAL_CLASS          face, plate or all [all: every class in the ground truth]
#   OUT_DIR             where the JSON reports go [ci-eval]
#   KEY                 signing key for `redact run` [the manifest's signing_key, else a throwaway key]
#   REDACT_MODELS       model directory, as for redact itself
#
# needs: bash, jq
set -euo pipefail

if [[ $# -ne 1 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 64
fi
manifest=$1
REDACT=${REDACT:-redact}
MIN_RECALL=${MIN_RECALL:-0.995}
MAX_LEAK_FRAMES=${MAX_LEAK_FRAMES:-0}
EVAL_CLASS=${EVAL_CLASS:-all}
OUT_DIR=${OUT_DIR:-ci-eval}

command -v jq >/dev/null || { echo "ci-recall-gate: jq is required" >&2; exit 69; }
[[ -r $manifest ]] || { echo "ci-recall-gate: $manifest: no such file or not readable" >&2; exit 66; }
mkdir -p "$OUT_DIR"
manifest_dir=$(cd "$(dirname "$manifest")" && pwd)

# Paths in a manifest are relative to the manifest's directory (docs/manifest.md).
resolve() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$manifest_dir" "$1" ;;
    esac
}

# 1. Redact every golden clip, exactly as production would. --force: outputs left by an earlier
# gate run would otherwise be skipped as up to date (same version string, configuration and
# input) although they were made by another build; the journal goes with the reports.
run_args=(--force --journal "$OUT_DIR/run.journal.jsonl")
if [[ -n ${KEY:-} ]]; then
    run_args+=(--key "$KEY")
elif [[ $(jq -r '.signing_key // empty' "$manifest") == "" ]]; then
    key="$OUT_DIR/ci-throwaway.key"
    [[ -e $key ]] || "$REDACT" keygen -o "$key" >/dev/null
    run_args+=(--key "$key")
fi
echo "== redact run $manifest"
"$REDACT" run "$manifest" "${run_args[@]}"

# 2. Gate each output against its ground truth; stop at the first miss.
gates=(--min-recall "$MIN_RECALL" --max-leak-frames "$MAX_LEAK_FRAMES" --class "$EVAL_CLASS")
if [[ -n ${MAX_OVER_REDACTION:-} ]]; then
    gates+=(--max-over-redaction "$MAX_OVER_REDACTION")
fi
checked=0
while IFS=$'\t' read -r id input output; do
    input=$(resolve "$input")
    output=$(resolve "$output")
    gt="${input%.*}.gt.csv"
    report="$OUT_DIR/$id.eval.json"
    echo "== redact eval $id"
    status=0
    "$REDACT" eval "$input" "$output" "$gt" "${gates[@]}" --json >"$report" </dev/null || status=$?
    if [[ -s $report ]]; then
        jq -r '.classes | to_entries[] |
               "   \(.key): recall \(.value.recall // "-") (\(.value.redacted)/\(.value.object_frames)), leak frames \(.value.leak_frames), longest run \(.value.longest_leak_run)"' "$report"
        jq -r '"   over-redaction \(.over_redaction.fraction // "-"); frames \(.frames.original) -> \(.frames.redacted)"' "$report"
    fi
    if [[ $status -eq 1 ]]; then
        echo "ci-recall-gate: FAILED on $id (report: $report)" >&2
        exit 1
    elif [[ $status -ne 0 ]]; then
        echo "ci-recall-gate: redact eval could not score $id (exit $status)" >&2
        exit "$status"
    fi
    checked=$((checked + 1))
done < <(jq -r '.jobs[] | [.id, .input, .output] | @tsv' "$manifest")

echo "ci-recall-gate: all $checked clips pass (min recall $MIN_RECALL, max leak frames $MAX_LEAK_FRAMES, class $EVAL_CLASS)"
