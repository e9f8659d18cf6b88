"""BlazeFace = BlazeNet backbone -> FaceHead (SSD-style priors on strides 8 and 16),
trained with the SSD multi-box loss; the seed's face detector (PaddleDetection 1.x,
input 640; BlazeFace-Lite and BlazeFace-NAS are backbone settings).

``forward(image)`` returns the head's raw maps ``[loc_0, conf_0, loc_1, conf_1]``;
``decode`` turns them into boxes [B,N,4] in original pixels and face scores [B,C,N]
(softmax without the background column); NMS is the injected ``MultiClassNMS``.
State-dict prefixes: ``backbone.*`` (see :mod:`ppdet.modeling.backbones.blazenet`),
``blaze_head.*`` (:mod:`ppdet.modeling.heads.face_head`).

Pruning: BlazeBlocks add their output to their input, and their first conv is depthwise,
so filters can only go where nothing else has to shrink with them.  The declared convs
are, in every double block whose second 5x5 conv is dense (1.x with ``use_5x5kernel``),
its first 1x1 conv (``..._1_sep``: only the dense 5x5 reads it) and that 5x5 conv
(``..._2_dw``: only the last 1x1 reads it), under their 1.x parameter names
(``double_blaze_01_sep_weights``, ``double_blaze_02_dw_weights``, ...).  Depthwise
second convs (``dense_second_5x5: false`` or 3x3 kernels) and BlazeFace-Lite declare
none: every one of their convs feeds a residual add or a depthwise conv.
"""
import collections

import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.architectures.meta_arch import BaseArch
from ppdet.modeling.dense_targets import to_original_pixels
from ppdet.modeling.losses.ssd_loss import decode_boxes

__all__ = ['BlazeFace']


@register
class BlazeFace(BaseArch):
    __inject__ = ['backbone', 'blaze_head', 'nms']
    train_fields = ('gt_bbox', 'gt_class')
    # BlazeFace and BlazeFace-Lite (a BlazeNet setting of this class) share one value
    distill_weights = {'l2': 1.0}
    distill_weights_reason = (
        "L2 sums every prior's box offsets and logits, mostly background: at 100 it was 2584 "
        "against a detection loss of 7.9, at 10 (the face pipeline's BlazeFace row) ~8x it "
        "and the distilled student collapsed; 1 is the face pipeline's Lite weight and puts "
        "it near the detection loss for BlazeFace and Lite alike")

    def __init__(self, backbone='BlazeNet', blaze_head='FaceHead', nms='MultiClassNMS'):
        super().__init__()
        self.backbone = backbone
        blaze_head.build_layers(backbone.out_channels)
        self.blaze_head = blaze_head
        self.nms = nms

    @property
    def num_classes(self):
        return self.blaze_head.num_classes

    def forward(self, image):
        return self.forward_from_features(self.backbone(image))

    def forward_from_features(self, feats):
        """The head on backbone features (lets sensitivity analysis reuse the backbone)."""
        return self.blaze_head(feats)

    def get_loss(self, outputs, inputs):
        """SSD loss; ``inputs['gt_bbox']`` [B,M,4] x1y1x2y2 in input pixels (PadBox rows)."""
        return self.blaze_head.get_loss(outputs, inputs)

    def decode_rows(self, outputs, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 in original pixels, clipped), scores [B,N,C]."""
        head = self.blaze_head
        loc, conf = head.flatten(outputs)
        boxes = to_original_pixels(decode_boxes(loc, head.priors(outputs), head.variances),
                                   im_shape, scale_factor)
        if conf.shape[-1] == 2:
            # one class: softmax's face probability is sigmoid(face - background), without
            # a softmax over rows of two (0.58 ms of the same pass)
            scores = F.sigmoid(conf[:, :, 1:] - conf[:, :, :1])
        else:
            scores = F.softmax(conf, axis=-1)[:, :, 1:]
        return boxes, scores

    def prunable_params(self):
        """OrderedDict 1.x parameter name -> conv weight (see the module docstring)."""
        out = collections.OrderedDict()
        if self.backbone.lite_edition:
            return out
        for name, block in self.backbone.blocks:
            if not block.double or len(block.dw2_path) != 1 or block.dw2_path[0].conv._groups != 1:
                continue
            out[name + '1_sep_weights'] = block.sep1.conv.weight
            out[name + '2_dw_weights'] = block.dw2_path[0].conv.weight
        return out

    def unprunable_reasons(self):
        """The output convs and, under their 1.x names and state-dict keys, the backbone
        convs :meth:`prunable_params` leaves out."""
        out = super().unprunable_reasons()
        paths = {v: k for k, v in self.backbone.seed_param_names().items()}
        declared = set(self.prunable_params())
        for path, why in self.backbone.conv_prune_reasons().items():
            seed = paths.get(path)
            if seed in declared:
                continue
            if self.backbone.lite_edition:
                why += ' (BlazeFace-Lite declares no prunable convs)'
            if seed:
                out[seed] = why
            out['backbone.%s.conv.weight' % path] = why
        return out

    def float_only_layers(self):
        """The head's 3x3 output convs: decoding reads their values directly."""
        n = len(self.blaze_head.loc_convs)
        return (['blaze_head.loc_convs.%d' % i for i in range(n)] +
                ['blaze_head.conf_convs.%d' % i for i in range(n)])

    def distill_outputs(self):
        """The head's output convs (box offsets and logits of every prior)."""
        return self.float_only_layers()

    def score_logit_channels(self):
        """The face logits of each conf conv (``[background, faces...]`` per prior; the
        softmax's background logit is not a score logit)."""
        head, per = self.blaze_head, self.blaze_head.num_classes + 1
        return [('blaze_head.conf_convs.%d' % i, 'class',
                 [c for c in range(conv.weight.shape[0]) if c % per])
                for i, conv in enumerate(head.conf_convs)]
