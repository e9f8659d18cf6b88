"""Decode YOLO head maps into boxes and run multi-class NMS.

Output convention (also of exported models): ``bbox`` [N,6] float32 rows
(class_id, score, x1, y1, x2, y2) in ORIGINAL image pixels, all images of the
batch concatenated, and ``bbox_num`` [B] int32 rows per image.  When nothing
passes the thresholds ``bbox`` has 0 rows and ``bbox_num`` is 0 (no dummy row).

``im_shape`` [B,2] is the network input (h, w) after resizing and
``scale_factor`` [B,2] is (resized / original) as (scale_y, scale_x);
``yolo_box`` is given the original size ``im_shape / scale_factor`` so its boxes
come out in original pixels, clipped to the image when ``clip_bbox``.
"""
import numpy as np
import paddle
import paddle.nn as nn

from ppdet.core.workspace import register
from ppdet.modeling.ops import multiclass_nms

__all__ = ['YOLOBox', 'MultiClassNMS', 'BBoxPostProcess']


@register
class YOLOBox(object):
    __shared__ = ['num_classes']

    """Decode YOLO head maps into boxes in original-image pixels.

    ``origin_shape``: how the original image size is recovered from the network input
    size and ``scale_factor`` (it sets the box scale and the clip border, ``size - 1``):
    ``'round'`` (default, ``floor(im_shape / scale_factor + 0.5)``) or ``'truncate'``
    (``int(im_shape / scale_factor)``, PaddleDetection 2.x; see
    configs/_base_/ppdet2x_compat.yml).  They differ by one pixel when the quotient falls
    just below an integer.
    """
    ORIGIN_SHAPE_MODES = ('round', 'truncate')

    def __init__(self, conf_thresh=0.005, downsample_ratio=32, clip_bbox=True, scale_x_y=1.0,
                 num_classes=80, origin_shape='round'):
        self.conf_thresh = float(conf_thresh)
        self.downsample_ratio = int(downsample_ratio)
        self.clip_bbox = bool(clip_bbox)
        self.scale_x_y = float(scale_x_y)
        self.num_classes = int(num_classes)
        if origin_shape not in self.ORIGIN_SHAPE_MODES:
            raise ValueError('YOLOBox.origin_shape must be one of %s, got %r' % (
                ', '.join(self.ORIGIN_SHAPE_MODES), origin_shape))
        self.origin_shape = origin_shape

    def __call__(self, head_outs, mask_anchors, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 original pixels), scores [B,C,N]."""
        boxes, scores = self.decode_rows(head_outs, mask_anchors, im_shape, scale_factor)
        return boxes, scores.transpose([0, 2, 1])

    def decode_rows(self, head_outs, mask_anchors, im_shape, scale_factor):
        """-> boxes [B,N,4], scores [B,N,C]: ``yolo_box``'s own layout, one row of class
        scores per box (what :meth:`MultiClassNMS.nms_rows` takes without a transpose)."""
        if self.origin_shape == 'truncate':
            origin_shape = (im_shape / scale_factor).astype('int32')  # cast truncates
        else:
            origin_shape = paddle.floor(im_shape / scale_factor + 0.5).astype('int32')
        padded = self._maybe_padded(head_outs[0], im_shape)
        # yolo_box maps a cell to the image as if the grid covered exactly ``im_shape``; an
        # image padded to a larger batch (keep_ratio resizes, batch > 1) has its grid over
        # the padded input: decoded with the padded size, clipped to the image's own
        decode_shape = (self._padded_origin(head_outs[0], im_shape, origin_shape) if padded
                        else origin_shape)
        boxes, scores = [], []
        for i, (out, anchors) in enumerate(zip(head_outs, mask_anchors)):
            box, score = paddle.vision.ops.yolo_box(
                out, decode_shape, anchors, self.num_classes, self.conf_thresh,
                self.downsample_ratio // 2 ** i, clip_bbox=self.clip_bbox and not padded,
                scale_x_y=self.scale_x_y)
            boxes.append(box)
            scores.append(score)
        boxes = paddle.concat(boxes, axis=1)
        if padded and self.clip_bbox:    # as yolo_box clips: x1, y1 >= 0, x2, y2 <= size - 1
            hw = (origin_shape - 1).astype(boxes.dtype)
            big = paddle.full_like(hw[:, 0], 1e10)
            top = paddle.stack([big, big, hw[:, 1], hw[:, 0]], axis=1).unsqueeze(1)
            bottom = paddle.stack([big * 0, big * 0, -big, -big], axis=1).unsqueeze(1)
            boxes = paddle.maximum(paddle.minimum(boxes, top), bottom)
        return boxes, paddle.concat(scores, axis=1)

    def _maybe_padded(self, first_map, im_shape):
        """Whether an image's input may be larger than its ``im_shape`` (padded): in dygraph
        the sizes are compared; a traced graph of a fixed input size is never padded, one of
        a dynamic size may be (the deployed preprocessor pads a batch of keep-ratio
        resizes), so it decodes the padded way, which gives the same boxes when not."""
        grid = list(first_map.shape[2:4])
        if any(d is None or d < 0 for d in grid):
            return True
        if not paddle.in_dynamic_mode():
            return False
        size = np.array(grid, 'float32') * self.downsample_ratio
        return bool((np.abs(im_shape.numpy() - size[None]) > 0.5).any())

    def _padded_origin(self, first_map, im_shape, origin_shape):
        """The padded input's size in original pixels (the image's own plus its padding,
        each scaled back by the image's resize factor)."""
        size = paddle.shape(first_map)[2:4].astype('float32') * float(self.downsample_ratio)
        ratio = size.unsqueeze(0) / im_shape
        return paddle.floor(origin_shape.astype('float32') * ratio + 0.5).astype('int32')


