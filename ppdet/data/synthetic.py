"""The built-in dataset: coloured, textured shapes on real-photo backgrounds.

``generate_dataset(out_dir)`` writes the same images and boxes twice, as COCO
(``coco/{train,val}/*.jpg``, ``coco/annotations/instances_{train,val}.json``) and as
Pascal VOC (``voc/JPEGImages``, ``voc/Annotations``, ``trainval.txt``, ``test.txt``,
``label_list.txt``).  Every image is drawn from its own random generator seeded by
(seed, split, index), so the output is byte-identical on every run.  A
``manifest.json`` written last records the parameters; a later call with the same
parameters finds it and does nothing.

What makes it learnable but not trivial: six shape classes in random colours and
shades (colour says nothing about the class), sizes from 24 px to half the image,
stretched and rotated, partly occluding each other, on softened crops of the photos
bundled with scikit-image, among clutter (lines, curves, text) and with noise, blur
and JPEG artefacts.  Version 2 (the default since the first) removed shape-like decoy
blobs and busy object textures: with them a small detector trained from scratch on 2
CPU cores stayed near chance (AP50 0.03 after 40 epochs).  The defaults then moved
from 600 training images with objects from 16 px to 1800 images from 24 px (the
same renderer: image i of a split is the same picture at every size of the set):
the built-in YOLOv3 trained for the same number of steps overfitted 600 images
less than it learned from 1800, and objects of 12 px at its 192 input were below
what it resolves in that budget (README, "Built-in dataset").
"""
import hashlib
import json
import os
import time

import cv2
import numpy as np

from ppdet.utils.bbox import box_iou
from ppdet.utils.fileio import atomic_write
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['generate_dataset', 'CLASSES', 'DEFAULTS', 'GENERATOR_VERSION', 'render_image',
           'dataset_statistics']

CLASSES = ['circle', 'square', 'triangle', 'star', 'ring', 'cross']
GENERATOR_VERSION = 2
SPLITS = {'train': 1, 'val': 2}
# The built-in dataset as the pipeline and tools/gen_dataset.py make it.  1800 training images
# (was 600) and objects from 24 px (was 16): see the module docstring.
DEFAULTS = {'num_train': 1800, 'num_val': 150, 'image_size': 256, 'seed': 0, 'min_size': 24,
            'max_objects': 8}

# scikit-image sample photos used as backgrounds (round things like coins, clock and
# colorwheel are left out: they would look like unlabeled circles and rings)
_COLOR_BACKGROUNDS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'hubble_deep_field',
                      'immunohistochemistry')
_GRAY_BACKGROUNDS = ('camera', 'grass', 'gravel', 'brick', 'moon', 'text', 'page', 'cell')
_BACKGROUNDS = None


def _backgrounds():
    global _BACKGROUNDS
    if _BACKGROUNDS is None:
        import skimage.data
        ims = []
        for name in _COLOR_BACKGROUNDS + _GRAY_BACKGROUNDS:
            im = np.asarray(getattr(skimage.data, name)())
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


# -- writing ------------------------------------------------------------------------------
def _voc_xml(file_name, size, boxes, classes):
    lines = ['<annotation>', '  <folder>JPEGImages</folder>',
             '  <filename>%s</filename>' % file_name,
             '  <size><width>%d</width><height>%d</height><depth>3</depth></size>' % (size, size)]
    for box, cls in zip(boxes, classes):
        lines += ['  <object>', '    <name>%s</name>' % CLASSES[cls],
                  '    <pose>Unspecified</pose>',
                  '    <truncated>0</truncated>', '    <difficult>0</difficult>',
                  '    <bndbox><xmin>%d</xmin><ymin>%d</ymin>'
                  '<xmax>%d</xmax><ymax>%d</ymax></bndbox>'
                  % tuple(int(v) for v in box), '  </object>']
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _write_bytes(path, data):
    atomic_write(path, lambda f: f.write(data), mode='wb')
    os.chmod(path, _FILE_MODE)  # the temp file behind atomic_write is private (0600)


