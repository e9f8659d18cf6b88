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
from ppdet.core.workspace import register
from ppdet.modeling.architectures.dense_detector import DenseDetector

__all__ = ['RetinaNet']


@register
class RetinaNet(DenseDetector):
    def __init__(self, backbone='ResNet', neck='FPN', head='RetinaHead', nms='MultiClassNMS'):
        super().__init__(backbone, neck, head, nms)

    @staticmethod
    def head_strides(head):
        return head.anchor_generator.strides, 'AnchorGenerator.strides'

    def float_only_layers(self):
        return ['head.cls_out', 'head.box_out']

    def score_logit_channels(self):
        """Every channel of the (level-shared) class conv: sigmoid logits."""
        return [('head.cls_out', 'class', list(range(self.head.cls_out.weight.shape[0])))]

    def box_logit_channels(self):
        """The (level-shared) box conv's deltas, 4 per anchor: dx, dy (in anchor sizes) and
        dw, dh (log of the size over the anchor's)."""
        anchors = self.head.box_out.weight.shape[0] // 4
        return [('head.box_out', 'delta_center', [a * 4 + k for a in range(anchors)
                                                  for k in (0, 1)]),
                ('head.box_out', 'delta_log_size', [a * 4 + k for a in range(anchors)
                                                    for k in (2, 3)])]

    def distill_outputs(self):
        n = len(self.head.cls_levels)
        return (['head.cls_levels.%d' % i for i in range(n)] +
                ['head.box_levels.%d' % i for i in range(n)])
