"""Scenes of the built-in dataset: coloured, textured shapes among clutter on real-photo
backgrounds (see :mod:`ppdet.data.synthetic` for what makes them learnable but not
trivial).  ``render_image(rng, size)`` draws one image and its boxes; the same generator
state always gives the same picture."""
import cv2
import numpy as np

from ppdet.data.sample_photos import skimage_image
from ppdet.utils.bbox import box_iou

__all__ = ['render_image', 'CLASSES']

CLASSES = ['circle', 'square', 'triangle', 'star', 'ring', 'cross']

# scikit-image sample photos used as backgrounds (round things like coins, clock and
# colorwheel are left out: they would look like unlabeled circles and rings)
_COLOR_BACKGROUNDS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'hubble_deep_field',
                      'immunohistochemistry')
_GRAY_BACKGROUNDS = ('camera', 'grass', 'gravel', 'brick', 'moon', 'text', 'page', 'cell')
_BACKGROUNDS = None


def _backgrounds():
    global _BACKGROUNDS
    if _BACKGROUNDS is None:
        ims = []
        for name in _COLOR_BACKGROUNDS + _GRAY_BACKGROUNDS:
            im = np.asarray(skimage_image(name))
            if im.ndim == 2:
                im = np.repeat(im[..., None], 3, axis=2)
            ims.append(np.ascontiguousarray(im[..., :3]).astype(np.float32))
        _BACKGROUNDS = ims
    return _BACKGROUNDS


# -- backgrounds and clutter -----------------------------------------------------------
def _jitter_color(rng, im):
    sat, con, bri = (np.float32(v) for v in rng.uniform([0.4, 0.6, 0.7], [1.3, 1.2, 1.25]))
    tint = rng.uniform(-20, 20, size=3).astype(np.float32)
    gray = im.mean(axis=2, keepdims=True)
    im = gray + (im - gray) * sat                      # saturation
    im = im.mean() + (im - im.mean()) * con            # contrast
    return np.clip(im * bri + tint, 0, 255)            # brightness + tint


def _background(rng, size):
    if rng.random() < 0.12:  # plain gradient background now and then
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (x * np.cos(rng.uniform(0, 6.3)) + y * np.sin(rng.uniform(0, 6.3)))[..., None]
        return (c0 * (1 - t) + c1 * t).astype(np.float32)
    src = _backgrounds()[rng.integers(len(_backgrounds()))]
    h, w = src.shape[:2]
    side = int(min(h, w) * rng.uniform(0.35, 1.0))
    ch = min(h, int(side * rng.uniform(0.8, 1.25)))
    cw = min(w, side)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    im = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        im = im[:, ::-1]
    if rng.random() < 0.2:
        im = im[::-1]
    im = _jitter_color(rng, im)
    # photos are busier than the objects; soften them so shape edges carry the signal
    im = cv2.GaussianBlur(im, (0, 0), rng.uniform(0.8, 2.0))
    con = np.float32(rng.uniform(0.45, 0.8))
    return im.mean() + (im - im.mean()) * con


def _random_color(rng):
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(50, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _draw_clutter(rng, im, size, n):
    canvas = np.ascontiguousarray(np.clip(im, 0, 255).astype(np.uint8))
    for _ in range(n):
        kind = rng.choice(['line', 'curve', 'text'], p=[0.45, 0.3, 0.25])
        color = tuple(int(c) for c in _random_color(rng))
        if kind == 'line':
            p = rng.integers(-20, size + 20, size=4)
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 'curve':
            start = rng.uniform(0, size, 2)
            steps = rng.normal(0, size / 12., size=(int(rng.integers(4, 9)), 2))
            pts = np.cumsum(np.vstack([start, steps]), axis=0).astype(np.int32)
            cv2.polylines(canvas, [pts], False, color, int(rng.integers(1, 3)), cv2.LINE_AA)
        else:
            # no x, t or o (cross- and ring-like letters); 0 stays as a hard negative
            text = ''.join(rng.choice(list('abdeghkmnpqrsuvwyz0123456789'),
                                      size=int(rng.integers(2, 6))))
            org = (int(rng.integers(0, size - 30)), int(rng.integers(12, size)))
            cv2.putText(canvas, text, org,
                        cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.3, 0.9), color,
                        int(rng.integers(1, 3)), cv2.LINE_AA)
    return canvas.astype(np.float32)