def _write_text(path, text):
    atomic_write(path, lambda f: f.write(text))
    os.chmod(path, _FILE_MODE)


def _params(num_train, num_val, image_size, seed, jpeg_quality, min_size, max_objects):
    return {'generator_version': GENERATOR_VERSION, 'num_train': int(num_train),
            'num_val': int(num_val), 'image_size': int(image_size), 'seed': int(seed),
            'jpeg_quality': int(jpeg_quality), 'min_size': float(min_size),
            'max_objects': int(max_objects), 'classes': CLASSES}


def _is_complete(out_dir, params):
    path = os.path.join(out_dir, 'manifest.json')
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except ValueError:
        return False
    if manifest.get('params') != params:
        return False
    return all(os.path.isfile(os.path.join(out_dir, p)) for p in manifest.get('files', {}))


def _clear_stale(directory, keep):
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name not in keep and not name.startswith('.'):
            p = os.path.join(directory, name)
            if os.path.isfile(p):
                os.remove(p)


def _check_args(num_train, num_val, image_size, min_size, max_objects):
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1 (got %d, %d)' % (num_train, num_val))
    if image_size < 64:
        raise ValueError('image_size must be >= 64, got %d' % image_size)
    if not 4 <= min_size < image_size * 0.5:
        raise ValueError('min_size must be in [4, image_size/2), got %r' % (min_size,))
    if not 1 <= max_objects <= 8:
        raise ValueError('max_objects must be in 1..8, got %r' % (max_objects,))


def _write_split(out_dir, split, params, files):
    """Render and write one split in both layouts; returns (stems, COCO dict)."""
    size = params['image_size']
    images, annotations, stems = [], [], []
    for idx in range(params['num_%s' % split]):
        rng = np.random.default_rng([params['seed'], SPLITS[split], idx])
        im, boxes, classes, areas = render_image(rng, size, params['max_objects'],
                                                 params['min_size'])
        ok, buf = cv2.imencode('.jpg', cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, params['jpeg_quality']])
        if not ok:
            raise RuntimeError('JPEG encoding failed for %s image %d' % (split, idx))
        stem = '%s_%06d' % (split, idx + 1)
        stems.append(stem)
        data = buf.tobytes()
        for rel in ('coco/%s/%s.jpg' % (split, stem), 'voc/JPEGImages/%s.jpg' % stem):
            _write_bytes(os.path.join(out_dir, rel), data)
            files[rel] = hashlib.md5(data).hexdigest()
        xml = _voc_xml(stem + '.jpg', size, boxes, classes)
        _write_text(os.path.join(out_dir, 'voc', 'Annotations', stem + '.xml'), xml)
        files['voc/Annotations/%s.xml' % stem] = hashlib.md5(xml.encode()).hexdigest()
        images.append({'id': idx + 1, 'file_name': stem + '.jpg', 'width': size, 'height': size})
        for box, cls, area in zip(boxes, classes, areas):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({'id': len(annotations) + 1, 'image_id': idx + 1,
                                'category_id': int(cls) + 1, 'bbox': [x1, y1, x2 - x1, y2 - y1],
                                'area': float(area), 'iscrowd': 0})
    coco = {'info': {'description': 'ppdet built-in synthetic shapes',
                     'version': GENERATOR_VERSION},
            'images': images, 'annotations': annotations,
            'categories': [{'id': i + 1, 'name': n, 'supercategory': 'shape'}
                           for i, n in enumerate(CLASSES)]}
    text = json.dumps(coco, sort_keys=True)
    rel = 'coco/annotations/instances_%s.json' % split
    _write_text(os.path.join(out_dir, rel), text)
    files[rel] = hashlib.md5(text.encode()).hexdigest()
    _clear_stale(os.path.join(out_dir, 'coco', split), {n + '.jpg' for n in stems})
    return stems, coco


