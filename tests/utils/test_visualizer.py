import os

import cv2
import numpy as np
import pytest

from ppdet.utils.visualizer import draw_boxes, save_result_image, shown_rows


def _changed(a, b):
    return np.any(a != b, axis=2)


def test_draws_box_outline_and_label_only_near_the_box():
    img = np.zeros((120, 160, 3), np.uint8)
    rows = np.array([[1, 0.9, 40, 50, 100, 100],
                     [0, 0.2, 5, 5, 30, 30],          # below threshold
                     [-1, 1.0, 120, 5, 150, 30],      # padding
                     [0, 0.95, 130, 60, 130, 110]],   # no area (an untrained head's NMS)
                    np.float32)
    out = draw_boxes(img, rows, ['a', 'b'], threshold=0.5)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert not img.any()                              # input left untouched
    diff = _changed(out, img)
    assert diff[75, 40] and diff[75, 100] and diff[100, 70]   # left, right, bottom edges
    assert not diff[75, 70]                           # box interior stays empty
    assert diff[40:50, 40:60].any()                   # label above the box
    assert not diff[0:35, 0:35].any()                 # low-score box not drawn
    assert not diff[0:35, 115:].any()                 # padding row not drawn
    assert not diff[45:, 115:].any()                  # zero-area box nor its label drawn
    assert not diff[110:, :].any()                    # far away: untouched


def test_label_fallback_and_image_edges():
    img = np.full((40, 40, 3), 128, np.uint8)
    out = draw_boxes(img, [[7, 0.99, -5, 0, 60, 30]], None)  # unknown name, off-image box
    assert _changed(out, img).any()
    with pytest.raises(ValueError, match='RGB'):
        draw_boxes(np.zeros((4, 4), np.uint8), [], None)


def test_save_result_image_roundtrip(tmp_path):
    img = np.zeros((8, 10, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    path = save_result_image(str(tmp_path / 'sub' / 'x.png'), img)
    back = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, img)
    assert os.listdir(tmp_path / 'sub') == ['x.png']
    with pytest.raises(ValueError, match='cannot encode'):
        save_result_image(str(tmp_path / 'x.nope'), img)


def test_shown_rows_are_classes_above_the_threshold_with_area():
    rows = np.array([[1, 0.9, 40, 50, 100, 100], [0, 0.2, 5, 5, 30, 30], [-1, 1.0, 1, 1, 9, 9],
                     [0, 0.95, 130, 60, 130, 110], [0, 0.95, 10, 60, 20, 60],
                     [2, 0.5, 0, 0, 0.5, 0.5]], np.float32)
    np.testing.assert_array_equal(shown_rows(rows, 0.5), rows[[0, 5]])
    assert shown_rows(np.zeros((0, 6)), 0.5).shape == (0, 6)
