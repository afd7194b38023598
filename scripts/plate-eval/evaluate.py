#!/usr/bin/env python3
"""Detector-alone metrics on every 3rd frame of the dev clips.

A plate object-frame (GT visible_fraction >= 0.5; central 80 % box clipped to the frame at least
3 px each way, as score.py) counts as FOUND when one detection, padded by PAD of its size on every
side (redact's render.plate_padding, default 0.35), covers >= 60 % of that central box.
Objects the scorer calls low-detail (band-pass energy < 3) are reported apart, not scored.
PRECISION: share of detections (raw box, before padding, clipped to the frame) with at least half
of their area inside one GT plate box (any visible_fraction) dilated by 30 % (w, h x 1.3 about the
centre). GT faces are not plates.

Detections come either from stored DB probability maps (probs/TAG, post-processed here with
--bin/--box/--unclip/--aspect) or from a JSON file of boxes (dets/TAG.json:
{clip: {k: [[x, y, w, h, score], ...]}}).

usage: evaluate.py TAG [--box 0.5] [--bin 0.3] [--unclip 1.6] [--aspect 8] [--pad 0.35]
                       [--sweep 0.3,0.4,0.5,0.6] [--json out.json] [--md]"""
import argparse, glob, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np, cv2
cv2.setNumThreads(1)
import dbdet

HERE = dbdet.WORK_DIR
BUCKETS = (('<40', 0, 40), ('40-100', 40, 100), ('>100', 100, 1e9))
_prob_cache = {}


def load_gt():
    return json.load(open(f'{HERE}/frames/gt.json'))


def dets_from_probs(tag, clip, bin_thr, box_thr, unclip, aspect):
    meta = json.load(open(f'{HERE}/probs/{tag}/meta.json'))[clip]
    out = {}
    for k in meta['ks']:
        key = (tag, clip, k)
        if key not in _prob_cache:
            _prob_cache[key] = cv2.imread(f'{HERE}/probs/{tag}/{clip}/{k:04d}.png', cv2.IMREAD_GRAYSCALE)
        prob = _prob_cache[key].astype(np.float32) / 255.0
        out[k] = dbdet.boxes_from_prob(prob, meta['sx'], meta['sy'], bin_thr, box_thr, unclip, 2, aspect)
    return out, meta


