#!/usr/bin/env python3
"""Decode every STEP-th frame (0-based index % STEP == 0, i.e. GT frames 1, 4, 7, ...) of each dev
clip in display orientation (ffmpeg autorotation, -fps_mode passthrough) as BGR, save
frames/NAME.npy, and write frames/gt.json with the plate GT rows of those frames, each flagged
'low_detail' exactly as shared/bench/score.py does (band-pass energy of the original grey patch,
central 80 %, < 3.0: the scorer reports such objects but does not score them)."""
import json, os, subprocess, sys, glob
import numpy as np, cv2
cv2.setNumThreads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbdet
sys.path.insert(0, dbdet.BENCH_DIR)
import score as S   # reuse the scorer's constants and band-pass

DEV = os.path.join(dbdet.BENCH_DIR, 'dev')
OUT = os.path.join(dbdet.WORK_DIR, 'frames')
STEP = 3

def decode(path, W, H, fmt, ch):
    cmd = ['ffmpeg', '-nostdin', '-v', 'error', '-threads', '1', '-i', path, '-map', '0:v:0', '-an',
           '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', fmt, '-']
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    n = W * H * ch
    frames, i = [], 0
    while True:
        buf = p.stdout.read(n)
        if len(buf) < n:
            break
        if i % STEP == 0:
            frames.append(np.frombuffer(buf, np.uint8).reshape(H, W, ch) if ch > 1 else np.frombuffer(buf, np.uint8).reshape(H, W))
        i += 1
    p.wait()
    return np.stack(frames), i

def main():
    os.makedirs(OUT, exist_ok=True)
    gt_all = {}
    for mp4 in sorted(glob.glob(f'{DEV}/*.mp4')):
        name = os.path.basename(mp4)[:-4]
        meta = json.load(open(f'{DEV}/{name}.json'))
        W, H = meta['width'], meta['height']
        bgr, n = decode(mp4, W, H, 'bgr24', 3)
        gray, _ = decode(mp4, W, H, 'gray', 1)
        np.save(f'{OUT}/{name}.npy', bgr)
        frames = [1 + STEP * k for k in range(len(bgr))]
        rows = [r for r in S.read_gt(f'{DEV}/{name}.gt.csv') if r[6] == 'plate']
        keep = []
        for (fr, oid, x, y, w, h, cls, vf) in rows:
            if (fr - 1) % STEP:
                continue
            k = (fr - 1) // STEP
            if k >= len(bgr):
                continue
            sx0, sy0 = x + w * (1 - S.SHRINK) / 2, y + h * (1 - S.SHRINK) / 2
            sx1, sy1 = sx0 + w * S.SHRINK, sy0 + h * S.SHRINK
            ix0, iy0 = int(max(0, round(sx0))), int(max(0, round(sy0)))
            ix1, iy1 = int(min(W, round(sx1))), int(min(H, round(sy1)))
            tiny = ix1 - ix0 < 3 or iy1 - iy0 < 3
            low = None
            if not tiny:
                po = gray[k, iy0:iy1, ix0:ix1]
                _, _, ea, _ = S.object_test(po, po)
                low = ea < S.EMIN_OBJ
            keep.append(dict(frame=fr, k=k, id=oid, x=x, y=y, w=w, h=h, vf=vf, tiny=tiny, low_detail=low))
        gt_all[name] = dict(W=W, H=H, n_decoded=n, frames=frames, plates=keep)
        nv = sum(1 for r in keep if r['vf'] >= 0.5 and not r['tiny'])
        nl = sum(1 for r in keep if r['vf'] >= 0.5 and not r['tiny'] and r['low_detail'])
        print(f'{name}: {n} frames decoded, {len(bgr)} kept ({W}x{H}), plate rows {len(keep)}, scored {nv} (low-detail {nl})', flush=True)
    json.dump(gt_all, open(f'{OUT}/gt.json', 'w'))

if __name__ == '__main__':
    main()
