"""Distillation losses shared by every family, and their default weights.

Weights follow PaddleDetection's YOLOv3 distillation (``slim/distillation/distill.py``
in 1.x, ``DistillYOLOv3Loss`` in 2.x):

* ``l2``: mean squared difference per feature pair, summed over pairs; weight 100.
* ``fine_grained``: a family's own head-aware loss (the architecture's
  ``fine_grained_distill_loss``; YOLOv3's is in
  :mod:`ppdet.modeling.losses.yolo_distill_loss`); weight 1000.

These are YOLOv3's, the default of ``BaseArch.distill_weights``; a family whose terms sit on
another scale declares its own (RetinaNet / FCOS, BlazeFace: 1), and ``DistillModel`` uses
the student's when ``Distill.weight`` is unset (:func:`ppdet.slim.distill.default_distill_weight`).
"""
import paddle

__all__ = ['l2_loss', 'DEFAULT_WEIGHTS']

DEFAULT_WEIGHTS = {'l2': 100.0, 'fine_grained': 1000.0}


def l2_loss(student, teacher):
    """Mean of the squared difference (PaddleSlim's ``l2_loss``); teacher gets no gradient."""
    return paddle.mean(paddle.square(student - teacher.detach()))
