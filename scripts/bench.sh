#!/usr/bin/env bash
# `make bench`: speed (and, when possible, quality) of `redact run` next to the ffmpeg floor.
#
#   scripts/bench.sh [CLIP.mp4 ...]
#
# Clips: the arguments; else every ../shared/bench/dev/*.mp4 if that directory exists; else the
# demo sample .cache/demo/sample.mp4 (made with scripts/make-sample.sh if missing).
#
# For each clip, in one run and one after the other on the same machine:
#   1. the floor: ffmpeg decode + libx264 encode (same preset and CRF as redact's defaults), audio copied;
#   2. `redact run` on a generated one-job manifest (release build, key .cache/keys/bench.key);
#   3. `deface`, if it is on PATH (`deface IN -o OUT --keep-audio --backend opencv`).
# Wall time and peak RSS come from GNU time (`/usr/bin/time -f '%e %M'`); without it, bash's
# `time` gives wall time only. fps = frames (ffprobe -count_packets) / wall seconds.
#
# Scoring: if ../shared/bench/score.py, the clip's NAME.gt.csv and a Python with numpy + cv2 exist
# (.cache/benchvenv first, then python3), every redact output is scored with
# `score.py IN OUT GT --audio-passthrough --json`. BENCH_SCORE=1 creates .cache/benchvenv when no
# such Python exists; BENCH_SCORE=0 skips scoring.
#
# Everything is written under out/bench/; all results go to out/bench/results.json.
#
# Environment:
#   BENCH_SCRATCH_PATH  build with `swift build --scratch-path DIR` (default: SwiftPM's .build)
#   REDACT_BIN          use this redact binary instead of building one
#   BENCH_SCORE         see above
#   DEFACE_ARGS         extra deface arguments (default: --keep-audio --backend opencv)
#   BENCH_REPEAT        run each of the three N times in a row per clip and report the median wall
#                       time and the highest peak RSS (default 1; these machines are noisy)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/out/bench"
SHARED_BENCH="$ROOT/../shared/bench"
mkdir -p "$OUT"

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in ffmpeg ffprobe python3; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done

# --- clips --------------------------------------------------------------------------------
CLIPS=()
if [ "$#" -gt 0 ]; then
  for c in "$@"; do
    [ -f "$c" ] || die "$c: no such file"
    CLIPS+=("$(cd "$(dirname "$c")" && pwd)/$(basename "$c")")
  done
