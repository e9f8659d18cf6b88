"""Anchors, IoU matching and FCOS targets (ppdet/modeling/dense_targets.py) on hand-made
cases."""
import math

import numpy as np
import paddle

from ppdet.modeling.dense_targets import (AnchorGenerator, assign_by_iou, decode_deltas,
                                          encode_deltas)


def test_retinanet_anchor_counts_and_sizes():
    gen = AnchorGenerator()
    assert gen.num_anchors == 9
    # 640 x 640 input: P3..P7 maps 80, 40, 20, 10, 5
    levels = gen([(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)])
    assert [int(a.shape[0]) for a in levels] == [80 * 80 * 9, 40 * 40 * 9, 20 * 20 * 9,
                                                 10 * 10 * 9, 5 * 5 * 9]
    assert sum(int(a.shape[0]) for a in levels) == 76725
    first = levels[0].numpy()[:9]
    w, h = first[:, 2] - first[:, 0], first[:, 3] - first[:, 1]
    # ratio-major: ratios 0.5 (h/w), 1, 2, each at sizes 32 * 2^(0, 1/3, 2/3)
    sizes = [32, 32 * 2 ** (1 / 3.), 32 * 2 ** (2 / 3.)]
    np.testing.assert_allclose(np.sqrt(w * h), sizes * 3, rtol=1e-5)
    np.testing.assert_allclose(h / w, [0.5] * 3 + [1] * 3 + [2] * 3, rtol=1e-5)
    np.testing.assert_allclose((first[:, 0] + first[:, 2]) / 2, 4.)   # centre of cell (0, 0)
    np.testing.assert_allclose(levels[0].numpy()[9, [0, 2]].mean(), 12.)  # next column
    last = levels[-1].numpy()[-1]   # stride 128, ratio 2, size 512 * 2^(2/3)
    np.testing.assert_allclose(math.sqrt((last[2] - last[0]) * (last[3] - last[1])),
                               512 * 2 ** (2 / 3.), rtol=1e-5)


ANCHORS = np.array([[0, 0, 10, 10],     # IoU 1 with box 0
                    [0, 0, 10, 20],     # 100 / 200 = 0.5: positive (>= 0.5)
                    [5, 0, 15, 10],     # 50 / 150 = 0.33: negative (< 0.4)
                    [0, 0, 10, 22],     # 100 / 220 = 0.45: ignored
                    [30, 30, 40, 40]],  # 36 / 100 = 0.36 with box 1: its best anchor
                   'float32')
GT = np.array([[[0, 0, 10, 10], [30, 30, 36, 36], [0, 0, 0, 0]]], 'float32')  # + padding


def test_iou_matching_with_low_quality_matches():
    state, match = assign_by_iou(paddle.to_tensor(ANCHORS), paddle.to_tensor(GT), 0.5, 0.4)
    assert state.numpy().tolist() == [[1, 1, 0, -1, 1]]
    m = match.numpy()[0]
    assert m[[0, 1, 4]].tolist() == [0, 0, 1]
    # without low-quality matches box 1 (IoU 0.36 at best) gets no anchor
    state, _ = assign_by_iou(paddle.to_tensor(ANCHORS), paddle.to_tensor(GT), 0.5, 0.4,
                             low_quality=False)
    assert state.numpy().tolist() == [[1, 1, 0, -1, 0]]
    # an image with only padding rows: every anchor negative
    state, _ = assign_by_iou(paddle.to_tensor(ANCHORS), paddle.zeros([1, 2, 4]), 0.5, 0.4)
    assert state.numpy().tolist() == [[0] * 5]


def test_deltas_round_trip():
    anchors = paddle.to_tensor(ANCHORS[:3])
    boxes = paddle.to_tensor([[1, 2, 9, 14], [-3, 0, 12, 25], [6, 1, 20, 9]], 'float32')
    d = encode_deltas(anchors, boxes)
    # anchor 0: centre (5, 5), 10 x 10; box 0: centre (5, 8), 8 x 12
    np.testing.assert_allclose(d.numpy()[0], [0., 0.3, math.log(0.8), math.log(1.2)],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(decode_deltas(anchors, d).numpy(), boxes.numpy(), atol=1e-4)
