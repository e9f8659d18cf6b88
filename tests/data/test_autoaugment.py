"""AutoAugment for detection: boxes of the geometric ops checked by hand on small images
(and against where the painted box's pixels went), the pixel ops, the v0 policy."""
import numpy as np
import pytest
import yaml

from ppdet.data.reader import build_transforms
from ppdet.data.transform import AutoAugment
from ppdet.data.transform.autoaugment import (POLICIES, apply_in_boxes, cutout, enhance,
                                              equalize, rotate, shear, solarize, translate)


def painted(h, w, box):
    im = np.zeros((h, w, 3), np.float32)
    x1, y1, x2, y2 = box
    im[y1:y2, x1:x2] = 255.
    return im, np.array([box], np.float32)


def white_region(im):
    ys, xs = np.nonzero(im[..., 0] == 255)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_translate_by_hand():
    im, boxes = painted(10, 12, [2, 2, 5, 6])
    out, new, keep = translate(im, boxes, dx=3)
    assert new.tolist() == [[5, 2, 8, 6]] and keep.tolist() == [True]
    assert white_region(out) == [5, 2, 8, 6]
    assert out[0, 0, 0] == 128  # the uncovered strip is grey
    out, new, keep = translate(im, boxes, dy=-1)
    assert new.tolist() == [[2, 1, 5, 5]] and white_region(out) == [2, 1, 5, 5]
    _, new, keep = translate(im, boxes, dx=4, dy=5)  # partly out: clipped at the bottom
    assert new.tolist() == [[6, 7, 9, 10]] and keep.tolist() == [True]
    _, new, keep = translate(im, boxes, dx=10)  # wholly out: x1 = x2 = 12, dropped
    assert keep.tolist() == [False]


def test_shear_by_hand():
    im, boxes = painted(12, 12, [2, 2, 6, 6])
    # ShearX 0.5: x' = x + 0.5 y; corners (2,2)->3, (6,2)->7, (2,6)->5, (6,6)->9
    _, new, _ = shear(im, boxes, 0.5, horizontal=True)
    assert new.tolist() == [[3, 2, 9, 6]]
    # ShearY 0.5: y' = y + 0.5 x; corners give y in {3, 5, 7, 9}
    out, new, _ = shear(im, boxes, 0.5, horizontal=False)
    assert new.tolist() == [[2, 3, 6, 9]]
    x1, y1, x2, y2 = white_region(out)  # the parallelogram's pixels lie in the new box
    assert x1 >= 2 and y1 >= 3 and x2 <= 6 and y2 <= 9
    # x' = x - 0.5 y: corners give x in {1, 5, -1, 3}; -1 is clipped to 0
    _, new, _ = shear(im, boxes, -0.5, horizontal=True)
    assert new.tolist() == [[0, 2, 5, 6]]


def test_rotate_by_hand():
    im, boxes = painted(10, 10, [6, 4, 8, 5])
    # 90 deg counter-clockwise about (5, 5): x' = 5 + (y - 5), y' = 5 - (x - 5)
    out, new, _ = rotate(im, boxes, 90)
    assert np.allclose(new, [[4, 2, 5, 4]], atol=1e-5)
    assert white_region(out) == [4, 2, 5, 4]
    out, new, _ = rotate(im, boxes, -90)  # clockwise: x' = 5 - (y - 5), y' = 5 + (x - 5)
    assert np.allclose(new, [[5, 6, 6, 8]], atol=1e-5) and white_region(out) == [5, 6, 6, 8]
    # 45 deg: a 2x2 square about the centre becomes a diamond of half-diagonal sqrt(2)
    _, new, _ = rotate(*painted(10, 10, [4, 4, 6, 6]), 45)
    r = np.sqrt(2)
    assert np.allclose(new, [[5 - r, 5 - r, 5 + r, 5 + r]], atol=1e-5)


