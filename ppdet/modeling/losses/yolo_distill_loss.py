"""YOLOv3 fine-grained ("split") distillation terms and the L2-loss breakdown of YOLO head maps.

Follows PaddleDetection's YOLOv3 distillation (``slim/distillation/distill.py`` in 1.x,
``DistillYOLOv3Loss`` in 2.x): each YOLO head map [B, A*(5+C), H, W] is split into x,
y, w, h, objectness and class logits.  Box xy is sigmoid cross-entropy against the
teacher's sigmoid, wh is L1 on the raw logits; both, and the class term (sigmoid
cross-entropy against the teacher's sigmoid), are weighted by the teacher's objectness
probability, so cells the teacher sees as background add nothing.  Objectness itself is
distilled at every cell.  Each term is a mean over its elements, summed over levels.
:meth:`ppdet.modeling.architectures.YOLOv3.fine_grained_distill_loss` uses it; the
generic distillation wrapper (:mod:`ppdet.slim.distill`) only calls that method.
"""
import paddle
import paddle.nn.functional as F

__all__ = ['split_yolo_output', 'fine_grained_terms', 'l2_breakdown', 'head_l2_breakdown',
           'OBJ_TARGETS', 'L2_PARTS']

# 'hard': target 1 where the teacher's objectness logit > 0 (PaddleDetection);
# 'soft': the teacher's objectness probability.
OBJ_TARGETS = ('hard', 'soft')


def split_yolo_output(out, num_anchors):
    """[B, A*(5+C), H, W] -> dict x, y, w, h, obj: [B, A, H, W]; cls: [B, A, C, H, W]."""
    b, ch, h, w = out.shape
    if ch % num_anchors:
        raise ValueError('YOLO head map with %d channels cannot hold %d anchors' % (
            ch, num_anchors))
    p = out.reshape([b, num_anchors, ch // num_anchors, h, w])
    return {'x': p[:, :, 0], 'y': p[:, :, 1], 'w': p[:, :, 2], 'h': p[:, :, 3],
            'obj': p[:, :, 4], 'cls': p[:, :, 5:]}


def _bce_soft(logit, target):
    return F.binary_cross_entropy_with_logits(logit, target, reduction='none')


def fine_grained_terms(student_outs, teacher_outs, num_anchors, obj_target='hard'):
    """Unweighted distillation terms summed over levels: dict reg, cls, obj.

    ``num_anchors``: anchors per level (one int per output).  ``obj_target``:
    see :data:`OBJ_TARGETS`.
    """
    if obj_target not in OBJ_TARGETS:
        raise ValueError('obj_target %r not known (use one of %s)' % (obj_target, OBJ_TARGETS))
    if not (len(student_outs) == len(teacher_outs) == len(num_anchors)):
        raise ValueError('fine-grained distillation: student gives %d head maps, teacher %d, '
                         'anchor masks %d; they must match' % (
                             len(student_outs), len(teacher_outs), len(num_anchors)))
    reg, cls, obj = [], [], []
    for i, (so, to, na) in enumerate(zip(student_outs, teacher_outs, num_anchors)):
        if list(so.shape[1:]) != list(to.shape[1:]):
            raise ValueError('fine-grained distillation: head map %d is %s for the student but %s '
                             'for the teacher; use models with the same num_classes, anchors and '
                             'strides' % (i, list(so.shape[1:]), list(to.shape[1:])))
        s = split_yolo_output(so, na)
        t = {k: v.detach() for k, v in split_yolo_output(to, na).items()}
        t_obj = F.sigmoid(t['obj'])
        box = (_bce_soft(s['x'], F.sigmoid(t['x'])) + _bce_soft(s['y'], F.sigmoid(t['y'])) +
               paddle.abs(s['w'] - t['w']) + paddle.abs(s['h'] - t['h']))
        reg.append(paddle.mean(box * t_obj))
        cls.append(paddle.mean(_bce_soft(s['cls'], F.sigmoid(t['cls'])) * t_obj.unsqueeze(2)))
        target = (t['obj'] > 0).astype(so.dtype) if obj_target == 'hard' else t_obj
        obj.append(paddle.mean(_bce_soft(s['obj'], target)))
    return {'reg': paddle.add_n(reg), 'cls': paddle.add_n(cls), 'obj': paddle.add_n(obj)}


L2_PARTS = ('xy', 'wh', 'obj_fg', 'obj_bg', 'cls_fg', 'cls_bg')


def l2_breakdown(student_outs, teacher_outs, num_anchors, fg_thresh=0.1):
    """Where the L2 distillation loss on YOLO head maps comes from.

    Splits ``sum over levels of l2_loss(student, teacher)`` into box (xy, wh),
    objectness and class logits, the last two at cells where the teacher's objectness
    probability is >= ``fg_thresh`` (``*_fg``) or below it (``*_bg``).  Returns floats:
    each part, ``total`` (the L2 loss itself) and ``fg_cells`` (the share of cells the
    teacher sees an object in).  A large ``cls_bg``/``obj_bg`` share means the loss
    mostly asks the student to copy background logits that decoding ignores.
    """
    import numpy as np
    parts = dict.fromkeys(L2_PARTS, 0.0)
    total, fg_cells, cells = 0.0, 0, 0
    for so, to, na in zip(student_outs, teacher_outs, num_anchors):
        so, to = np.asarray(so, 'float64'), np.asarray(to, 'float64')
        scale = 1.0 / so.size  # l2_loss is a mean per level
        b, ch, h, w = so.shape
        d = ((so - to) ** 2).reshape(b, na, ch // na, h, w)
        t_obj = to.reshape(b, na, ch // na, h, w)[:, :, 4]
        fg = 1.0 / (1.0 + np.exp(-t_obj)) >= fg_thresh
        parts['xy'] += d[:, :, 0:2].sum() * scale
        parts['wh'] += d[:, :, 2:4].sum() * scale
        parts['obj_fg'] += d[:, :, 4][fg].sum() * scale
        parts['obj_bg'] += d[:, :, 4][~fg].sum() * scale
        cls = d[:, :, 5:].sum(axis=2)
        parts['cls_fg'] += cls[fg].sum() * scale
        parts['cls_bg'] += cls[~fg].sum() * scale
        total += d.sum() * scale
        fg_cells += int(fg.sum())
        cells += fg.size
    return dict({k: float(v) for k, v in parts.items()}, total=float(total),
                fg_cells=fg_cells / float(max(cells, 1)))


def head_l2_breakdown(student, teacher, batches, num_anchors, fg_thresh=0.1):
    """:func:`l2_breakdown` of the two models' head outputs, summed over ``batches``
    (dicts with an ``image``), as shares of the total; both models run in eval mode."""
    totals = dict.fromkeys(L2_PARTS + ('total',), 0.0)
    fg, n = 0.0, 0
    student.eval()
    teacher.eval()
    with paddle.no_grad():
        for batch in batches:
            image = batch['image']
            got = l2_breakdown([o.numpy() for o in student(image)],
                               [o.numpy() for o in teacher(image)], num_anchors, fg_thresh)
            for k in totals:
                totals[k] += got[k]
            fg += got['fg_cells']
            n += 1
    if not n:
        raise ValueError('no batches to measure the distillation loss on')
    total = totals['total'] or 1.0
    out = {k: totals[k] / total for k in L2_PARTS}
    out.update(l2_per_batch=totals['total'] / n, fg_cells=fg / n, batches=n)
    return out
