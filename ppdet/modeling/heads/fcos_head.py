"""FCOS head (Tian et al. 2019, "FCOS: Fully Convolutional One-Stage Object Detection"):
a class tower and a box tower shared by every level (:class:`DenseTower`, GN in the paper;
BN shared or per level - the seed's "Head-BN" - and the other norms of
:mod:`ppdet.modeling.norms` too), then 3x3 convs for ``num_classes`` logits, 4 distances
(left, top, right, bottom) and one centerness logit per location.

* distances: ``exp(s_i * x)`` (the paper), or with ``norm_reg_targets`` (the authors'
  later improvement) ``relu(s_i * x) * stride``, ``s_i`` a learnable scalar per level
  (``scales.{i}.scale``, init 1);
* ``centerness_on_reg``: the centerness conv reads the box tower (as later FCOS releases)
  instead of the class tower (the paper);
* targets: :func:`~ppdet.modeling.dense_targets.fcos_targets` with the per-level ranges
  ``object_sizes_of_interest`` and optional centre sampling (``center_sampling_radius`` >
  0, 1.5 in the authors' release);
* loss: sigmoid focal loss over all locations / #positives, an IoU-type loss
  (``box_loss``: ``iou`` = -log IoU as the paper, ``giou``, ``linear_iou``) on the
  positives weighted by their centerness target / the sum of those, and binary
  cross-entropy of the centerness / #positives.

``forward(feats)`` returns ``[cls_*, box_*, ctr_*]`` for the L levels, ``box_*`` the four
distances in input pixels.  Identity sub-layers ``cls_levels.{i}`` / ``box_levels.{i}``
(raw box conv output) / ``ctr_levels.{i}`` let forward hooks see each level.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal

from ppdet.core.workspace import register
from ppdet.modeling import dense_targets as dt
from ppdet.modeling.heads.dense_tower import DenseTower
from ppdet.modeling.heads.retina_head import check_uniform_width, flatten_levels
from ppdet.modeling.losses.dense_distill_loss import dense_distill_terms
from ppdet.modeling.losses.focal_loss import sigmoid_focal_loss
from ppdet.modeling.losses.iou_loss import IOU_LOSS_TYPES, iou_loss
from ppdet.modeling.ops import build_if_given, built_for

__all__ = ['FCOSHead', 'ScaleReg']

DEFAULT_SIZES = [[-1, 64], [64, 128], [128, 256], [256, 512], [512, dt.INF]]


class ScaleReg(nn.Layer):
    """A learnable scalar (``scale``, init 1) multiplied into a level's box output."""

    def __init__(self):
        super().__init__()
        self.scale = self.create_parameter([1], attr=ParamAttr(initializer=Constant(1.)))

    def forward(self, x):
        return x * self.scale


def _out_conv(ch, out, bias=0.):
    return nn.Conv2D(ch, out, 3, padding=1, weight_attr=ParamAttr(initializer=Normal(0., 0.01)),
                     bias_attr=ParamAttr(initializer=Constant(bias)))