# -- objects ------------------------------------------------------------------------------
def _unit_shape(name, rng):
    """Outline of a class in unit coordinates (about [-1, 1]) as an [N,2] array."""
    if name == 'square':
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    if name == 'triangle':
        ang = np.deg2rad([90, 210, 330]) + rng.normal(0, 0.12, 3)
        return np.stack([np.cos(ang), -np.sin(ang)], 1)
    if name == 'star':
        k = 5
        inner = rng.uniform(0.38, 0.5)
        ang = np.pi / 2 + np.arange(2 * k) * np.pi / k
        rad = np.where(np.arange(2 * k) % 2 == 0, 1.0, inner)
        return np.stack([rad * np.cos(ang), -rad * np.sin(ang)], 1)
    if name == 'cross':
        t = rng.uniform(0.28, 0.4)  # half thickness of the bars
        return np.array([[-t, -1], [t, -1], [t, -t], [1, -t], [1, t], [t, t], [t, 1], [-t, 1],
                         [-t, t], [-1, t], [-1, -t], [-t, -t]], np.float64)
    # circle / ring: a polygon fine enough to look round at any size used here
    ang = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return np.stack([np.cos(ang), np.sin(ang)], 1)


def _object_outline(name, rng, cx, cy, half, aspect, angle):
    """Outer and (for rings) inner outline in image coordinates."""
    stretch = np.array([half * np.sqrt(aspect), half / np.sqrt(aspect)])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    unit = _unit_shape(name, rng)
    outer = (unit * stretch) @ rot.T + [cx, cy]
    inner = (unit * stretch * rng.uniform(0.45, 0.7)) @ rot.T + [cx, cy] if name == 'ring' else None
    return outer, inner


def _patch_mask(outer, inner, size):
    """Hard 0/1 mask of an object inside its bounding patch: (mask, x0, y0) or None."""
    x0, y0 = np.maximum(np.floor(outer.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0)).astype(int) + 3, size)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel vertices
    off = np.array([x0, y0])
    cv2.fillPoly(mask, [np.round((outer - off) * (1 << shift)).astype(np.int32)], 1,
                 cv2.LINE_8, shift)
    if inner is not None:
        cv2.fillPoly(mask, [np.round((inner - off) * (1 << shift)).astype(np.int32)], 0,
                     cv2.LINE_8, shift)
    return mask, int(x0), int(y0)


def _texture(rng, h, w, color):
    """An RGB fill of [h, w]: flat, gradient or soft stripes around ``color``.

    The fill varies but never hides the outline: the second colour is a shade of the
    first, so the shape (the class) stays the strongest edge in the patch.
    """
    kind = rng.choice(['flat', 'gradient', 'stripes'], p=[0.55, 0.3, 0.15])
    base = np.empty((h, w, 3), np.float32)
    base[...] = color
    if kind == 'flat':
        return base
    other = color * np.float32(rng.uniform(0.55, 0.85))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    u = x * np.float32(np.cos(theta)) + y * np.float32(np.sin(theta))
    if kind == 'gradient':
        t = (u - u.min()) / (u.max() - u.min() + 1e-6)
    else:
        t = (np.sin(u * np.float32(2 * np.pi / rng.uniform(5, 14))) > 0).astype(np.float32)
    return base + (other - base) * t[..., None]


def _contrasting_color(rng, region):
    """A random colour that stands out from the mean of ``region`` (the background under it)."""
    mean = region.reshape(-1, 3).mean(axis=0)
    best, best_d = None, -1.
    for _ in range(6):
        c = _random_color(rng)
        d = float(np.linalg.norm(c - mean))
        if d > 110:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _sample_geometry(rng, size, name, min_size=16):
    # object extent: log-uniform from tiny (min_size px) to about half the image
    extent = float(np.exp(rng.uniform(np.log(min_size), np.log(size * 0.5))))
    max_aspect = 1.25 if name in ('star', 'ring') else 1.7
    aspect = float(np.exp(rng.uniform(-np.log(max_aspect), np.log(max_aspect))))
    angle = float(rng.uniform(0, 2 * np.pi))
    half = extent / 2.
    margin = half * 0.6  # up to ~20% of an object may leave the frame
    cx, cy = rng.uniform(margin, size - margin, 2)
    return cx, cy, half, aspect, angle


