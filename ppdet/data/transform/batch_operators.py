"""Transforms over a batch (a list of samples), run in the DataLoader worker."""
import cv2
import numpy as np

from ppdet.core.workspace import register
from ppdet.utils.logger import setup_logger

from .operators import BaseOperator, Resize, _size_hw

__all__ = ['BatchRandomResize', 'NormalizeBox', 'PadBox', 'BboxXYXY2XYWH']

_INTERPS = [cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC,
            cv2.INTER_LANCZOS4]


def _hw(sample):
    if 'im_shape' in sample:
        h, w = sample['im_shape']
        return float(h), float(w)
    return tuple(float(v) for v in sample['image'].shape[:2])


@register
class BatchRandomResize(BaseOperator):
    """Resize every sample of a batch to one size drawn per batch (multi-scale training).

    Args:
        target_size: list of sizes (ints for squares, or [h, w] pairs) to draw from when
            ``random_size``; otherwise the one size to use (an int or [h, w]).
        keep_ratio, interp: as in :class:`Resize`; ``random_interp`` draws the
            interpolation per batch too.
    """

    def __init__(self, target_size, keep_ratio, interp=cv2.INTER_NEAREST, max_size=0,
                 random_size=True, random_interp=False):
        if random_size:
            if not isinstance(target_size, (list, tuple)) or not target_size:
                raise ValueError('BatchRandomResize with random_size=true needs a list of sizes, '
                                 'got %r' % (target_size,))
            for size in target_size:
                _size_hw(size, 'BatchRandomResize target_size entry %r' % (size,))
        else:
            _size_hw(target_size, 'BatchRandomResize target_size %r' % (target_size,))
        self.target_size = target_size
        self.keep_ratio = keep_ratio
        self.interp = interp
        self.max_size = max_size
        self.random_size = random_size
        self.random_interp = random_interp

    def __call__(self, samples):
        if self.random_size:
            size = self.target_size[np.random.randint(len(self.target_size))]
        else:
            size = self.target_size
        interp = _INTERPS[np.random.randint(len(_INTERPS))] if self.random_interp else self.interp
        resize = Resize(size, keep_ratio=self.keep_ratio, interp=interp)
        if self.max_size and self.keep_ratio:
            resize.target_size = [min(t, self.max_size) for t in resize.target_size]
        return resize(samples)

    def apply(self, sample):
        return self([sample])[0]


@register
class NormalizeBox(BaseOperator):
    """Boxes from pixels to [0, 1]: x / w, y / h of the current image."""

    def apply(self, sample):
        if 'gt_bbox' in sample and len(sample['gt_bbox']):
            h, w = _hw(sample)
            sample['gt_bbox'] = (np.asarray(sample['gt_bbox'], np.float32) /
                                 np.array([w, h, w, h], np.float32))
        return sample


logger = setup_logger(__name__)
_TRUNCATION_SAID = []


@register
class PadBox(BaseOperator):
    """Pad (or truncate) the per-box fields to ``num_max_boxes`` rows.

    ``gt_bbox`` -> [M,4] float32, ``gt_class`` -> [M] int32, ``gt_score`` -> [M]
    float32 (1 for real boxes unless the sample had scores), and ``is_crowd`` /
    ``difficult`` -> [M] int32 when present.  Padding rows are zeros.
    """

    def __init__(self, num_max_boxes=50):
        if num_max_boxes <= 0:
            raise ValueError('PadBox num_max_boxes must be > 0, got %r' % num_max_boxes)
        self.num_max_boxes = num_max_boxes

    def apply(self, sample):
        m = self.num_max_boxes
        bbox = np.asarray(sample.get('gt_bbox', np.zeros([0, 4])), np.float32).reshape(-1, 4)
        n = min(len(bbox), m)
        sample['num_boxes_truncated'] = max(0, len(bbox) - m)
        if len(bbox) > m and not _TRUNCATION_SAID:
            _TRUNCATION_SAID.append(True)   # once per process (each data worker says it)
            logger.warning('%s has %d boxes and PadBox keeps %d (num_max_boxes): the rest are '
                           'left out of training and of a metric that reads the batch; raise '
                           'num_max_boxes of PadBox in the reader\'s batch_transforms',
                           sample.get('im_file', 'an image'), len(bbox), m)
        padded = np.zeros([m, 4], np.float32)
        padded[:n] = bbox[:n]
        sample['gt_bbox'] = padded
        if 'gt_score' not in sample or sample['gt_score'] is None:
            sample['gt_score'] = np.ones([len(bbox)], np.float32)
        for key, dtype in (('gt_class', np.int32), ('gt_score', np.float32),
                           ('is_crowd', np.int32), ('difficult', np.int32)):
            if key not in sample:
                if key == 'gt_class':
                    sample[key] = np.zeros([m], dtype)
                continue
            value = np.asarray(sample[key]).reshape(-1)
            out = np.zeros([m], dtype)
            out[:n] = value[:n]
            sample[key] = out
        return sample


@register
class BboxXYXY2XYWH(BaseOperator):
    """x1y1x2y2 -> cx, cy, w, h (padding rows of zeros stay zeros)."""

    def apply(self, sample):
        if 'gt_bbox' in sample and len(sample['gt_bbox']):
            b = np.asarray(sample['gt_bbox'], np.float32).copy()
            b[:, 2:] = b[:, 2:] - b[:, :2]
            b[:, :2] = b[:, :2] + b[:, 2:] / 2.
            sample['gt_bbox'] = b
        return sample
