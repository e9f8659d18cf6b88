"""AutoAugment for detection: learned sub-policies of two ops, boxes moved with the image.

Source: Zoph et al. 2019, "Learning Data Augmentation Strategies for Object Detection"
(arXiv:1906.11172), the seed's "DA: AA" row.  A policy is a list of sub-policies; for
each image one sub-policy is drawn uniformly and its ops run in order, each with its
own probability.  An op's magnitude is a level 0..10 mapped to its argument as in the
paper's released policy code (facts, not code, taken from there):

=====================  ==========================================================
op                     level -> argument
=====================  ==========================================================
Translate{X,Y}_BBox    level/10 * 250 pixels, sign drawn at random
Translate{X,Y}_Only_   level/10 * 120 pixels, sign random; applied inside each box
BBoxes                 separately with probability p/3 (boxes do not move)
Shear{X,Y}_BBox        level/10 * 0.3, sign random
Rotate_BBox            level/10 * 30 degrees, sign random
Cutout                 a (2*pad) square, pad = level/10 * 100 pixels, grey
Equalize               (none)
Color, Brightness,     enhance factor level/10 * 1.8 + 0.1 (PIL ImageEnhance)
Sharpness, Contrast
Solarize               threshold level/10 * 256
=====================  ==========================================================

Policy ``v0`` (the paper's, used for all its COCO results), as (op, prob, level)::

    [(TranslateX_BBox, 0.6, 4), (Equalize, 0.8, 10)]
    [(TranslateY_Only_BBoxes, 0.2, 2), (Cutout, 0.8, 8)]
    [(Sharpness, 0.0, 8), (ShearX_BBox, 0.4, 0)]
    [(ShearY_BBox, 1.0, 2), (TranslateY_Only_BBoxes, 0.6, 6)]
    [(Rotate_BBox, 0.6, 10), (Color, 1.0, 6)]

The third sub-policy is a no-op as published (probability 0, then a zero shear).

Conventions here: images are RGB float HWC in [0, 255] (the colour ops work on their
uint8 rounding), boxes are pixel ``x1, y1, x2, y2`` in continuous coordinates (pixel
centres at i + 0.5); empty pixels are filled with grey 128.  A geometric op maps each
box's four corners and takes their bounding box, clipped to the image; boxes that
collapse to zero width or height are dropped (the original keeps them with a tiny
area).  Signs: ``shear(level)`` moves content by x' = x + level * y (ShearX), y' = y +
level * x (ShearY); ``rotate(deg)`` turns the image counter-clockwise as displayed for
positive degrees, about the image centre; ``translate(dx, dy)`` moves content right /
down.  Since the policies draw the sign at random these choices do not change the
distribution.
"""
import math

import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ppdet.core.workspace import register

from .operators import BaseOperator, _has_boxes, filter_boxes

__all__ = ['AutoAugment', 'POLICIES', 'translate', 'shear', 'rotate', 'cutout',
           'equalize', 'solarize', 'enhance', 'apply_in_boxes']

MAX_LEVEL = 10.
FILL = 128.

POLICIES = {
    'v0': [
        [('TranslateX_BBox', 0.6, 4), ('Equalize', 0.8, 10)],
        [('TranslateY_Only_BBoxes', 0.2, 2), ('Cutout', 0.8, 8)],
        [('Sharpness', 0.0, 8), ('ShearX_BBox', 0.4, 0)],
        [('ShearY_BBox', 1.0, 2), ('TranslateY_Only_BBoxes', 0.6, 6)],
        [('Rotate_BBox', 0.6, 10), ('Color', 1.0, 6)],
    ],
}


# --- geometric ops: image and boxes through one affine map ---------------------------

