"""Anchors, IoU matching and FCOS targets (ppdet/modeling/dense_targets.py) on hand-made
cases."""
import math

import numpy as np
import paddle

from ppdet.modeling.dense_targets import (AnchorGenerator, assign_by_iou, decode_deltas,
                                          encode_deltas, to_original_pixels)


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


# -- FCOS targets on a hand-drawn case --------------------------------------------------
#
#   A 32 x 32 input, two levels: stride 8 (a 4 x 4 grid of locations at 4, 12, 20, 28)
#   with the range [-1, 18], and stride 16 (2 x 2 at 8, 24) with [18, INF].
#
#        0    4    8   12   16   20   24   28   32
#      0 +--------A---------+
#        |    .        .    |  +--------B----------+ (10, 2) - (30, 14), class 5
#      4 |    a        a    |  |    b         b    |   A: (0, 0) - (16, 16), class 2
#        |                  |  |                   |
#     12 |    a        a    |  |    b         b    |
#        |                  |  +-------------------+
#     16 +------------------+--------C--------------+ (0, 16) - (32, 32), class 1
#     24 |         c (16)                 c (16)    |
#     32 +------------------------------------------+
GT_BOXES = np.array([[[0, 0, 16, 16], [10, 2, 30, 14], [0, 16, 32, 32], [0, 0, 0, 0]]],
                    'float32')
GT_CLASSES = np.array([[2, 5, 1, 0]], 'int32')
LEVEL0 = [(x, y) for y in (4, 12, 20, 28) for x in (4, 12, 20, 28)]


def _fcos(radius):
    from ppdet.modeling.dense_targets import INF, fcos_targets, grid_points
    pts = paddle.concat(grid_points([(4, 4), (2, 2)], [8, 16]), 0)
    strides = paddle.to_tensor([8.] * 16 + [16.] * 4)
    ranges = paddle.to_tensor([[-1., 18.]] * 16 + [[18., INF]] * 4)
    assert pts.numpy()[:16].tolist() == [list(p) for p in LEVEL0]
    labels, ltrb, ctr = fcos_targets(pts, strides, ranges, paddle.to_tensor(GT_BOXES),
                                     paddle.to_tensor(GT_CLASSES), center_radius=radius)
    return labels.numpy()[0], ltrb.numpy()[0], ctr.numpy()[0]


def test_fcos_targets_on_a_hand_drawn_case():
    labels, ltrb, ctr = _fcos(0.)
    # level 0, row y=4: (4,4) only in A; (12,4) in A (max side 12) and B (max 18 <= 18):
    # B is smaller (240 < 256 px^2); (20,4) and (28,4) in B (max 10 and 18).  Row y=12 the
    # same.  Rows 20 and 28 lie in C, but every distance set there reaches past 18.
    assert labels[:16].tolist() == [2, 5, 5, 5, 2, 5, 5, 5] + [-1] * 8
    # level 1: (8,8) in A with max side 8 < 18 and not in B; (24,8) in B with max 14 < 18;
    # (8,24) and (24,24) in C with max 24
    assert labels[16:].tolist() == [-1, -1, 1, 1]
    np.testing.assert_allclose(ltrb[0], [4, 4, 12, 12])       # (4,4) to A's sides
    np.testing.assert_allclose(ltrb[1], [2, 2, 18, 10])       # (12,4) to B's sides
    np.testing.assert_allclose(ltrb[18], [8, 8, 24, 8])       # (8,24) to C's sides
    assert not ltrb[8:16].any() and not ctr[8:16].any()       # background: zeros
    # centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))
    np.testing.assert_allclose(ctr[[0, 1, 2, 18]], [
        math.sqrt(4 / 12. * 4 / 12.), math.sqrt(2 / 18. * 2 / 10.),
        math.sqrt(10 / 10. * 2 / 10.), math.sqrt(8 / 24. * 8 / 8.)], rtol=1e-5)


def test_fcos_centre_sampling():
    labels, ltrb, _ = _fcos(0.75)
    # radius 0.75 x stride 8 = 6 px around each centre, clipped to the box: A's region
    # (2,2)-(14,14) holds (4|12, 4|12); B's (14,2)-(26,14) only x = 20, so (12,4) now goes to
    # A and (28,4) to nobody.  Level 1: 12 px around C's centre (16,24) holds (8,24), (24,24).
    assert labels[:16].tolist() == [2, 2, 5, -1, 2, 2, 5, -1] + [-1] * 8
    assert labels[16:].tolist() == [-1, -1, 1, 1]
    np.testing.assert_allclose(ltrb[1], [12, 4, 4, 12])


def test_to_original_pixels_divides_and_clips_each_coordinate():
    """Two diagonal matmuls around one clip give min(max(x / sx, 0), original width) (and
    the same for y) for every row, boxes outside the image included."""
    rng = np.random.RandomState(0)
    boxes = (rng.rand(2, 500, 4) * 900 - 150).astype('float32')      # some outside 0..640
    im_shape = np.array([[640., 640.], [480., 640.]], 'float32')
    scale = np.array([[0.5, 0.25], [1., 2.]], 'float32')             # (sy, sx)
    got = to_original_pixels(paddle.to_tensor(boxes), paddle.to_tensor(im_shape),
                             paddle.to_tensor(scale)).numpy()
    sy, sx = scale[:, :1], scale[:, 1:]
    oh, ow = im_shape[:, :1] / sy, im_shape[:, 1:] / sx
    want = np.stack([np.minimum(np.clip(boxes[..., i] / s, 0, None), m) for i, s, m in
                     ((0, sx, ow), (1, sy, oh), (2, sx, ow), (3, sy, oh))], -1)
    assert (want == 0).any() and (want[0, :, 2] == 2560).any() and (want[1, :, 3] == 480).any()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
