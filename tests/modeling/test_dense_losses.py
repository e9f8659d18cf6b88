"""Focal loss and IoU / GIoU losses on hand-computed values."""
import math

import numpy as np
import paddle
import pytest

from ppdet.modeling.losses.focal_loss import FocalLoss, sigmoid_focal_loss
from ppdet.modeling.losses.iou_loss import IouLoss, iou_and_giou, iou_loss


def _sig(x):
    return 1. / (1. + math.exp(-x))


def test_focal_loss_on_known_logits():
    # logit 0, positive: p_t = 0.5 -> 0.25 * (1 - 0.5)^2 * ln 2
    # logit 2, negative: p_t = 1 - sigmoid(2) -> 0.75 * sigmoid(2)^2 * -ln(1 - sigmoid(2))
    # logit -3, positive: p_t = sigmoid(-3) -> 0.25 * (1 - sigmoid(-3))^2 * -ln sigmoid(-3)
    hand = [0.25 * 0.25 * math.log(2.),
            0.75 * _sig(2.) ** 2 * -math.log(1 - _sig(2.)),
            0.25 * (1 - _sig(-3.)) ** 2 * -math.log(_sig(-3.))]
    np.testing.assert_allclose(hand, [0.0433217, 1.2375586, 0.6915701], rtol=1e-6)
    logits = paddle.to_tensor([0., 2., -3.])
    targets = paddle.to_tensor([1., 0., 1.])
    np.testing.assert_allclose(float(sigmoid_focal_loss(logits, targets)), sum(hand), rtol=1e-5)
    # the weights drop an entry (an ignored anchor); FocalLoss scales by loss_weight
    w = paddle.to_tensor([1., 0., 1.])
    np.testing.assert_allclose(float(FocalLoss(loss_weight=2.)(logits, targets, w)),
                               2 * (hand[0] + hand[2]), rtol=1e-5)
    # gamma 0, alpha off: plain binary cross-entropy
    np.testing.assert_allclose(
        float(sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0.)),
        math.log(2.) - math.log(1 - _sig(2.)) - math.log(_sig(-3.)), rtol=1e-5)


def test_focal_loss_is_stable_for_large_logits():
    logits = paddle.to_tensor([60., -60.], stop_gradient=False)
    loss = sigmoid_focal_loss(logits, paddle.to_tensor([0., 1.]))
    loss.backward()
    assert np.isfinite(float(loss)) and float(loss) > 10
    assert np.isfinite(logits.grad.numpy()).all()


BOXES = [  # pred, target, IoU, GIoU (by hand)
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7., 1 / 7. - (9 - 7) / 9.),  # enclosing box 3x3
    ([0, 0, 1, 1], [2, 0, 3, 1], 0., -(3 - 2) / 3.),               # disjoint, enclosing 3x1
    ([0, 0, 4, 2], [0, 0, 4, 2], 1., 1.),
    ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16., 4 / 16.),                 # inside: C = pred
]


def test_iou_and_giou_of_known_boxes():
    pred = paddle.to_tensor([b[0] for b in BOXES], 'float32')
    target = paddle.to_tensor([b[1] for b in BOXES], 'float32')
    iou, giou = iou_and_giou(pred, target)
    np.testing.assert_allclose(iou.numpy(), [b[2] for b in BOXES], atol=1e-6)
    np.testing.assert_allclose(giou.numpy(), [b[3] for b in BOXES], atol=1e-6)
    assert abs(BOXES[0][3] - (-0.0793651)) < 1e-6


def test_iou_loss_types():
    pred = paddle.to_tensor([BOXES[0][0], BOXES[3][0]], 'float32')
    target = paddle.to_tensor([BOXES[0][1], BOXES[3][1]], 'float32')
    np.testing.assert_allclose(float(iou_loss(pred, target, 'giou')),
                               (1 - BOXES[0][3]) + (1 - BOXES[3][3]), rtol=1e-5)
    np.testing.assert_allclose(float(iou_loss(pred, target, 'iou')),
                               -math.log(1 / 7.) - math.log(0.25), rtol=1e-5)
    np.testing.assert_allclose(float(IouLoss('linear_iou', loss_weight=2.)(
        pred, target, paddle.to_tensor([1., 0.]))), 2 * (1 - 1 / 7.), rtol=1e-5)
    with pytest.raises(ValueError, match="loss_type must be one of.*'diou'"):
        IouLoss('diou')


def test_giou_loss_has_a_gradient_for_disjoint_boxes():
    pred = paddle.to_tensor([BOXES[1][0]], 'float32', stop_gradient=False)
    loss = iou_loss(pred, paddle.to_tensor([BOXES[1][1]], 'float32'), 'giou')
    loss.backward()
    # moving the right edge towards the target shrinks the enclosing box: IoU alone has no
    # gradient here, GIoU does
    assert float(pred.grad[0, 2]) < 0


def test_dense_distillation_terms():
    from ppdet.modeling.losses.dense_distill_loss import dense_distill_terms, soft_focal_distill
    # one location, one class: teacher p = sigmoid(2), student p = 0.5
    s, t = paddle.to_tensor([[[0.]]]), paddle.to_tensor([[[2.]]])
    pt = _sig(2.)
    hand = -(pt * math.log(0.5) + (1 - pt) * math.log(0.5)) * abs(pt - 0.5) ** 2
    np.testing.assert_allclose(float(soft_focal_distill(s, t)), hand, rtol=1e-5)
    boxes = paddle.to_tensor([[[0., 0., 2., 2.]]])
    other = paddle.to_tensor([[[1., 1., 3., 3.]]])
    terms = dense_distill_terms(s, t, other, boxes, s[..., 0], t[..., 0])
    # normaliser: the teacher's top probability, pt < 1 -> clipped to 1
    np.testing.assert_allclose(float(terms['cls']), hand, rtol=1e-5)
    np.testing.assert_allclose(float(terms['box']), pt * (1 - BOXES[0][3]), rtol=1e-5)
    np.testing.assert_allclose(float(terms['ctr']), pt * hand, rtol=1e-5)
    same = dense_distill_terms(t, t, boxes, boxes, t[..., 0], t[..., 0])
    assert all(abs(float(v)) < 1e-6 for v in same.values())   # identical outputs: 0