def inter(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def evaluate(gt, dets_by_clip, pad, min_score=0.0):
    res = {}
    for clip, g in gt.items():
        if clip not in dets_by_clip:
            continue
        dets, ks = dets_by_clip[clip]
        W, H = g['W'], g['H']
        by_k = {}
        for r in g['plates']:
            by_k.setdefault(r['k'], []).append(r)
        n = found = low_n = low_found = ndet = good = 0
        bk = {b[0]: [0, 0] for b in BUCKETS}
        for k in ks:
            D = [d for d in dets.get(k, []) if d[4] >= min_score]
            rows = by_k.get(k, [])
            # precision
            dil = []
            for r in rows:
                cx, cy = r['x'] + r['w'] / 2, r['y'] + r['h'] / 2
                dil.append((cx - r['w'] * 0.65, cy - r['h'] * 0.65, cx + r['w'] * 0.65, cy + r['h'] * 0.65))
            padded = []
            for (x, y, w, h, s) in D:
                rb = (max(0, x), max(0, y), min(W, x + w), min(H, y + h))
                area = max(0.0, rb[2] - rb[0]) * max(0.0, rb[3] - rb[1])
                ndet += 1
                if area > 0 and any(inter(rb, d) >= 0.5 * area for d in dil):
                    good += 1
                padded.append((x - pad * w, y - pad * h, x + w + pad * w, y + h + pad * h))
            # recall
            for r in rows:
                if r['vf'] < 0.5 or r['tiny']:
                    continue
                sx0, sy0 = r['x'] + r['w'] * 0.1, r['y'] + r['h'] * 0.1
                sx1, sy1 = sx0 + r['w'] * 0.8, sy0 + r['h'] * 0.8
                c = (max(0, round(sx0)), max(0, round(sy0)), min(W, round(sx1)), min(H, round(sy1)))
                ca = (c[2] - c[0]) * (c[3] - c[1])
                hit = any(inter(p, c) >= 0.6 * ca for p in padded)
                if r['low_detail']:
                    low_n += 1; low_found += hit
                    continue
                n += 1; found += hit
                b = [b[0] for b in BUCKETS if b[1] <= r['w'] < b[2]][0]
                bk[b][0] += 1; bk[b][1] += hit
        res[clip] = dict(n=n, found=found, low_n=low_n, low_found=low_found, ndet=ndet, good=good,
                         frames=len(ks), buckets=bk)
    tot = dict(n=0, found=0, low_n=0, low_found=0, ndet=0, good=0, frames=0, buckets={b[0]: [0, 0] for b in BUCKETS})
    for r in res.values():
        for key in ('n', 'found', 'low_n', 'low_found', 'ndet', 'good', 'frames'):
            tot[key] += r[key]
        for b in r['buckets']:
            tot['buckets'][b][0] += r['buckets'][b][0]; tot['buckets'][b][1] += r['buckets'][b][1]
    res['all'] = tot
    return res


def pct(a, b):
    return f'{100 * a / b:.0f} %' if b else '–'


def table(res, md=False):
    lines = []
    hdr = ['clip', 'recall', 'precision', 'det/frame', '<40', '40-100', '>100', 'low-detail found']
    if md:
        lines.append('| ' + ' | '.join(hdr) + ' |'); lines.append('|' + '---|' * len(hdr))
    else:
        lines.append(f'{hdr[0]:26s} {hdr[1]:>16s} {hdr[2]:>16s} {hdr[3]:>9s} {hdr[4]:>12s} {hdr[5]:>12s} {hdr[6]:>12s} {hdr[7]:>8s}')
    for clip, r in res.items():
        b = r['buckets']
        cells = [clip, f"{r['found']}/{r['n']} = {pct(r['found'], r['n'])}", f"{r['good']}/{r['ndet']} = {pct(r['good'], r['ndet'])}",
                 f"{r['ndet'] / max(1, r['frames']):.2f}"] + \
                [f"{b[k][1]}/{b[k][0]} {pct(b[k][1], b[k][0])}" if b[k][0] else '–' for k in ('<40', '40-100', '>100')] + \
                [f"{r['low_found']}/{r['low_n']}" if r['low_n'] else '–']
        if md:
            if clip == 'all':
                cells = [f'**{c}**' for c in cells]
            lines.append('| ' + ' | '.join(cells) + ' |')
        else:
            lines.append(f'{cells[0]:26s} {cells[1]:>16s} {cells[2]:>16s} {cells[3]:>9s} {cells[4]:>12s} {cells[5]:>12s} {cells[6]:>12s} {cells[7]:>8s}')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tag')
    ap.add_argument('--bin', type=float, default=0.3)
    ap.add_argument('--box', type=float, default=0.5)
    ap.add_argument('--unclip', type=float, default=1.6)
    ap.add_argument('--aspect', type=float, default=8.0)
    ap.add_argument('--pad', type=float, default=0.35)
    ap.add_argument('--sweep', default=None, help='comma list of box thresholds: one summary line each')
    ap.add_argument('--json', default=None)
    ap.add_argument('--md', action='store_true')
    a = ap.parse_args()
    gt = load_gt()
    boxes_json = f'{HERE}/dets/{a.tag}.json'
    if os.path.exists(boxes_json):
        raw = json.load(open(boxes_json))
        D = {c: ({int(k): v for k, v in d['dets'].items()}, d['ks']) for c, d in raw.items()}
        thresholds = [float(x) for x in a.sweep.split(',')] if a.sweep else [a.box]
        for t in thresholds:
            res = evaluate(gt, D, a.pad, t)
            summarize(a, res, t)
        return
    thresholds = [float(x) for x in a.sweep.split(',')] if a.sweep else [a.box]
    for t in thresholds:
        D = {}
        for clip in gt:
            m = json.load(open(f'{HERE}/probs/{a.tag}/meta.json'))
            if not m.get(clip, {}).get('done'):
                continue
            dets, meta = dets_from_probs(a.tag, clip, a.bin, t, a.unclip, a.aspect)
            D[clip] = (dets, meta['ks'])
        res = evaluate(gt, D, a.pad)
        summarize(a, res, t)


def summarize(a, res, t):
    r = res['all']
    b = r['buckets']
    if a.sweep:
        print(f"{a.tag} bin={a.bin} box={t} unclip={a.unclip} pad={a.pad} aspect={a.aspect}: recall {pct(r['found'], r['n'])} "
              f"({r['found']}/{r['n']}) precision {pct(r['good'], r['ndet'])} det/frame {r['ndet'] / max(1, r['frames']):.2f} | "
              + ' '.join(f"{k} {pct(b[k][1], b[k][0])}" for k in b) + ' | '
              + ' '.join(f"{c[:5]} {pct(v['found'], v['n'])}" for c, v in res.items() if c != 'all'), flush=True)
    else:
        print(f"## {a.tag} bin={a.bin} box={t} unclip={a.unclip} pad={a.pad} aspect={a.aspect}")
        print(table(res, a.md))
    if a.json:
        json.dump(dict(settings=vars(a), box=t, res=res), open(a.json, 'w'), indent=1)


if __name__ == '__main__':
    main()
