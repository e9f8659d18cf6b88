"""COCO evaluation through pycocotools, usable on its own (``tools/eval.py --json_eval``).

Box convention: detections are ``(x1, y1, x2, y2)`` in original-image pixels and are
written to COCO as ``[x1, y1, w, h]`` with ``w = x2 - x1 + bias`` and
``h = y2 - y1 + bias``; ``bias`` is 0 by default (continuous coordinates, the same
convention pycocotools uses for the ground truth).  Use ``bias=1`` for models whose
boxes are inclusive pixel indices.
"""
import contextlib
import copy
import io
import json
import os

import numpy as np

from ppdet.utils.fileio import atomic_write
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['COCO_STAT_NAMES', 'detections_to_coco', 'load_coco_gt', 'evaluate_coco',
           'cocoapi_eval', 'classwise_table', 'write_detections_json']

COCO_STAT_NAMES = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl',
                   'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']


def _catid(clsid2catid, cls):
    if cls in clsid2catid:
        return clsid2catid[cls]
    if str(cls) in clsid2catid:  # mapping read back from JSON has string keys
        return clsid2catid[str(cls)]
    raise ValueError('detection class id %d has no COCO category (clsid2catid has %d classes: '
                     'check num_classes against the annotation file)' % (cls, len(clsid2catid)))


def detections_to_coco(rows, im_id, clsid2catid, bias=0):
    """``[k, 6]`` rows (cls, score, x1, y1, x2, y2) of one image -> COCO result dicts."""
    results = []
    for row in np.asarray(rows, dtype=np.float64).reshape(-1, 6):
        cls = int(row[0])
        if cls < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        results.append({
            'image_id': int(im_id),
            'category_id': int(_catid(clsid2catid, cls)),
            'bbox': [x1, y1, x2 - x1 + bias, y2 - y1 + bias],
            'score': float(row[1]),
        })
    return results


def write_detections_json(path, detections):
    """Atomically write the COCO detections list (compact: these files get large)."""
    atomic_write(path, lambda f: json.dump(detections, f))


def load_coco_gt(anno_file):
    from pycocotools.coco import COCO
    if not os.path.isfile(anno_file):
        raise ValueError('COCO annotation file not found: %s (check EvalDataset.dataset_dir '
                         'and anno_path)' % anno_file)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(anno_file)


def evaluate_coco(coco_gt, detections, style='bbox', img_ids=None, max_dets=(1, 10, 100),
                  classwise=False):
    """Run COCOeval; returns ``(stats, per_class)``.

    ``stats`` is the list of 12 COCO numbers (:data:`COCO_STAT_NAMES`); ``per_class`` is
    ``[(category name, AP@[.5:.95]), ...]`` when ``classwise`` (AP is nan for a category
    without ground truth), else None.  Zero detections give all-zero stats and a warning.
    """
    from pycocotools.cocoeval import COCOeval
    if len(detections) == 0:
        logger.warning('no detections to evaluate: reporting all-zero COCO %s stats', style)
        per_class = None
        if classwise:
            per_class = [(c['name'], 0.0) for c in coco_gt.loadCats(coco_gt.getCatIds())]
        return [0.0] * 12, per_class
    # loadRes adds keys (area, id, segmentation) to the dicts it gets: give it copies.
    coco_dt = coco_gt.loadRes(copy.deepcopy(list(detections)))
    coco_eval = COCOeval(coco_gt, coco_dt, style)
    if img_ids is not None:
        coco_eval.params.imgIds = sorted(int(i) for i in img_ids)
    coco_eval.params.maxDets = list(max_dets)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_eval.evaluate()
        coco_eval.accumulate()
    coco_eval.summarize()  # the usual table is what users look for: let it print
    stats = [float(s) for s in coco_eval.stats]
    per_class = _per_class_ap(coco_eval, coco_gt) if classwise else None
    return stats, per_class


def _per_class_ap(coco_eval, coco_gt):
    # precision: [iou thresholds, recall points, categories, area ranges, max dets]
    precision = coco_eval.eval['precision']
    result = []
    for k, cat_id in enumerate(coco_eval.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        ap = float(np.mean(values)) if values.size else float('nan')
        result.append((coco_gt.loadCats(int(cat_id))[0]['name'], ap))
    return result


def classwise_table(per_class, title='AP'):
    """Format ``[(name, ap), ...]`` as a plain two-column text table."""
    width = max([len('category')] + [len(str(n)) for n, _ in per_class])
    lines = ['%-*s  %s' % (width, 'category', title), '-' * (width + 2 + max(len(title), 6))]
    for name, ap in per_class:
        shown = 'n/a' if ap is None or ap != ap else '%.4f' % ap
        lines.append('%-*s  %s' % (width, name, shown))
    return '\n'.join(lines)


def cocoapi_eval(detections, anno_file=None, style='bbox', coco_gt=None,
                 max_dets=(1, 10, 100), classwise=False):
    """Evaluate COCO detections (a JSON file path or a list of result dicts).

    Give the ground truth as ``anno_file`` (path) or an already loaded ``coco_gt``.
    Returns the 12 COCO stats as a list of floats.
    """
    if coco_gt is None:
        if anno_file is None:
            raise ValueError('cocoapi_eval needs anno_file or coco_gt')
        coco_gt = load_coco_gt(anno_file)
    if isinstance(detections, (str, os.PathLike)):
        if not os.path.isfile(detections):
            raise ValueError('detections json not found: %s' % detections)
        with open(detections, encoding='utf-8') as f:
            detections = json.load(f)
    stats, per_class = evaluate_coco(coco_gt, detections, style=style, max_dets=max_dets,
                                     classwise=classwise)
    if per_class is not None:
        logger.info('per-class %s AP:\n%s', style, classwise_table(per_class))
    return stats
