"""YOLOv3 = backbone -> YOLOv3FPN neck -> YOLOv3Head, plus loss and post-processing.

``forward(image)`` is the pure network (what FLOPs counting, pruning, export
and distillation trace): it returns the raw head maps [B, A*(5+C), H, W] at
strides 32, 16, 8.  Widths flow automatically: the neck is built for
``backbone.out_channels`` and the head for ``neck.out_channels``.

State-dict prefixes: ``backbone.*``, ``neck.*``, ``yolo_head.*`` (see each
module's docstring; PaddleDetection 2.x names).
"""
import collections

import paddle.nn as nn

from ppdet.core.workspace import register

__all__ = ['YOLOv3']


@register
class YOLOv3(nn.Layer):
    __inject__ = ['backbone', 'neck', 'yolo_head', 'post_process']

    def __init__(self, backbone='MobileNetV1', neck='YOLOv3FPN', yolo_head='YOLOv3Head',
                 post_process='BBoxPostProcess'):
        super().__init__()
        self.backbone = backbone
        neck.build_layers(backbone.out_channels)
        self.neck = neck
        yolo_head.build_layers(neck.out_channels)
        self.yolo_head = yolo_head
        self.post_process_op = post_process

    def forward(self, image):
        return self.forward_from_features(self.backbone(image))

    def forward_from_features(self, feats):
        """Neck + head on backbone features: lets sensitivity analysis reuse the backbone
        pass while it prunes only neck convolutions."""
        return self.yolo_head(self.neck(feats))

    def get_loss(self, outputs, inputs):
        """Dict of scalar losses ('loss' is the total) for the train batch ``inputs``."""
        return self.yolo_head.get_loss(outputs, inputs)

    def post_process(self, outputs, im_shape, scale_factor):
        """-> (bbox [N,6] (class, score, x1, y1, x2, y2) in original pixels, bbox_num [B])."""
        if self.post_process_op is None:
            raise ValueError('YOLOv3 has no post_process; set YOLOv3.post_process: BBoxPostProcess')
        return self.post_process_op(outputs, self.yolo_head.mask_anchors, im_shape, scale_factor)

    def prunable_params(self):
        """OrderedDict seed name 'yolo_block.{i}.{k}.conv.weights' -> conv weight Parameter.

        The 18 convs of the three detection blocks, i-major, k in 0.0 0.1 1.0 1.1 2 tip.
        """
        return collections.OrderedDict(
            ('%s.conv.weights' % name, layer.conv.weight)
            for name, layer in self.neck.seed_conv_layers().items())

    def seed_param_names(self):
        """OrderedDict seed name -> full state-dict key of the same conv weight."""
        by_id = {id(p): n for n, p in self.named_parameters()}
        return collections.OrderedDict(
            (k, by_id[id(p)]) for k, p in self.prunable_params().items())

    def named_conv_weights(self):
        """OrderedDict full name -> weight of every conv (incl. deformable), in build order."""
        return collections.OrderedDict(
            (name, p) for name, p in self.named_parameters()
            if p.ndim == 4 and name.endswith('weight'))
