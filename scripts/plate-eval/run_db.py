#!/usr/bin/env python3
"""Run a DB text detector over the cached frames (frames/NAME.npy) and store its probability maps
(valid region, quantised to uint8 PNG) under probs/TAG/NAME/KKKK.png with the display scale, so
post-processing (thresholds, unclip) can be swept offline by post.py without re-running the net.

usage: run_db.py TAG MODEL.onnx [--backend ort|cv] [--long 1280|1920|2560|0=native] [--norm half|imagenet]
                 [--bgr] [--enhance clahe|gamma] [--every N] [--clips a,b]"""
import argparse, glob, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np, cv2
import dbdet

HERE = dbdet.WORK_DIR


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tag'); ap.add_argument('model')
    ap.add_argument('--backend', default='ort')
    ap.add_argument('--long', type=int, default=1280)
    ap.add_argument('--norm', default='half')
    ap.add_argument('--bgr', action='store_true')
    ap.add_argument('--enhance', default=None)
    ap.add_argument('--every', type=int, default=1, help='use every N-th cached frame')
    ap.add_argument('--clips', default=None)
    a = ap.parse_args()
    net = dbdet.Net(a.model, a.backend)
    enh = dbdet.ENHANCE[a.enhance]
    out = f'{HERE}/probs/{a.tag}'
    os.makedirs(out, exist_ok=True)
    json.dump(vars(a), open(f'{out}/settings.json', 'w'))
    meta = {}
    if os.path.exists(f'{out}/meta.json'):
        meta = json.load(open(f'{out}/meta.json'))
    for f in sorted(glob.glob(f'{HERE}/frames/*.npy')):
        name = os.path.basename(f)[:-4]
        if a.clips and name not in a.clips.split(','):
            continue
        if name in meta and meta[name].get('done'):
            continue
        frames = np.load(f, mmap_mode='r')
        os.makedirs(f'{out}/{name}', exist_ok=True)
        times, ks = [], []
        for k in range(0, len(frames), a.every):
            img = np.ascontiguousarray(frames[k])
            t = time.perf_counter()
            prob, sx, sy = dbdet.prob_map(net, img, a.long, a.norm, not a.bgr, enh)
            times.append(time.perf_counter() - t)
            cv2.imwrite(f'{out}/{name}/{k:04d}.png', np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8))
            ks.append(k)
        meta[name] = dict(done=True, ks=ks, sx=sx, sy=sy, ms_median=1000 * float(np.median(times)),
                          ms_min=1000 * float(np.min(times)), input=list(prob.shape[::-1]))
        json.dump(meta, open(f'{out}/meta.json', 'w'), indent=1)
        print(f'{a.tag} {name}: {len(ks)} frames, median {meta[name]["ms_median"]:.0f} ms '
              f'(min {meta[name]["ms_min"]:.0f}) input {prob.shape[::-1]}', flush=True)


if __name__ == '__main__':
    main()
