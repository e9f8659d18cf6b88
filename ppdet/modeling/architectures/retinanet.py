"""RetinaNet (Lin et al. 2017) = backbone -> FPN (P3-P7) -> RetinaHead, multi-class NMS.

``forward(image)`` returns the head's raw maps ``[cls_P3..cls_P7, box_P3..box_P7]``
(logits [B, A*C, H, W] and deltas [B, A*4, H, W]); ``decode`` turns them into boxes
[B,N,4] in original pixels and sigmoid scores [B,C,N]; NMS is the injected
``MultiClassNMS``.  Widths flow: the neck is built for ``backbone.out_channels``, the head
for ``neck.out_channels`` (any neck with that interface: FPN, BiFPN, ...).

What generic code reads:

* ``prunable_params``: the neck's declared convs (FPN: ``lateral_convs.0`` and
  ``fpn_convs.0``, each standing for its channel group across levels) and the head's tower
  convs, by state-dict key (not those followed by GroupNorm / EvoNorm-S0, which PaddleSlim
  cannot prune).  The tower convs are shared by every level, so pruning one shrinks
  every level alike (with per-level norms, each level's norm with it).  The output convs
  are not prunable: their widths are fixed by the anchors and classes.
* ``float_only_layers``: ``head.cls_out`` / ``head.box_out``.
* ``distill_outputs``: ``head.cls_levels.{i}`` / ``head.box_levels.{i}``, each level's
  class and box outputs.
"""
import collections

import paddle

from ppdet.core.workspace import register
from ppdet.modeling.architectures.meta_arch import BaseArch
from ppdet.modeling.dense_targets import to_original_pixels
from ppdet.modeling.norms import UNPRUNABLE_NORMS

__all__ = ['RetinaNet', 'dense_prunable_params', 'check_same_locations']

def dense_prunable_params(model, towers):
    """OrderedDict state-dict key -> conv weight: the neck's declared convs (its
    ``prunable_convs()``, one per channel group; none if it declares none) and the convs of
    the head ``towers`` (shared by every level; not those before GroupNorm / EvoNorm-S0,
    which PaddleSlim 2.6 cannot prune: its dependency graph has no rule for group_norm; and
    not separable towers (EfficientDet-style), whose depthwise convs pruning was not tried on)."""
    out = collections.OrderedDict()
    neck_convs = getattr(model.neck, 'prunable_convs', None)
    for name, conv in (neck_convs() if neck_convs else {}).items():
        out['neck.%s.weight' % name] = conv.weight
    for t in towers:
        tower = getattr(model.head, t)
        if getattr(tower, 'separable', False):
            continue
        for k, conv in enumerate(tower.convs):
            norms = tower.norms[k] if len(tower.norms) else []
            if not any(isinstance(n, UNPRUNABLE_NORMS) for n in norms):
                out['head.%s.convs.%d.weight' % (t, k)] = conv.weight
    return out


def _locations(model):
    head = model.head
    gen = getattr(head, 'anchor_generator', None)
    return (type(model).__name__, list(getattr(model.neck, 'out_strides', [])),
            getattr(head, 'strides', None),
            vars(gen) if gen is not None else None)


def check_same_locations(student, teacher):
    """Fine-grained distillation compares outputs location by location: the teacher must be
    the same family with the same levels and anchors."""
    mine, theirs = _locations(student), _locations(teacher)
    if mine != theirs:
        raise ValueError('fine-grained distillation compares the head outputs location by '
                         'location, but the student has (family, strides, head strides, '
                         'anchors) %s and the teacher %s; give the teacher the same neck levels '
                         'and anchors (or use the l2 loss)' % (mine, theirs))


@register
class RetinaNet(BaseArch):
    __inject__ = ['backbone', 'neck', 'head', 'nms']
    train_fields = ('gt_bbox', 'gt_class')

    def __init__(self, backbone='ResNet', neck='FPN', head='RetinaHead', nms='MultiClassNMS'):
        super().__init__()
        self.backbone = backbone
        neck.build_layers(backbone.out_channels)
        self.neck = neck
        head.build_layers(neck.out_channels)
        strides = getattr(neck, 'out_strides', None)
        if strides is not None and list(strides) != head.anchor_generator.strides:
            raise ValueError('the neck gives strides %s but AnchorGenerator.strides is %s; make '
                             'them equal' % (list(strides), head.anchor_generator.strides))
        self.head = head
        self.nms = nms

    @property
    def num_classes(self):
        return self.head.num_classes

    def forward(self, image):
        return self.forward_from_features(self.backbone(image))

    def forward_from_features(self, feats):
        """Neck + head on backbone features (lets sensitivity analysis reuse the backbone)."""
        return self.head(self.neck(feats))

    def get_loss(self, outputs, inputs):
        """Focal + box loss; ``inputs['gt_bbox']`` [B,M,4] x1y1x2y2 input pixels (PadBox rows)."""
        return self.head.get_loss(outputs, inputs)

    def decode(self, outputs, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 original pixels, clipped), scores [B,C,N]."""
        boxes, scores = self.head.decode(outputs)
        return to_original_pixels(boxes, im_shape, scale_factor), scores

    def prunable_params(self):
        return dense_prunable_params(self, ('cls_tower', 'box_tower'))

    def float_only_layers(self):
        return ['head.cls_out', 'head.box_out']

    def distill_outputs(self):
        n = len(self.head.cls_levels)
        return (['head.cls_levels.%d' % i for i in range(n)] +
                ['head.box_levels.%d' % i for i in range(n)])

    def check_teacher(self, teacher, loss):
        super().check_teacher(teacher, loss)
        if loss == 'fine_grained':
            check_same_locations(self, teacher)

    def fine_grained_distill_loss(self, outputs, teacher_outputs, obj_target='hard'):
        """Class + box distillation on the head outputs (``obj_target`` is YOLOv3's and
        unused here; see :mod:`ppdet.modeling.losses.dense_distill_loss`)."""
        return paddle.add_n(list(self.head.distill_terms(outputs, teacher_outputs).values()))
