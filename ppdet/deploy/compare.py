"""Compare two runtimes' detections (fp32 vs int8, Paddle vs ONNX vs Lite).

NMS output order differs between runtimes (Paddle sorts by class, onnxruntime by
score) and near-tied boxes may swap, so rows are matched greedily by IoU within a
class rather than compared index by index.
"""
import numpy as np
from ppdet.utils.bbox import box_iou

__all__ = ['box_iou', 'match_detections', 'split_by_image', 'match_batch', 'DEFAULT_TOLERANCE',
           'detection_agreement', 'cosine']


def _valid(rows, score_thresh):
    rows = np.asarray(rows, np.float64).reshape(-1, 6)
    keep = rows[:, 0] >= 0
    if score_thresh is not None:
        keep &= rows[:, 1] >= score_thresh
    rows = rows[keep]
    return rows[np.argsort(-rows[:, 1], kind='stable')]


def match_detections(a_rows, b_rows, iou_thresh=0.5, score_thresh=None):
    """Greedy same-class IoU matching of ``b_rows`` to ``a_rows`` (the reference).

    Rows are (class_id, score, x1, y1, x2, y2); class_id < 0 (padding) is ignored.
    Returns ``matched``, ``n_a``, ``n_b``, ``matched_fraction`` (matched / max(n_a, n_b);
    1.0 when both are empty), ``mean_iou`` over matches, and ``mean_score_diff`` /
    ``max_score_diff`` (absolute) over matches.
    """
    a, b = _valid(a_rows, score_thresh), _valid(b_rows, score_thresh)
    iou = box_iou(a[:, 2:], b[:, 2:]) if len(a) and len(b) else np.zeros((len(a), len(b)))
    used = np.zeros(len(b), bool)
    ious, diffs = [], []
    for i in range(len(a)):
        cand = np.where(~used & (b[:, 0] == a[i, 0]))[0]
        if not len(cand):
            continue
        j = cand[np.argmax(iou[i, cand])]
        if iou[i, j] >= iou_thresh:
            used[j] = True
            ious.append(iou[i, j])
            diffs.append(abs(a[i, 1] - b[j, 1]))
    n = max(len(a), len(b))
    return {'matched': len(ious), 'n_a': len(a), 'n_b': len(b),
            'matched_fraction': len(ious) / n if n else 1.0,
            'mean_iou': float(np.mean(ious)) if ious else (1.0 if not n else 0.0),
            'mean_score_diff': float(np.mean(diffs)) if diffs else 0.0,
            'max_score_diff': float(np.max(diffs)) if diffs else 0.0}


def split_by_image(bbox, bbox_num):
    """``bbox`` [M,6] + ``bbox_num`` [N] -> list of N arrays of rows."""
    ends = np.cumsum(np.asarray(bbox_num, np.int64).reshape(-1))
    return np.split(np.asarray(bbox).reshape(-1, 6), ends[:-1]) if len(ends) else []


def match_batch(ref_outputs, outputs, iou_thresh=0.5, score_thresh=None):
    """Match two predictors' batch outputs image by image; -> totals over the batch."""
    pairs = zip(split_by_image(ref_outputs['bbox'], ref_outputs['bbox_num']),
                split_by_image(outputs['bbox'], outputs['bbox_num']))
    per = [match_detections(a, b, iou_thresh, score_thresh) for a, b in pairs]
    matched = sum(p['matched'] for p in per)
    n = sum(max(p['n_a'], p['n_b']) for p in per)
    weights = [p['matched'] for p in per]
    mean = (lambda k: float(np.average([p[k] for p in per], weights=weights))
            if matched else 0.0)
    return {'matched': matched, 'n_a': sum(p['n_a'] for p in per),
            'n_b': sum(p['n_b'] for p in per), 'matched_fraction': matched / n if n else 1.0,
            'mean_iou': mean('mean_iou') if n else 1.0, 'mean_score_diff': mean('mean_score_diff'),
            'max_score_diff': max([p['max_score_diff'] for p in per] or [0.0]),
            'per_image': per}


# iou_thresh / score_thresh: what counts as a match; min_matched_fraction: how much must
# match; max_score_diff: the largest allowed score change of a matched box (None: unchecked)
DEFAULT_TOLERANCE = {'iou_thresh': 0.5, 'score_thresh': 0.3, 'min_matched_fraction': 0.9}


def detection_agreement(ref_runs, runs, tolerance=None):
    """Do ``runs`` find what ``ref_runs`` finds?  Both are lists of batch outputs on the same
    images (fp32 vs int8, Paddle vs ONNX vs Lite), matched by class and IoU above a score
    threshold (:func:`match_batch`); ``tolerance`` overrides :data:`DEFAULT_TOLERANCE`.

    -> counts (``n_ref``, ``n``, ``matched``, ``compared``), ``matched_fraction``,
    ``mean_iou`` over matches, ``max_score_diff``, ``problems`` (why they do not agree) and
    ``agrees``: the reference found something and it matched within the tolerance.
    """
    tol = dict(DEFAULT_TOLERANCE, **(tolerance or {}))
    per = [match_batch(r, g, tol['iou_thresh'], tol['score_thresh'])
           for r, g in zip(ref_runs, runs)]
    matched = sum(p['matched'] for p in per)
    n = sum(max(q['n_a'], q['n_b']) for p in per for q in p['per_image'])
    out = {'images': len(per), 'matched': matched, 'n_ref': sum(p['n_a'] for p in per),
           'n': sum(p['n_b'] for p in per), 'compared': n,
           'matched_fraction': matched / n if n else 1.0,
           'mean_iou': float(np.average([p['mean_iou'] for p in per],
                                        weights=[p['matched'] for p in per])) if matched else 0.0,
           'max_score_diff': max([p['max_score_diff'] for p in per] or [0.0]),
           'tolerance': tol}
    problems = []
    if out['n_ref'] == 0:
        problems.append('the reference finds nothing with score >= %.2f on these images: '
                        'nothing to compare (use real images or a trained model)'
                        % tol['score_thresh'])
    if out['matched_fraction'] < tol['min_matched_fraction']:
        problems.append('only %.0f%% of detections match (need %.0f%%)' % (
            100 * out['matched_fraction'], 100 * tol['min_matched_fraction']))
    max_diff = tol.get('max_score_diff')
    if max_diff is not None and out['max_score_diff'] > max_diff:
        problems.append('a matched score differs by %.3f (> %.3f)' % (
            out['max_score_diff'], max_diff))
    out['problems'] = problems
    out['agrees'] = not problems
    return out


def cosine(a, b):
    """Cosine similarity of two arrays' flattened values (raw outputs of an exclude_nms export)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den else float(np.array_equal(a, b))