elif [ -d "$SHARED_BENCH/dev" ] && compgen -G "$SHARED_BENCH/dev/*.mp4" >/dev/null; then
  for c in "$SHARED_BENCH"/dev/*.mp4; do CLIPS+=("$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"); done
else
  if [ ! -f .cache/demo/sample.mp4 ]; then
    [ -f .cache/faces/face0.jpg ] || die "no clips: no ../shared/bench/dev and no .cache/demo/sample.mp4 (run make setup)"
    scripts/make-sample.sh .cache/faces/face0.jpg .cache/demo/sample.mp4
  fi
  CLIPS+=("$ROOT/.cache/demo/sample.mp4")
fi

# --- GNU time (as setup.sh installs Debian packages) --------------------------------------
GNU_TIME=""
if [ ! -x /usr/bin/time ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  log "installing the Debian package 'time' (for peak RSS)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null; }; then
    log "could not install 'time': measuring wall time with bash's time, without peak RSS"
  fi
fi
[ -x /usr/bin/time ] && GNU_TIME=/usr/bin/time

# Runs "$@" with stdout+stderr to $LOGFILE; sets WALL (seconds) and RSS_KB (or "" without GNU time).
# Returns the command's status.
measure() {
  local tfile="$OUT/.time.$$" status=0
  WALL="" RSS_KB=""
  if [ -n "$GNU_TIME" ]; then
    "$GNU_TIME" -f '%e %M' -o "$tfile" "$@" >"$LOGFILE" 2>&1 || status=$?
    # GNU time writes "Command exited with non-zero status N" before the numbers on failure.
    read -r WALL RSS_KB < <(tail -n 1 "$tfile")
    rm -f "$tfile"
  else
    local TIMEFORMAT='%R'
    { time "$@" >"$LOGFILE" 2>&1 || status=$?; } 2>"$tfile"
    WALL=$(tail -n 1 "$tfile")
    rm -f "$tfile"
  fi
  return "$status"
}

REPEAT=${BENCH_REPEAT:-1}
case "$REPEAT" in ''|*[!0-9]*|0) die "BENCH_REPEAT must be a positive integer, not '$REPEAT'";; esac

# measure, $REPEAT times: WALL becomes the median wall time, RSS_KB the highest peak RSS. Returns
# the first failing status (the remaining repeats are skipped).
measure_repeated() {
  local walls=() rss=0 i status=0
  for ((i = 0; i < REPEAT; i++)); do
    measure "$@" || { status=$?; break; }
    walls+=("$WALL")
    if [ -n "$RSS_KB" ] && [ "$RSS_KB" -gt "$rss" ]; then rss=$RSS_KB; fi
  done
  if [ "$status" = 0 ]; then
    WALL=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    [ "$rss" -gt 0 ] && RSS_KB=$rss
  fi
  return "$status"
}

# --- redact binary and key ----------------------------------------------------------------
if [ -n "${REDACT_BIN:-}" ]; then
  BIN="$REDACT_BIN"
else
  SCRATCH=()
  [ -n "${BENCH_SCRATCH_PATH:-}" ] && SCRATCH=(--scratch-path "$BENCH_SCRATCH_PATH")
  log "building redact (release)"
  swift build -c release --product redact "${SCRATCH[@]}" >&2
  BIN="$(swift build -c release --show-bin-path "${SCRATCH[@]}")/redact"
fi
[ -x "$BIN" ] || die "$BIN: not an executable"
mkdir -p .cache/keys
KEY="$ROOT/.cache/keys/bench.key"
[ -f "$KEY" ] || "$BIN" keygen -o "$KEY" >/dev/null

# --- scorer -------------------------------------------------------------------------------
SCORE_PY=""
SCORER="$SHARED_BENCH/score.py"
if [ "${BENCH_SCORE:-}" != "0" ] && [ -f "$SCORER" ]; then
  has_cv() { [ -x "$1" ] && "$1" -c 'import numpy, cv2' >/dev/null 2>&1; }
  VENV="$ROOT/.cache/benchvenv"
  if has_cv "$VENV/bin/python"; then
    SCORE_PY="$VENV/bin/python"
  elif has_cv "$(command -v python3)"; then
    SCORE_PY="$(command -v python3)"
  elif [ "${BENCH_SCORE:-}" = "1" ]; then
    log "creating $VENV (numpy, opencv-python-headless) for score.py"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet numpy==2.4.6 opencv-python-headless==5.0.0.93
    has_cv "$VENV/bin/python" || die "$VENV: numpy/cv2 still not importable"
    SCORE_PY="$VENV/bin/python"
  else
    log "no Python with numpy + cv2: not scoring (BENCH_SCORE=1 creates .cache/benchvenv)"
  fi
fi

DEFACE=""
command -v deface >/dev/null && DEFACE=$(command -v deface)
read -r -a DEFACE_EXTRA <<<"${DEFACE_ARGS:---keep-audio --backend opencv}"

# --- runs ---------------------------------------------------------------------------------
ROWS="$OUT/.rows.$$.tsv"
: >"$ROWS"
trap 'rm -f "$ROWS" "$OUT/.time.$$"' EXIT
failures=0
for IN in "${CLIPS[@]}"; do
  NAME=$(basename "$IN" .mp4)
  ID=$(printf '%s' "$NAME" | tr -c 'A-Za-z0-9._-' '_' | sed 's/^[^A-Za-z0-9]/x/' | cut -c1-128)
  DIR="$OUT/$NAME"
  rm -rf "$DIR" && mkdir -p "$DIR"
  # default=nw=1:nk=1, not csv: csv adds a field (a trailing comma) for display-matrix side data.
  FRAMES=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets \
    -of default=nw=1:nk=1 "$IN" | grep -m 1 -E '^[0-9]+$' || true)
  log "$NAME: $FRAMES frames"

  # 1. ffmpeg floor
  LOGFILE="$DIR/ffmpeg.log"
  if measure_repeated ffmpeg -nostdin -y -i "$IN" -c:v libx264 -preset veryfast -crf 18 -c:a copy "$DIR/ffmpeg.mp4"; then
    FF_WALL=$WALL FF_RSS=$RSS_KB FF_OK=1
  else
    FF_WALL=$WALL FF_RSS=$RSS_KB FF_OK=0
    log "$NAME: ffmpeg failed (see $LOGFILE)"
  fi
  log "$NAME: ffmpeg ${FF_WALL}s"

  # 2. redact run on a one-job manifest
  OUTPUT="$DIR/$NAME.redacted.mp4"
  python3 - "$DIR/manifest.json" "$ID" "$IN" "$OUTPUT" "$KEY" <<'PY'
import json, sys
path, job_id, inp, out, key = sys.argv[1:]
with open(path, "w") as f:
    json.dump({"version": 1, "signing_key": key,
               "jobs": [{"id": job_id, "input": inp, "output": out}]}, f, indent=2)
    f.write("\n")
PY
  LOGFILE="$DIR/redact.log"
  RD_OK=1
  # --force: with BENCH_REPEAT, the later runs must not find the job up to date and skip it.
  if ! measure_repeated "$BIN" run "$DIR/manifest.json" --models "$ROOT/models" --json --force; then
    RD_OK=0
    failures=$((failures + 1))
    log "$NAME: redact failed: $(grep -v '^{' "$LOGFILE" | tail -n 1) (see $LOGFILE)"
  fi
  RD_WALL=$WALL RD_RSS=$RSS_KB
  RECEIPT_OK=0
  if [ "$RD_OK" = 1 ] && "$BIN" verify "$OUTPUT" --input "$IN" --trusted-key "$KEY.pub" >"$DIR/verify.log" 2>&1; then
    RECEIPT_OK=1
  fi
  log "$NAME: redact ${RD_WALL}s, peak RSS ${RD_RSS:-?} KB, receipt ok: $RECEIPT_OK"

  # 3. deface
  DF_WALL="" DF_OK=""
  if [ -n "$DEFACE" ]; then
    LOGFILE="$DIR/deface.log"
    if measure_repeated "$DEFACE" "$IN" -o "$DIR/$NAME.deface.mp4" "${DEFACE_EXTRA[@]}"; then DF_OK=1; else DF_OK=0; fi
    DF_WALL=$WALL
    log "$NAME: deface ${DF_WALL}s"
  fi

  # 4. score
  SCORE_FILE=""
  GT="${IN%.mp4}.gt.csv"
  if [ -n "$SCORE_PY" ] && [ "$RD_OK" = 1 ] && [ -f "$GT" ]; then
    SCORE_FILE="$DIR/score.json"
    if ! "$SCORE_PY" "$SCORER" "$IN" "$OUTPUT" "$GT" --audio-passthrough --json >"$SCORE_FILE" 2>"$DIR/score.log"; then
      log "$NAME: score.py failed (see $DIR/score.log)"
      SCORE_FILE=""
    fi
  fi

  printf '%s\n' "$(printf '%s\t' "$NAME" "$IN" "$FRAMES" "$FF_OK" "$FF_WALL" "$FF_RSS" "$RD_OK" "$RD_WALL" "$RD_RSS" \
    "$RECEIPT_OK" "$DIR/redact.log" "$DF_OK" "$DF_WALL" "$SCORE_FILE")" >>"$ROWS"
done

# --- table and results.json ---------------------------------------------------------------
python3 - "$ROWS" "$OUT/results.json" "$BIN" "$GNU_TIME" <<'PY'
import datetime, json, os, subprocess, sys

rows_path, results_path, binary, gnu_time = sys.argv[1:]

def num(s, kind=float):
    try:
        return kind(s)
    except (TypeError, ValueError):
        return None

def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return None

clips = []
for line in open(rows_path):
    f = line.rstrip("\n").split("\t")
    (name, inp, frames, ff_ok, ff_wall, ff_rss, rd_ok, rd_wall, rd_rss, receipt_ok, rd_log, df_ok, df_wall, score_file) = f[:14]
    frames = num(frames, int)
    c = {"clip": name, "input": inp, "frames": frames}
    def speed(ok, wall, rss=None):
        wall = num(wall)
        d = {"ok": ok == "1", "seconds": wall,
             "fps": round(frames / wall, 2) if frames and wall and ok == "1" else None}
        if rss is not None:
            kb = num(rss, int)
            # GNU time's %M is in KiB. Both units, since a bound such as "600 MB" may mean either.
            d["peak_rss_mib"] = round(kb / 1024, 1) if kb else None
            d["peak_rss_mb"] = round(kb * 1024 / 1e6, 1) if kb else None
        return d
    c["ffmpeg"] = speed(ff_ok, ff_wall, ff_rss)
    c["redact"] = speed(rd_ok, rd_wall, rd_rss)
    c["redact"]["receipt_verified"] = receipt_ok == "1"
    # The job's own report (one JSON event per line).
    for ev in open(rd_log, errors="replace"):
        if ev.startswith("{"):
            try:
                e = json.loads(ev)
            except ValueError:
                continue
            if e.get("event") == "job_done":
                c["redact"]["counts"] = e.get("counts")
            elif e.get("event") == "job_failed":
                c["redact"]["error"] = e.get("error")
                c["redact"]["exit_code"] = e.get("exit_code")
    if c["redact"]["fps"] and c["ffmpeg"]["fps"]:
        c["ratio_redact_ffmpeg"] = round(c["redact"]["fps"] / c["ffmpeg"]["fps"], 3)
    if df_ok:
        c["deface"] = speed(df_ok, df_wall)
    if score_file:
        s = json.load(open(score_file))
        face = s.get("classes", {}).get("face", {})
        plate = s.get("classes", {}).get("plate", {})
        c["score"] = {
            "face_recall": face.get("recall"),
            "face_object_frames": face.get("object_frames"),
            "face_redacted": face.get("redacted"),
            "face_leak_frames": face.get("leak_frames"),
            "face_longest_leak_run": face.get("longest_leak_run"),
            "plate_recall": plate.get("recall"),
            "plate_object_frames": plate.get("object_frames"),
            "plate_redacted": plate.get("redacted"),
            "over_redaction": s.get("over_redaction", {}).get("fraction"),
            "frames_match": s.get("timing", {}).get("frames_match"),
            "audio_ok": s.get("audio", {}).get("passthrough_ok"),
            "audio_streams": f'{s.get("audio", {}).get("streams_original")}->{s.get("audio", {}).get("streams_output")}',
            "full": s,
        }
    clips.append(c)

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))

have_deface = any("deface" in c for c in clips)

def rss(mib, mb):
    return "-" if mib is None else f"{mib:.1f} ({mb:.1f})"

header = ["clip", "frames", "ffmpeg fps", "redact fps", "redact/ffmpeg", "redact peak RSS MiB (MB)"] + (["deface fps", "redact/deface"] if have_deface else [])
rows = []
for c in clips:
    r = [c["clip"], fmt(c["frames"], "d"), fmt(c["ffmpeg"]["fps"], ".2f"), fmt(c["redact"]["fps"], ".2f"),
         fmt(c.get("ratio_redact_ffmpeg"), ".3f"), rss(c["redact"].get("peak_rss_mib"), c["redact"].get("peak_rss_mb"))]
    if have_deface:
        df = c.get("deface", {}).get("fps")
        c["ratio_redact_deface"] = round(c["redact"]["fps"] / df, 2) if df and c["redact"]["fps"] else None
        r += [fmt(df, ".2f"), fmt(c["ratio_redact_deface"], ".2f")]
    rows.append(r)

def total_fps(key):
    ok = [c for c in clips if c[key]["fps"]]
    if not ok:
        return None
    return sum(c["frames"] for c in ok) / sum(c[key]["seconds"] for c in ok)

summary = {"frames": sum(c["frames"] or 0 for c in clips), "ffmpeg_fps": total_fps("ffmpeg"), "redact_fps": total_fps("redact"),
           "redact_max_peak_rss_mib": max((c["redact"].get("peak_rss_mib") or 0 for c in clips), default=None) or None,
           "redact_max_peak_rss_mb": max((c["redact"].get("peak_rss_mb") or 0 for c in clips), default=None) or None,
           "redact_failures": sum(1 for c in clips if not c["redact"]["ok"])}
if summary["ffmpeg_fps"] and summary["redact_fps"]:
    summary["ratio_redact_ffmpeg"] = summary["redact_fps"] / summary["ffmpeg_fps"]
if have_deface:
    ok = [c for c in clips if c.get("deface", {}).get("fps")]
    summary["deface_fps"] = sum(c["frames"] for c in ok) / sum(c["deface"]["seconds"] for c in ok) if ok else None
if len(clips) > 1:
    r = ["all", fmt(summary["frames"], "d"), fmt(summary["ffmpeg_fps"], ".2f"), fmt(summary["redact_fps"], ".2f"),
         fmt(summary.get("ratio_redact_ffmpeg"), ".3f"), rss(summary["redact_max_peak_rss_mib"], summary["redact_max_peak_rss_mb"]) + " max"]
    if have_deface:
        df = summary.get("deface_fps")
        summary["ratio_redact_deface"] = summary["redact_fps"] / df if df and summary["redact_fps"] else None
        r += [fmt(df, ".2f"), fmt(summary["ratio_redact_deface"], ".2f")]
    rows.append(r)
print()
table(header, rows)
if not gnu_time:
    print("(no GNU time: peak RSS not measured)")

scored = [c for c in clips if "score" in c]
if scored:
    header = ["clip", "face recall", "face leak frames", "longest face leak", "plate recall", "over-redaction", "frames match", "audio OK"]
    rows = []
    for c in scored:
        s = c["score"]
        rows.append([c["clip"], fmt(s["face_recall"], ".4f"), fmt(s["face_leak_frames"], "d"), fmt(s["face_longest_leak_run"], "d"),
                     fmt(s["plate_recall"], ".4f"), fmt(s["over_redaction"], ".4f"), str(s["frames_match"]),
                     f'{s["audio_ok"]} ({s["audio_streams"]})'])
    def pooled(cls):
        n = sum(c["score"][f"{cls}_object_frames"] or 0 for c in scored)
        return sum(c["score"][f"{cls}_redacted"] or 0 for c in scored) / n if n else None
    summary["face_recall"] = pooled("face")
    summary["plate_recall"] = pooled("plate")
    summary["face_leak_frames"] = sum(c["score"]["face_leak_frames"] or 0 for c in scored)
    summary["face_longest_leak_run"] = max(c["score"]["face_longest_leak_run"] or 0 for c in scored)
    summary["frames_match"] = f'{sum(1 for c in scored if c["score"]["frames_match"])}/{len(scored)}'
    summary["audio_ok"] = f'{sum(1 for c in scored if c["score"]["audio_ok"])}/{len(scored)}'
    if len(scored) > 1:
        rows.append(["all", fmt(summary["face_recall"], ".4f"), fmt(summary["face_leak_frames"], "d"),
                     fmt(summary["face_longest_leak_run"], "d"), fmt(summary["plate_recall"], ".4f"), "",
                     summary["frames_match"], summary["audio_ok"]])
    print()
    table(header, rows)

failed = [c for c in clips if not c["redact"]["ok"]]
for c in failed:
    print(f'redact failed on {c["clip"]}: {c["redact"].get("error", "see its redact.log")}')

git = run("git", "-C", os.getcwd(), "rev-parse", "HEAD")
dirty = run("git", "-C", os.getcwd(), "status", "--porcelain", "--untracked-files=no")
result = {
    "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
    "redact": {"binary": binary, "version": run(binary, "--version"), "git_commit": git, "git_dirty": bool(dirty)},
    "ffmpeg_version": (run("ffmpeg", "-version") or "").split("\n")[0],
    "ffmpeg_floor_command": "ffmpeg -nostdin -y -i IN -c:v libx264 -preset veryfast -crf 18 -c:a copy OUT",
    "peak_rss_measured": bool(gnu_time),
    "summary": summary,
    "clips": clips,
}
tmp = results_path + ".partial"
with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
os.replace(tmp, results_path)
print(f"\nresults: {os.path.relpath(results_path)}")
PY

if [ "$failures" -gt 0 ]; then
  log "$failures clip(s) failed in redact"
  exit 1
fi