@register
class FCOSHead(nn.Layer):
    __shared__ = ['num_classes']

    def __init__(self, num_classes=80, in_channels=None, feat_channel=256, stacked_convs=4,
                 norm_type='gn', norm_per_level=False, norm_groups=32, prior_prob=0.01,
                 strides=(8, 16, 32, 64, 128), object_sizes_of_interest=None,
                 center_sampling_radius=0., norm_reg_targets=False, centerness_on_reg=False,
                 box_loss='iou', alpha=0.25, gamma=2.0, box_loss_weight=1.0):
        super().__init__()
        if box_loss not in IOU_LOSS_TYPES:
            raise ValueError('FCOSHead.box_loss must be one of %s, got %r' % (
                IOU_LOSS_TYPES, box_loss))
        self.num_classes = int(num_classes)
        self.feat_channel, self.stacked_convs = int(feat_channel), int(stacked_convs)
        self.norm_type, self.norm_per_level = norm_type, bool(norm_per_level)
        self.norm_groups, self.prior_prob = int(norm_groups), float(prior_prob)
        self.strides = [int(s) for s in strides]
        sizes = object_sizes_of_interest or DEFAULT_SIZES[:len(self.strides)]
        self.object_sizes_of_interest = [[float(lo), float(hi)] for lo, hi in sizes]
        if len(self.object_sizes_of_interest) != len(self.strides):
            raise ValueError('FCOSHead has %d strides but %d object_sizes_of_interest ranges; '
                             'give one [lo, hi] per level' % (
                                 len(self.strides), len(self.object_sizes_of_interest)))
        self.center_sampling_radius = float(center_sampling_radius)
        self.norm_reg_targets = bool(norm_reg_targets)
        self.centerness_on_reg = bool(centerness_on_reg)
        self.box_loss, self.box_loss_weight = box_loss, float(box_loss_weight)
        self.alpha, self.gamma = float(alpha), float(gamma)
        build_if_given(self, in_channels)

    def build_layers(self, in_channels):
        """Create the sub-layers for the neck's widths ``in_channels`` (one per level)."""
        in_channels, done = built_for(self, in_channels, 'neck')
        if done:
            return
        if len(in_channels) != len(self.strides):
            raise ValueError('FCOSHead has strides %s for %d levels but the neck gives %d; set '
                             'FCOSHead.strides to the neck\'s out_strides' % (
                                 self.strides, len(self.strides), len(in_channels)))
        self.in_channels = in_channels
        ch_in = check_uniform_width('FCOSHead', in_channels)
        levels = len(in_channels)
        tower = dict(num_convs=self.stacked_convs, norm_type=self.norm_type,
                     norm_per_level=self.norm_per_level, num_levels=levels,
                     norm_groups=self.norm_groups)
        self.cls_tower = DenseTower(ch_in, self.feat_channel, **tower)
        self.box_tower = DenseTower(ch_in, self.feat_channel, **tower)
        bias = -math.log((1 - self.prior_prob) / self.prior_prob)
        self.cls_out = _out_conv(self.feat_channel, self.num_classes, bias)
        self.box_out = _out_conv(self.feat_channel, 4)
        self.ctr_out = _out_conv(self.feat_channel, 1)
        self.scales = nn.LayerList([ScaleReg() for _ in range(levels)])
        self.cls_levels = nn.LayerList([nn.Identity() for _ in range(levels)])
        self.box_levels = nn.LayerList([nn.Identity() for _ in range(levels)])
        self.ctr_levels = nn.LayerList([nn.Identity() for _ in range(levels)])

    def forward(self, feats):
        cls_maps, box_maps, ctr_maps = [], [], []
        for i, f in enumerate(feats):
            c, b = self.cls_tower(f, i), self.box_tower(f, i)
            cls_maps.append(self.cls_levels[i](self.cls_out(c)))
            reg = self.scales[i](self.box_levels[i](self.box_out(b)))
            box_maps.append(F.relu(reg) * self.strides[i] if self.norm_reg_targets
                            else paddle.exp(reg))
            ctr_maps.append(self.ctr_levels[i](self.ctr_out(b if self.centerness_on_reg else c)))
        return cls_maps + box_maps + ctr_maps

    def split(self, outputs):
        n = len(outputs) // 3
        return outputs[:n], outputs[n:2 * n], outputs[2 * n:]

    def points(self, outputs):
        """[N, 2] (x, y) locations, [N] their strides, [N, 2] their size ranges."""
        cls_maps, _, _ = self.split(outputs)
        shapes = [m.shape[2:] for m in cls_maps]
        pts = dt.grid_points(shapes, self.strides)
        strides = [paddle.full([p.shape[0]], s, 'float32') for p, s in zip(pts, self.strides)]
        ranges = [paddle.to_tensor([r], 'float32').expand([p.shape[0], 2])
                  for p, r in zip(pts, self.object_sizes_of_interest)]
        return paddle.concat(pts, 0), paddle.concat(strides, 0), paddle.concat(ranges, 0)

    def flatten(self, outputs):
        """-> logits [B,N,C], distances [B,N,4], centerness logits [B,N]."""
        cls_maps, box_maps, ctr_maps = self.split(outputs)
        return (flatten_levels(cls_maps, self.num_classes), flatten_levels(box_maps, 4),
                flatten_levels(ctr_maps, 1).squeeze(-1))

    @staticmethod
    def boxes_from(points, ltrb):
        p = points.unsqueeze(0)
        return paddle.concat([p - ltrb[..., :2], p + ltrb[..., 2:]], -1)

    def get_loss(self, outputs, inputs):
        logits, dist, ctr_logits = self.flatten(outputs)
        points, strides, ranges = self.points(outputs)
        gt_bbox = inputs['gt_bbox'].astype('float32')
        gt_class = inputs['gt_class'].astype('int64').reshape(gt_bbox.shape[:2])
        with paddle.no_grad():
            labels, ltrb, ctr = dt.fcos_targets(points, strides, ranges, gt_bbox, gt_class,
                                                self.center_sampling_radius)
            pos = (labels >= 0).astype('float32')
            num_pos = paddle.clip(pos.sum(), min=1.0)
            onehot = F.one_hot(labels.clip(0, self.num_classes - 1), self.num_classes)
            onehot = onehot * pos.unsqueeze(-1)
            ctr_sum = paddle.clip((ctr * pos).sum(), min=1e-6)
        loss_cls = sigmoid_focal_loss(logits, onehot, self.alpha, self.gamma) / num_pos
        box = iou_loss(self.boxes_from(points, dist), self.boxes_from(points, ltrb),
                       self.box_loss, weights=ctr * pos)
        loss_box = self.box_loss_weight * box / ctr_sum
        loss_ctr = (F.binary_cross_entropy_with_logits(ctr_logits, ctr, reduction='none')
                    * pos).sum() / num_pos
        return {'loss': loss_cls + loss_box + loss_ctr, 'loss_cls': loss_cls,
                'loss_box': loss_box, 'loss_ctr': loss_ctr}

    def distill_terms(self, outputs, teacher_outputs):
        """Output-distillation terms against a teacher with the same levels (see
        :mod:`ppdet.modeling.losses.dense_distill_loss`)."""
        points, _, _ = self.points(outputs)
        (s_logits, s_dist, s_ctr), (t_logits, t_dist, t_ctr) = (
            self.flatten(outputs), self.flatten(teacher_outputs))
        return dense_distill_terms(s_logits, t_logits, self.boxes_from(points, s_dist),
                                   self.boxes_from(points, t_dist), s_ctr, t_ctr)

    def decode_rows(self, outputs):
        """-> boxes [B,N,4] in input pixels, scores [B,N,C] = sigmoid(cls) * sigmoid(ctr)."""
        logits, dist, ctr_logits = self.flatten(outputs)
        points, _, _ = self.points(outputs)
        scores = F.sigmoid(logits) * F.sigmoid(ctr_logits).unsqueeze(-1)
        return self.boxes_from(points, dist), scores
