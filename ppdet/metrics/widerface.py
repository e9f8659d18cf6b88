"""WIDER FACE Easy / Medium / Hard AP, as the official ``eval_tools`` compute it.

Followed step by step from the official MATLAB code (``read_pred.m``, ``norm_score.m``,
``evaluation.m``, ``boxoverlap.m``, ``wider_plot.m`` + ``VOCap``):

1. per image, detections ``x, y, w, h, score`` sorted by score, highest first (a stable
   sort: equal scores keep their order);
2. scores min-max normalised over the whole set: ``(s - min) / (max - min)``, where the
   official code starts ``max`` at the smallest positive float32 and ``min`` at the largest;
3. per image (skipped when it has no ground-truth box or no detection — its faces still
   count in the recall denominator), in score order: boxes become x1y1x2y2 with
   ``x2 = x + w``; overlaps use the +1-pixel convention (``(x2 - x1 + 1) * (y2 - y1 + 1)``,
   zero when the +1 width or height is <= 0); a detection is compared with the ground-truth
   box of largest overlap (first one on a tie).  At IoU >= 0.5: a face outside the subset's
   ``gt_list`` makes the detection neither a true nor a false positive (it is not counted
   as a proposal); a face of the subset is recalled the first time; a second detection of
   the same face counts as a proposal without recall (a false positive).  Below 0.5: a
   false positive.  Note that a detection is only compared with its best-overlapping face,
   even when that face is taken and another one would match;
4. at each of 1000 thresholds ``1 - t/1000``, t = 1..1000, per image: the proposals and
   recalled faces among the detections down to the last one scoring >= the threshold;
   summed over all images;
5. precision = recalled / proposals, recall = recalled / faces in the subset (over every
   evaluated image); AP = VOCap(recall, precision), the VOC2010+ area under the monotone
   precision envelope (MATLAB's ``max`` ignores the 0/0 precision of thresholds without a
   proposal; here it is set to 0, which gives the same envelope).

One deliberate difference: when every detection has the same score, ``max - min`` is 0 and
the official code divides by zero (NaN scores that no threshold keeps: AP 0); here every
score becomes 1 and a warning says so.

Ground truth comes from the dataset (``WIDERFaceDataSet.wider_ground_truth()``): the
official ``.mat`` files when present, else the annotation file with a stated rule.
``update`` takes the trainer's batches (detections ``class, score, x1, y1, x2, y2`` in
original pixels, see :mod:`ppdet.metrics.batch_utils`); with ``output_eval`` the
official per-image submission files are written (``<out>/<event>/<name>.txt``).
"""
import os

import numpy as np

from ppdet.core.workspace import ConfigError, register
from ppdet.utils.bbox import box_iou
from ppdet.utils.fileio import atomic_write
from ppdet.utils.logger import setup_logger

from .batch_utils import image_ids, split_detections
from .map_utils import ap_integral
from .metrics import Metric

logger = setup_logger(__name__)

__all__ = ['WiderFaceMetric', 'evaluate_wider', 'normalize_scores', 'image_evaluation',
           'image_pr_info', 'write_wider_submission', 'read_wider_submission', 'WIDER_SUBSETS']

WIDER_SUBSETS = ('easy', 'medium', 'hard')
_F32_TINY = float(np.finfo(np.float32).tiny)   # MATLAB realmin('single')
_F32_MAX = float(np.finfo(np.float32).max)     # MATLAB realmax('single')
_WARNED = set()


def _warn_once(key, msg, *args):
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(msg, *args)


def _sorted(dets):
    """[k,5] float64, stable-sorted by score, highest first (read_pred.m)."""
    dets = np.asarray(dets if dets is not None else np.zeros([0, 5]), np.float64).reshape(-1, 5)
    return dets[np.argsort(-dets[:, 4], kind='stable')]