def _warp(image, boxes, m):
    """Apply the 2x3 affine ``m`` (continuous coordinates, input -> output) to ``image``
    (same size out, grey fill) and to the corners of ``boxes``; returns (image, boxes,
    keep) with boxes clipped and ``keep`` marking the ones with area left."""
    h, w = image.shape[:2]
    # cv2 works on pixel indices (centre of pixel i at i); continuous = index + 0.5
    m_idx = m.copy()
    m_idx[:, 2] = m[:, 2] + m[:, :2].sum(axis=1) * 0.5 - 0.5
    out = cv2.warpAffine(np.ascontiguousarray(image, np.float32), m_idx, (w, h),
                         flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(FILL,) * 4)
    if out.ndim == 2:
        out = out[..., None]
    if boxes is None or len(boxes) == 0:
        return out, boxes, np.zeros([0], bool)
    b = np.asarray(boxes, np.float32)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)
    moved = corners @ m[:, :2].T + m[:, 2]                         # [N, 4, 2]
    new = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1).astype(np.float32)
    new[:, 0::2] = np.clip(new[:, 0::2], 0, w)
    new[:, 1::2] = np.clip(new[:, 1::2], 0, h)
    keep = (new[:, 2] > new[:, 0]) & (new[:, 3] > new[:, 1])
    return out, new, keep


def translate(image, boxes, dx=0., dy=0.):
    """Move the content by (dx, dy) pixels (right / down positive)."""
    return _warp(image, boxes, np.array([[1., 0., dx], [0., 1., dy]], np.float64))


def shear(image, boxes, level, horizontal=True):
    """ShearX: x' = x + level * y; ShearY: y' = y + level * x."""
    m = [[1., level, 0.], [0., 1., 0.]] if horizontal else [[1., 0., 0.], [level, 1., 0.]]
    return _warp(image, boxes, np.array(m, np.float64))


def rotate(image, boxes, degrees):
    """Rotate counter-clockwise (as displayed, y down) by ``degrees`` about the centre."""
    h, w = image.shape[:2]
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    cx, cy = w / 2., h / 2.
    # x' = cx + c*(x-cx) + s*(y-cy);  y' = cy - s*(x-cx) + c*(y-cy)
    m = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy]], np.float64)
    return _warp(image, boxes, m)


# --- pixel ops ------------------------------------------------------------------------

def _to_pil(image):
    return Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8))


def _from_pil(pil):
    return np.asarray(pil, np.float32)


def equalize(image):
    """Histogram equalization per channel (PIL ``ImageOps.equalize``)."""
    return _from_pil(ImageOps.equalize(_to_pil(image)))


def solarize(image, threshold):
    """Pixels at or above ``threshold`` become 255 - pixel (PIL ``ImageOps.solarize``)."""
    return _from_pil(ImageOps.solarize(_to_pil(image), int(threshold)))


_ENHANCERS = {'Color': ImageEnhance.Color, 'Brightness': ImageEnhance.Brightness,
              'Sharpness': ImageEnhance.Sharpness, 'Contrast': ImageEnhance.Contrast}


def enhance(image, kind, factor):
    """PIL ``ImageEnhance.<kind>(image).enhance(factor)``: 1 keeps the image, 0 gives the
    degenerate image (grey / black / blurred / mean grey), above 1 extrapolates."""
    return _from_pil(_ENHANCERS[kind](_to_pil(image)).enhance(factor))


def cutout(image, pad, cy, cx):
    """Fill the (2*pad) square centred on pixel (cy, cx), clipped to the image, with grey."""
    out = np.array(image, np.float32, copy=True)
    h, w = out.shape[:2]
    out[max(0, cy - pad):min(h, cy + pad), max(0, cx - pad):min(w, cx + pad)] = FILL
    return out


def apply_in_boxes(image, boxes, fn, prob, rng):
    """Run ``fn(patch) -> patch`` on the pixels of each box (integer cover of the box)
    independently with probability ``prob``; boxes stay where they are."""
    out = np.array(image, np.float32, copy=True)
    h, w = out.shape[:2]
    for i in rng.permutation(len(boxes)):
        if rng.uniform() >= prob:
            continue
        x1, y1, x2, y2 = boxes[i]
        x1, y1 = int(max(0, math.floor(x1))), int(max(0, math.floor(y1)))
        x2, y2 = int(min(w, math.ceil(x2))), int(min(h, math.ceil(y2)))
        if x2 > x1 and y2 > y1:
            out[y1:y2, x1:x2] = fn(out[y1:y2, x1:x2])
    return out


# --- policy ---------------------------------------------------------------------------

