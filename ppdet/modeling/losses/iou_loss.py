"""IoU-based box losses on matched pairs of x1y1x2y2 boxes.

* ``'iou'``: ``-log(IoU)`` (UnitBox, Yu et al. 2016; FCOS's "IOU loss");
* ``'linear_iou'``: ``1 - IoU``;
* ``'giou'``: ``1 - GIoU`` with GIoU = IoU - (|C| - |A u B|) / |C|, C the smallest box
  enclosing both (Rezatofighi et al. 2019, "Generalized Intersection over Union").
"""
import paddle

from ppdet.core.workspace import register

__all__ = ['iou_and_giou', 'iou_loss', 'IouLoss', 'IOU_LOSS_TYPES']

IOU_LOSS_TYPES = ('iou', 'linear_iou', 'giou')


def iou_and_giou(pred, target, eps=1e-7):
    """Element-wise IoU and GIoU of boxes ``pred`` and ``target`` [..., 4] -> two [...]."""
    px1, py1, px2, py2 = [pred[..., i] for i in range(4)]
    tx1, ty1, tx2, ty2 = [target[..., i] for i in range(4)]
    area_p = (px2 - px1).clip(min=0) * (py2 - py1).clip(min=0)
    area_t = (tx2 - tx1).clip(min=0) * (ty2 - ty1).clip(min=0)
    iw = (paddle.minimum(px2, tx2) - paddle.maximum(px1, tx1)).clip(min=0)
    ih = (paddle.minimum(py2, ty2) - paddle.maximum(py1, ty1)).clip(min=0)
    inter = iw * ih
    union = area_p + area_t - inter + eps
    iou = (inter + eps) / union   # eps on top too: two equal empty boxes have IoU 1, not 0
    enclose = ((paddle.maximum(px2, tx2) - paddle.minimum(px1, tx1)).clip(min=0) *
               (paddle.maximum(py2, ty2) - paddle.minimum(py1, ty1)).clip(min=0)) + eps
    return iou, iou - (enclose - union) / enclose


def iou_loss(pred, target, loss_type='giou', weights=None):
    """Summed IoU-type loss of matched boxes [..., 4] (``weights`` [...] per pair)."""
    if loss_type not in IOU_LOSS_TYPES:
        raise ValueError('iou loss_type must be one of %s, got %r' % (IOU_LOSS_TYPES, loss_type))
    iou, giou = iou_and_giou(pred, target)
    if loss_type == 'iou':
        loss = -paddle.log(iou.clip(min=1e-7))
    elif loss_type == 'linear_iou':
        loss = 1 - iou
    else:
        loss = 1 - giou
    if weights is not None:
        loss = loss * weights
    return loss.sum()


@register
class IouLoss(object):
    def __init__(self, loss_type='giou', loss_weight=1.0):
        if loss_type not in IOU_LOSS_TYPES:
            raise ValueError('IouLoss.loss_type must be one of %s, got %r' % (
                IOU_LOSS_TYPES, loss_type))
        self.loss_type, self.loss_weight = loss_type, float(loss_weight)

    def __call__(self, pred, target, weights=None):
        return self.loss_weight * iou_loss(pred, target, self.loss_type, weights)