def normalize_scores(detections):
    """Min-max normalise the scores of a list of ``[k,5]`` arrays over all of them
    (norm_score.m); returns new arrays.  Equal scores everywhere: all become 1 (warned)."""
    scores = [d[:, 4] for d in detections if len(d)]
    if not scores:
        return [d.copy() for d in detections]
    hi = max(_F32_TINY, max(float(s.max()) for s in scores))
    lo = min(_F32_MAX, min(float(s.min()) for s in scores))
    out = []
    for d in detections:
        d = d.copy()
        if len(d):
            d[:, 4] = (d[:, 4] - lo) / (hi - lo) if hi > lo else 1.0
        out.append(d)
    if not hi > lo:
        logger.warning('WIDER FACE: every detection has the same score (%g); each counts with '
                       'normalised score 1 (the official norm_score divides by zero here and '
                       'scores AP 0)', hi)
    return out


def image_evaluation(pred, gt, keep, iou_thresh=0.5):
    """One image (evaluation.m's image_evaluation).

    Args:
        pred: ``[k,5]`` x, y, w, h, normalised score, sorted by score (highest first).
        gt: ``[m,4]`` x, y, w, h.
        keep: ``[m]`` bool, True for the faces of the subset.
    Returns:
        ``pred_recall`` [k] (faces of the subset recalled by the first i+1 detections) and
        ``proposal`` [k] bool (False for a detection matched to a face outside the subset).
    """
    p = np.asarray(pred, np.float64).reshape(-1, 5)
    g = np.asarray(gt, np.float64).reshape(-1, 4)
    best, ok = _best_faces(p, g, iou_thresh)
    return _match(best, ok, np.asarray(keep, bool).reshape(-1))


def _best_faces(p, g, iou_thresh):
    """Per detection: the face of largest +1-pixel overlap (first on a tie) and whether that
    overlap reaches ``iou_thresh`` — the same for every subset."""
    iou = box_iou(np.concatenate([p[:, :2], p[:, :2] + p[:, 2:4]], 1),
                  np.concatenate([g[:, :2], g[:, :2] + g[:, 2:4]], 1), pixel_offset=1.0)
    best = np.argmax(iou, axis=1)
    return best, iou[np.arange(len(p)), best] >= iou_thresh


def _match(best, ok, keep):
    """evaluation.m's loop over the detections, in closed form: a detection on a face outside
    the subset is no proposal; a face of the subset counts from its first detection on."""
    proposal = ~(ok & ~keep[best])
    hit = ok & keep[best]
    first = np.zeros(len(best), bool)
    if hit.any():
        idx = np.nonzero(hit)[0]
        _, first_pos = np.unique(best[idx], return_index=True)
        first[idx[first_pos]] = True
    return np.cumsum(first).astype(np.int64), proposal


