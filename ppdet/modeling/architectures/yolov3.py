"""YOLOv3 = backbone -> YOLOv3FPN neck -> YOLOv3Head, plus loss and post-processing.

``forward(image)`` is the pure network (what FLOPs counting, pruning, export
and distillation trace): it returns the raw head maps [B, A*(5+C), H, W] at
strides 32, 16, 8.  Widths flow automatically: the neck is built for
``backbone.out_channels`` and the head for ``neck.out_channels``.

State-dict prefixes: ``backbone.*``, ``neck.*``, ``yolo_head.*`` (see each
module's docstring; PaddleDetection 2.x names).
"""
import collections

from ppdet.core.workspace import register
from ppdet.modeling.architectures.meta_arch import BaseArch

__all__ = ['YOLOv3']


@register
class YOLOv3(BaseArch):
    __inject__ = ['backbone', 'neck', 'yolo_head', 'post_process']
    train_fields = ('gt_bbox', 'gt_class')
    optional_train_fields = ('gt_score',)  # mixup weights; YOLOv3Loss takes 1 when absent

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

    def forward_from_features(self, feats, memo=None):
        """Neck + head on backbone features: lets sensitivity analysis reuse the backbone
        pass while it prunes only neck convolutions (and, with ``memo``, the neck units the
        pruned conv leaves unchanged: see :class:`~ppdet.modeling.necks.yolo_fpn.NeckMemo`)."""
        if memo is None:
            return self.yolo_head(self.neck(feats))
        return self.yolo_head(self.neck(feats, memo=memo))

    def get_loss(self, outputs, inputs):
        """Dict of scalar losses ('loss' is the total) for the train batch ``inputs``."""
        return self.yolo_head.get_loss(outputs, inputs)

    def _post(self):
        if self.post_process_op is None:
            raise ValueError('YOLOv3 has no post_process; set YOLOv3.post_process: BBoxPostProcess')
        return self.post_process_op

    def decode(self, outputs, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 original pixels), scores [B,C,N] (no NMS)."""
        return self._post().decode(outputs, self.yolo_head.mask_anchors, im_shape, scale_factor)

    def post_process(self, outputs, im_shape, scale_factor):
        """-> (bbox [N,6] (class, score, x1, y1, x2, y2) in original pixels, bbox_num [B])."""
        return self._post()(outputs, self.yolo_head.mask_anchors, im_shape, scale_factor)

    @property
    def num_classes(self):
        return self.yolo_head.num_classes

    def float_only_layers(self):
        """The 1x1 output convs: their values are the logits and box offsets decoding reads."""
        return [n for n, _ in self.named_sublayers() if n.startswith('yolo_head.yolo_output.')]

    def distill_outputs(self):
        """The head's output convs (PaddleDetection's default L2 pairs)."""
        return self.float_only_layers()

    def score_logit_channels(self):
        """Each output conv's objectness and class channels (``[A, 5 + C]`` per cell)."""
        head, out = self.yolo_head, []
        stride = 5 + head.num_classes
        for i, mask in enumerate(head.anchor_masks):
            anchors = range(len(mask))
            out.append(('yolo_head.yolo_output.%d' % i, 'objectness',
                        [a * stride + 4 for a in anchors]))
            out.append(('yolo_head.yolo_output.%d' % i, 'class',
                        [a * stride + k for a in anchors for k in range(5, stride)]))
        return out

    def box_logit_channels(self):
        """Each output conv's box channels: tx, ty (sigmoid offsets in the cell) and tw, th
        (log of the size over the anchor's)."""
        head, out = self.yolo_head, []
        stride = 5 + head.num_classes
        for i, mask in enumerate(head.anchor_masks):
            name = 'yolo_head.yolo_output.%d' % i
            out.append((name, 'center', [a * stride + k for a in range(len(mask))
                                         for k in (0, 1)]))
            out.append((name, 'log_size', [a * stride + k for a in range(len(mask))
                                           for k in (2, 3)]))
        return out

    def check_teacher(self, teacher, loss):
        super().check_teacher(teacher, loss)
        sh, th = self.yolo_head, getattr(teacher, 'yolo_head', None)
        if loss == 'fine_grained' and (th is None or sh.anchors != th.anchors or
                                       sh.anchor_masks != th.anchor_masks):
            raise ValueError(
                'fine-grained distillation compares predictions anchor by anchor, but the '
                'teacher has anchors %s / anchor_masks %s and the student anchors %s / '
                'anchor_masks %s; give both configs the same YOLOv3Head anchors and '
                'anchor_masks (or use the l2 loss)' % (
                    getattr(th, 'anchors', None), getattr(th, 'anchor_masks', None),
                    sh.anchors, sh.anchor_masks))

    def fine_grained_distill_loss(self, outputs, teacher_outputs, obj_target='hard'):
        """PaddleDetection's split YOLOv3 distillation, unweighted (reg + cls + obj)."""
        from ppdet.modeling.losses.yolo_distill_loss import fine_grained_terms
        terms = fine_grained_terms(outputs, teacher_outputs,
                                   [len(m) for m in self.yolo_head.anchor_masks], obj_target)
        return terms['reg'] + terms['cls'] + terms['obj']

    def prunable_params(self):
        """OrderedDict seed name 'yolo_block.{i}.{k}.conv.weights' -> conv weight Parameter.

        The 18 convs of the three detection blocks, i-major, k in 0.0 0.1 1.0 1.1 2 tip.
        """
        return collections.OrderedDict(
            ('%s.conv.weights' % name, layer.conv.weight)
            for name, layer in self.neck.seed_conv_layers().items())
