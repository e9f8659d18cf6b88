"""Scenes of the built-in face set: real faces (:mod:`.faces`) pasted at many scales into
face-free scikit-image photos, among clutter, hard negatives and occluders.

``render_scene(rng, ...)`` draws one image and returns its faces with the WIDER FACE
attributes measured from what was drawn:

* blur — the face's effective blur sigma over its width (the blur applied to the face,
  the whole image's blur and the detail an enlarged source lacks, 0.4 px per unit of
  enlargement beyond 1, so an enlarged 25-px LFW crop alone stays under 0.019):
  < 0.025 clear (0), < 0.06 normal blur (1), else heavy blur (2);
* occlusion — the share of the face's own pixels (its pasted ellipse inside its box)
  covered by anything drawn later (other faces, occluders, clutter): <= 1% none (0),
  <= 30% partial (1), else heavy (2) — WIDER's "1-30%" and "> 30%";
* illumination — 1 (extreme) when the face's brightness gain (its own times the
  image's) is below 0.5 or above 1.6;
* pose — 1 (atypical) for a roll of 30 degrees or more, or the cameraman's
  three-quarter view;
* expression — 0 for every face: nothing here changes it and the sources carry no label;
* invalid — 1 for a face under 8 px tall, more than 75% covered, or with a brightness
  gain below 0.15 or above 3 (too small, too hidden, too dark or burnt out to be
  recognised).

Face-sized things that are not faces keep a detector from learning the pasting instead of
the face: LFW's non-face crops and photo patches, half of them cut by the same feathered
ellipse as the faces.

The same generator state always gives the same picture.
"""
import cv2
import numpy as np

from ppdet.data.sample_photos import skimage_image
from ppdet.data.synthetic.scenes import _draw_clutter, _jitter_color, _random_color, _texture

from .faces import _ellipse_alpha, draw_face, face_sources, nonface_patches

__all__ = ['render_scene', 'EVENTS', 'ATTRIBUTES']

# the scene types; each is a WIDER "event" directory, '<i>--<name>'
EVENTS = ['Portrait', 'Group', 'Crowd', 'Occluded', 'Blurry', 'Lowlight']
_EVENT_P = [0.15, 0.2, 0.2, 0.15, 0.15, 0.15]
ATTRIBUTES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')

# scikit-image photos with no human face (the astronaut and the cameraman are face sources)
_COLOR_BACKGROUNDS = ('coffee', 'chelsea', 'rocket', 'hubble_deep_field',
                      'immunohistochemistry', 'retina', 'stereo_motorcycle')
_GRAY_BACKGROUNDS = ('grass', 'gravel', 'brick', 'moon', 'text', 'page', 'cell', 'coins',
                     'clock', 'horse')
_BACKGROUNDS = None
_BLUR_LEVELS = (0.025, 0.06)
_OCCLUSION_LEVELS = (0.01, 0.30)
MIN_VALID_HEIGHT = 8
MAX_VALID_OCCLUSION = 0.75
VALID_GAIN = (0.15, 3.0)


def _backgrounds():
    global _BACKGROUNDS
    if _BACKGROUNDS is None:
        ims = []
        for name in _COLOR_BACKGROUNDS + _GRAY_BACKGROUNDS:
            im = skimage_image(name)
            im = np.asarray(im[0] if isinstance(im, tuple) else im)  # stereo pair: left
            if im.ndim == 2:
                im = np.repeat(im[..., None], 3, axis=2)
            if im.dtype == bool:
                im = im.astype(np.uint8) * 255
            ims.append(np.ascontiguousarray(im[..., :3]).astype(np.float32))
        _BACKGROUNDS = ims
    return _BACKGROUNDS


