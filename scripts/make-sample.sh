#!/usr/bin/env bash
# Makes the demo clip: a real face photograph (from .cache/faces, see scripts/setup.sh)
# moving across an ffmpeg test pattern, 1280x720 at 30 fps, with a 440 Hz tone as audio.
set -euo pipefail
face=${1:?face image}
out=${2:?output mp4}
mkdir -p "$(dirname "$out")"
ffmpeg -nostdin -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=6" \
  -loop 1 -framerate 30 -i "$face" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=6" \
  -filter_complex "[1:v]scale=180:180,format=yuv420p[f];[0:v][f]overlay=x='80+t*170':y='260+40*sin(t*2)':shortest=1[v]" \
  -map "[v]" -map 2:a -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 128k -t 6 "$out"