@register
class MultiClassNMS(object):
    """Per-class NMS (``multiclass_nms3``): per class, the boxes scoring above
    ``score_threshold``, at most ``nms_top_k`` of them, then ``keep_top_k`` per image.

    ``pre_nms_top_k`` (0: off) first keeps only the ``pre_nms_top_k`` best (box, class)
    pairs of each image over all classes (:meth:`bound_candidates`).  Per-class
    ``nms_top_k`` alone does not bound the work: a low-confidence model (a random head:
    every score ~0.25) sends ``nms_top_k`` boxes of *every* class into NMS, 80 x 1000 at
    608, and NMS swamps the network.  With the bound at most ``pre_nms_top_k`` pairs enter
    NMS whatever the model; a trained detector rarely has that many above the threshold.
    """

    def __init__(self, score_threshold=0.01, nms_top_k=1000, keep_top_k=100, nms_threshold=0.45,
                 normalized=False, nms_eta=1.0, background_label=-1, pre_nms_top_k=0):
        self.score_threshold = float(score_threshold)
        self.nms_top_k = int(nms_top_k)
        self.keep_top_k = int(keep_top_k)
        self.nms_threshold = float(nms_threshold)
        self.normalized = bool(normalized)
        self.nms_eta = float(nms_eta)
        self.background_label = int(background_label)
        self.pre_nms_top_k = int(pre_nms_top_k or 0)

    def bound_candidates(self, bboxes, scores):
        """-> (bboxes [B,K,4], scores [B,C,K]) holding only each image's ``pre_nms_top_k``
        best (box, class) pairs (the other scores of the K boxes set to 0); see
        :meth:`bound_rows`.  A no-op when off or when there are <= K boxes."""
        if not self._bounds(bboxes):
            return bboxes, scores
        return self.bound_rows(bboxes, scores.transpose([0, 2, 1]))

    def _bounds(self, bboxes):
        n = bboxes.shape[1]
        return self.pre_nms_top_k > 0 and n is not None and n >= 0 and n > self.pre_nms_top_k

    def bound_rows(self, bboxes, scores):
        """``scores`` [B,N,C] (a row per box) -> (bboxes [B,K,4], scores [B,C,K]) as
        :meth:`bound_candidates`, or (bboxes, scores [B,C,N]) when it does not bound.

        Two cheap steps, exact up to ties: the K boxes with the best class score (a pair
        among the K best pairs has a box among them), then the K-th best pair score of
        those as a per-image floor.  Rows, not [B,C,N]: gathering K rows of a [B*N, C]
        tensor is a copy of K*C values, while the [B,C,N] layout needs the whole score
        tensor transposed first (22743 x 80 at 608: ~25 ms on one core, measured) - only
        the bounded [B,K,C] is transposed here.
        """
        if not self._bounds(bboxes):
            return bboxes, scores.transpose([0, 2, 1])
        k, n, c = self.pre_nms_top_k, bboxes.shape[1], scores.shape[2]
        idx = paddle.topk(scores.max(axis=2), k, axis=1)[1]              # [B,K]
        # rows of the flattened [B*N, .] tensors (gather, not take_along_axis: Paddle-Lite
        # has no take_along_axis kernel on x86 or ARM)
        rows = idx + (paddle.arange(paddle.shape(idx)[0], dtype=idx.dtype) * n).unsqueeze(-1)
        rows = rows.reshape([-1])
        bboxes = paddle.gather(bboxes.reshape([-1, 4]), rows).reshape([-1, k, 4])
        scores = paddle.gather(scores.reshape([-1, c]), rows).reshape([-1, k, c])
        floor = paddle.topk(scores.reshape([-1, k * c]), k, axis=1)[0][:, k - 1:k]
        floor = floor.unsqueeze(-1)                                      # [B,1,1]
        scores = paddle.where(scores >= floor, scores, paddle.zeros_like(scores))
        return bboxes, scores.transpose([0, 2, 1])

    def __call__(self, bboxes, scores):
        """``scores`` [B,C,N] -> (bbox [M,6], bbox_num [B])."""
        return self._nms(*self.bound_candidates(bboxes, scores))

    def nms_rows(self, bboxes, scores):
        """As ``__call__`` with ``scores`` [B,N,C] (a row per box)."""
        return self._nms(*self.bound_rows(bboxes, scores))

    def _nms(self, bboxes, scores):
        return multiclass_nms(bboxes, scores, self.score_threshold, self.nms_top_k,
                              self.keep_top_k, self.nms_threshold, self.normalized,
                              self.nms_eta, self.background_label)


@register
class BBoxPostProcess(nn.Layer):
    __inject__ = ['decode', 'nms']

    def __init__(self, decode='YOLOBox', nms='MultiClassNMS'):
        super().__init__()
        self.decode = decode
        self.nms = nms

    def forward(self, head_outs, mask_anchors, im_shape, scale_factor):
        if self.nms is None:
            return self.decode(head_outs, mask_anchors, im_shape, scale_factor)
        if hasattr(self.decode, 'decode_rows') and hasattr(self.nms, 'nms_rows'):
            # one row of class scores per box: no transpose of the full score tensor
            boxes, rows = self.decode.decode_rows(head_outs, mask_anchors, im_shape,
                                                  scale_factor)
            return self.nms.nms_rows(boxes, rows)
        boxes, scores = self.decode(head_outs, mask_anchors, im_shape, scale_factor)
        return self.nms(boxes, scores)