def test_pixel_ops():
    rng = np.random.RandomState(0)
    im = rng.uniform(0, 255, (16, 20, 3)).round().astype(np.float32)
    grey = enhance(im, 'Color', 0.)
    assert np.all(grey[..., 0] == grey[..., 1]) and np.all(grey[..., 1] == grey[..., 2])
    assert np.array_equal(enhance(im, 'Brightness', 1.), im)
    assert np.all(enhance(im, 'Brightness', 0.) == 0)
    levels = np.repeat(np.arange(7, 15, dtype=np.float32), 8)[:, None, None]
    eq = equalize(np.broadcast_to(levels, (64, 64, 3)))
    assert eq.min() == 0 and eq.max() == 255  # 8 equally common levels spread over [0, 255]
    assert len(np.unique(eq)) == 8
    sol = solarize(np.array([[[10, 200, 128]]], np.float32), 128)
    assert sol.tolist() == [[[10, 55, 127]]]
    cut = cutout(im, 3, cy=1, cx=18)  # clipped to rows 0..3, columns 15..19
    assert np.all(cut[0:4, 15:20] == 128) and np.array_equal(cut[4:], im[4:])
    assert np.array_equal(cut[:, :15], im[:, :15])


def test_only_bboxes_moves_content_inside_the_box():
    im = np.zeros((10, 10, 3), np.float32)
    im[2:8, 2:8] = 50.
    im[2:4, 2:8] = 255.  # the box's top two rows are white
    boxes = np.array([[2, 2, 8, 8]], np.float32)
    out = apply_in_boxes(im, boxes, lambda p: translate(p, None, 0, 3)[0], 1.0,
                         np.random.RandomState(0))
    assert np.all(out[2:5, 2:8, 0] == 128)       # vacated rows inside the box: grey
    assert np.all(out[5:7, 2:8, 0] == 255)       # white moved down by 3
    assert np.all(out[7:8, 2:8, 0] == 50)
    out[2:8, 2:8] = 0
    im[2:8, 2:8] = 0
    assert np.array_equal(out, im)               # nothing outside the box changed


def _sample():
    im, _ = painted(64, 80, [10, 10, 30, 40])
    boxes = np.array([[10, 10, 30, 40], [50, 5, 78, 60], [0, 50, 6, 64]], np.float32)
    return {'image': im, 'gt_bbox': boxes, 'gt_class': np.array([[0], [1], [2]], np.int32),
            'is_crowd': np.zeros((3, 1), np.int32)}


def test_policy_v0_as_published():
    v0 = POLICIES['v0']
    assert len(v0) == 5 and all(len(sub) == 2 for sub in v0)
    assert v0[0] == [('TranslateX_BBox', 0.6, 4), ('Equalize', 0.8, 10)]
    assert v0[4] == [('Rotate_BBox', 0.6, 10), ('Color', 1.0, 6)]


@pytest.mark.parametrize('index', range(5))
def test_each_v0_subpolicy_keeps_boxes_aligned(index):
    rng = np.random.RandomState(index)
    sub = [[name, 1.0, level] for name, _, level in POLICIES['v0'][index]]
    aug = AutoAugment(policy=[sub])
    for _ in range(3):
        s = aug.apply(_sample(), rng)
        h, w = s['image'].shape[:2]
        assert (h, w) == (64, 80) and s['image'].dtype == np.float32
        b = s['gt_bbox']
        assert len(b) == len(s['gt_class']) == len(s['is_crowd'])
        if not len(b):  # TranslateX by 100 px moves every box out of the 80 px image
            continue
        assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
        assert b[:, 0::2].min() >= 0 and b[:, 0::2].max() <= w and b[:, 3].max() <= h


def test_translate_magnitude_and_sign():
    # level 4 -> 100 px: the 80 px wide image loses every box whichever the sign
    aug = AutoAugment(policy=[[['TranslateX_BBox', 1.0, 4]]])
    for seed in range(4):
        assert len(aug.apply(_sample(), np.random.RandomState(seed))['gt_bbox']) == 0
    aug = AutoAugment(policy=[[['TranslateY_BBox', 1.0, 0.2]]])  # 0.02 * 250 = 5 px
    moves = {float(aug.apply(_sample(), np.random.RandomState(seed))['gt_bbox'][0, 1] - 10)
             for seed in range(8)}
    assert moves == {5., -5.}


def test_from_yaml_and_errors():
    ops = build_transforms(yaml.safe_load('- AutoAugment: {policy: v0}'))
    assert isinstance(ops[0], AutoAugment)
    np.random.seed(0)
    out = ops[0](_sample())
    assert out['image'].shape == (64, 80, 3)
    with pytest.raises(ValueError, match="unknown policy 'v9'"):
        AutoAugment(policy='v9')
    with pytest.raises(ValueError, match="unknown op 'Blur'"):
        AutoAugment(policy=[[['Blur', 0.5, 3]]])
    with pytest.raises(ValueError, match='level'):
        AutoAugment(policy=[[['Equalize', 0.5, 11]]])
