"""Per-sample transforms.  A sample is a record dict (see ppdet/data/source/dataset.py).

Each operator is registered, so a config list entry like ``- Resize: {target_size: [608,
608]}`` builds it by name.  Calling an operator on a list of samples applies it to each
one, which is how per-sample ops also serve in ``batch_transforms``.

Geometric ops keep every per-box field (``gt_bbox``, ``gt_class``, ``gt_score``,
``is_crowd``, ``difficult``) aligned and keep ``im_shape`` equal to the current image
height and width.  ``Resize`` also sets ``scale_factor`` = (new h / old h, new w / old w).
"""
import numbers

import cv2
import numpy as np

from ppdet.core.workspace import register
from ppdet.data.source.dataset import ImageDecodeError  # noqa: F401  (raised by decode_rgb)
from ppdet.data.source.dataset import has_boxes as _has_boxes, warn_size_once
from ppdet.utils.logger import setup_logger
from ppdet.utils.bbox import box_iou
from ppdet.utils.image_io import decode_rgb

logger = setup_logger(__name__)

__all__ = ['BaseOperator', 'Decode', 'RandomDistort', 'RandomExpand', 'RandomCrop', 'RandomFlip',
           'Resize', 'NormalizeImage', 'Permute', 'BOX_FIELDS', 'filter_boxes', 'box_iou']

# per-box fields that must stay aligned with gt_bbox
BOX_FIELDS = ('gt_bbox', 'gt_class', 'gt_score', 'is_crowd', 'difficult')


class BaseOperator(object):
    """``apply(sample) -> sample``; ``__call__`` also accepts a list of samples."""

    def apply(self, sample):
        raise NotImplementedError

    def __call__(self, sample):
        if isinstance(sample, (list, tuple)):
            return [self.apply(s) for s in sample]
        return self.apply(sample)

    def __repr__(self):
        args = ', '.join('%s=%r' % kv for kv in sorted(vars(self).items())
                         if not kv[0].startswith('_'))
        return '%s(%s)' % (type(self).__name__, args)


def filter_boxes(sample, keep):
    """Keep the boxes selected by ``keep`` (bool mask or indices) in every per-box field."""
    for key in BOX_FIELDS:
        if key in sample and sample[key] is not None:
            sample[key] = np.asarray(sample[key])[keep]
    return sample


def _set_shape(sample):
    h, w = sample['image'].shape[:2]
    sample['im_shape'] = np.array([h, w], dtype=np.float32)
    return h, w


def _size_hw(size, what):
    """An int, [s] or [h, w] -> [h, w] ints; anything else fails naming ``what``."""
    if isinstance(size, numbers.Number):
        size = [size, size]
    try:
        size = [int(v) for v in size]
    except (TypeError, ValueError):
        size = None
    if size is not None and len(size) == 1:
        size = size * 2
    if size is None or len(size) != 2 or min(size) <= 0:
        raise ValueError('%s must be an int or [h, w] of positive ints' % what)
    return size


