"""YOLOv3 loss: Paddle's fused ``yolo_loss`` op, or a fine-grained version in plain ops.

Ground truth comes straight from the train batch: ``gt_bbox`` [B,M,4] normalized
(cx, cy, w, h), ``gt_class`` [B,M] int32, ``gt_score`` [B,M] (zero-size boxes are
padding).  Both modes sum over anchors and cells and average over images.

* standard (default): ``paddle.vision.ops.yolo_loss`` per level; returns
  ``loss`` and ``loss_level{i}``.
* fine-grained (``fine_grained: true`` in the ``YOLOv3Loss`` section, or the
  top-level ``use_fine_grained_loss: true``): targets are assigned like
  PaddleDetection's ``Gt2YoloTarget`` (each box to its best of all anchors, in
  the cell holding its centre) and the loss is split into ``loss_xy``
  (BCE on sigmoid offsets), ``loss_wh`` (L1 on log sizes), ``loss_obj`` (BCE,
  negatives whose best IoU with any ground truth exceeds ``ignore_thresh`` are
  ignored) and ``loss_cls`` (BCE per class, optional label smoothing), each
  weighted by ``2 - w*h`` where PaddleDetection does.  :meth:`YOLOv3Loss.level_terms`
  returns these per level so distillation can reuse them.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.data.anchor_cluster import wh_iou
from ppdet.modeling.ops import pairwise_iou, xywh2xyxy

__all__ = ['YOLOv3Loss', 'build_yolo_targets']

PARTS = ('loss_xy', 'loss_wh', 'loss_obj', 'loss_cls')


def build_yolo_targets(gt_bbox, gt_class, gt_score, anchors, anchor_masks, grid_sizes,
                       input_hw, num_classes):
    """Assign ground truth to anchors; numpy in, list of [B, A, 6+C, H, W] float32 out.

    Channels: tx, ty (offset in cell), tw, th (log of size / anchor), scale
    (2 - w*h), objectness target (gt_score), one-hot class.
    """
    gt_bbox = np.asarray(gt_bbox, 'float32')
    gt_class = np.asarray(gt_class).astype('int64')
    if gt_score is None:
        gt_score = np.ones(gt_class.shape, 'float32')
    gt_score = np.asarray(gt_score, 'float32')
    anchors = np.asarray(anchors, 'float32').reshape(-1, 2)
    in_h, in_w = input_hw
    bsz = gt_bbox.shape[0]
    targets = [np.zeros((bsz, len(m), 6 + num_classes, gh, gw), 'float32')
               for m, (gh, gw) in zip(anchor_masks, grid_sizes)]
    level_of = {a: (lvl, j) for lvl, m in enumerate(anchor_masks) for j, a in enumerate(m)}
    for b in range(bsz):
        for k in range(gt_bbox.shape[1]):
            cx, cy, w, h = gt_bbox[b, k]
            if w <= 0 or h <= 0:
                continue
            pw, ph = w * in_w, h * in_h
            best = int(np.argmax(wh_iou(np.array([[pw, ph]]), anchors)[0]))
            if best not in level_of:
                continue
            lvl, j = level_of[best]
            gh, gw = grid_sizes[lvl]
            gi = min(int(cx * gw), gw - 1)
            gj = min(int(cy * gh), gh - 1)
            t = targets[lvl][b, j, :, gj, gi]
            t[:] = 0.
            t[0] = cx * gw - gi
            t[1] = cy * gh - gj
            t[2] = np.log(pw / anchors[best, 0])
            t[3] = np.log(ph / anchors[best, 1])
            t[4] = 2.0 - w * h
            t[5] = gt_score[b, k]
            c = int(gt_class[b, k])
            if not 0 <= c < num_classes:
                raise ValueError('gt_class %d out of range for num_classes=%d' % (c, num_classes))
            t[6 + c] = 1.0
    return targets


@register
class YOLOv3Loss(nn.Layer):
    __shared__ = ['num_classes', 'use_fine_grained_loss']

    def __init__(self, ignore_thresh=0.7, label_smooth=False, downsample=(32, 16, 8),
                 scale_x_y=1.0, iou_loss=None, fine_grained=None, use_fine_grained_loss=False,
                 num_classes=80):
        super().__init__()
        if iou_loss is not None:
            raise ValueError('YOLOv3Loss: iou_loss=%r is not implemented; set iou_loss: null'
                             % (iou_loss,))
        self.ignore_thresh = float(ignore_thresh)
        self.label_smooth = bool(label_smooth)
        self.downsample = [int(d) for d in downsample]
        self.scale_x_y = float(scale_x_y)
        self.fine_grained = bool(use_fine_grained_loss if fine_grained is None else fine_grained)
        self.num_classes = int(num_classes)

    # -- standard: the fused op ------------------------------------------------
    def _fused(self, outputs, inputs, anchors, anchor_masks):
        flat = [int(v) for a in anchors for v in a]
        gt_score = inputs.get('gt_score')
        losses = {}
        for i, (out, mask) in enumerate(zip(outputs, anchor_masks)):
            loss = paddle.vision.ops.yolo_loss(
                out, gt_box=inputs['gt_bbox'].astype('float32'),
                gt_label=inputs['gt_class'].astype('int32'), anchors=flat,
                anchor_mask=[int(m) for m in mask], class_num=self.num_classes,
                ignore_thresh=self.ignore_thresh, downsample_ratio=self.downsample[i],
                gt_score=None if gt_score is None else gt_score.astype('float32'),
                use_label_smooth=self.label_smooth, scale_x_y=self.scale_x_y)
            losses['loss_level%d' % i] = loss.mean()
        losses['loss'] = paddle.add_n(list(losses.values()))
        return losses

    # -- fine-grained: plain ops -----------------------------------------------
    def targets(self, outputs, inputs, anchors, anchor_masks):
        """The per-level target tensors (uses ``inputs['target{i}']`` when the reader made them)."""
        if all('target%d' % i in inputs for i in range(len(outputs))):
            return [inputs['target%d' % i] for i in range(len(outputs))]
        img = inputs['image']
        grids = [(int(o.shape[2]), int(o.shape[3])) for o in outputs]
        score = inputs.get('gt_score')
        t = build_yolo_targets(
            inputs['gt_bbox'].numpy(), inputs['gt_class'].numpy(),
            None if score is None else score.numpy(), anchors, anchor_masks, grids,
            (int(img.shape[2]), int(img.shape[3])), self.num_classes)
        return [paddle.to_tensor(x) for x in t]

    def level_terms(self, outputs, inputs, anchors, anchor_masks):
        """List (one per level) of dicts with loss_xy, loss_wh, loss_obj, loss_cls."""
        targets = self.targets(outputs, inputs, anchors, anchor_masks)
        gt_box = xywh2xyxy(inputs['gt_bbox'].astype('float32'))
        terms = []
        for i, (out, t, mask) in enumerate(zip(outputs, targets, anchor_masks)):
            level_anchors = [anchors[m] for m in mask]
            terms.append(self._level(out, t, gt_box, level_anchors, self.downsample[i]))
        return terms

    def _level(self, p, t, gt_box, anchors, downsample):
        na = len(anchors)
        b, _, h, w = p.shape
        p = p.reshape([b, na, -1, h, w]).transpose([0, 1, 3, 4, 2])  # [B,A,H,W,5+C]
        t = t.reshape([b, na, -1, h, w]).transpose([0, 1, 3, 4, 2])
        px, py, pw, ph, pobj, pcls = (p[..., 0:1], p[..., 1:2], p[..., 2:3], p[..., 3:4],
                                      p[..., 4:5], p[..., 5:])
        tx, ty, tw, th, tscale, tobj, tcls = (t[..., 0:1], t[..., 1:2], t[..., 2:3], t[..., 3:4],
                                              t[..., 4:5], t[..., 5:6], t[..., 6:])
        weight = tscale * tobj
        if abs(self.scale_x_y - 1.0) < 1e-6:
            loss_xy = (F.binary_cross_entropy_with_logits(px, tx, reduction='none') +
                       F.binary_cross_entropy_with_logits(py, ty, reduction='none'))
            sx, sy = F.sigmoid(px), F.sigmoid(py)
        else:
            bias = 0.5 * (self.scale_x_y - 1.0)
            sx = self.scale_x_y * F.sigmoid(px) - bias
            sy = self.scale_x_y * F.sigmoid(py) - bias
            loss_xy = paddle.abs(sx - tx) + paddle.abs(sy - ty)
        loss_xy = (weight * loss_xy).sum([1, 2, 3, 4]).mean()
        loss_wh = (weight * (paddle.abs(pw - tw) + paddle.abs(ph - th))).sum([1, 2, 3, 4]).mean()

        # objectness: decoded predictions vs all ground truth, for the ignore mask
        gy, gx = paddle.meshgrid(paddle.arange(h, dtype='float32'),
                                 paddle.arange(w, dtype='float32'))
        grid_x = gx.reshape([1, 1, h, w, 1])
        grid_y = gy.reshape([1, 1, h, w, 1])
        anc = paddle.to_tensor(np.asarray(anchors, 'float32').reshape([1, na, 1, 1, 2]))
        with paddle.no_grad():
            box = paddle.concat([
                (sx + grid_x) / w, (sy + grid_y) / h,
                paddle.exp(pw.clip(max=10.)) * anc[..., 0:1] / (downsample * w),
                paddle.exp(ph.clip(max=10.)) * anc[..., 1:2] / (downsample * h)], axis=-1)
            iou = pairwise_iou(xywh2xyxy(box.reshape([b, -1, 4])), gt_box)  # [B, A*H*W, M]
            iou_max = iou.max(axis=2).reshape([b, na, h, w, 1])
            ignore = (iou_max <= self.ignore_thresh).astype('float32')
            obj_mask = (tobj > 0).astype('float32')
        bce_obj = F.binary_cross_entropy_with_logits(pobj, obj_mask, reduction='none')
        loss_obj = (bce_obj * tobj + bce_obj * (1.0 - obj_mask) * ignore).sum([1, 2, 3, 4]).mean()

        if self.label_smooth:
            delta = min(1.0 / self.num_classes, 1.0 / 40)
            tcls = tcls * (1.0 - delta) + (1.0 - tcls) * delta
        loss_cls = (F.binary_cross_entropy_with_logits(pcls, tcls, reduction='none') * tobj)
        loss_cls = loss_cls.sum([1, 2, 3, 4]).mean()
        return {'loss_xy': loss_xy, 'loss_wh': loss_wh, 'loss_obj': loss_obj, 'loss_cls': loss_cls}

    def _fine(self, outputs, inputs, anchors, anchor_masks):
        terms = self.level_terms(outputs, inputs, anchors, anchor_masks)
        losses = {k: paddle.add_n([t[k] for t in terms]) for k in PARTS}
        losses['loss'] = paddle.add_n([losses[k] for k in PARTS])
        return losses

    def forward(self, outputs, inputs, anchors, anchor_masks):
        """``outputs``: raw head maps (stride 32 first); returns a dict with 'loss'."""
        if len(outputs) != len(self.downsample):
            raise ValueError('YOLOv3Loss: %d outputs but downsample has %d entries (%s)' % (
                len(outputs), len(self.downsample), self.downsample))
        if self.fine_grained:
            return self._fine(outputs, inputs, anchors, anchor_masks)
        return self._fused(outputs, inputs, anchors, anchor_masks)
