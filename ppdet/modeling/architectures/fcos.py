"""FCOS (Tian et al. 2019) = backbone -> FPN (P3-P7) -> FCOSHead, multi-class NMS.

``forward(image)`` returns ``[cls_P3.., box_P3.., ctr_P3..]``: class logits [B,C,H,W],
distances to the box sides in input pixels [B,4,H,W] and centerness logits [B,1,H,W];
``decode`` gives boxes [B,N,4] in original pixels and scores sigmoid(cls) *
sigmoid(centerness) [B,C,N]; NMS is the injected ``MultiClassNMS``.

Declared for generic code, as RetinaNet (:class:`~ppdet.modeling.architectures.dense_detector.DenseDetector`):
the FPN and tower convs are prunable (not those before GroupNorm / EvoNorm-S0); the output
convs ``head.cls_out`` / ``head.box_out`` / ``head.ctr_out`` stay in float; each level's
class, raw box and centerness outputs are the distillation outputs.
"""
from ppdet.core.workspace import register
from ppdet.modeling.architectures.dense_detector import DenseDetector

__all__ = ['FCOS']


@register
class FCOS(DenseDetector):
    def __init__(self, backbone='ResNet', neck='FPN', head='FCOSHead', nms='MultiClassNMS'):
        super().__init__(backbone, neck, head, nms)

    @staticmethod
    def head_strides(head):
        return head.strides, 'FCOSHead.strides'

    def float_only_layers(self):
        return ['head.cls_out', 'head.box_out', 'head.ctr_out']

    def score_logit_channels(self):
        """The class conv's sigmoid logits and the centerness logit (a factor of each)."""
        return [('head.cls_out', 'class', list(range(self.num_classes))),
                ('head.ctr_out', 'objectness', [0])]

    def box_logit_channels(self):
        """The box conv's four distances: ``relu(x) * stride`` with ``norm_reg_targets``,
        else ``exp(x)`` pixels."""
        kind = 'stride_distance' if self.head.norm_reg_targets else 'log_distance'
        return [('head.box_out', kind, [0, 1, 2, 3])]

    def distill_outputs(self):
        n = len(self.head.cls_levels)
        return ['head.%s_levels.%d' % (k, i) for k in ('cls', 'box', 'ctr') for i in range(n)]