def _background(rng, w, h):
    if rng.random() < 0.1:  # plain gradient now and then
        y, x = np.mgrid[0:h, 0:w].astype(np.float32) / max(w, h)
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (x * np.cos(rng.uniform(0, 6.3)) + y * np.sin(rng.uniform(0, 6.3)))[..., None]
        return np.clip(c0 * (1 - t) + c1 * t, 0, 255).astype(np.float32)
    src = _backgrounds()[rng.integers(len(_backgrounds()))]
    sh, sw = src.shape[:2]
    ch = max(8, int(min(sh, sw * h / w) * rng.uniform(0.35, 1.0)))
    cw = max(8, min(sw, int(ch * w / h)))
    y0, x0 = rng.integers(0, sh - ch + 1), rng.integers(0, sw - cw + 1)
    im = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        im = im[:, ::-1]
    im = _jitter_color(rng, im)
    sigma = rng.uniform(0, 1.2)  # softer than the faces now and then, never flat
    if sigma > 0.3:
        im = cv2.GaussianBlur(im, (0, 0), sigma)
    con = np.float32(rng.uniform(0.6, 1.0))
    return np.ascontiguousarray(im.mean() + (im - im.mean()) * con, np.float32)


# -- layouts: (face width, centre x, centre y) in drawing order ---------------------------
def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo * 1.01)))))


def _scattered(rng, w, h, n, lo, hi):
    return [(_log_uniform(rng, lo, hi), rng.uniform(0, w), rng.uniform(0, h)) for _ in range(n)]


def _group(rng, w, h):
    short = min(w, h)
    size = short * rng.uniform(0.06, 0.16)
    n = int(rng.integers(3, 11))
    rows = 1 if n < 5 or rng.random() < 0.4 else 2
    y_front = h * rng.uniform(0.35, 0.7)
    plan = []
    for row in range(rows):  # back row first, smaller and higher
        s = size * (0.88 if row < rows - 1 else 1.0)
        y = y_front - (rows - 1 - row) * s * rng.uniform(1.0, 1.4)
        k = n // rows + (row < n % rows)
        step = s * rng.uniform(0.9, 1.6)
        x = w / 2. - step * (k - 1) / 2. + rng.normal(0, step / 2)
        for i in range(k):
            plan.append((s * rng.uniform(0.85, 1.15), x + i * step + rng.normal(0, s * 0.1),
                         y + rng.normal(0, s * 0.15)))
    return plan


def _crowd(rng, w, h, max_faces):
    plan = []
    s = rng.uniform(5, 14)            # far rows: small faces, some too small to count
    y = h * rng.uniform(0.05, 0.4)
    keep = rng.uniform(0.4, 0.8)      # how packed the rows are
    while y < h * 0.97 and len(plan) < max_faces and s < 0.2 * min(w, h):
        x = rng.uniform(0, 2 * s)
        while x < w and len(plan) < max_faces:
            if rng.random() < keep:
                plan.append((s * rng.uniform(0.85, 1.15), x, y + rng.normal(0, 0.15 * s)))
            x += s * rng.uniform(1.0, 2.5)
        y += s * rng.uniform(1.0, 1.6)
        s *= rng.uniform(1.15, 1.4)
    return plan


def _plan(rng, event, w, h, max_faces):
    short = min(w, h)
    if rng.random() < 0.03:
        return []  # a face-free image now and then, as in WIDER FACE
    if event == 'Portrait':
        return _scattered(rng, w, h, int(rng.integers(1, 4)), short * 0.12, short * 0.5)
    if event == 'Group':
        return _group(rng, w, h)
    if event == 'Crowd':
        return _crowd(rng, w, h, max_faces)
    return _scattered(rng, w, h, int(rng.integers(1, 7)), 10, short * 0.35)