@register
class AutoAugment(BaseOperator):
    """Detection AutoAugment: draw one sub-policy of ``policy`` per sample and apply its
    ops (see the module docstring for the policy and each op's magnitude).

    ``policy`` names a built-in policy (``v0``) or is a list of sub-policies, each a list
    of ``[op, prob, level]``.  Put it in ``TrainReader.sample_transforms`` after
    ``Decode`` (it needs pixel boxes and an image in [0, 255])."""

    OPS = ('TranslateX_BBox', 'TranslateY_BBox', 'ShearX_BBox', 'ShearY_BBox', 'Rotate_BBox',
           'TranslateX_Only_BBoxes', 'TranslateY_Only_BBoxes', 'Equalize', 'Solarize',
           'Cutout', 'Color', 'Brightness', 'Sharpness', 'Contrast')

    def __init__(self, policy='v0', translate_const=250., translate_bbox_const=120.,
                 cutout_const=100., bbox_only_prob_scale=1. / 3):
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise ValueError('AutoAugment: unknown policy %r (built in: %s; or give a list '
                                 'of sub-policies)' % (policy, ', '.join(POLICIES)))
            subs = POLICIES[policy]
        else:
            subs = policy
        checked = []
        for sub in subs:
            ops = []
            for op in sub:
                name, prob, level = op
                if name not in self.OPS:
                    raise ValueError('AutoAugment: unknown op %r (known: %s)' % (
                        name, ', '.join(self.OPS)))
                if not 0 <= float(level) <= MAX_LEVEL or not 0 <= float(prob) <= 1:
                    raise ValueError('AutoAugment: %s needs prob in [0, 1] and level in '
                                     '[0, 10], got %r, %r' % (name, prob, level))
                ops.append((name, float(prob), float(level)))
            checked.append(ops)
        if not checked:
            raise ValueError('AutoAugment: the policy has no sub-policies')
        self.policy = policy
        self._subs = checked
        self.translate_const = float(translate_const)
        self.translate_bbox_const = float(translate_bbox_const)
        self.cutout_const = float(cutout_const)
        self.bbox_only_prob_scale = float(bbox_only_prob_scale)

    @staticmethod
    def _signed(value, rng):
        return value if rng.uniform() < 0.5 else -value

    def run_op(self, name, level, image, boxes, rng, prob=1.):
        """One op at ``level`` -> (image, boxes, keep or None).  ``prob`` matters only for
        the ``*_Only_BBoxes`` ops, which draw per box."""
        frac = level / MAX_LEVEL
        if name in ('TranslateX_BBox', 'TranslateY_BBox'):
            d = self._signed(frac * self.translate_const, rng)
            return translate(image, boxes, *((d, 0.) if name[9] == 'X' else (0., d)))
        if name in ('ShearX_BBox', 'ShearY_BBox'):
            return shear(image, boxes, self._signed(frac * 0.3, rng), name[5] == 'X')
        if name == 'Rotate_BBox':
            return rotate(image, boxes, self._signed(frac * 30., rng))
        if name.endswith('_Only_BBoxes'):
            d = self._signed(frac * self.translate_bbox_const, rng)
            shift = (d, 0.) if name[9] == 'X' else (0., d)
            fn = lambda patch: translate(patch, None, *shift)[0]  # noqa: E731
            if boxes is None or len(boxes) == 0:
                return image, boxes, None
            return apply_in_boxes(image, boxes, fn, prob * self.bbox_only_prob_scale,
                                  rng), boxes, None
        if name == 'Equalize':
            return equalize(image), boxes, None
        if name == 'Solarize':
            return solarize(image, int(frac * 256)), boxes, None
        if name == 'Cutout':
            h, w = image.shape[:2]
            pad = int(frac * self.cutout_const)
            return cutout(image, pad, rng.randint(h), rng.randint(w)), boxes, None
        return enhance(image, name, frac * 1.8 + 0.1), boxes, None

    def apply(self, sample, rng=np.random):
        sub = self._subs[rng.randint(len(self._subs))]
        image = np.asarray(sample['image'], np.float32)
        boxes = np.asarray(sample['gt_bbox'], np.float32) if _has_boxes(sample) else None
        for name, prob, level in sub:
            per_box = name.endswith('_Only_BBoxes')
            if not per_box and rng.uniform() >= prob:
                continue
            image, new_boxes, keep = self.run_op(name, level, image, boxes, rng, prob)
            if keep is not None and boxes is not None:
                sample['gt_bbox'] = new_boxes
                filter_boxes(sample, keep)
                boxes = sample['gt_bbox'] if len(sample['gt_bbox']) else None
        sample['image'] = image.astype(np.float32)
        return sample