def _place_object(rng, size, owner, visible, full_area, boxes, min_size=16):
    """Draw geometry until an object keeps every earlier one >= 45% visible and its box
    is distinguishable from theirs (IoU <= 0.6).  Returns (cls, mask, x0, y0, box) or None."""
    for _attempt in range(12):
        cls = int(rng.integers(len(CLASSES)))
        geometry = _sample_geometry(rng, size, CLASSES[cls], min_size)
        outer, inner = _object_outline(CLASSES[cls], rng, *geometry)
        found = _patch_mask(outer, inner, size)
        if found is None:
            continue
        mask, x0, y0 = found
        if int(mask.sum()) < 20:
            continue
        ys, xs = np.nonzero(mask)
        box = np.array([xs.min() + x0, ys.min() + y0, xs.max() + 1 + x0, ys.max() + 1 + y0],
                       np.float32)
        if boxes:
            covered = owner[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask > 0]
            lost = np.bincount(covered + 1, minlength=len(boxes) + 1)[1:]
            if np.any((visible - lost) < 0.45 * np.asarray(full_area)):
                continue
            # compared in the boxes' float32, as always: the dataset's bytes depend on it
            if box_iou(box, np.array(boxes)).astype(np.float32).max() > 0.6:
                continue
        return cls, mask, x0, y0, box
    return None


def render_image(rng, size=256, max_objects=8, min_size=16):
    """Draw one image; returns (uint8 RGB image, boxes [N,4] x1y1x2y2, classes [N], areas [N])."""
    im = _background(rng, size)
    n_clutter = int(rng.integers(0, 5))
    n_before = int(rng.integers(0, n_clutter + 1))
    im = _draw_clutter(rng, im, size, n_before)
    n_obj = int(rng.choice(np.arange(1, max_objects + 1),
                           p=_normalize([2, 3, 3, 3, 2, 2, 1, 1][:max_objects])))
    owner = np.full((size, size), -1, np.int32)   # which object each pixel shows
    visible = np.zeros([0], np.int64)
    full_area, boxes, classes = [], [], []
    for _ in range(n_obj):
        placed = _place_object(rng, size, owner, visible, full_area, boxes, min_size)
        if placed is None:
            continue
        cls, mask, x0, y0, box = placed
        h, w = mask.shape
        fill = _texture(rng, h, w, _contrasting_color(rng, im[y0:y0 + h, x0:x0 + w]))
        if rng.random() < 0.3:  # dark or light outline
            edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            fill[edge > 0] = rng.choice([20., 235.])
        alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.6)
        alpha = (alpha * np.float32(rng.uniform(0.8, 1.0)))[..., None]
        region = im[y0:y0 + h, x0:x0 + w]
        im[y0:y0 + h, x0:x0 + w] = region + (fill - region) * alpha
        own = owner[y0:y0 + h, x0:x0 + w]
        covered = own[mask > 0]
        visible = visible - np.bincount(covered + 1, minlength=len(boxes) + 1)[1:]
        own[mask > 0] = len(boxes)
        area = int(mask.sum())
        visible = np.append(visible, area)
        full_area.append(area)
        boxes.append(box)
        classes.append(cls)
    im = _draw_clutter(rng, im, size, n_clutter - n_before)   # clutter also over objects
    if rng.random() < 0.3:
        im = cv2.GaussianBlur(im, (0, 0), rng.uniform(0.5, 1.0))
    im = im + rng.standard_normal(im.shape, dtype=np.float32) * np.float32(rng.uniform(0, 6))
    im = np.clip(im, 0, 255).astype(np.uint8)
    return (im, np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64),
            np.array(full_area, np.int64))


def _normalize(p):
    p = np.asarray(p, np.float64)
    return p / p.sum()


