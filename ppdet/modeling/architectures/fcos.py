"""FCOS (Tian et al. 2019) = backbone -> FPN (P3-P7) -> FCOSHead, multi-class NMS.

``forward(image)`` returns ``[cls_P3.., box_P3.., ctr_P3..]``: class logits [B,C,H,W],
distances to the box sides in input pixels [B,4,H,W] and centerness logits [B,1,H,W];
``decode`` gives boxes [B,N,4] in original pixels and scores sigmoid(cls) *
sigmoid(centerness) [B,C,N]; NMS is the injected ``MultiClassNMS``.

Declared for generic code, as :class:`~ppdet.modeling.architectures.retinanet.RetinaNet`:
the FPN and tower convs are prunable (not those before GroupNorm / EvoNorm-S0); the output
convs ``head.cls_out`` / ``head.box_out`` / ``head.ctr_out`` stay in float; each level's
class, raw box and centerness outputs are the distillation outputs.
"""
import paddle

from ppdet.core.workspace import register
from ppdet.modeling.architectures.meta_arch import BaseArch
from ppdet.modeling.architectures.retinanet import check_same_locations, dense_prunable_params
from ppdet.modeling.dense_targets import to_original_pixels

__all__ = ['FCOS']


@register
class FCOS(BaseArch):
    __inject__ = ['backbone', 'neck', 'head', 'nms']
    train_fields = ('gt_bbox', 'gt_class')

    def __init__(self, backbone='ResNet', neck='FPN', head='FCOSHead', nms='MultiClassNMS'):
        super().__init__()
        self.backbone = backbone
        neck.build_layers(backbone.out_channels)
        self.neck = neck
        strides = getattr(neck, 'out_strides', None)
        if strides is not None and list(strides) != head.strides:
            raise ValueError('the neck gives strides %s but FCOSHead.strides is %s; make them '
                             'equal' % (list(strides), head.strides))
        head.build_layers(neck.out_channels)
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
        """Focal + IoU + centerness loss; ``gt_bbox`` [B,M,4] x1y1x2y2 input pixels."""
        return self.head.get_loss(outputs, inputs)

    def decode(self, outputs, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 original pixels, clipped), scores [B,C,N]."""
        boxes, scores = self.head.decode(outputs)
        return to_original_pixels(boxes, im_shape, scale_factor), scores

    def prunable_params(self):
        return dense_prunable_params(self, ('cls_tower', 'box_tower'))

    def float_only_layers(self):
        return ['head.cls_out', 'head.box_out', 'head.ctr_out']

    def distill_outputs(self):
        n = len(self.head.cls_levels)
        return ['head.%s_levels.%d' % (k, i) for k in ('cls', 'box', 'ctr') for i in range(n)]

    def check_teacher(self, teacher, loss):
        super().check_teacher(teacher, loss)
        if loss == 'fine_grained':
            check_same_locations(self, teacher)

    def fine_grained_distill_loss(self, outputs, teacher_outputs, obj_target='hard'):
        """Class + box + centerness distillation on the head outputs (``obj_target`` is
        YOLOv3's and unused here; see :mod:`ppdet.modeling.losses.dense_distill_loss`)."""
        return paddle.add_n(list(self.head.distill_terms(outputs, teacher_outputs).values()))