def _write_voc_lists(out_dir, stems, files):
    voc_dir = os.path.join(out_dir, 'voc')
    texts = {'label_list.txt': '\n'.join(CLASSES) + '\n'}
    for split, list_name in (('train', 'trainval.txt'), ('val', 'test.txt')):
        texts[list_name] = ''.join('JPEGImages/%s.jpg Annotations/%s.xml\n' % (n, n)
                                   for n in stems[split])
    for list_name, text in texts.items():
        _write_text(os.path.join(voc_dir, list_name), text)
        files['voc/' + list_name] = hashlib.md5(text.encode()).hexdigest()
    every = set(stems['train']) | set(stems['val'])
    _clear_stale(os.path.join(voc_dir, 'JPEGImages'), {n + '.jpg' for n in every})
    _clear_stale(os.path.join(voc_dir, 'Annotations'), {n + '.xml' for n in every})


def generate_dataset(out_dir='dataset/builtin', num_train=DEFAULTS['num_train'],
                     num_val=DEFAULTS['num_val'], image_size=DEFAULTS['image_size'],
                     seed=DEFAULTS['seed'], jpeg_quality=90, min_size=DEFAULTS['min_size'],
                     max_objects=DEFAULTS['max_objects'], force=False):
    """Write the built-in dataset under ``out_dir`` (COCO in ``coco/``, VOC in ``voc/``).

    ``min_size`` (smallest object extent in pixels) and ``max_objects`` (per image) set
    how hard it is.  Returns the manifest dict (parameters, statistics, file checksums).
    Does nothing but return the existing manifest when ``out_dir`` already holds a
    complete dataset made with the same parameters (unless ``force``).
    """
    _check_args(num_train, num_val, image_size, min_size, max_objects)
    params = _params(num_train, num_val, image_size, seed, jpeg_quality, min_size, max_objects)
    manifest_path = os.path.join(out_dir, 'manifest.json')
    if not force and _is_complete(out_dir, params):
        with open(manifest_path, encoding='utf-8') as f:
            manifest = json.load(f)
        logger.info('built-in dataset already in %s (%s); not regenerating', out_dir,
                    ', '.join('%s=%s' % (k, params[k]) for k in ('num_train', 'num_val', 'seed')))
        return manifest
    tic = time.time()
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # an interrupted rewrite must not look complete
    files, stems, cocos = {}, {}, {}
    for split in ('train', 'val'):
        stems[split], cocos[split] = _write_split(out_dir, split, params, files)
    _write_voc_lists(out_dir, stems, files)
    manifest = {'params': params,
                'statistics': {s: dataset_statistics(cocos[s], image_size) for s in cocos},
                'generation_seconds': round(time.time() - tic, 1), 'files': files}
    _write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True))
    logger.info('built-in dataset written to %s in %.1f s: %s', out_dir, time.time() - tic,
                '; '.join('%s %d images, %d boxes' % (s, v['images'], v['boxes'])
                          for s, v in manifest['statistics'].items()))
    return manifest


def dataset_statistics(coco, image_size):
    """Counts per class, boxes per image and box sizes (COCO small/medium/large by box area)."""
    anns = coco['annotations']
    per_image = np.bincount([a['image_id'] for a in anns], minlength=len(coco['images']) + 1)[1:]
    sides = np.array([np.sqrt(a['bbox'][2] * a['bbox'][3]) for a in anns]) if anns else np.zeros(0)
    names = {c['id']: c['name'] for c in coco['categories']}
    return {
        'images': len(coco['images']), 'boxes': len(anns),
        'boxes_per_image': {'mean': round(float(per_image.mean()), 2),
                            'min': int(per_image.min()), 'max': int(per_image.max())},
        'per_class': {names[i]: sum(a['category_id'] == i for a in anns) for i in sorted(names)},
        'box_sqrt_area_px': {'min': round(float(sides.min()), 1),
                             'median': round(float(np.median(sides)), 1),
                             'max': round(float(sides.max()), 1)} if len(sides) else {},
        'coco_size': {'small(<32^2)': int((sides < 32).sum()),
                      'medium': int(((sides >= 32) & (sides < 96)).sum()),
                      'large(>=96^2)': int((sides >= 96).sum())},
        'image_size': image_size,
    }
