"""Output distillation for dense detectors (RetinaNet, FCOS): the student's head outputs
against the teacher's, location by location (both must share anchors / locations).

* class: binary cross-entropy of the student's logits against the teacher's sigmoid
  probabilities, each term scaled by ``|p_teacher - p_student|^gamma`` (the soft-target
  focal modulation of Quality Focal Loss, Li et al. 2020, "Generalized Focal Loss"), so that
  the many easy background locations do not drown the rest;
* box: ``1 - GIoU`` between the student's and the teacher's decoded boxes, weighted by the
  teacher's highest class probability at the location (only where the teacher sees an
  object does its box mean anything);
* centerness (FCOS): the class term's soft-target loss against the teacher's centerness,
  weighted like the box term.

Each term is 0 when the student's outputs equal the teacher's.

Every term is divided by the sum of those teacher weights (at least 1).
"""
import paddle
import paddle.nn.functional as F

from ppdet.modeling.losses.iou_loss import iou_loss

__all__ = ['soft_focal_distill', 'dense_distill_terms']


def soft_focal_distill(student_logits, teacher_logits, gamma=2.0, weights=None):
    """Sum of BCE(student, sigmoid(teacher)) * |sigmoid(teacher) - sigmoid(student)|^gamma
    (times ``weights`` when given)."""
    target = F.sigmoid(teacher_logits).detach()
    ce = F.binary_cross_entropy_with_logits(student_logits, target, reduction='none')
    loss = ce * paddle.pow(paddle.abs(target - F.sigmoid(student_logits)), gamma)
    return (loss if weights is None else loss * weights).sum()


def dense_distill_terms(s_logits, t_logits, s_boxes, t_boxes, s_ctr=None, t_ctr=None,
                        gamma=2.0):
    """{'cls', 'box'[, 'ctr']} for flattened outputs: logits [B,N,C], boxes [B,N,4] (decoded,
    input pixels), centerness logits [B,N]."""
    weight = F.sigmoid(t_logits).max(-1).detach()                               # [B,N]
    norm = paddle.clip(weight.sum(), min=1.0)
    terms = {'cls': soft_focal_distill(s_logits, t_logits, gamma) / norm,
             'box': iou_loss(s_boxes, t_boxes.detach(), 'giou', weights=weight) / norm}
    if s_ctr is not None:
        terms['ctr'] = soft_focal_distill(s_ctr, t_ctr, gamma, weight) / norm
    return terms