@register
class Decode(BaseOperator):
    """Read ``im_file`` into ``image``: RGB float32 HWC in [0, 255].

    Sets ``h``/``w`` to the real image size, ``im_shape`` = (h, w) and ``scale_factor`` =
    (1, 1).  When the record's size (the annotation's) disagrees, the boxes are clipped to
    the decoded size and that is said once per file (the dataset already used the file's
    size when a box reached past the annotation's: nothing inside the image is lost).
    Raises :class:`ImageDecodeError` (naming the file) for unreadable images (a
    training dataset substitutes another record, eval/test datasets skip them up front);
    a truncated file that still decodes is used and warned about once, counted.
    """

    def apply(self, sample):
        path = sample.get('im_file')
        if 'image' not in sample:
            sample['image'] = decode_rgb(path).astype(np.float32)
        else:
            sample['image'] = np.asarray(sample['image'], dtype=np.float32)
        h, w = sample['image'].shape[:2]
        ah, aw = sample.get('h'), sample.get('w')
        if ah and aw and (int(round(ah)) != h or int(round(aw)) != w):
            warn_size_once(path, aw, ah, w, h)
            if _has_boxes(sample):
                b = sample['gt_bbox']
                b[:, 0::2] = np.clip(b[:, 0::2], 0, w)
                b[:, 1::2] = np.clip(b[:, 1::2], 0, h)
                filter_boxes(sample, (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
        sample['h'], sample['w'] = float(h), float(w)
        _set_shape(sample)
        sample['scale_factor'] = np.array([1., 1.], dtype=np.float32)
        return sample


@register
class RandomDistort(BaseOperator):
    """Photometric jitter on an RGB float image in [0, 255].

    Each of ``hue`` (degrees), ``saturation``, ``contrast`` and ``brightness``
    (multiplicative factors) is ``[low, high, prob]``: with probability ``prob`` a
    value is drawn uniformly from [low, high] and applied.  With ``random_apply``
    the four are tried in random order and at most ``count`` of them are used.
    ``random_channel`` also swaps the colour channels with probability 0.5.
    """

    def __init__(self, hue=[-18, 18, 0.5], saturation=[0.5, 1.5, 0.5], contrast=[0.5, 1.5, 0.5],
                 brightness=[0.5, 1.5, 0.5], random_apply=True, count=4, random_channel=False):
        self.hue = hue
        self.saturation = saturation
        self.contrast = contrast
        self.brightness = brightness
        self.random_apply = random_apply
        self.count = count
        self.random_channel = random_channel

    @staticmethod
    def _draw(spec):
        low, high, prob = spec
        if np.random.uniform(0., 1.) >= prob:
            return None
        return np.random.uniform(low, high)

    def _hue(self, im):
        delta = self._draw(self.hue)
        if delta is None:
            return im
        # rotate the chroma plane in YIQ space
        theta = np.deg2rad(delta)
        c, s = np.cos(theta), np.sin(theta)
        to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321],
                           [0.211, -0.523, 0.311]], np.float32)
        rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)
        t = np.linalg.inv(to_yiq) @ rot @ to_yiq
        return im @ t.T.astype(np.float32)

    def _saturation(self, im):
        f = self._draw(self.saturation)
        if f is None:
            return im
        gray = (im @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        return gray + (im - gray) * f

    def _contrast(self, im):
        f = self._draw(self.contrast)
        if f is None:
            return im
        mean = float((im @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
        return mean + (im - mean) * f

    def _brightness(self, im):
        f = self._draw(self.brightness)
        return im if f is None else im * f

    def apply(self, sample):
        im = np.asarray(sample['image'], dtype=np.float32)
        ops = [self._brightness, self._contrast, self._saturation, self._hue]
        if self.random_apply:
            ops = [ops[i] for i in np.random.permutation(len(ops))][:self.count]
        for op in ops:
            im = op(im)
        if self.random_channel and np.random.uniform(0., 1.) < 0.5:
            im = im[..., np.random.permutation(3)]
        sample['image'] = np.clip(im, 0, 255).astype(np.float32)
        return sample


@register
class RandomExpand(BaseOperator):
    """With probability ``prob`` place the image on a canvas up to ``ratio`` times larger
    (filled with ``fill_value``) at a random offset; boxes move by the offset."""

    def __init__(self, ratio=4., prob=0.5, fill_value=(127.5, 127.5, 127.5)):
        if ratio < 1.:
            raise ValueError('RandomExpand ratio must be >= 1, got %r' % ratio)
        self.ratio = ratio
        self.prob = prob
        if isinstance(fill_value, numbers.Number):
            fill_value = (fill_value,) * 3
        self.fill_value = tuple(float(v) for v in fill_value)

    def apply(self, sample):
        if self.ratio <= 1.01 or np.random.uniform(0., 1.) >= self.prob:
            return sample
        im = sample['image']
        h, w = im.shape[:2]
        r = np.random.uniform(1., self.ratio)
        nh, nw = int(h * r), int(w * r)
        y, x = np.random.randint(0, nh - h + 1), np.random.randint(0, nw - w + 1)
        canvas = np.empty((nh, nw, im.shape[2]), dtype=np.float32)
        canvas[...] = np.asarray(self.fill_value[:im.shape[2]], np.float32)
        canvas[y:y + h, x:x + w] = im
        sample['image'] = canvas
        if _has_boxes(sample):
            sample['gt_bbox'] = sample['gt_bbox'] + np.array([x, y, x, y], np.float32)
        _set_shape(sample)
        return sample


@register
class RandomCrop(BaseOperator):
    """SSD-style crop constrained by IoU with the ground truth.

    The thresholds (plus "no crop" when ``allow_no_crop``) are tried in random order;
    for each, up to ``num_attempts`` crops of relative size ``scaling`` and aspect
    ``aspect_ratio`` are drawn until one overlaps some box with IoU >= threshold
    (every box with ``cover_all_box``).  Boxes whose centre falls outside the crop are
    dropped, the rest are clipped to it.  Samples without boxes pass unchanged.
    """

    def __init__(self, aspect_ratio=[.5, 2.], thresholds=[.0, .1, .3, .5, .7, .9],
                 scaling=[.3, 1.], num_attempts=50, allow_no_crop=True, cover_all_box=False):
        self.aspect_ratio = aspect_ratio
        self.thresholds = list(thresholds)
        self.scaling = scaling
        self.num_attempts = num_attempts
        self.allow_no_crop = allow_no_crop
        self.cover_all_box = cover_all_box

    def _try(self, boxes, h, w, thresh):
        for _ in range(self.num_attempts):
            scale = np.random.uniform(*self.scaling)
            ar = np.random.uniform(*self.aspect_ratio) if self.aspect_ratio else 1.
            ar = float(np.clip(ar, scale ** 2, 1. / scale ** 2))
            ch = max(1, min(h, int(h * scale / np.sqrt(ar))))
            cw = max(1, min(w, int(w * scale * np.sqrt(ar))))
            y0, x0 = np.random.randint(0, h - ch + 1), np.random.randint(0, w - cw + 1)
            crop = np.array([x0, y0, x0 + cw, y0 + ch], np.float32)
            iou = box_iou(crop, boxes)[0]
            if iou.max() < thresh or (self.cover_all_box and iou.min() < thresh):
                continue
            centers = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = np.all((centers >= crop[:2]) & (centers < crop[2:]), axis=1)
            new = boxes.copy()
            new[:, 0::2] = np.clip(new[:, 0::2], crop[0], crop[2]) - crop[0]
            new[:, 1::2] = np.clip(new[:, 1::2], crop[1], crop[3]) - crop[1]
            keep = inside & (new[:, 2] > new[:, 0]) & (new[:, 3] > new[:, 1])
            if keep.any():
                return crop.astype(np.int64), new, keep
        return None

    def apply(self, sample):
        if not _has_boxes(sample):
            return sample
        h, w = sample['image'].shape[:2]
        modes = self.thresholds + ([None] if self.allow_no_crop else [])
        for i in np.random.permutation(len(modes)):
            if modes[i] is None:
                return sample
            found = self._try(np.asarray(sample['gt_bbox'], np.float32), h, w, modes[i])
            if found is None:
                continue
            (x0, y0, x1, y1), new, keep = found
            sample['image'] = sample['image'][y0:y1, x0:x1]
            sample['gt_bbox'] = new
            filter_boxes(sample, keep)
            _set_shape(sample)
            return sample
        return sample


@register
class RandomFlip(BaseOperator):
    """Horizontal flip with probability ``prob``: x1' = w - x2, x2' = w - x1."""

    def __init__(self, prob=0.5):
        self.prob = prob

    def apply(self, sample):
        if np.random.uniform(0., 1.) >= self.prob:
            return sample
        im = sample['image']
        w = im.shape[1]
        sample['image'] = np.ascontiguousarray(im[:, ::-1])
        if _has_boxes(sample):
            b = np.asarray(sample['gt_bbox'], np.float32)
            flipped = b.copy()
            flipped[:, 0] = w - b[:, 2]
            flipped[:, 2] = w - b[:, 0]
            sample['gt_bbox'] = flipped
        sample['flipped'] = not sample.get('flipped', False)
        return sample


@register
class Resize(BaseOperator):
    """Resize to ``target_size`` ([h, w] or an int for a square).

    ``keep_ratio``: scale by min(min(target)/min(h,w), max(target)/max(h,w)) (the
    image fits inside the target), else stretch to exactly [h, w].  ``interp`` is an
    OpenCV flag (0 nearest, 1 linear, 2 cubic, 3 area, 4 lanczos4).  Sets ``im_shape``
    and ``scale_factor`` = (new h / old h, new w / old w); boxes are scaled and clipped.

    ``fit_within`` ([h, w], with ``keep_ratio``): the result also fits inside it.  The
    deployed Preprocessor sets it to a fixed-size export's input: [800, 1333] takes a
    landscape image's keep-ratio resize, but a portrait one's is 1067 x 800, which the graph
    refused (``Broadcast dimension mismatch`` of the FPN maps); it is scaled to 800 x 600.
    """

    def __init__(self, target_size, keep_ratio=True, interp=cv2.INTER_LINEAR, fit_within=None):
        self.target_size = _size_hw(target_size, 'Resize target_size %r' % (target_size,))
        self.keep_ratio = keep_ratio
        self.interp = int(interp)
        self.fit_within = (None if fit_within is None else
                           _size_hw(fit_within, 'Resize fit_within %r' % (fit_within,)))

    def output_hw(self, h, w):
        """The (h, w) an [h, w] image is resized to."""
        th, tw = self.target_size
        if self.keep_ratio:
            s = min(min(th, tw) / float(min(h, w)), max(th, tw) / float(max(h, w)))
            if self.fit_within is not None:
                s = min(s, self.fit_within[0] / float(h), self.fit_within[1] / float(w))
            return max(1, int(round(h * s))), max(1, int(round(w * s)))
        return th, tw

    def apply(self, sample):
        im = sample['image']
        h, w = im.shape[:2]
        nh, nw = self.output_hw(h, w)
        sy, sx = nh / float(h), nw / float(w)
        sample['image'] = cv2.resize(im, (nw, nh), interpolation=self.interp).astype(np.float32)
        if sample['image'].ndim == 2:  # cv2 drops a single channel axis
            sample['image'] = sample['image'][..., None]
        if _has_boxes(sample):
            b = np.asarray(sample['gt_bbox'], np.float32) * np.array([sx, sy, sx, sy], np.float32)
            b[:, 0::2] = np.clip(b[:, 0::2], 0, nw)
            b[:, 1::2] = np.clip(b[:, 1::2], 0, nh)
            sample['gt_bbox'] = b
        _set_shape(sample)
        sample['scale_factor'] = np.array([sy, sx], dtype=np.float32)
        return sample


@register
class NormalizeImage(BaseOperator):
    """``(image / 255 - mean) / std`` (the division only with ``is_scale``)."""

    def __init__(self, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], is_scale=True):
        if any(s == 0 for s in std):
            raise ValueError('NormalizeImage std must be non-zero, got %r' % (std,))
        self.mean = list(mean)
        self.std = list(std)
        self.is_scale = is_scale

    def apply(self, sample):
        im = np.asarray(sample['image'], dtype=np.float32)
        if self.is_scale:
            im = im / 255.
        sample['image'] = ((im - np.array(self.mean, np.float32)) /
                           np.array(self.std, np.float32)).astype(np.float32)
        return sample


@register
class Permute(BaseOperator):
    """HWC -> CHW."""

    def apply(self, sample):
        sample['image'] = np.ascontiguousarray(np.asarray(sample['image']).transpose(2, 0, 1))
        return sample