# -- pasting and bookkeeping ----------------------------------------------------------------
def _paste(im, rgb, alpha, x0, y0, faces):
    """Blend a patch at integer (x0, y0), clipped to the image; mark what it covers on the
    faces drawn before it."""
    h, w = im.shape[:2]
    ph, pw = alpha.shape
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    a = alpha[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    region = im[ay0:ay1, ax0:ax1]
    region += (rgb[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] - region) * a[..., None]
    _cover(faces, a > 0.5, ax0, ay0)


def _cover(faces, mask, x0, y0):
    mh, mw = mask.shape
    for f in faces:
        bx0, by0, bx1, by1 = f['box']
        ix0, iy0, ix1, iy1 = max(bx0, x0), max(by0, y0), min(bx1, x0 + mw), min(by1, y0 + mh)
        if ix1 > ix0 and iy1 > iy0:
            f['covered'][iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0] |= \
                mask[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]


def _blur_patch(rng, rgb, alpha, sigma):
    """Defocus (Gaussian) or motion blur of a patch and its mask; returns the pad added."""
    pad = int(np.ceil(3 * sigma)) + 1
    rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    alpha = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    if rng.random() < 0.4:  # motion: a line kernel with the same standard deviation
        length = max(2, int(round(sigma * np.sqrt(12))))
        k = np.zeros((2 * pad + 1, 2 * pad + 1), np.float32)
        t = rng.uniform(0, np.pi)
        d = np.float32([np.cos(t), np.sin(t)]) * (length - 1) / 2.
        cv2.line(k, (int(round(pad - d[0])), int(round(pad - d[1]))),
                 (int(round(pad + d[0])), int(round(pad + d[1]))), 1.0, 1, cv2.LINE_AA)
        k /= k.sum()
        return cv2.filter2D(rgb, -1, k), cv2.filter2D(alpha, -1, k), pad
    return cv2.GaussianBlur(rgb, (0, 0), sigma), cv2.GaussianBlur(alpha, (0, 0), sigma), pad


def _draw_face(rng, im, event, width, cx, cy, faces):
    """Paste one face centred near (cx, cy); returns its record or None if it cannot fit."""
    h, w = im.shape[:2]
    sources = face_sources()
    pick = rng.random()
    src = sources[0] if pick < 0.06 else sources[1] if pick < 0.1 else \
        sources[2 + int(rng.integers(len(sources) - 2))]
    r = rng.random()
    angle = float(np.clip(rng.normal(0, 6), -15, 15)) if r < 0.65 else \
        float(rng.choice([-1, 1]) * (rng.uniform(15, 30) if r < 0.9 else rng.uniform(30, 75)))
    rgb, alpha, box, upscale = draw_face(rng, src, width, angle, bool(rng.random() < 0.5),
                                         bool(rng.random() < 0.75))
    gain = rng.uniform(0.75, 1.25) if rng.random() < 0.9 else \
        rng.choice([rng.uniform(0.3, 0.45), rng.uniform(1.7, 2.2)])
    tint = rng.normal(0, 8, 3).astype(np.float32)
    rgb = np.clip(rgb * np.float32(gain) + tint, 0, 255)
    p_blur, rel = (0.85, (0.03, 0.16)) if event == 'Blurry' else (0.15, (0.02, 0.08))
    sigma = width * rng.uniform(*rel) if rng.random() < p_blur else 0.
    pad = 0
    if sigma >= 0.3:
        rgb, alpha, pad = _blur_patch(rng, rgb, alpha, sigma)
    else:
        sigma = 0.
    box = box + pad
    bw, bh = box[2] - box[0], box[3] - box[1]
    if bw >= w - 2 or bh >= h - 2:
        return None
    # keep the whole face box in the image
    cx = float(np.clip(cx, bw / 2 + 1, w - bw / 2 - 1))
    cy = float(np.clip(cy, bh / 2 + 1, h - bh / 2 - 1))
    x0 = int(round(cx - (box[0] + box[2]) / 2))
    y0 = int(round(cy - (box[1] + box[3]) / 2))
    x1, y1 = max(0, int(np.floor(box[0] + x0))), max(0, int(np.floor(box[1] + y0)))
    x2, y2 = min(w, int(np.ceil(box[2] + x0))), min(h, int(np.ceil(box[3] + y0)))
    _paste(im, rgb, alpha, x0, y0, faces)
    own = alpha[y1 - y0:y2 - y0, x1 - x0:x2 - x0] > 0.5
    return {'box': (x1, y1, x2, y2), 'own': own, 'covered': np.zeros_like(own),
            'width': float(width), 'sigma': float(sigma), 'upscale': float(upscale),
            'gain': float(gain), 'angle': angle, 'source': src.name,
            'pose': int(src.pose or abs(angle) >= 30)}


def _occluder(rng, size, oval=False):
    """An opaque thing about ``size`` px across: (rgb, alpha); ``oval``: a non-face crop or
    photo patch is cut by a feathered ellipse, as the faces are."""
    kind = rng.choice(['bar', 'blob', 'nonface', 'photo'], p=[0.3, 0.3, 0.2, 0.2])
    s = max(4, int(round(size)))
    if kind in ('nonface', 'photo'):
        if kind == 'nonface':
            g = nonface_patches()[rng.integers(100)]
            rgb = np.repeat(cv2.resize(g, (s, s), interpolation=cv2.INTER_CUBIC)[..., None], 3, 2)
            rgb = rgb * np.float32(rng.uniform(0.7, 1.2, 3))
        else:
            src = _backgrounds()[rng.integers(len(_backgrounds()))]
            c = int(rng.integers(16, min(src.shape[:2]) // 2))
            y0, x0 = rng.integers(0, src.shape[0] - c), rng.integers(0, src.shape[1] - c)
            rgb = cv2.resize(src[y0:y0 + c, x0:x0 + c], (s, s), interpolation=cv2.INTER_AREA)
        if oval:
            alpha = _ellipse_alpha(s, s, (s / 2., s / 2., s * 0.46, s / 2.), max(1.5, 0.05 * s))
        else:
            alpha = np.ones((s, s), np.float32)
            alpha[[0, -1], :] = alpha[:, [0, -1]] = 0.5
        return np.clip(rgb, 0, 255).astype(np.float32), alpha
    if kind == 'bar':
        length, thick = s * rng.uniform(1.5, 4), s * rng.uniform(0.25, 0.6)
    else:
        length, thick = s * rng.uniform(0.5, 1.1), s * rng.uniform(0.4, 0.9)
    side = int(np.ceil(max(length, thick))) + 4
    mask = np.zeros((side, side), np.float32)
    centre, axes = (side / 2., side / 2.), (length, thick)
    t = rng.uniform(0, 180)
    if kind == 'bar':
        pts = cv2.boxPoints((centre, axes, t))
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    else:
        cv2.ellipse(mask, ((centre[0], centre[1]), axes, t), 1.0, -1, cv2.LINE_AA)
    rgb = _texture(rng, side, side, _random_color(rng))
    return rgb, mask


def _add_occluders(rng, im, faces, n):
    for _ in range(n):
        targets = [f for f in faces if f['width'] >= 10]
        if not targets:
            return
        f = targets[int(rng.integers(len(targets)))]
        x1, y1, x2, y2 = f['box']
        rgb, alpha = _occluder(rng, f['width'] * rng.uniform(0.4, 1.1))
        cx = (x1 + x2) / 2. + rng.uniform(-0.9, 0.9) * (x2 - x1)
        cy = (y1 + y2) / 2. + rng.uniform(-0.9, 0.9) * (y2 - y1)
        _paste(im, rgb, alpha, int(round(cx - alpha.shape[1] / 2.)),
               int(round(cy - alpha.shape[0] / 2.)), faces)


def _add_negatives(rng, im, n):
    """LFW's non-face crops and photo patches: face-sized things that are not faces."""
    h, w = im.shape[:2]
    for _ in range(n):
        rgb, alpha = _occluder(rng, _log_uniform(rng, 10, min(w, h) * 0.25),
                               oval=bool(rng.random() < 0.5))
        _paste(im, rgb, alpha, int(rng.integers(-4, w - 4)), int(rng.integers(-4, h - 4)), [])


def _labels(f, global_sigma, global_gain):
    x1, y1, x2, y2 = f['box']
    sigma = np.sqrt(f['sigma'] ** 2 + global_sigma ** 2 + (0.4 * (f['upscale'] - 1)) ** 2)
    rel = sigma / f['width']
    own = int(f['own'].sum())
    occluded = float((f['own'] & f['covered']).sum()) / own if own else 1.
    gain = float(f['gain'] * global_gain)
    blur = int(np.searchsorted(_BLUR_LEVELS, rel, side='right'))
    occlusion = int(np.searchsorted(_OCCLUSION_LEVELS, occluded, side='left'))
    invalid = int((y2 - y1) < MIN_VALID_HEIGHT or occluded > MAX_VALID_OCCLUSION
                  or not VALID_GAIN[0] <= gain <= VALID_GAIN[1])
    return {'bbox': [int(x1), int(y1), int(x2 - x1), int(y2 - y1)], 'blur': blur, 'expression': 0,
            'illumination': int(gain < 0.5 or gain > 1.6), 'invalid': invalid,
            'occlusion': occlusion, 'pose': f['pose'],
            'occluded_fraction': round(occluded, 4), 'light_gain': round(gain, 4),
            'blur_sigma_over_width': round(float(rel), 4),
            'source': f['source']}


def render_scene(rng, min_side=320, max_side=512, max_faces=50):
    """Draw one image.  Returns (event name, uint8 RGB image [h,w,3], faces) where each face
    is a dict with 'bbox' [x, y, w, h] (integer pixels, inside the image) and the WIDER
    attributes (see the module docstring), plus the measured 'occluded_fraction',
    'blur_sigma_over_width' and the face's 'source'."""
    event = EVENTS[int(rng.choice(len(EVENTS), p=_EVENT_P))]
    long_side = int(rng.integers(max_side - (max_side - min_side) * 3 // 4, max_side + 1))
    short_side = max(min_side, int(round(long_side * rng.uniform(0.62, 1.0))))
    w, h = (long_side, short_side) if rng.random() < 0.7 else (short_side, long_side)
    im = _background(rng, w, h)
    n_clutter = int(rng.integers(0, 6))
    n_before = int(rng.integers(0, n_clutter + 1))
    im = _draw_clutter(rng, im, max(w, h), n_before)
    _add_negatives(rng, im, int(rng.integers(0, 4)))
    faces = []
    for width, cx, cy in _plan(rng, event, w, h, max_faces):
        face = _draw_face(rng, im, event, width, cx, cy, faces)
        if face is not None:
            faces.append(face)
    n_occ = int(rng.integers(2, 6)) if event == 'Occluded' else int(rng.integers(0, 2))
    _add_occluders(rng, im, faces, n_occ)
    before = im.copy()
    im = _draw_clutter(rng, im, max(w, h), n_clutter - n_before)  # clutter over faces too
    _cover(faces, np.abs(im - before).max(axis=2) > 40, 0, 0)
    global_sigma, global_gain, noise = 0., 1., rng.uniform(0, 6)
    if event == 'Lowlight':
        global_gain = rng.uniform(0.22, 0.45) if rng.random() < 0.75 else rng.uniform(1.7, 2.3)
        im = im * np.float32(global_gain) + rng.normal(0, 10, 3).astype(np.float32)
        noise = rng.uniform(4, 12)
    if rng.random() < (0.5 if event == 'Blurry' else 0.25):
        global_sigma = rng.uniform(0.5, 1.0 if event != 'Blurry' else 1.8)
        im = cv2.GaussianBlur(im, (0, 0), global_sigma)
    im = im + rng.standard_normal(im.shape, dtype=np.float32) * np.float32(noise)
    im = np.clip(im, 0, 255).astype(np.uint8)
    return event, im, [_labels(f, global_sigma, global_gain) for f in faces]