def image_pr_info(scores, proposal, pred_recall, thresh_num=1000):
    """``[thresh_num, 2]``: (proposals, recalled faces) at thresholds ``1 - t/thresh_num``
    (evaluation.m's image_pr_info: everything down to the LAST detection scoring >= t)."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    thresh = 1.0 - np.arange(1, thresh_num + 1, dtype=np.float64) / thresh_num
    above = scores[None, :] >= thresh[:, None]
    any_above = above.any(axis=1)
    last = len(scores) - 1 - np.argmax(above[:, ::-1], axis=1)
    out = np.zeros([thresh_num, 2], np.float64)
    if len(scores):
        cum_prop = np.cumsum(np.asarray(proposal, bool))
        out[:, 0] = np.where(any_above, cum_prop[last], 0)
        out[:, 1] = np.where(any_above, np.asarray(pred_recall)[last], 0)
    return out


def evaluate_wider(images, detections, iou_thresh=0.5, thresh_num=1000, subsets=WIDER_SUBSETS):
    """AP per subset over ``images`` (ground-truth dicts with ``boxes`` x, y, w, h and
    ``keep`` {subset: indices}) and ``detections`` (one ``[k,5]`` x, y, w, h, score array
    per image, raw scores).  Returns ``({subset: AP}, {subset: (precision, recall)})``."""
    if len(images) != len(detections):
        raise ValueError('%d ground-truth images but %d detection lists' % (
            len(images), len(detections)))
    dets = normalize_scores([_sorted(d) for d in detections])
    aps, curves = {}, {}
    im_cache = [{} for _ in images]   # overlaps do not depend on the subset
    for subset in subsets:
        total = np.zeros([thresh_num, 2], np.float64)
        count_face = 0
        for i, (im, pred) in enumerate(zip(images, dets)):
            boxes = np.asarray(im['boxes'], np.float64).reshape(-1, 4)
            idx = np.asarray(im['keep'][subset], np.int64).reshape(-1)
            count_face += len(idx)
            if len(boxes) == 0 or len(pred) == 0:
                continue
            if 'best' not in im_cache[i]:
                im_cache[i]['best'] = _best_faces(pred, boxes, iou_thresh)
            keep = np.zeros(len(boxes), bool)
            keep[idx] = True
            pred_recall, proposal = _match(*im_cache[i]['best'], keep)
            total += image_pr_info(pred[:, 4], proposal, pred_recall, thresh_num)
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = total[:, 1] / total[:, 0]
            recall = total[:, 1] / count_face if count_face else np.zeros(thresh_num)
        curves[subset] = (precision, recall)
        if not count_face:   # -1 as COCOeval's: nothing to score (0 read as a miss)
            _warn_once(('noface', subset), 'WIDER FACE: no face of the %s subset among the '
                       'evaluated images; its AP is -1 (nothing to score)', subset)
            aps[subset] = -1.0
            continue
        aps[subset] = ap_integral(recall, np.nan_to_num(precision, nan=0.0))
    return aps, curves


# -- submission files ------------------------------------------------------------------------
def write_wider_submission(out_dir, file, dets):
    """Write ``<out_dir>/<event>/<name>.txt`` in the official format: the image path
    (``event/name.jpg``, as in the ground-truth file), the count, then one ``x y w h score``
    line per detection (full float precision; scores as the model gave them — the
    evaluation normalises them)."""
    event, base = os.path.split(file)
    path = os.path.join(out_dir, event, os.path.splitext(base)[0] + '.txt')
    dets = np.asarray(dets, np.float64).reshape(-1, 5)

    def write(f):
        f.write('%s\n%d\n' % (file, len(dets)))
        for row in dets:
            f.write(' '.join(repr(float(v)) for v in row) + '\n')
    atomic_write(path, write)
    return path


def read_wider_submission(pred_dir, images):
    """Detections ``[k,5]`` per ground-truth image read from official submission files
    (read_pred.m: a missing or malformed file gives no detections, counted in a warning)."""
    out, missing, bad = [], [], []
    for im in images:
        path = os.path.join(pred_dir, im['event'], im['name'] + '.txt')
        if not os.path.isfile(path):
            missing.append(path)
            out.append(np.zeros([0, 5]))
            continue
        with open(path, encoding='utf-8') as f:
            lines = [line.strip() for line in f]
        try:
            n = int(lines[1])
            rows = [[float(t) for t in lines[2 + k].split()][:5] for k in range(n)]
            dets = np.array(rows, np.float64).reshape(-1, 5)
        except (IndexError, ValueError):
            bad.append(path)
            dets = np.zeros([0, 5])
        out.append(dets)
    if missing or bad:
        logger.warning('WIDER FACE submission %s: %d missing and %d malformed result file(s) '
                       'count as no detections (e.g. %s)', pred_dir, len(missing), len(bad),
                       (missing + bad)[0])
    return out


# -- the registered metric -------------------------------------------------------------------
@register
class WiderFaceMetric(Metric):
    """WIDER FACE AP on the Easy, Medium and Hard subsets (module docstring: the rules).

    The primary value is **Easy**: it is the subset every face detector is measured on
    first, and the one a small-input detector such as the 128x128 BlazeFace can score on at
    all (Medium and Hard are dominated by faces of a few pixels, so their AP stays near the
    floor and says little about what compression changed).  ``AP`` is accepted for it.

    Args:
        ground_truth: ``WIDERFaceDataSet.wider_ground_truth()`` (or its ``images`` list).
        output_eval: directory for the official per-image result files, or None.
        iou_thresh: overlap for a match (official: 0.5).
        thresh_num: score thresholds of the PR curve (official: 1000).
        classwise: accepted for the common ``classwise`` key; one class, nothing to add.
    """

    value_names = ('Easy', 'Medium', 'Hard')
    aliases = {'AP': 'Easy', 'easy': 'Easy', 'medium': 'Medium', 'hard': 'Hard'}

    def __init__(self, ground_truth, output_eval=None, iou_thresh=0.5, thresh_num=1000,
                 classwise=False):
        if isinstance(ground_truth, dict):
            self.images = list(ground_truth['images'])
            self.official = bool(ground_truth.get('official'))
            self.source = ground_truth.get('source', '')
        else:
            self.images, self.official, self.source = list(ground_truth), False, ''
        self.by_id = {}
        for im in self.images:
            if im.get('im_id') is not None:
                self.by_id[int(im['im_id'])] = im
        self.output_eval = output_eval
        self.iou_thresh = float(iou_thresh)
        self.thresh_num = int(thresh_num)
        self.classwise = classwise
        self.reset()

    @classmethod
    def dataset_args(cls, cfg, dataset, output_eval=None):
        """Ground truth from ``dataset.wider_ground_truth()`` (a WIDERFaceDataSet)."""
        if not hasattr(dataset, 'wider_ground_truth'):
            raise ConfigError('metric: WiderFace needs a WIDERFaceDataSet as EvalDataset, got '
                              '%s; set EvalDataset.name: WIDERFaceDataSet' % type(dataset).__name__)
        return dict(ground_truth=dataset.wider_ground_truth(), output_eval=output_eval)

    def reset(self):
        self.detections = {}   # im_id -> list of [k,5] x, y, w, h, score
        self.aps = None

    def update(self, inputs, outputs):
        ids = image_ids(inputs)
        for im_id, rows in zip(ids, split_detections(outputs, len(ids))):
            if im_id not in self.by_id:
                raise ValueError('im_id %d is not in the WIDER FACE ground truth (%d images): the '
                                 'eval dataset and the metric disagree' % (im_id, len(self.by_id)))
            classes = np.unique(rows[:, 0]).astype(int)
            if np.any(classes != 0):
                raise ValueError('WIDER FACE has one class (face, id 0) but the detections have '
                                 'class ids %s: set num_classes: 1' % classes.tolist())
            xywhs = np.stack([rows[:, 2], rows[:, 3], rows[:, 4] - rows[:, 2],
                              rows[:, 5] - rows[:, 3], rows[:, 1]], axis=1)
            self.detections.setdefault(im_id, []).append(xywhs)

    def evaluated_images(self):
        """(ground-truth images, detections) of the images seen by ``update``."""
        unseen = [im for im in self.images if im.get('im_id') not in self.detections]
        if unseen and self.detections:
            _warn_once(('unseen', len(self.images), len(unseen)),
                       'WIDER FACE: %d of %d ground-truth images were not evaluated (not read by '
                       'the eval dataset, or a subset run), e.g. %s; AP covers the %d evaluated '
                       'ones', len(unseen), len(self.images), unseen[0].get(
                           'file', unseen[0]['name']), len(self.detections))
        ims = [self.by_id[i] for i in sorted(self.detections)]
        dets = [np.concatenate(self.detections[im['im_id']], 0) for im in ims]
        return ims, dets

    def accumulate(self):
        ims, dets = self.evaluated_images()
        if not ims:
            logger.warning('WiderFaceMetric.accumulate() before any update(): AP -1 '
                           '(nothing to score)')
            self.aps = {s: -1.0 for s in WIDER_SUBSETS}
            return
        if self.output_eval:
            for im, d in zip(ims, dets):
                write_wider_submission(self.output_eval, im.get('file') or '%s/%s.jpg' % (
                    im['event'], im['name']), d)
            logger.info('wrote WIDER FACE result files of %d images under %s', len(ims),
                        self.output_eval)
        self.aps, self.curves = evaluate_wider(ims, dets, self.iou_thresh, self.thresh_num)

    def log(self):
        if self.aps is None:
            logger.warning('WiderFaceMetric.log() before accumulate(): nothing to show')
            return
        logger.info('WIDER FACE AP: Easy %.4f, Medium %.4f, Hard %.4f (%s)',
                    self.aps['easy'], self.aps['medium'], self.aps['hard'],
                    self.source or 'ground truth given directly')

    def values(self):
        if self.aps is None:
            self.accumulate()
        return [self.aps[s] for s in WIDER_SUBSETS]

    def get_results(self):
        return {'bbox': self.values()}
