"""YOLOv3 head: one 1x1 conv (with bias) per level, ``len(mask) * (5 + num_classes)`` outputs.

Channel layout per anchor: x, y, w, h, objectness, class logits (the layout of
``paddle.vision.ops.yolo_box`` / ``yolo_loss``).  State-dict keys follow
PaddleDetection 2.x: ``yolo_output.{i}.weight`` / ``yolo_output.{i}.bias``.
``in_channels`` (neck widths, stride 32 first) is set by the architecture.
"""
import math
import paddle.nn as nn
from paddle import ParamAttr
from paddle.regularizer import L2Decay

from ppdet.core.workspace import register
from ppdet.modeling.ops import build_if_given, built_for

__all__ = ['YOLOv3Head']

DEFAULT_ANCHORS = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119],
                   [116, 90], [156, 198], [373, 326]]
DEFAULT_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]


@register
class YOLOv3Head(nn.Layer):
    __shared__ = ['num_classes']
    __inject__ = ['loss']

    def __init__(self, anchors=DEFAULT_ANCHORS, anchor_masks=DEFAULT_MASKS, num_classes=80,
                 loss='YOLOv3Loss', in_channels=None, obj_prior=None):
        super().__init__()
        # obj_prior p: start every objectness logit at log(p/(1-p)) (RetinaNet-style prior),
        # so training from scratch does not spend its first steps unlearning the negatives
        self.obj_prior = obj_prior
        self.anchors = [[int(v) for v in a] for a in anchors]
        self.anchor_masks = [[int(m) for m in mask] for mask in anchor_masks]
        bad = [m for mask in self.anchor_masks for m in mask if not 0 <= m < len(self.anchors)]
        if bad:
            raise ValueError('YOLOv3Head: anchor_masks refer to anchors %s but only %d anchors '
                             'are given' % (bad, len(self.anchors)))
        self.num_classes = int(num_classes)
        self.loss = loss
        build_if_given(self, in_channels)

    @property
    def mask_anchors(self):
        """Per level, the flat [w0, h0, w1, h1, ...] anchors of its mask (for yolo_box)."""
        return [[v for m in mask for v in self.anchors[m]] for mask in self.anchor_masks]

    def build_layers(self, in_channels):
        in_channels, done = built_for(self, in_channels, 'neck')
        if done:
            return
        if len(in_channels) != len(self.anchor_masks):
            raise ValueError('YOLOv3Head: %d input levels but %d anchor_masks' % (
                len(in_channels), len(self.anchor_masks)))
        self.in_channels = in_channels
        self.yolo_outputs = []
        for i, (ch, mask) in enumerate(zip(in_channels, self.anchor_masks)):
            conv = nn.Conv2D(ch, len(mask) * (5 + self.num_classes), 1,
                             bias_attr=ParamAttr(regularizer=L2Decay(0.)))
            if self.obj_prior:
                bias = conv.bias.numpy().reshape(len(mask), 5 + self.num_classes)
                bias[:, 4] = math.log(self.obj_prior / (1.0 - self.obj_prior))
                conv.bias.set_value(bias.reshape(-1))
            self.yolo_outputs.append(self.add_sublayer('yolo_output.%d' % i, conv))

    def forward(self, feats):
        return [conv(f) for conv, f in zip(self.yolo_outputs, feats)]

    def get_loss(self, outputs, inputs):
        if self.loss is None:
            raise ValueError('YOLOv3Head has no loss; set YOLOv3Head.loss: YOLOv3Loss')
        return self.loss(outputs, inputs, self.anchors, self.anchor_masks)
