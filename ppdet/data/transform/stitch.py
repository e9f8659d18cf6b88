"""Stitch: four images of a batch tiled into one 2x2 mosaic at half scale.

Source: Chen et al. 2020, "Stitcher: Feedback-driven Data Provider for Object
Detection" (arXiv:2004.12432), the seed's "Stitch" rows.  Stitcher pads the images of a
batch to one size, shrinks each by 2 in both sides and tiles k = 4 of them into one image
of the original size, so every object becomes four times smaller in area; its boxes are
scaled and shifted with their image.  Stitcher decides *when* to stitch from feedback:
if small objects gave less than a fraction (tau = 0.1) of the box-regression loss in the
previous iteration, the next batch is stitched.

That feedback does not fit this reader: batch transforms run inside the DataLoader
workers, several batches ahead of the training step, and see no loss.  This transform is
the fixed-probability variant instead: each sample of a batch is, with probability
``prob``, replaced by a mosaic of itself and the next three samples of the batch
(cyclically, so a batch of fewer than four images repeats images).  ``prob: 0`` (or
leaving ``Stitch`` out of ``batch_transforms``) switches it off.

Put it in ``TrainReader.batch_transforms`` before the resize (the mosaic takes the size
of the sample it replaces; the resize then brings the batch to one size)::

    batch_transforms:
    - Stitch: {prob: 0.5}
    - BatchRandomResize: {...}
"""
import cv2
import numpy as np

from ppdet.core.workspace import register

from .operators import BOX_FIELDS, BaseOperator, _set_shape

__all__ = ['Stitch', 'stitch_samples']


def _place(sample, qh, qw, keep_ratio):
    """``sample``'s image resized into a ``qh`` x ``qw`` quadrant; returns (image, sx, sy)."""
    im = np.asarray(sample['image'], np.float32)
    h, w = im.shape[:2]
    if keep_ratio:
        s = min(qh / float(h), qw / float(w))
        sx = sy = s
        nh, nw = max(1, min(qh, int(round(h * s)))), max(1, min(qw, int(round(w * s))))
    else:
        nh, nw = qh, qw
        sx, sy = qw / float(w), qh / float(h)
    out = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
    if out.ndim == 2:
        out = out[..., None]
    return out, sx, sy


def stitch_samples(samples, out_hw, keep_ratio=True, fill_value=(0., 0., 0.), min_size=1.):
    """One new sample: the four ``samples`` tiled 2x2 (top-left, top-right, bottom-left,
    bottom-right) into an ``out_hw`` image, each scaled to fit a half-side quadrant
    (aspect kept with ``keep_ratio``, the quadrant's rest filled with ``fill_value``).
    Boxes are scaled, shifted into their quadrant, clipped to it; boxes narrower or lower
    than ``min_size`` pixels after that are dropped.  Other keys come from ``samples[0]``."""
    if len(samples) != 4:
        raise ValueError('stitch_samples needs 4 samples, got %d' % len(samples))
    oh, ow = int(out_hw[0]), int(out_hw[1])
    qh, qw = oh // 2, ow // 2
    if qh < 1 or qw < 1:
        raise ValueError('Stitch: output size %dx%d too small for a 2x2 mosaic' % (oh, ow))
    channels = np.asarray(samples[0]['image']).shape[2]
    canvas = np.empty((oh, ow, channels), np.float32)
    canvas[...] = np.asarray(fill_value, np.float32)[:channels]
    fields = {k: [] for k in BOX_FIELDS if k in samples[0]}
    for i, s in enumerate(samples):
        y0, x0 = (i // 2) * qh, (i % 2) * qw
        im, sx, sy = _place(s, qh, qw, keep_ratio)
        canvas[y0:y0 + im.shape[0], x0:x0 + im.shape[1]] = im
        boxes = np.asarray(s.get('gt_bbox', np.zeros([0, 4])), np.float32).reshape(-1, 4)
        boxes = boxes * np.array([sx, sy, sx, sy], np.float32) + np.array([x0, y0, x0, y0],
                                                                          np.float32)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], x0, x0 + im.shape[1])
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], y0, y0 + im.shape[0])
        keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
        for key in fields:
            if key == 'gt_bbox':
                fields[key].append(boxes[keep])
            elif key in s and s[key] is not None:
                fields[key].append(np.asarray(s[key])[keep])
            else:
                raise KeyError('Stitch: sample %s has no %r but another sample of the batch '
                               'has' % (s.get('im_file'), key))
    out = dict(samples[0])
    for key, parts in fields.items():
        out[key] = np.concatenate(parts, axis=0)
    out['image'] = canvas
    out['h'], out['w'] = float(oh), float(ow)
    out['stitched'] = True
    _set_shape(out)
    return out


@register
class Stitch(BaseOperator):
    """Batch transform: with probability ``prob`` per sample, replace it by a 2x2 mosaic
    of itself and the next three samples of the batch, each at half the side of the
    sample it replaces (or of ``output_size`` [h, w] when given).  See the module
    docstring for where this comes from and how it differs from Stitcher."""

    def __init__(self, prob=0.5, output_size=None, keep_ratio=True,
                 fill_value=(123.675, 116.28, 103.53), min_size=1.):
        if not 0. <= float(prob) <= 1.:
            raise ValueError('Stitch prob must be in [0, 1], got %r' % (prob,))
        if output_size is not None:
            output_size = [int(v) for v in (output_size if isinstance(output_size, (list, tuple))
                                             else [output_size, output_size])]
        self.prob = float(prob)
        self.output_size = output_size
        self.keep_ratio = keep_ratio
        self.fill_value = [float(v) for v in (fill_value if isinstance(fill_value, (list, tuple))
                                              else [fill_value] * 3)]
        self.min_size = float(min_size)

    def __call__(self, samples):
        if not isinstance(samples, (list, tuple)):
            return self.apply(samples)
        n = len(samples)
        out = []
        for i, s in enumerate(samples):
            if self.prob <= 0. or np.random.uniform(0., 1.) >= self.prob:
                out.append(s)
                continue
            group = [samples[(i + k) % n] for k in range(4)]
            size = self.output_size or np.asarray(s['image']).shape[:2]
            out.append(stitch_samples(group, size, self.keep_ratio, self.fill_value,
                                      self.min_size))
        return out

    def apply(self, sample):
        return self([sample])[0]
