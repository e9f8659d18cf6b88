"""MediaPipe's short-range BlazeFace (128x128 "front" model) as a detector family.

``forward(image)`` takes RGB in [-1, 1] (NormalizeImage mean 0.5, std 0.5, is_scale),
128x128, and returns MediaPipe's raw tensors: ``regressors`` [B,896,16] and
``classificators`` [B,896,1], anchor order = the 16x16 map's cells (row-major, 2 anchors
each) then the 8x8 map's (6 each), as in the released graph.

Decoding follows MediaPipe's TensorsToDetections options for this model: per anchor,
x, y, w, h, then 6 keypoints (x, y), each divided by 128 (x/y/w/h_scale) and taken
relative to the anchor (sizes are linear, no exp); scores are sigmoid(clip(logit, -100,
100)).  The 896 anchors come from :func:`ssd_anchors` with the options MediaPipe's graph
gives its SsdAnchorsCalculator (4 layers, strides 8/16/16/16, offset 0.5, fixed size).

NMS: MediaPipe blends overlapping detections (weighted NMS: each cluster of boxes at
IoU >= 0.3 with its best box becomes their score-weighted average, with the best score).
This project uses its standard hard NMS (the injected ``MultiClassNMS``, IoU 0.3 in the
config), which forms the same clusters in the same order but keeps the best box as it is:
the faces found and their scores are the same, the box (and keypoints) of each face is its
single best anchor's instead of the blend.  Measured on the test photos (256-512 px): 6
faces either way, box corners 0.9-4.3 px apart, IoU with the hand-drawn boxes equal or
higher for the blend on 5 of the 6 faces.
"""
import collections
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.architectures.meta_arch import BaseArch
from ppdet.modeling.ops import cells_to_rows

__all__ = ['MediaPipeBlazeFace', 'ssd_anchors']


def _scale(min_scale, max_scale, i, n):
    if n == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * i / (n - 1.0)


def ssd_anchors(input_size=(128, 128), strides=(8, 16, 16, 16), min_scale=0.1484375,
                max_scale=0.75, anchor_offset=(0.5, 0.5), aspect_ratios=(1.0,),
                interpolated_scale_aspect_ratio=1.0, fixed_anchor_size=True):
    """Anchors as MediaPipe's SsdAnchorsCalculator makes them: float32 [N, 4] rows
    (x_center, y_center, w, h), normalized to the input size.

    Consecutive layers with the same stride share one feature map; each of them adds one
    anchor per aspect ratio at its scale and, with ``interpolated_scale_aspect_ratio`` > 0,
    one more at the geometric mean of its scale and the next layer's (1.0 after the last).
    Order: feature map, then row, column, anchor.  ``fixed_anchor_size`` sets w = h = 1
    (the regressors then carry the whole size).
    """
    in_h, in_w = int(input_size[0]), int(input_size[1])
    n = len(strides)
    rows, layer = [], 0
    while layer < n:
        sizes = []  # (w, h) per anchor of a cell on this feature map
        last = layer
        while last < n and strides[last] == strides[layer]:
            scale = _scale(min_scale, max_scale, last, n)
            for ratio in aspect_ratios:
                r = math.sqrt(ratio)
                sizes.append((scale * r, scale / r))
            if interpolated_scale_aspect_ratio > 0:
                nxt = 1.0 if last == n - 1 else _scale(min_scale, max_scale, last + 1, n)
                s = math.sqrt(scale * nxt)
                r = math.sqrt(interpolated_scale_aspect_ratio)
                sizes.append((s * r, s / r))
            last += 1
        fh = int(math.ceil(in_h / float(strides[layer])))
        fw = int(math.ceil(in_w / float(strides[layer])))
        for y in range(fh):
            for x in range(fw):
                cx, cy = (x + anchor_offset[0]) / fw, (y + anchor_offset[1]) / fh
                for w, h in sizes:
                    rows.append((cx, cy, 1.0, 1.0) if fixed_anchor_size else (cx, cy, w, h))
        layer = last
    return np.asarray(rows, np.float32)


# the loss's box units: offsets and sizes (normalized to the input) times 10, i.e. the
# SSD variance 0.1 for centres; sizes are linear as MediaPipe decodes them
LOC_UNITS = 10.0


def _encode_from_centres(boxes, priors):
    """Faces [K,4] against their matching priors [K,4] (normalized x1y1x2y2) -> the
    targets of ``regressors[..., :4] * LOC_UNITS / box_scale``: centre offset from the
    prior's centre (the anchor) and size, in LOC_UNITS of the input."""
    g = np.asarray(boxes, np.float64)
    p = np.asarray(priors, np.float64)
    gc, pc = (g[:, :2] + g[:, 2:]) / 2, (p[:, :2] + p[:, 2:]) / 2
    return (np.concatenate([gc - pc, g[:, 2:] - g[:, :2]], 1) * LOC_UNITS).astype('float32')


