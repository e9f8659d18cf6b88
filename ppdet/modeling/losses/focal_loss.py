"""Sigmoid focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", eq. 5):

    FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)

with p the sigmoid of the logit, p_t = p for a positive target and 1 - p for a negative,
alpha_t = alpha for positives and 1 - alpha for negatives (alpha 0.25, gamma 2 in the
paper).  ``log(p_t)`` comes from ``binary_cross_entropy_with_logits`` (stable for large
logits).  The loss is summed; detectors divide by the number of positive anchors/points.
"""
import paddle
import paddle.nn.functional as F

from ppdet.core.workspace import register

__all__ = ['sigmoid_focal_loss', 'FocalLoss']


def sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0, weights=None):
    """Sum of the focal loss of ``logits`` against 0/1 (or soft) ``targets`` of the same
    shape; ``weights`` (broadcastable) masks out ignored entries.  ``alpha < 0`` disables
    the alpha balancing."""
    p = F.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * paddle.pow(1 - p_t, gamma)
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    if weights is not None:
        loss = loss * weights
    return loss.sum()


@register
class FocalLoss(object):
    def __init__(self, alpha=0.25, gamma=2.0, loss_weight=1.0):
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.loss_weight = float(loss_weight)

    def __call__(self, logits, targets, weights=None):
        return self.loss_weight * sigmoid_focal_loss(logits, targets, self.alpha, self.gamma,
                                                     weights)
