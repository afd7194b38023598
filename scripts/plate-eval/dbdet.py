"""DB (differentiable binarisation) text detector as a licence-plate detector: preprocessing,
forward pass (onnxruntime or OpenCV DNN, 1 thread) and post-processing identical to redact's
rcv_prob_map_boxes (Sources/CRedactCV/redact_cv_text.cpp) + TextPlateDetector's aspect filter.

Works in the venv (onnxruntime / opencv-python-headless) and in Debian's /usr/bin/python3 with
python3-opencv 4.6 (backend 'cv' only)."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np
import cv2
cv2.setNumThreads(1)

_SCRIPTS = os.path.dirname(os.path.abspath(__file__))
# Where the harness keeps frames, probability maps and detections, and where the benchmark is.
WORK_DIR = os.environ.get('PLATE_EVAL_DIR', os.path.join(_SCRIPTS, '..', '..', 'out', 'plate-eval'))
BENCH_DIR = os.environ.get('BENCH_DIR', os.path.join(_SCRIPTS, '..', '..', '..', 'shared', 'bench'))

NORMS = {
    # name: (mean, std) applied to pixel/255, per channel in the order fed to the network
    'half': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),            # RapidOCR config, redact today
    'imagenet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # PaddleOCR's DetResize/NormalizeImage
    # ImageNet means with one common std: what cv::dnn::blobFromImage can do in one call
    # (scalefactor 1/(255*0.226), mean (123.675, 116.28, 103.53) in network channel order)
    'imagenet1': ((0.485, 0.456, 0.406), (0.226, 0.226, 0.226)),
}


def input_geometry(W, H, long_side, allow_up=True):
    """redact's DetectorImage: scale so the longer side is long_side (redact never scales up;
    allow_up lets us test upscaling), even sizes, letterbox right/bottom to multiples of 32."""
    s = long_side / max(W, H) if long_side else 1.0
    if not allow_up:
        s = min(1.0, s)
    sw = max(2, int(round(W * s / 2)) * 2)
    sh = max(2, int(round(H * s / 2)) * 2)
    iw, ih = (sw + 31) // 32 * 32, (sh + 31) // 32 * 32
    return sw, sh, iw, ih


class Net:
    def __init__(self, path, backend='ort'):
        self.path, self.backend = path, backend
        if backend == 'ort':
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self.sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
            self.inp = self.sess.get_inputs()[0].name
        else:
            self.net = cv2.dnn.readNetFromONNX(path)

    def __call__(self, blob):
        if self.backend == 'ort':
            return self.sess.run(None, {self.inp: blob})[0]
        self.net.setInput(blob)
        return self.net.forward()


def make_blob(img_bgr, sw, sh, iw, ih, norm='half', rgb=True, enhance=None):
    """img_bgr: HxWx3 uint8 display frame. Returns 1x3xihxiw float32."""
    im = cv2.resize(img_bgr, (sw, sh), interpolation=cv2.INTER_AREA if sw < img_bgr.shape[1] else cv2.INTER_LINEAR) \
        if (sw, sh) != (img_bgr.shape[1], img_bgr.shape[0]) else img_bgr
    if enhance:
        im = enhance(im)
    canvas = np.zeros((ih, iw, 3), np.uint8)
    canvas[:sh, :sw] = im
    if rgb:
        canvas = canvas[:, :, ::-1]
    mean, std = NORMS[norm]
    x = (canvas.astype(np.float32) / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def prob_map(net, img_bgr, long_side, norm='half', rgb=True, enhance=None, allow_up=True):
    H, W = img_bgr.shape[:2]
    sw, sh, iw, ih = input_geometry(W, H, long_side, allow_up)
    out = net(make_blob(img_bgr, sw, sh, iw, ih, norm, rgb, enhance))
    return out.reshape(out.shape[-2], out.shape[-1])[:sh, :sw], W / sw, H / sh


def boxes_from_prob(prob, sx, sy, bin_thr=0.3, box_thr=0.5, unclip=1.6, min_side=2, max_aspect=8.0, dilate=True):
    """rcv_prob_map_boxes + TextPlateDetector: returns [(x, y, w, h, score)] in display pixels."""
    mask = (prob > bin_thr).astype(np.uint8)
    if dilate:
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    vh, vw = prob.shape
    found = []
    for c in contours:
        bx, by, bw, bh = cv2.boundingRect(c)
        if min(bw, bh) < min_side:
            continue
        inside = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(inside, [c], 0, 1, cv2.FILLED, offset=(-bx, -by))
        score = cv2.mean(prob[by:by + bh, bx:bx + bw], inside)[0]
        if score < box_thr:
            continue
        (_, _), (rw, rh), _ = cv2.minAreaRect(c)
        per = 2.0 * (rw + rh)
        d = rw * rh * unclip / per if per > 0 else 0
        x0, y0 = max(0.0, bx - d), max(0.0, by - d)
        x1, y1 = min(vw, bx + bw + d), min(vh, by + bh + d)
        if x1 <= x0 or y1 <= y0:
            continue
        w, h = x1 - x0, y1 - y0
        if w / h > max_aspect:
            continue
        found.append((x0 * sx, y0 * sy, w * sx, h * sy, score))
    found.sort(key=lambda b: -b[4])
    return found


def clahe_enhance(im):
    """Optional low-light enhancement: CLAHE on the L channel (Lab)."""
    lab = cv2.cvtColor(im, cv2.COLOR_BGR2LAB)
    cl = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    lab[:, :, 0] = cl.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def gamma_enhance(im, g=0.5):
    lut = (np.linspace(0, 1, 256) ** g * 255).astype(np.uint8)
    return cv2.LUT(im, lut)


ENHANCE = {None: None, 'none': None, 'clahe': clahe_enhance, 'gamma': gamma_enhance}
