"""Box geometry shared by the data transforms, the VOC metric, the built-in dataset's
generator and the deploy comparisons."""
import numpy as np


def box_iou(a, b, pixel_offset=0.0):
    """IoU of x1y1x2y2 boxes: ``[N,4] x [M,4] -> [N,M]`` (float64).

    ``pixel_offset=0``: continuous coordinates (width = x2 - x1).  ``pixel_offset=1``: VOC's
    inclusive pixel indices (width = x2 - x1 + 1), for boxes that are not normalized.
    Degenerate boxes have zero area; a pair with zero union has IoU 0.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt + pixel_offset, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2] + pixel_offset, 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2] + pixel_offset, 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
