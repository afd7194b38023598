"""Which of our boxes caused the over-redaction the benchmark reports.

Recomputes score.py's over-redaction cells (changed 32x32 cells outside the 30 %-dilated
ground-truth boxes) for one dev clip and attributes each changed cell to the first of our boxes
that touches it: false-positive or true track (a track is "true" when at least half its boxes
overlap a ground-truth box), by box source (detected, flow, interpolated, extended). Prints the
totals and the tracks that changed most cells.

usage: python3 scripts/over_redaction_by_track.py CLIP OUTDIR [face_padding] [plate_padding]
  OUTDIR holds CLIP.out.mp4 and CLIP.tracks.json (a run with the job key "tracks");
  needs ../shared/bench/score.py and its Python packages (numpy, opencv-python-headless).
"""
import sys, json, math, collections
import os
BENCH = os.environ.get('BENCH_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'bench'))
sys.path.insert(0, BENCH)
import numpy as np, cv2
import score as S
clip, d = sys.argv[1], sys.argv[2]
pad = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
ppad = float(sys.argv[4]) if len(sys.argv) > 4 else 0.35
orig = f'{BENCH}/dev/{clip}.mp4'
fo, to, po = S.decode_gray(orig)
H, W = fo.shape[1:]
fr, tr, pr = S.decode_gray(f'{d}/{clip}.out.mp4', size=(W, H))
mapping, _ = S.align(to, tr, len(fo), len(fr), fo, fr)
rows = S.read_gt(f'{BENCH}/dev/{clip}.gt.csv')
gt = collections.defaultdict(list)
for r in rows: gt[r[0]].append(r)
T = json.load(open(f'{d}/{clip}.tracks.json'))
boxes = collections.defaultdict(list)
for t in T['tracks']:
    for b in t['boxes']:
        boxes[b['frame']].append((t['id'], t['class'], b['x'], b['y'], b['w'], b['h'], b['source']))
def iou(a, b):
    ax0, ay0, aw, ah = a; bx0, by0, bw, bh = b
    ix = max(0, min(ax0+aw, bx0+bw) - max(ax0, bx0)); iy = max(0, min(ay0+ah, by0+bh) - max(ay0, by0))
    i = ix*iy; u = aw*ah + bw*bh - i
    return i/u if u > 0 else 0
# which tracks ever match GT
track_match = collections.Counter(); track_n = collections.Counter()
for f, bs in boxes.items():
    for (tid, cls, x, y, w, h, src) in bs:
        track_n[tid] += 1
        for r in gt.get(f, []):
            if iou((x, y, w, h), (r[2], r[3], r[4], r[5])) > 0.1: track_match[tid] += 1; break
C = S.CELL
cause = collections.Counter(); per_track = collections.Counter(); tested_total = changed_total = 0
for i in range(len(fo)):
    j = mapping[i]
    if j < 0: continue
    a, b = fo[i], fr[j]
    ny, nx = H // C, W // C
    excl = np.zeros((ny, nx), bool)
    for r in gt.get(i+1, []):
        x, y, w, h = r[2], r[3], r[4], r[5]
        cx, cy = x + w/2, y + h/2; w2, h2 = w*S.DILATE/2, h*S.DILATE/2
        x0, x1 = int(math.floor((cx-w2)/C)), int(math.floor((cx+w2)/C)); y0, y1 = int(math.floor((cy-h2)/C)), int(math.floor((cy+h2)/C))
        excl[max(0, y0):max(0, y1+1), max(0, x0):max(0, x1+1)] = True
    da = S.dog(a, S.CSIG1, S.CSIG2)[:ny*C, :nx*C].reshape(ny, C, nx, C); db = S.dog(b, S.CSIG1, S.CSIG2)[:ny*C, :nx*C].reshape(ny, C, nx, C)
    da = da - da.mean(axis=(1, 3), keepdims=True); db = db - db.mean(axis=(1, 3), keepdims=True)
    sab = (da*db).mean(axis=(1, 3)); saa = (da*da).mean(axis=(1, 3)); sbb = (db*db).mean(axis=(1, 3))
    rho = np.where((saa > 1e-6) & (sbb > 1e-6), sab/np.sqrt(saa*sbb+1e-12), 0.0)
    la = cv2.GaussianBlur(a.astype(np.float32), (0, 0), S.CSIG1)[:ny*C, :nx*C]; lb = cv2.GaussianBlur(b.astype(np.float32), (0, 0), S.CSIG1)[:ny*C, :nx*C]
    mad = np.abs(la-lb).reshape(ny, C, nx, C).mean(axis=(1, 3))
    changed = np.where(np.sqrt(saa) >= S.EMIN_CELL, rho < S.TAU_CELL, mad > S.DELTA_CELL) & ~excl
    tested_total += int((~excl).sum()); changed_total += int(changed.sum())
    for (cy, cx) in zip(*np.nonzero(changed)):
        x0, y0 = cx*C, cy*C
        hit = None
        for (tid, cls, x, y, w, h, src) in boxes.get(i+1, []):
            p = ppad if cls == 'plate' else pad
            bx, by, bw, bh = x - w*p, y - h*p, w*(1+2*p), h*(1+2*p)
            if bx < x0+C and bx+bw > x0 and by < y0+C and by+bh > y0:
                fp = track_match[tid] < 0.5*track_n[tid]
                hit = (('FP-track ' if fp else 'true-track ') + cls + ' ' + src, tid)
                break
        cause[hit[0] if hit else 'unexplained'] += 1
        if hit: per_track[hit[1]] += 1
print(f'{clip}: over-redaction {changed_total/tested_total:.4f} ({changed_total}/{tested_total})')
for k, v in cause.most_common(): print(f'  {k:40s} {v:7d} {v/tested_total:.4f}')
# False-positive cells by how many detections their track had: weak one-off detections and
# long-lived false tracks call for different remedies.
by_hits = collections.Counter()
for tid, v in per_track.items():
    if track_match[tid] < 0.5*track_n[tid]:
        t = [t for t in T['tracks'] if t['id'] == tid][0]
        n = sum(1 for b in t['boxes'] if b['source'] == 'detected')
        by_hits['1' if n == 1 else '2-4' if n <= 4 else '5-19' if n < 20 else '20+'] += v
for k in ('1', '2-4', '5-19', '20+'):
    if by_hits[k]: print(f'  FP cells, tracks with {k:4s} detections {by_hits[k]:7d} {by_hits[k]/tested_total:.4f}')
for tid, v in per_track.most_common(6):
    t = [t for t in T['tracks'] if t['id'] == tid][0]
    srcs = collections.Counter(b['source'] for b in t['boxes'])
    ws = [b['w'] for b in t['boxes']]
    print(f'  track {tid} {t["class"]} frames {t["first_frame"]}-{t["last_frame"]} cells {v} gt-match {track_match[tid]}/{track_n[tid]} w {min(ws):.0f}-{max(ws):.0f} {dict(srcs)}')
