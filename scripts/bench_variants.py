#!/usr/bin/env python3
"""Face recall on the dev clips played backwards, mirrored and shifted (and, opt-in, faster, dimmer, grey or noisy): cases the dev clips do not hold.

    scripts/bench_variants.py REDACT_BIN [--out DIR] [--only NAME ...] [--kinds KIND ...] [--defaults JSON]

The benchmark's holdout has other seeds and other faces in the same kinds of clips. A clip played
backwards turns every face that leaves into one that enters (the tracker and the detection
schedule are not symmetric in time: a face is followed forwards, and only extended backwards
over the frames still held); a mirrored clip moves every face and texture to the other side
(the detector's scores move). Both keep the ground truth exact:

  rev   ffmpeg `reverse` (and `areverse`); ground-truth frame f becomes N + 1 - f;
  flip  ffmpeg `hflip` (audio copied); x becomes W - x - w (displayed width W);
  shift the first frame dropped (ffmpeg `trim=start_frame=1`, audio copied); frame f becomes
        f - 1: every face is the same, but the detection schedule (a whole-frame run every
        other frame, windows between) falls on the other frames;
  fast  every other frame dropped (ffmpeg `select`, audio copied): frame 2k - 1 becomes k, and
        every face moves twice as far between frames (not in the default kinds: faster than
        the clips the benchmark holds).
  dim   contrast 0.6, brightness -0.08, saturation 0.6 (ffmpeg `eq`, audio copied; not in the
        default kinds): every face scores lower, as a face harder for CenterFace than the
        benchmark's would (a darker scene, another face).
  grey  colour removed (ffmpeg `hue=s=0`; not in the default kinds): as cameras record at night
        in infrared.
  noisy temporal noise of strength 12 (ffmpeg `noise`, its fixed seed; not in the default
        kinds): as a sensor at night gives. The scorer compares the output with this noisy
        input, so re-encoding the noise may count as over-redaction.

dev05 (variable frame rate) is left out: reversing its timestamps is not the same clip. Each
variant is encoded once (libx264 veryfast CRF 18) into DIR (default out/variants), redacted with
`REDACT_BIN run` (default configuration unless `--defaults` gives the manifest's `defaults`, e.g.
'{"detector": {"every": 3}}'; one manifest, key .cache/keys/bench.key), and scored
with ../shared/bench/score.py; one line per variant: face recall, leak frames, longest leak,
over-redaction, and the face object-frames missed (frame, id, size, visible fraction).
Needs a Python with numpy and cv2 (the bench's .cache/benchvenv).
"""
import argparse
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, '..', 'shared', 'bench')
DEV = os.path.join(BENCH, 'dev')


def video_stream_value(path, entry, *extra):
    """One integer field of the first video stream (ffprobe prints side data after it: dev06)."""
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v:0', *extra, '-show_entries', f'stream={entry}',
                          '-of', 'csv=p=0', path], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().split(',')[0])


def make_variant(name, kind, out_dir):
    src = os.path.join(DEV, name + '.mp4')
    video = os.path.join(out_dir, f'{name}.{kind}.mp4')
    gt = os.path.join(out_dir, f'{name}.{kind}.gt.csv')
    if not os.path.exists(video):
        vf = {'rev': 'reverse', 'flip': 'hflip', 'shift': 'trim=start_frame=1,setpts=PTS-STARTPTS',
              'fast': 'select=not(mod(n\\,2)),setpts=N/FRAME_RATE/TB',
              'dim': 'eq=contrast=0.6:brightness=-0.08:saturation=0.6',
              'grey': 'hue=s=0',
              'noisy': 'noise=alls=12:allf=t'}[kind]
        audio = ['-af', 'areverse'] if kind == 'rev' else ['-c:a', 'copy']
        # ffmpeg applies the display matrix (dev06), so the variant is stored as displayed.
        subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', src, '-map', '0', '-vf', vf, '-c:v', 'libx264', '-preset',
                        'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p', *audio, video + '.tmp.mp4'], check=True)
        os.replace(video + '.tmp.mp4', video)
    n, width = video_stream_value(src, 'nb_read_packets', '-count_packets'), video_stream_value(video, 'width')
    with open(os.path.join(DEV, name + '.gt.csv'), newline='') as f:
        rows = list(csv.reader(f))
    with open(gt, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(rows[0])
        for r in rows[1:]:
            r = list(r)
            if kind == 'rev':
                r[0] = str(n + 1 - int(r[0]))
            elif kind == 'flip':
                r[2] = '%.1f' % (width - float(r[2]) - float(r[4]))
            elif kind == 'shift':
                if int(r[0]) == 1:
                    continue
                r[0] = str(int(r[0]) - 1)
            elif kind == 'fast':
                if int(r[0]) % 2 == 0:
                    continue
                r[0] = str((int(r[0]) + 1) // 2)
            w.writerow(r)
    return video, gt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('redact')
    ap.add_argument('--out', default=os.path.join(ROOT, 'out', 'variants'))
    ap.add_argument('--only', nargs='*', default=None, help='clip names (e.g. dev03_night_city)')
    ap.add_argument('--kinds', nargs='*', default=['rev', 'flip', 'shift'], choices=['rev', 'flip', 'shift', 'fast', 'dim', 'grey', 'noisy'])
    ap.add_argument('--defaults', type=json.loads, default=None,
                    help='the manifest\'s "defaults" object, as JSON (docs/manifest.md)')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = sorted(f[:-4] for f in os.listdir(DEV) if f.endswith('.mp4') and not f.startswith('dev05'))
    if args.only:
        names = [n for n in names if n in args.only]
    variants = []
    for name in names:
        for kind in args.kinds:
            video, gt = make_variant(name, kind, args.out)
            variants.append((f'{name}.{kind}', video, gt, os.path.join(args.out, f'{name}.{kind}.redacted.mp4')))
    key = os.path.join(ROOT, '.cache', 'keys', 'bench.key')
    if not os.path.exists(key):
        os.makedirs(os.path.dirname(key), exist_ok=True)
        subprocess.run([args.redact, 'keygen', '-o', key], check=True, stdout=subprocess.DEVNULL)
    manifest = os.path.join(args.out, 'manifest.json')
    with open(manifest, 'w') as f:
        top = {'version': 1, 'signing_key': key}
        if args.defaults is not None:
            top['defaults'] = args.defaults
        top['jobs'] = [{'id': v[0].replace('.', '_'), 'input': v[1], 'output': v[3]} for v in variants]
        json.dump(top, f, indent=1)
    subprocess.run([args.redact, 'run', manifest, '--force', '--models', os.path.join(ROOT, 'models')], check=True)
    sys.path.insert(0, BENCH)
    import score  # the benchmark's scorer
    for label, video, gt, out in variants:
        r = score.score(video, out, gt, details=True)
        face = r['classes']['face']
        missed = [(d[0], d[1], round(d[3]), d[4]) for d in r['_object_details'] if d[2] == 'face' and d[5] == 0]
        print('%-30s face recall %.4f  leak frames %d  longest %d  over-redaction %.5f  frames match %s  missed %s' % (
            label, face['recall'], face['leak_frames'], face['longest_leak_run'], r['over_redaction']['fraction'],
            r['timing']['frames_match'], missed[:12]), flush=True)


if __name__ == '__main__':
    main()
