"""Anchors, points and training targets of dense (one-stage) detectors: RetinaNet and FCOS.

Every box is x1y1x2y2 in network-input pixels.  Batched: ``gt_bbox`` [B,M,4] and
``gt_class`` [B,M] are the reader's PadBox rows, and a row is a real box when its width
and height are positive (padding rows are zeros).  The functions are plain Paddle ops, so
the same code runs under ``paddle.no_grad`` in the loss and in tests.

* :class:`AnchorGenerator`: RetinaNet anchors, per level ``scales_per_octave`` sizes
  ``octave_base_scale * stride * 2^(i/scales_per_octave)`` times ``aspect_ratios``
  (h / w); sizes 32..512 for strides 8..128 with the defaults, 9 per location.  Order:
  row, column, then ratio-major / scale-minor inside a location - the order in which a
  head's ``[B, A*K, H, W]`` map is flattened.
* :func:`assign_by_iou`: RetinaNet's matching (IoU >= ``pos_iou`` positive, < ``neg_iou``
  negative, between ignored; optionally each box's best anchors positive too).
* :func:`encode_deltas` / :func:`decode_deltas`: the R-CNN box parameterisation.
* :func:`grid_points` / :func:`fcos_targets`: FCOS locations and targets (a location is
  positive for the smallest box that contains it - or, with centre sampling, whose centre
  region contains it - when its largest distance to the box's sides lies in its level's
  range).
"""
import math

import numpy as np
import paddle

from ppdet.core.workspace import register
from ppdet.modeling.ops import pairwise_iou

__all__ = ['AnchorGenerator', 'assign_by_iou', 'encode_deltas', 'decode_deltas', 'grid_points',
           'fcos_targets', 'valid_boxes', 'gather_rows', 'to_original_pixels', 'INF']

INF = 1e8
# exp() of a predicted log-size is clipped here (Detectron's bbox_xform_clip)
DELTA_CLIP = math.log(1000. / 16)


def valid_boxes(gt_bbox):
    """[B,M] bool: rows of ``gt_bbox`` with positive width and height."""
    return ((gt_bbox[..., 2] - gt_bbox[..., 0]) > 0) & ((gt_bbox[..., 3] - gt_bbox[..., 1]) > 0)


def gather_rows(values, index):
    """``values`` [B,M,...] picked along axis 1 by ``index`` [B,N] -> [B,N,...]."""
    if len(values.shape) == 2:
        return paddle.take_along_axis(values, index, axis=1)
    k = values.shape[-1]
    return paddle.take_along_axis(values, index.unsqueeze(-1).expand(index.shape + [k]), axis=1)


@register
class AnchorGenerator(object):
    def __init__(self, octave_base_scale=4, scales_per_octave=3, aspect_ratios=(0.5, 1.0, 2.0),
                 strides=(8, 16, 32, 64, 128), offset=0.5):
        self.octave_base_scale = float(octave_base_scale)
        self.scales_per_octave = int(scales_per_octave)
        self.aspect_ratios = [float(r) for r in aspect_ratios]
        self.strides = [int(s) for s in strides]
        self.offset = float(offset)

    @property
    def num_anchors(self):
        """Anchors per location."""
        return len(self.aspect_ratios) * self.scales_per_octave

    def base_anchors(self, stride):
        """[A, 4] anchors centred on (0, 0) for one level."""
        rows = []
        for r in self.aspect_ratios:
            for i in range(self.scales_per_octave):
                size = self.octave_base_scale * stride * 2 ** (i / float(self.scales_per_octave))
                w, h = size / math.sqrt(r), size * math.sqrt(r)
                rows.append([-w / 2, -h / 2, w / 2, h / 2])
        return np.asarray(rows, 'float32')

    def __call__(self, shapes):
        """Per level [H*W*A, 4] anchors for feature maps of (H, W) ``shapes``."""
        if len(shapes) != len(self.strides):
            raise ValueError('AnchorGenerator has strides %s for %d levels but the head gave %d '
                             'maps; set AnchorGenerator.strides to the neck\'s out_strides'
                             % (self.strides, len(self.strides), len(shapes)))
        out = []
        for (h, w), stride in zip(shapes, self.strides):
            cy = (paddle.arange(h, dtype='float32') + self.offset) * stride
            cx = (paddle.arange(w, dtype='float32') + self.offset) * stride
            gy, gx = paddle.meshgrid(cy, cx)
            c = paddle.stack([gx, gy, gx, gy], -1).reshape([-1, 1, 4])
            base = paddle.to_tensor(self.base_anchors(stride)).unsqueeze(0)
            out.append((c + base).reshape([-1, 4]))
        return out