@register
class MediaPipeBlazeFace(BaseArch):
    """Backbone + per-map 1x1 heads: ``cls_heads.{i}`` (anchors x 1 logit) and
    ``reg_heads.{i}`` (anchors x 16 values) for the 16x16 and 8x8 maps."""

    __inject__ = ['backbone', 'nms']
    __shared__ = ['num_classes']
    train_fields = ('gt_bbox', 'gt_class')
    # measured on 64 built-in face images, teacher the imported model: YOLOv3's 100 made the
    # term 1572x the detection loss by step 2 and 50300 by step 3 from a student that started
    # equal to the teacher; a random student's L2 is ~2000 (16 box/keypoint values per anchor
    # in 128-pixel units). The effect of the weight on AP is not measured.
    distill_weights = {'l2': 0.01}
    distill_weights_reason = (
        "L2 over 896 anchors x 17 outputs in 128-pixel box units: ~2000 for a random "
        "student against a detection loss of ~7; 0.01 keeps it within a few times the "
        "detection loss (100, YOLOv3's weight, diverged in 3 steps)")

    def __init__(self, backbone='MediaPipeBlazeNet', nms='MultiClassNMS', num_classes=1,
                 input_size=128, strides=(8, 16, 16, 16), min_scale=0.1484375,
                 max_scale=0.75, num_keypoints=6, box_scale=128.0, score_clip=100.0):
        super().__init__()
        if int(num_classes) != 1:
            raise ValueError('MediaPipeBlazeFace detects one class (face); got num_classes=%r '
                             '- set num_classes: 1 in the config' % (num_classes,))
        self.backbone, self.nms = backbone, nms
        self.input_size = int(input_size)
        self.num_keypoints = int(num_keypoints)
        self.num_values = 4 + 2 * self.num_keypoints
        self.box_scale = float(box_scale)
        self.score_clip = float(score_clip)
        self._strides, self._min_scale, self._max_scale = tuple(strides), min_scale, max_scale
        anchors = ssd_anchors((self.input_size, self.input_size), tuple(strides),
                              min_scale, max_scale)
        # anchors per cell of each feature map (one map per run of equal strides)
        self.map_strides, self.anchors_per_cell = [], []
        for s in strides:
            if self.map_strides and self.map_strides[-1] == s:
                self.anchors_per_cell[-1] += 2
            else:
                self.map_strides.append(int(s))
                self.anchors_per_cell.append(2)
        if len(self.map_strides) != len(backbone.out_channels):
            raise ValueError('MediaPipeBlazeFace: strides %r make %d feature maps but the '
                             'backbone returns %d' % (list(strides), len(self.map_strides),
                                                      len(backbone.out_channels)))
        self.cls_heads = nn.LayerList([nn.Conv2D(c, a, 1) for c, a in zip(
            backbone.out_channels, self.anchors_per_cell)])
        self.reg_heads = nn.LayerList([nn.Conv2D(c, a * self.num_values, 1) for c, a in zip(
            backbone.out_channels, self.anchors_per_cell)])
        self.register_buffer('anchors', paddle.to_tensor(anchors), persistable=False)

    @property
    def num_classes(self):
        return 1

    @property
    def num_anchors(self):
        return int(self.anchors.shape[0])

    def forward(self, image):
        feats = self.backbone(image)
        regs, logits = [], []
        for f, cls_head, reg_head in zip(feats, self.cls_heads, self.reg_heads):
            # NCHW -> NHWC -> [B, H*W*anchors, k]: cell-major, then anchor, as MediaPipe
            regs.append(cells_to_rows(reg_head(f), self.num_values))
            logits.append(cells_to_rows(cls_head(f), 1))
        return [paddle.concat(regs, axis=1), paddle.concat(logits, axis=1)]

    def _to_pixels(self, im_shape, scale_factor):
        """Normalized input coordinates -> original pixels: (sx, sy) [B,1] each and the
        original (w, h) [B,1] each for clipping."""
        sy, sx = scale_factor[:, 0:1], scale_factor[:, 1:2]
        return (self.input_size / sx, self.input_size / sy,
                im_shape[:, 1:2] / sx, im_shape[:, 0:1] / sy)

    def decode_rows(self, outputs, im_shape, scale_factor):
        """-> boxes [B,896,4] (x1, y1, x2, y2 in original pixels, clipped to the image) and
        scores [B,896,1] (sigmoid of the clipped logits)."""
        reg, logits = outputs
        a = self.anchors
        cx = reg[:, :, 0] / self.box_scale * a[:, 2] + a[:, 0]       # [B, N], normalized
        cy = reg[:, :, 1] / self.box_scale * a[:, 3] + a[:, 1]
        w = reg[:, :, 2] / self.box_scale * a[:, 2]
        h = reg[:, :, 3] / self.box_scale * a[:, 3]
        kx, ky, ow, oh = self._to_pixels(im_shape, scale_factor)
        x1 = paddle.clip((cx - w / 2) * kx, min=0)
        y1 = paddle.clip((cy - h / 2) * ky, min=0)
        x2 = paddle.minimum((cx + w / 2) * kx, ow)
        y2 = paddle.minimum((cy + h / 2) * ky, oh)
        boxes = paddle.stack([x1, y1, x2, y2], axis=-1)
        scores = F.sigmoid(paddle.clip(logits, -self.score_clip, self.score_clip))
        return boxes, scores

    def decode_keypoints(self, outputs, im_shape, scale_factor):
        """-> [B,896,K,2] keypoints (x, y) in original pixels (not clipped).  MediaPipe's
        order for this model: right eye, left eye, nose tip, mouth centre, right ear
        tragion, left ear tragion."""
        reg = outputs[0]
        a = self.anchors
        kp = reg[:, :, 4:].reshape([0, 0, self.num_keypoints, 2]) / self.box_scale
        x = kp[:, :, :, 0] * a[:, 2:3] + a[:, 0:1]
        y = kp[:, :, :, 1] * a[:, 3:4] + a[:, 1:2]
        kx, ky, _, _ = self._to_pixels(im_shape, scale_factor)
        return paddle.stack([x * kx.unsqueeze(-1), y * ky.unsqueeze(-1)], axis=-1)

    def prunable_params(self):
        # Empty on purpose: every conv output of this backbone is summed with a shortcut
        # (the stem's into block 1, each block's into the next one's identity / max-pool +
        # zero-pad shortcut), so removing a filter means removing that channel from the
        # whole residual chain up to the heads, and PaddleSlim's filter pruner does not
        # follow the zero-padding concat.  The only convs outside the chain are the heads,
        # whose outputs decoding reads.  Pruning this family needs a chain-aware plan.
        return collections.OrderedDict()

    def float_only_layers(self):
        return ['cls_heads.%d' % i for i in range(len(self.cls_heads))] + \
               ['reg_heads.%d' % i for i in range(len(self.reg_heads))]

    def distill_outputs(self):
        return self.float_only_layers()

    def get_loss(self, outputs, inputs):
        """SSD-style loss for fine-tuning the imported model (QAT, its fp32 twin): faces
        (``gt_bbox`` [B,M,4] x1y1x2y2 in input pixels) are matched to square priors of
        MediaPipe's anchor scales (:func:`ssd_anchors` without fixed size) with the BlazeFace
        matching and hard-negative mining (:class:`SSDLoss`); boxes are encoded the way
        :meth:`decode` reads them (centre offset and size, linear, in ``box_scale`` units of
        the input, here scaled by 10 / ``box_scale``), the logit is a two-way softmax
        against 0 (= binary cross-entropy).  Keypoints have no targets (face sets have no
        keypoints): their outputs are not trained and may drift when the backbone moves."""
        from ppdet.modeling.losses.ssd_loss import SSDLoss
        reg, logits = outputs
        size = float(self.input_size)
        loc = reg[:, :, :4] * (LOC_UNITS / self.box_scale)
        conf = paddle.concat([paddle.zeros_like(logits), logits], axis=-1)
        gt = inputs['gt_bbox']
        gt = (gt.numpy() if isinstance(gt, paddle.Tensor) else np.asarray(gt)) / size
        return SSDLoss()(loc, conf, self._matching_priors, None, gt, inputs['gt_class'],
                         encode=_encode_from_centres)

    @property
    def _matching_priors(self):
        """[N,4] x1y1x2y2 normalized: MediaPipe's anchors with their scale-sized boxes."""
        if getattr(self, '_priors_np', None) is None:
            a = ssd_anchors((self.input_size, self.input_size), self._strides,
                            self._min_scale, self._max_scale, fixed_anchor_size=False)
            self._priors_np = np.concatenate([a[:, :2] - a[:, 2:] / 2,
                                              a[:, :2] + a[:, 2:] / 2], 1).astype('float32')
        return self._priors_np
