"""PointDet: a second detector family that lives outside ppdet (issue 13's proof that the
seams hold).  A config plugs it in with ``custom_imports: [point_det]``; nothing in ppdet
knows it.

A tiny conv backbone (stride 8) -> a 3x3 tower -> per cell, C class logits (``cls_out``)
and 4 log-distances from the cell centre to the box's left, top, right and bottom edges,
in strides (``box_out``).  Anchor-free, one level: a cell is positive for the smallest
ground-truth box containing its centre.  Its own batch transform (``PointTargets``) makes
the per-cell targets ``cls_target`` / ``box_target``, which the architecture declares as
its train fields.
"""
import collections
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.data.transform.operators import BaseOperator
from ppdet.modeling.architectures.meta_arch import BaseArch

__all__ = ['PointTargets', 'PointDetBackbone', 'PointDet']


@register
class PointTargets(BaseOperator):
    """Per-cell targets from pixel ``gt_bbox`` (x1y1x2y2 on the current image, i.e. after
    resizing and before NormalizeBox): ``cls_target`` [N] int32 (class, -1 background) and
    ``box_target`` [N,4] float32 (l, t, r, b in strides), N = ceil(H/s) * ceil(W/s)."""

    def __init__(self, stride=8):
        self.stride = int(stride)

    def apply(self, sample):
        h, w = sample['image'].shape[:2]
        s = self.stride
        gh, gw = int(math.ceil(h / float(s))), int(math.ceil(w / float(s)))
        ys, xs = np.meshgrid((np.arange(gh) + 0.5) * s, (np.arange(gw) + 0.5) * s, indexing='ij')
        cx, cy = xs.reshape(-1, 1), ys.reshape(-1, 1)
        boxes = np.asarray(sample.get('gt_bbox', np.zeros([0, 4])), np.float32).reshape(-1, 4)
        classes = np.asarray(sample.get('gt_class', np.zeros([0])), np.int32).reshape(-1)
        cls_target = np.full([gh * gw], -1, np.int32)
        box_target = np.zeros([gh * gw, 4], np.float32)
        if len(boxes):
            ltrb = np.stack([cx - boxes[:, 0], cy - boxes[:, 1], boxes[:, 2] - cx,
                             boxes[:, 3] - cy], -1)                      # [N, M, 4]
            inside = ltrb.min(-1) > 0
            area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None]
            area = np.where(inside, area, np.inf)
            best = area.argmin(1)
            pos = np.isfinite(area.min(1))
            cls_target[pos] = classes[best[pos]]
            box_target[pos] = ltrb[pos, best[pos]] / s
        sample['cls_target'], sample['box_target'] = cls_target, box_target
        return sample


class ConvBN(nn.Layer):
    def __init__(self, c_in, c_out, k=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2D(c_in, c_out, k, stride=stride, padding=k // 2, bias_attr=False)
        self.bn = nn.BatchNorm2D(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


@register
class PointDetBackbone(nn.Layer):
    def __init__(self, widths=(8, 16, 32)):
        super().__init__()
        chans = [3] + [int(w) for w in widths]
        self.stages = nn.LayerList([ConvBN(a, b, 3, 2) for a, b in zip(chans, chans[1:])])
        self.out_channels = chans[-1]

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return x


@register
class PointDet(BaseArch):
    __inject__ = ['backbone', 'nms']
    __shared__ = ['num_classes']
    train_fields = ('cls_target', 'box_target')

    def __init__(self, backbone='PointDetBackbone', nms='MultiClassNMS', num_classes=80,
                 width=32, stride=8, prior=0.01):
        super().__init__()
        self.backbone, self.nms = backbone, nms
        self.nc, self.stride = int(num_classes), int(stride)
        self.tower = ConvBN(backbone.out_channels, int(width), 3)
        self.cls_out = nn.Conv2D(int(width), self.nc, 1)
        self.box_out = nn.Conv2D(int(width), 4, 1)
        self.cls_out.bias.set_value(np.full([self.nc], -math.log((1 - prior) / prior), 'float32'))

    @property
    def num_classes(self):
        return self.nc

    def forward(self, image):
        f = self.tower(self.backbone(image))
        return [self.cls_out(f), self.box_out(f)]

    def get_loss(self, outputs, inputs):
        cls_map, box_map = outputs
        logits = cls_map.flatten(2).transpose([0, 2, 1]).reshape([-1, self.nc])   # [B*N, C]
        dist = box_map.flatten(2).transpose([0, 2, 1]).reshape([-1, 4])
        labels = inputs['cls_target'].reshape([-1]).astype('int64')
        target = inputs['box_target'].reshape([-1, 4]).astype('float32')
        pos = (labels >= 0).astype('float32')
        num_pos = paddle.clip(pos.sum(), min=1.0)
        onehot = F.one_hot(paddle.clip(labels, min=0), self.nc) * pos.unsqueeze(1)
        cls_loss = F.binary_cross_entropy_with_logits(logits, onehot, reduction='sum') / num_pos
        box_l1 = paddle.abs(paddle.exp(dist) - target).sum(1) * pos
        box_loss = box_l1.sum() / num_pos
        return {'loss': cls_loss + box_loss, 'cls_loss': cls_loss, 'box_loss': box_loss}

    def decode(self, outputs, im_shape, scale_factor):
        cls_map, box_map = outputs
        h, w = cls_map.shape[2], cls_map.shape[3]
        ys = (paddle.arange(h, dtype='float32') + 0.5) * self.stride
        xs = (paddle.arange(w, dtype='float32') + 0.5) * self.stride
        gy, gx = paddle.meshgrid(ys, xs)
        cx, cy = gx.reshape([1, -1]), gy.reshape([1, -1])                     # [1, N]
        d = paddle.exp(box_map.flatten(2)) * self.stride                       # [B, 4, N]
        sy, sx = scale_factor[:, 0:1], scale_factor[:, 1:2]                    # [B, 1]
        oh, ow = im_shape[:, 0:1] / sy, im_shape[:, 1:2] / sx
        x1 = paddle.clip((cx - d[:, 0]) / sx, min=0)
        y1 = paddle.clip((cy - d[:, 1]) / sy, min=0)
        x2 = paddle.minimum((cx + d[:, 2]) / sx, ow)
        y2 = paddle.minimum((cy + d[:, 3]) / sy, oh)
        boxes = paddle.stack([x1, y1, x2, y2], -1)                              # [B, N, 4]
        return boxes, F.sigmoid(cls_map.flatten(2))                             # [B, C, N]

    def prunable_params(self):
        names = ['backbone.stages.%d' % i for i in range(len(self.backbone.stages))]
        layers = dict(self.named_sublayers())
        out = collections.OrderedDict(
            ('%s.conv.weight' % n, layers[n].conv.weight) for n in names)
        out['tower.conv.weight'] = self.tower.conv.weight
        return out

    def float_only_layers(self):
        return ['cls_out', 'box_out']

    def distill_outputs(self):
        return ['cls_out', 'box_out']