def assign_by_iou(anchors, gt_bbox, pos_iou=0.5, neg_iou=0.4, low_quality=True):
    """Match anchors [N,4] to ``gt_bbox`` [B,M,4] (padding rows allowed).

    Returns ``state`` [B,N] int32 (1 positive, 0 negative, -1 ignored) and ``match`` [B,N]
    int64 (the box each anchor is matched to; meaningful where ``state == 1``).  With
    ``low_quality``, every anchor whose IoU with a box equals that box's best IoU (> 0) is
    positive for it, so that no box goes unmatched (Detectron's allow_low_quality_matches).
    """
    b, n = gt_bbox.shape[0], anchors.shape[0]
    if gt_bbox.shape[1] == 0:
        return paddle.zeros([b, n], 'int32'), paddle.zeros([b, n], 'int64')
    valid = valid_boxes(gt_bbox).unsqueeze(1)                                    # [B,1,M]
    iou = pairwise_iou(anchors.unsqueeze(0).expand([b, n, 4]), gt_bbox)          # [B,N,M]
    iou = paddle.where(valid, iou, paddle.full_like(iou, -1.))
    best, match = iou.max(2), iou.argmax(2)
    state = paddle.where(best >= pos_iou, paddle.ones_like(best, 'int32'),
                         paddle.where(best < neg_iou, paddle.zeros_like(best, 'int32'),
                                      paddle.full_like(best, -1, 'int32')))
    if low_quality:
        per_box = iou.max(1, keepdim=True)                                       # [B,1,M]
        hit = (iou == per_box) & (per_box > 0)
        any_hit = hit.any(2)
        lq_match = paddle.where(hit, iou, paddle.full_like(iou, -2.)).argmax(2)
        match = paddle.where(any_hit, lq_match, match)
        state = paddle.where(any_hit, paddle.ones_like(state), state)
    return state, match


def encode_deltas(anchors, boxes, weights=(1., 1., 1., 1.)):
    """(dx, dy, dw, dh) that move ``anchors`` onto ``boxes`` (both [..., 4])."""
    aw, ah = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    ax, ay = anchors[..., 0] + 0.5 * aw, anchors[..., 1] + 0.5 * ah
    bw, bh = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    bx, by = boxes[..., 0] + 0.5 * bw, boxes[..., 1] + 0.5 * bh
    wx, wy, ww, wh = weights
    return paddle.stack([wx * (bx - ax) / aw, wy * (by - ay) / ah,
                         ww * paddle.log(bw.clip(min=1e-6) / aw),
                         wh * paddle.log(bh.clip(min=1e-6) / ah)], -1)


def decode_deltas(anchors, deltas, weights=(1., 1., 1., 1.)):
    """Boxes [..., 4] from ``deltas`` applied to ``anchors`` (inverse of encode_deltas)."""
    aw, ah = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    ax, ay = anchors[..., 0] + 0.5 * aw, anchors[..., 1] + 0.5 * ah
    wx, wy, ww, wh = weights
    x = deltas[..., 0] / wx * aw + ax
    y = deltas[..., 1] / wy * ah + ay
    w = paddle.exp((deltas[..., 2] / ww).clip(max=DELTA_CLIP)) * aw
    h = paddle.exp((deltas[..., 3] / wh).clip(max=DELTA_CLIP)) * ah
    return paddle.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], -1)


def grid_points(shapes, strides, offset=0.5):
    """Per level [H*W, 2] (x, y) locations ``(j + offset) * stride``, row-major."""
    out = []
    for (h, w), s in zip(shapes, strides):
        ys = (paddle.arange(h, dtype='float32') + offset) * s
        xs = (paddle.arange(w, dtype='float32') + offset) * s
        gy, gx = paddle.meshgrid(ys, xs)
        out.append(paddle.stack([gx.reshape([-1]), gy.reshape([-1])], -1))
    return out


