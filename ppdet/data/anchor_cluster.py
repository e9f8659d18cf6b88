"""Anchor sizes for a dataset: k-means over its ground-truth box sizes, distance 1 - IoU.

This is YOLOv2's clustering (PaddleDetection's ``tools/anchor_cluster.py`` offers it as
well).  It matters because YOLOv3 gives each box to the single anchor whose shape fits it
best, so the anchors decide which stride sees which box.  COCO's anchors scaled down to the
built-in config's 192 input sent no box at all to the stride-8 level and ~80% of them to
the 6x6 stride-32 grid, where objects of one image collide in the same cell.
"""
import numpy as np

__all__ = ['box_sizes', 'wh_iou', 'kmeans_anchors', 'level_shares']


def box_sizes(records, input_size):
    """[N, 2] widths and heights of every box, resized the way the eval reader resizes
    the image to ``input_size`` (an int for a square, or [h, w]; no aspect kept)."""
    in_h, in_w = (input_size, input_size) if np.isscalar(input_size) else input_size
    sizes = []
    for rec in records:
        boxes = np.asarray(rec['gt_bbox'], np.float64).reshape(-1, 4)
        if not len(boxes):
            continue
        scale = np.array([in_w / float(rec['w']), in_h / float(rec['h'])])
        sizes.append((boxes[:, 2:] - boxes[:, :2]) * scale)
    wh = np.concatenate(sizes) if sizes else np.zeros((0, 2))
    return wh[(wh > 0).all(axis=1)]


def wh_iou(wh, anchors):
    """IoU of boxes and anchors that share a centre: [N, K] (in the inputs' precision)."""
    wh = np.asarray(wh)
    anchors = np.asarray(anchors)
    inter = (np.minimum(wh[:, None, 0], anchors[None, :, 0]) *
             np.minimum(wh[:, None, 1], anchors[None, :, 1]))
    union = (wh[:, 0] * wh[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None] - inter
    return inter / union


def kmeans_anchors(wh, n=9, iters=300, seed=0):
    """``n`` anchors (integer [w, h], sorted by area) from k-means with 1 - IoU distance;
    each centre is the median of its boxes, which outliers do not drag."""
    wh = np.asarray(wh, np.float64)
    if len(wh) < n:
        raise ValueError('need at least %d boxes to cluster %d anchors, got %d' % (n, n, len(wh)))
    rng = np.random.default_rng(seed)
    centres = wh[rng.choice(len(wh), n, replace=False)]
    assign = None
    for _ in range(iters):
        new = wh_iou(wh, centres).argmax(axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        centres = np.array([np.median(wh[assign == k], axis=0) if np.any(assign == k)
                            else centres[k] for k in range(n)])
    centres = np.maximum(np.round(centres), 1).astype(int)
    return centres[np.argsort(centres[:, 0] * centres[:, 1], kind='stable')].tolist()


def level_shares(wh, anchors, anchor_masks):
    """Which share of the boxes each output level gets (its anchors fit them best) and the
    mean IoU of each box with its best anchor."""
    iou = wh_iou(wh, anchors)
    best = iou.argmax(axis=1)
    shares = [float(np.isin(best, mask).mean()) for mask in anchor_masks]
    return shares, float(iou.max(axis=1).mean())
