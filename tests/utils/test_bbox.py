"""The one numpy IoU: continuous coordinates, and VOC's inclusive pixel indices."""
import numpy as np
import pytest

from ppdet.utils.bbox import box_iou


def test_box_iou_continuous_and_pixel_inclusive():
    a, b = [[0, 0, 9, 9]], [[5, 0, 14, 9], [20, 20, 30, 30]]
    assert box_iou(a, b)[0] == pytest.approx([4 * 9 / (2 * 81 - 36), 0.0])
    # +1: a 10x10 box overlapping another by 5x10 pixels
    assert box_iou(a, b, pixel_offset=1.0)[0] == pytest.approx([50 / 150, 0.0])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 2)
    assert box_iou([[3, 3, 3, 3]], [[3, 3, 3, 3]])[0, 0] == 0.0   # zero union