def fcos_targets(points, point_strides, point_ranges, gt_bbox, gt_class, center_radius=0.):
    """FCOS targets of ``points`` [N,2] for ``gt_bbox`` [B,M,4] / ``gt_class`` [B,M].

    ``point_strides`` [N] and ``point_ranges`` [N,2] (lo, hi) are each location's level
    stride and regression range.  A location is positive for a box when it lies inside the
    box (``center_radius`` > 0: inside the box's centre region of half-side
    ``center_radius * stride``, clipped to the box) and ``lo <= max(l, t, r, b) <= hi``;
    among several, the smallest box wins.  Returns ``labels`` [B,N] int64 (-1 background),
    ``ltrb`` [B,N,4] distances to the matched box's sides and ``centerness`` [B,N]
    (sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)); 0 on background).
    """
    b, n, m = gt_bbox.shape[0], points.shape[0], gt_bbox.shape[1]
    if m == 0:
        return (paddle.full([b, n], -1, 'int64'), paddle.zeros([b, n, 4]), paddle.zeros([b, n]))
    x = points[:, 0].reshape([1, n, 1])
    y = points[:, 1].reshape([1, n, 1])
    x1, y1, x2, y2 = [gt_bbox[:, :, i].unsqueeze(1) for i in range(4)]          # [B,1,M]
    ltrb = paddle.stack([x - x1, y - y1, x2 - x, y2 - y], -1)                     # [B,N,M,4]
    if center_radius > 0:
        r = (point_strides.astype('float32') * center_radius).reshape([1, n, 1])
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        region = paddle.stack([x - paddle.maximum(cx - r, x1), y - paddle.maximum(cy - r, y1),
                               paddle.minimum(cx + r, x2) - x, paddle.minimum(cy + r, y2) - y],
                              -1)
        inside = region.min(-1) > 0
    else:
        inside = ltrb.min(-1) > 0
    reach = ltrb.max(-1)
    lo = point_ranges[:, 0].reshape([1, n, 1])
    hi = point_ranges[:, 1].reshape([1, n, 1])
    ok = inside & (reach >= lo) & (reach <= hi) & valid_boxes(gt_bbox).unsqueeze(1)
    area = ((x2 - x1) * (y2 - y1)).expand([b, n, m])
    area = paddle.where(ok, area, paddle.full_like(area, INF))
    match = area.argmin(2)                                                        # [B,N]
    pos = area.min(2) < INF
    labels = gather_rows(gt_class.astype('int64'), match)
    labels = paddle.where(pos, labels, paddle.full_like(labels, -1))
    idx = match.reshape([b, n, 1, 1]).expand([b, n, 1, 4])
    target = paddle.take_along_axis(ltrb, idx, axis=2).squeeze(2)                # [B,N,4]
    target = target * pos.unsqueeze(-1).astype('float32')
    l, t, r_, bt = [target[..., i] for i in range(4)]
    lr = paddle.minimum(l, r_) / paddle.maximum(l, r_).clip(min=1e-6)
    tb = paddle.minimum(t, bt) / paddle.maximum(t, bt).clip(min=1e-6)
    ctr = paddle.sqrt((lr * tb).clip(min=0)) * pos.astype('float32')
    return labels, target, ctr


def to_original_pixels(boxes, im_shape, scale_factor):
    """Input-pixel boxes [B,N,4] -> original-image pixels, clipped to the original image
    (``im_shape`` [B,2] network input h, w; ``scale_factor`` [B,2] resized / original)."""
    # min(max(x / sx, 0), ow) with ow = input width / sx is ow * clip(x / input width, 0, 1):
    # two matmuls with diagonal [B,4,4] matrices and one clip over the rows.  Sliced per
    # coordinate and stacked back it was a dozen row ops, the last-axis stack and the
    # broadcast ones slow in Paddle Inference (BlazeFace-Lite at 640, 22400 rows: stack
    # 0.76 ms, a [B,1,4] broadcast multiply 0.23 ms, a oneDNN matmul 0.06-0.1 ms)
    ih, iw = im_shape[:, 0:1], im_shape[:, 1:2]                                  # [B,1]
    oh, ow = ih / scale_factor[:, 0:1], iw / scale_factor[:, 1:2]
    # a constant, not paddle.eye: Paddle-Lite has no kernel for an ``eye`` op
    eye = paddle.to_tensor(np.eye(4)[None], dtype=boxes.dtype)
    to_fraction = eye / paddle.concat([iw, ih, iw, ih], 1).unsqueeze(1)          # [B,4,4]
    to_pixels = eye * paddle.concat([ow, oh, ow, oh], 1).unsqueeze(1)
    return paddle.matmul(paddle.clip(paddle.matmul(boxes, to_fraction), 0., 1.), to_pixels)
