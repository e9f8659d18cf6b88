"""Pascal VOC mean average precision.

Matching follows the VOC devkit: per class, detections are taken in descending score
order; each one is matched to the unmatched-so-far ground-truth box of the same image
and class with the highest IoU.  IoU must be strictly greater than ``overlap_thresh``.
A detection whose best match is a *difficult* box counts as neither TP nor FP (unless
``evaluate_difficult``), and difficult boxes are not counted as positives.

Pixel convention: with ``is_bbox_normalized=False`` boxes are inclusive pixel
coordinates, so a box's width is ``x2 - x1 + 1`` (as in the VOC devkit and
PaddleDetection).  With normalized ``[0, 1]`` boxes the width is ``x2 - x1``.
"""
import numpy as np

__all__ = ['box_iou', 'ap_11point', 'ap_integral', 'DetectionMAP', 'MAP_TYPES']

# 'area' is accepted as another name for the VOC2010+ integral AP.
MAP_TYPES = {'11point': '11point', 'integral': 'integral', 'area': 'integral'}


def box_iou(box, boxes, is_bbox_normalized=False):
    """IoU of one box ``[4]`` against ``[m, 4]`` boxes (x1, y1, x2, y2)."""
    from ppdet.utils import bbox  # the one IoU (imported here: this edit keeps to the body)
    return bbox.box_iou(box, boxes, pixel_offset=0.0 if is_bbox_normalized else 1.0)[0]


def ap_11point(recall, precision):
    """Mean over t in {0, 0.1, ..., 1} of the best precision at recall >= t (VOC2007)."""
    recall, precision = np.asarray(recall), np.asarray(precision)
    total = 0.0
    for i in range(11):
        reached = precision[recall >= i / 10.0]
        total += reached.max() if reached.size else 0.0
    return total / 11.0


def ap_integral(recall, precision):
    """Area under the monotone (right-max) precision envelope (VOC2010+)."""
    mrec = np.concatenate(([0.0], np.asarray(recall, dtype=np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(precision, dtype=np.float64), [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


class DetectionMAP(object):
    """Accumulates per-class (score, is_tp) records image by image; computes mAP."""

    def __init__(self, class_num, overlap_thresh=0.5, map_type='11point',
                 is_bbox_normalized=False, evaluate_difficult=False):
        if map_type not in MAP_TYPES:
            raise ValueError('unknown map_type %r; use one of %s' % (
                map_type, ', '.join(sorted(MAP_TYPES))))
        self.class_num = int(class_num)
        self.overlap_thresh = float(overlap_thresh)
        self.map_type = MAP_TYPES[map_type]
        self.is_bbox_normalized = is_bbox_normalized
        self.evaluate_difficult = evaluate_difficult
        self.reset()

    def reset(self):
        self.gt_counts = np.zeros(self.class_num, dtype=np.int64)
        self.records = [[] for _ in range(self.class_num)]  # (score, tp) per class
        self.mAP = None
        self.class_aps = None

    def _check_class(self, cls, what):
        if not 0 <= cls < self.class_num:
            raise ValueError('%s class id %d is outside [0, %d); check num_classes / label list'
                             % (what, cls, self.class_num))

    def update(self, dets, gt_boxes, gt_classes, difficult=None):
        """One image: ``dets`` [k,6] (cls, score, x1,y1,x2,y2); GT boxes [m,4], classes [m]."""
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 6)
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        gt_classes = np.asarray(gt_classes, dtype=np.int64).reshape(-1)
        difficult = (np.zeros(len(gt_classes), bool) if difficult is None
                     else np.asarray(difficult).reshape(-1).astype(bool))
        for cls, dif in zip(gt_classes, difficult):
            self._check_class(cls, 'ground-truth')
            if self.evaluate_difficult or not dif:
                self.gt_counts[cls] += 1
        dets = dets[dets[:, 0] >= 0]
        for cls in np.unique(dets[:, 0]).astype(np.int64):
            self._check_class(cls, 'detection')
            mine = dets[dets[:, 0] == cls]
            mine = mine[np.argsort(-mine[:, 1], kind='stable')]
            in_cls = gt_classes == cls
            self._match(cls, mine, gt_boxes[in_cls], difficult[in_cls])

    def _match(self, cls, dets, gts, difficult):
        used = np.zeros(len(gts), dtype=bool)
        for det in dets:
            score = float(det[1])
            if len(gts) == 0:
                self.records[cls].append((score, False))
                continue
            ious = box_iou(det[2:6], gts, self.is_bbox_normalized)
            best = int(np.argmax(ious))
            if ious[best] <= self.overlap_thresh:
                self.records[cls].append((score, False))
            elif difficult[best] and not self.evaluate_difficult:
                continue  # matched a difficult box: ignored entirely
            elif used[best]:
                self.records[cls].append((score, False))  # duplicate detection
            else:
                used[best] = True
                self.records[cls].append((score, True))

    def class_pr(self, cls):
        """Precision and recall arrays for one class, detections in score order."""
        recs = self.records[cls]
        if not recs or self.gt_counts[cls] == 0:
            return np.zeros(0), np.zeros(0)
        scores = np.array([r[0] for r in recs])
        tp = np.array([r[1] for r in recs], dtype=np.float64)[np.argsort(-scores, kind='stable')]
        ctp = np.cumsum(tp)
        cfp = np.cumsum(1.0 - tp)
        return ctp / (ctp + cfp), ctp / float(self.gt_counts[cls])

    def accumulate(self):
        """mAP over classes that have at least one positive; classes w/o any -> AP None.
        No positive at all (every object difficult, or none): -1, nothing to score (as
        COCOeval's -1; a 0 read as a model that missed everything, and a best_model was
        saved from it)."""
        ap_fn = ap_11point if self.map_type == '11point' else ap_integral
        self.class_aps = []
        for cls in range(self.class_num):
            if self.gt_counts[cls] == 0:
                self.class_aps.append(None)
                continue
            precision, recall = self.class_pr(cls)
            self.class_aps.append(ap_fn(recall, precision) if len(recall) else 0.0)
        valid = [ap for ap in self.class_aps if ap is not None]
        self.mAP = float(np.mean(valid)) if valid else -1.0
        return self.mAP

    def get_map(self):
        if self.mAP is None:
            self.accumulate()
        return self.mAP
