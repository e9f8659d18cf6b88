"""Geometric invariants of the sample transforms, on images whose boxes are painted in
distinct colours so the pixels tell where each box went."""
import os

import cv2
import numpy as np
import pytest

from ppdet.core.workspace import ConfigError
from ppdet.data.reader import build_transforms
from ppdet.data.transform import (Decode, NormalizeImage, Permute, RandomCrop, RandomDistort,
                                  RandomExpand, RandomFlip, Resize)

from datagen import write_jpg

COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.float32)


def painted_sample(h=100, w=160):
    boxes = np.array([[10, 10, 50, 40], [60, 20, 150, 90], [5, 60, 40, 95], [100, 5, 120, 15]],
                     np.float32)
    im = np.zeros((h, w, 3), np.float32)
    for b, c in zip(boxes.astype(int), COLORS):
        im[b[1]:b[3], b[0]:b[2]] = c
    return {'image': im, 'gt_bbox': boxes, 'gt_class': np.arange(4, dtype=np.int32)[:, None],
            'difficult': np.zeros((4, 1), np.int32), 'is_crowd': np.zeros((4, 1), np.int32),
            'im_shape': np.array([h, w], np.float32), 'h': h, 'w': w}


def center_color(sample, i):
    x1, y1, x2, y2 = sample['gt_bbox'][i]
    return sample['image'][int((y1 + y2) / 2), int((x1 + x2) / 2)]


def test_decode_is_rgb_float(tmp_path):
    # (0, 0, 255) is red in OpenCV's BGR order
    path = write_jpg(os.path.join(str(tmp_path), 'red.jpg'), h=20, w=30, color=(0, 0, 255))
    s = Decode()({'im_file': path, 'h': 20, 'w': 30})
    assert s['image'].dtype == np.float32 and s['image'].shape == (20, 30, 3)
    assert s['image'][..., 0].mean() > 240 and s['image'][..., 2].mean() < 15
    np.testing.assert_array_equal(s['im_shape'], [20, 30])
    np.testing.assert_array_equal(s['scale_factor'], [1, 1])


def test_flip_maps_boxes():
    s = painted_sample()
    orig = s['gt_bbox'].copy()
    out = RandomFlip(prob=1.0)(s)
    np.testing.assert_allclose(out['gt_bbox'][:, 0], 160 - orig[:, 2])
    np.testing.assert_allclose(out['gt_bbox'][:, 2], 160 - orig[:, 0])
    np.testing.assert_allclose(out['gt_bbox'][:, 1::2], orig[:, 1::2])
    for i in range(4):
        np.testing.assert_array_equal(center_color(out, i), COLORS[i])
    assert RandomFlip(prob=0.0)(painted_sample())['gt_bbox'].tolist() == orig.tolist()


@pytest.mark.parametrize('keep_ratio', [False, True])
def test_resize_scales_boxes(keep_ratio):
    s = painted_sample()
    orig = s['gt_bbox'].copy()
    out = Resize([200, 200], keep_ratio=keep_ratio, interp=cv2.INTER_NEAREST)(s)
    h, w = out['image'].shape[:2]
    assert (h, w) == ((125, 200) if keep_ratio else (200, 200))
    sy, sx = h / 100., w / 160.
    np.testing.assert_allclose(out['scale_factor'], [sy, sx], rtol=1e-6)
    np.testing.assert_array_equal(out['im_shape'], [h, w])
    np.testing.assert_allclose(out['gt_bbox'], orig * [sx, sy, sx, sy], rtol=1e-5)
    for i in range(4):
        np.testing.assert_array_equal(center_color(out, i), COLORS[i])


def test_expand_offsets_boxes():
    np.random.seed(0)
    for _ in range(10):
        s = painted_sample()
        orig_im, orig = s['image'].copy(), s['gt_bbox'].copy()
        out = RandomExpand(ratio=3., prob=1.0, fill_value=[1, 2, 3])(s)
        H, W = out['image'].shape[:2]
        assert H >= 100 and W >= 160
        dx, dy = (out['gt_bbox'] - orig)[0, :2]
        np.testing.assert_allclose(out['gt_bbox'] - orig, [[dx, dy, dx, dy]] * 4)
        np.testing.assert_array_equal(out['image'][int(dy):int(dy) + 100, int(dx):int(dx) + 160],
                                      orig_im)
        np.testing.assert_array_equal(out['im_shape'], [H, W])


def test_crop_keeps_boxes_inside_and_aligned():
    np.random.seed(1)
    cropped = 0
    for _ in range(40):
        out = RandomCrop()(painted_sample())
        h, w = out['image'].shape[:2]
        cropped += (h, w) != (100, 160)
        b = out['gt_bbox']
        assert len(b) >= 1
        assert np.all(b[:, 0::2] >= 0) and np.all(b[:, 0::2] <= w)
        assert np.all(b[:, 1::2] >= 0) and np.all(b[:, 1::2] <= h)
        assert np.all(b[:, 2:] > b[:, :2])
        assert len(out['gt_class']) == len(out['difficult']) == len(out['is_crowd']) == len(b)
        for i, cls in enumerate(out['gt_class'][:, 0]):  # each box still shows its colour
            np.testing.assert_array_equal(center_color(out, i), COLORS[cls])
    assert cropped > 10


def test_crop_without_boxes_is_a_no_op():
    s = painted_sample()
    s['gt_bbox'] = np.zeros((0, 4), np.float32)
    assert RandomCrop()(s)['image'].shape == (100, 160, 3)


def test_distort_normalize_permute():
    np.random.seed(0)
    s = painted_sample()
    out = RandomDistort(hue=[-18, 18, 1.], saturation=[.5, 1.5, 1.], contrast=[.5, 1.5, 1.],
                        brightness=[.5, 1.5, 1.])(s)
    assert out['image'].shape == (100, 160, 3) and out['image'].dtype == np.float32
    assert out['image'].min() >= 0 and out['image'].max() <= 255
    s = {'image': np.full((4, 5, 3), 255., np.float32)}
    out = Permute()(NormalizeImage([0.5, 0.5, 0.5], [0.25, 0.5, 1.0], is_scale=True)(s))
    assert out['image'].shape == (3, 4, 5)
    np.testing.assert_allclose(out['image'][:, 0, 0], [2., 1., 0.5])


def test_ops_accept_a_list_of_samples():
    out = RandomFlip(prob=1.0)([painted_sample(), painted_sample()])
    assert len(out) == 2 and out[1]['gt_bbox'][0, 0] == 110


def test_unknown_transform_suggests_the_name():
    with pytest.raises(ConfigError, match="unknown transform 'RandomFlp'.*'RandomFlip'"):
        build_transforms([{'RandomFlp': {}}])
    with pytest.raises(ConfigError, match='unknown argument'):
        build_transforms([{'Resize': {'target_size': 32, 'keep_ration': True}}])
