"""RetinaNet head (Lin et al. 2017): a class tower and a box tower (4 shared 3x3 convs each,
:class:`~ppdet.modeling.heads.dense_tower.DenseTower`) then 3x3 output convs giving
``A * num_classes`` sigmoid logits and ``A * 4`` box deltas per location, A anchors per
location from :class:`~ppdet.modeling.dense_targets.AnchorGenerator`.

Initialisation as in the paper: tower and output weights N(0, 0.01), class bias
``-log((1 - prior_prob) / prior_prob)`` so every anchor starts at p = 0.01.

Loss: anchors matched by IoU (:func:`~ppdet.modeling.dense_targets.assign_by_iou`), sigmoid
focal loss over positive and negative anchors, and on positives either smooth-L1 on the
deltas (``box_loss: smooth_l1``, beta ``smooth_l1_beta``) or an IoU-type loss on the decoded
boxes (``giou``, ``iou``, ``linear_iou``); both divided by the number of positives in the
batch.

``separable: true`` gives EfficientDet's class / box nets (Tan et al. 2020, Sec. 3.3):
depthwise-separable tower convs (see DenseTower) and output convs (a shared 3x3 depthwise
conv ``cls_out_dw`` / ``box_out_dw`` before the 1x1 ``cls_out`` / ``box_out``); with
``tower_act: swish`` and ``norm_per_level`` BN as EfficientDet.

``forward(feats)`` returns ``[cls_0..cls_L-1, box_0..box_L-1]`` maps.  Every level's
outputs also pass through an identity sub-layer (``cls_levels.{i}`` / ``box_levels.{i}``)
so that forward hooks see each level (the output convs themselves are shared and run once
per level).
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
from ppdet.modeling.losses.dense_distill_loss import dense_distill_terms
from ppdet.modeling.losses.focal_loss import sigmoid_focal_loss
from ppdet.modeling.losses.iou_loss import IOU_LOSS_TYPES, iou_loss
from ppdet.modeling.ops import build_if_given, built_for, cells_to_rows

__all__ = ['RetinaHead', 'check_uniform_width', 'flatten_levels']

BOX_LOSSES = ('smooth_l1',) + IOU_LOSS_TYPES


def check_uniform_width(name, in_channels):
    widths = sorted(set(int(c) for c in in_channels))
    if len(widths) != 1:
        raise ValueError('%s shares its convs across levels, so every neck level must have the '
                         'same width; the neck gives %s' % (name, list(in_channels)))
    return widths[0]


def flatten_levels(maps, k):
    """[B, A*k, H, W] maps -> one [B, sum(H*W*A), k] tensor (row, column, anchor order)."""
    return paddle.concat([cells_to_rows(m, k) for m in maps], 1)


def smooth_l1(x, beta):
    ax = paddle.abs(x)
    if beta <= 0:
        return ax
    return paddle.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)


@register
class RetinaHead(nn.Layer):
    __shared__ = ['num_classes']
    __inject__ = ['anchor_generator']

    def __init__(self, num_classes=80, in_channels=None, feat_channel=256, stacked_convs=4,
                 norm_type=None, norm_per_level=False, norm_groups=32, prior_prob=0.01,
                 anchor_generator='AnchorGenerator', pos_iou=0.5, neg_iou=0.4,
                 low_quality_matches=True, alpha=0.25, gamma=2.0, box_loss='smooth_l1',
                 smooth_l1_beta=0.11, box_loss_weight=1.0, separable=False, tower_act='relu'):
        super().__init__()
        if box_loss not in BOX_LOSSES:
            raise ValueError('RetinaHead.box_loss must be one of %s, got %r' % (
                BOX_LOSSES, box_loss))
        self.num_classes = int(num_classes)
        self.feat_channel, self.stacked_convs = int(feat_channel), int(stacked_convs)
        self.norm_type, self.norm_per_level = norm_type, bool(norm_per_level)
        self.norm_groups, self.prior_prob = int(norm_groups), float(prior_prob)
        self.anchor_generator = anchor_generator
        self.pos_iou, self.neg_iou = float(pos_iou), float(neg_iou)
        self.low_quality_matches = bool(low_quality_matches)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.box_loss, self.smooth_l1_beta = box_loss, float(smooth_l1_beta)
        self.box_loss_weight = float(box_loss_weight)
        self.separable, self.tower_act = bool(separable), tower_act
        build_if_given(self, in_channels)

    def build_layers(self, in_channels):
        """Create the sub-layers for the neck's widths ``in_channels`` (one per level)."""
        in_channels, done = built_for(self, in_channels, 'neck')
        if done:
            return
        self.in_channels = in_channels
        ch_in = check_uniform_width('RetinaHead', in_channels)
        levels = len(in_channels)
        tower = dict(num_convs=self.stacked_convs, norm_type=self.norm_type,
                     norm_per_level=self.norm_per_level, num_levels=levels,
                     norm_groups=self.norm_groups, separable=self.separable,
                     act=self.tower_act)
        self.cls_tower = DenseTower(ch_in, self.feat_channel, **tower)
        self.box_tower = DenseTower(ch_in, self.feat_channel, **tower)
        a = self.anchor_generator.num_anchors
        bias = -math.log((1 - self.prior_prob) / self.prior_prob)
        self.cls_out = self._out_conv(a * self.num_classes, bias)
        self.box_out = self._out_conv(a * 4, 0.)
        self.cls_out_dw = self._depthwise() if self.separable else None
        self.box_out_dw = self._depthwise() if self.separable else None
        self.cls_levels = nn.LayerList([nn.Identity() for _ in range(levels)])
        self.box_levels = nn.LayerList([nn.Identity() for _ in range(levels)])

    def _out_conv(self, ch_out, bias):
        k = 1 if self.separable else 3
        return nn.Conv2D(self.feat_channel, ch_out, k, padding=k // 2,
                         weight_attr=ParamAttr(initializer=Normal(0., 0.01)),
                         bias_attr=ParamAttr(initializer=Constant(bias)))

    def _depthwise(self):
        c = self.feat_channel
        return nn.Conv2D(c, c, 3, padding=1, groups=c, bias_attr=False,
                         weight_attr=ParamAttr(initializer=Normal(0., 0.01)))

    def forward(self, feats):
        cls_maps, box_maps = [], []
        for i, f in enumerate(feats):
            c, b = self.cls_tower(f, i), self.box_tower(f, i)
            if self.separable:
                c, b = self.cls_out_dw(c), self.box_out_dw(b)
            cls_maps.append(self.cls_levels[i](self.cls_out(c)))
            box_maps.append(self.box_levels[i](self.box_out(b)))
        return cls_maps + box_maps

    def split(self, outputs):
        n = len(outputs) // 2
        return outputs[:n], outputs[n:]

    def anchors(self, outputs):
        """[N, 4] anchors (input pixels) for these output maps, in flattening order."""
        cls_maps, _ = self.split(outputs)
        return paddle.concat(self.anchor_generator([m.shape[2:] for m in cls_maps]), 0)

    def flatten(self, outputs):
        """-> logits [B,N,C], deltas [B,N,4]."""
        cls_maps, box_maps = self.split(outputs)
        return flatten_levels(cls_maps, self.num_classes), flatten_levels(box_maps, 4)

    def get_loss(self, outputs, inputs):
        logits, deltas = self.flatten(outputs)
        anchors = self.anchors(outputs)
        gt_bbox = inputs['gt_bbox'].astype('float32')
        gt_class = inputs['gt_class'].astype('int64').reshape(gt_bbox.shape[:2])
        with paddle.no_grad():
            state, match = dt.assign_by_iou(anchors, gt_bbox, self.pos_iou, self.neg_iou,
                                            self.low_quality_matches)
            pos = (state == 1).astype('float32')                                  # [B,N]
            num_pos = paddle.clip(pos.sum(), min=1.0)
            labels = dt.gather_rows(gt_class, match) if gt_bbox.shape[1] else \
                paddle.zeros(state.shape, 'int64')
            onehot = F.one_hot(labels.clip(0, self.num_classes - 1), self.num_classes)
            onehot = onehot * pos.unsqueeze(-1)
            cls_weight = (state >= 0).astype('float32').unsqueeze(-1)
            target = dt.gather_rows(gt_bbox, match) if gt_bbox.shape[1] else \
                paddle.zeros(deltas.shape)
        loss_cls = sigmoid_focal_loss(logits, onehot, self.alpha, self.gamma,
                                      cls_weight) / num_pos
        if self.box_loss == 'smooth_l1':
            with paddle.no_grad():
                t = dt.encode_deltas(anchors.unsqueeze(0), target)
                t = paddle.where(pos.unsqueeze(-1) > 0, t, paddle.zeros_like(t))
            box = (smooth_l1(deltas - t, self.smooth_l1_beta).sum(-1) * pos).sum()
        else:
            pred = dt.decode_deltas(anchors.unsqueeze(0), deltas)
            box = iou_loss(pred, target, self.box_loss, weights=pos)
        loss_box = self.box_loss_weight * box / num_pos
        return {'loss': loss_cls + loss_box, 'loss_cls': loss_cls, 'loss_box': loss_box}

    def distill_terms(self, outputs, teacher_outputs):
        """Output-distillation terms against a teacher with the same anchors (see
        :mod:`ppdet.modeling.losses.dense_distill_loss`)."""
        anchors = self.anchors(outputs).unsqueeze(0)
        (s_logits, s_deltas), (t_logits, t_deltas) = (self.flatten(outputs),
                                                      self.flatten(teacher_outputs))
        return dense_distill_terms(s_logits, t_logits, dt.decode_deltas(anchors, s_deltas),
                                   dt.decode_deltas(anchors, t_deltas))

    def decode_rows(self, outputs):
        """-> boxes [B,N,4] in input pixels, scores [B,N,C] (sigmoid)."""
        logits, deltas = self.flatten(outputs)
        boxes = dt.decode_deltas(self.anchors(outputs).unsqueeze(0), deltas)
        return boxes, F.sigmoid(logits)
