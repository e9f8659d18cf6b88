"""COCO evaluation through pycocotools, usable on its own (``tools/eval.py --json_eval``).

Box convention: detections are ``(x1, y1, x2, y2)`` in original-image pixels and are
written to COCO as ``[x1, y1, w, h]`` with ``w = x2 - x1 + bias`` and
``h = y2 - y1 + bias``; ``bias`` is 0 by default (continuous coordinates, the same
convention pycocotools uses for the ground truth).  Use ``bias=1`` for models whose
boxes are inclusive pixel indices.
"""
import contextlib
import io
import json
import os

import numpy as np

from ppdet.utils.fileio import atomic_write
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['COCO_STAT_NAMES', 'detections_to_coco', 'load_coco_gt', 'clean_coco_gt',
           'evaluate_coco', 'not_evaluated_summary', 'skipped_images_summary',
           'cocoapi_eval', 'classwise_table', 'write_detections_json', 'read_detections_json',
           'check_detections_fit', 'format_coco_stats']

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


def load_coco_gt(anno_file, image_dir=None):
    """pycocotools ground truth holding the boxes the reader reads (see :func:`clean_coco_gt`;
    ``image_dir``: where the images are, for the rare image whose annotated size would drop
    a box)."""
    from pycocotools.coco import COCO
    if not os.path.isfile(anno_file):
        raise ValueError('COCO annotation file not found: %s (check EvalDataset.dataset_dir '
                         'and anno_path)' % anno_file)
    from ppdet.data.source.coco import check_coco_json
    with open(anno_file, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except ValueError as e:
            raise ValueError('COCO annotation file %s is not valid JSON: %s' % (anno_file, e))
    # the reader's check (a KeyError from createIndex, an image scored with another's boxes);
    # file names are the reader's business: the metric opens no image but to read the size
    # of one whose annotated size would drop a box (see clean_coco_gt)
    coco = COCO()
    coco.dataset = clean_coco_gt(check_coco_json(data, anno_file, need_files=False), anno_file,
                                 image_dir)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def clean_coco_gt(data, anno_file='ground truth', image_dir=None):
    """Make a COCO ground-truth dict agree with what the reader trains and evaluates on.

    * boxes the reader drops (non-finite, zero/negative area, outside the image) are
      dropped here too: left in, they could never be matched and would lower recall.
      "Outside the image" is judged as the reader judges it: against the image's
      width/height, unless ``image_dir`` is given and the image file there decodes to
      another size (an EXIF-rotated JPEG annotated with its stored size): then against
      that size, so a box inside the decoded image is kept, as pycocotools keeps it (the
      file is read only for an image with such a box).  The boxes kept are not clipped;
      pycocotools scores them as the json has them;
    * annotation ids are renumbered 1..N when one is 0, missing or repeated:
      pycocotools stores the matched ground-truth id per detection and reads 0 as
      "unmatched", so a detection of annotation 0 would count as a false positive;
    * missing ``iscrowd`` / ``area`` get 0 / the box area (COCOeval needs both).

    Each change is logged with its count.  Returns ``data`` (changed in place).
    """
    from ppdet.data.source.dataset import SkipCounter, clean_boxes_to_image
    data.setdefault('annotations', [])
    data.setdefault('categories', [])
    images = {im.get('id'): im for im in data.get('images', []) if isinstance(im, dict)}
    per_image = {}   # image id -> [(annotation, x1y1x2y2)]
    for ann in data['annotations']:
        try:
            box = np.asarray(ann.get('bbox') or [0, 0, 0, 0], np.float64).reshape(4)
        except (TypeError, ValueError):
            box = np.zeros(4)
        ann.setdefault('iscrowd', 0)
        ann.setdefault('area', float(box[2] * box[3]))
        per_image.setdefault(ann.get('image_id'), []).append(
            (ann, [box[0], box[1], box[0] + box[2], box[1] + box[3]]))
    keep_ids = set()
    for im_id, anns in per_image.items():
        im = images.get(im_id, {})
        w, h = float(im.get('width', 0) or 0), float(im.get('height', 0) or 0)
        name = im.get('file_name')
        path = os.path.join(image_dir, name) if image_dir and isinstance(name, str) else None
        # the reader's rule, with the reader's code
        _, keep, _, _ = clean_boxes_to_image([b for _, b in anns], w, h, path, SkipCounter(''))
        keep_ids.update(id(anns[k][0]) for k in keep)
    kept = [a for a in data['annotations'] if id(a) in keep_ids]
    dropped = [a.get('id') for a in data['annotations'] if id(a) not in keep_ids]
    if dropped:
        logger.warning('%s: %d ground-truth box(es) left out of the metric, as the reader '
                       'drops them (zero/negative area or outside the image): annotation id(s) '
                       '%s', anno_file, len(dropped), ', '.join(str(i) for i in dropped[:10]))
    ids = [a.get('id') for a in kept]
    if any(not isinstance(i, int) or i == 0 for i in ids) or len(set(ids)) != len(ids):
        for k, ann in enumerate(kept):
            ann['id'] = k + 1
        logger.warning('%s: annotation ids include 0, non-integers or repeats; renumbered '
                       '1..%d for pycocotools (which reads id 0 as "unmatched")',
                       anno_file, len(kept))
    data['annotations'] = kept
    return data


def not_evaluated_summary(coco_gt, seen_ids, anno_file, limit=10):
    """'evaluated N of M images in FILE; K skipped: a.jpg, ...' or None when all were seen."""
    names = {i: coco_gt.imgs[i].get('file_name', i) for i in coco_gt.getImgIds()}
    return skipped_images_summary(names, seen_ids, anno_file, limit)


def skipped_images_summary(names, seen_ids, source, limit=10):
    """The line of :func:`not_evaluated_summary` for any metric: ``names`` maps every image
    id of the set (``source``: the file that lists them) to its file name."""
    missing = sorted(set(names) - set(seen_ids))
    if not missing:
        return None
    shown = [str(names[i]) for i in missing[:limit]]
    return ('evaluated %d of %d images in %s; %d skipped: %s%s (the ground truth of skipped '
            'images is left out too; the loader\'s warnings say why)' % (
                len(names) - len(missing), len(names), source, len(missing),
                ', '.join(shown), ', ...' if len(missing) > limit else ''))


def evaluate_coco(coco_gt, detections, style='bbox', img_ids=None, max_dets=(1, 10, 100),
                  classwise=False, all_areas_only=False):
    """Run COCOeval; returns ``(stats, per_class)``.

    ``stats`` is the list of 12 COCO numbers (:data:`COCO_STAT_NAMES`); ``per_class`` is
    ``[(category name, AP@[.5:.95]), ...]`` when ``classwise`` (AP is nan for a category
    without ground truth), else None.  Zero detections give 0 where there is ground truth
    and -1 where there is none, as COCOeval would, with a warning.
    ``all_areas_only``: match only in the 'all' area range (a quarter of COCOeval's work;
    the small / medium / large stats are then -1, the others exact).
    """
    from pycocotools.cocoeval import COCOeval
    if len(detections) == 0:   # pycocotools' loadRes cannot take an empty list
        return _stats_without_detections(coco_gt, style, img_ids, classwise, all_areas_only)
    # loadRes adds keys (area, id, segmentation) to the dicts it gets and changes nothing
    # inside them: give it shallow copies (a deep copy took 6% of a sensitivity run)
    coco_dt = coco_gt.loadRes([dict(d) for d in detections])
    coco_eval = COCOeval(coco_gt, coco_dt, style)
    if img_ids is not None:
        coco_eval.params.imgIds = sorted(int(i) for i in img_ids)
    coco_eval.params.maxDets = list(max_dets)
    if all_areas_only:
        coco_eval.params.areaRng = coco_eval.params.areaRng[:1]
        coco_eval.params.areaRngLbl = coco_eval.params.areaRngLbl[:1]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_eval.evaluate()
        coco_eval.accumulate()
    coco_eval.summarize()  # the usual table is what users look for: let it print
    stats = [float(s) for s in coco_eval.stats]
    per_class = _per_class_ap(coco_eval, coco_gt) if classwise else None
    return stats, per_class


# COCOeval's area ranges (all, small, medium, large) and the stats that read each
_AREA_RANGES = ((0, 1e10), (0, 32 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e10))
_STATS_OF_RANGE = ((0, 1, 2, 6, 7, 8), (3, 9), (4, 10), (5, 11))


def _stats_without_detections(coco_gt, style, img_ids, classwise, all_areas_only):
    """What COCOeval gives for zero detections: 0 where the scored images have ground truth
    (a crowd box or one marked ignore does not count, as in COCOeval), -1 where they have
    none (nothing to score: not a model that missed everything); per class 0 or nan."""
    ids = coco_gt.getImgIds() if img_ids is None else sorted(int(i) for i in img_ids)
    anns = [a for a in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=ids))
            if not a.get('iscrowd', 0) and not a.get('ignore', 0)]
    stats = [-1.0] * 12
    for k, (lo, hi) in enumerate(_AREA_RANGES[:1] if all_areas_only else _AREA_RANGES):
        if any(lo <= a.get('area', 0) <= hi for a in anns):
            for i in _STATS_OF_RANGE[k]:
                stats[i] = 0.0
    logger.warning('no detections to evaluate: COCO %s stats are 0 where the images have '
                   'ground truth%s', style, '' if anns else ' (they have none: every stat '
                   'is -1, nothing to score)')
    per_class = None
    if classwise:
        seen = {a['category_id'] for a in anns}
        per_class = [(c['name'], 0.0 if c['id'] in seen else float('nan'))
                     for c in coco_gt.loadCats(coco_gt.getCatIds())]
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


def format_coco_stats(stats):
    """The one-line summary every COCO evaluation prints: 'COCO bbox: AP=..., AP50=...'."""
    line = 'COCO bbox: ' + ', '.join('%s=%.4f' % (n, s) for n, s in zip(COCO_STAT_NAMES, stats))
    if stats and all(s < 0 for s in stats):
        line += ' (-1: the evaluated images have no ground-truth box, so nothing is scored)'
    return line


DETECTION_KEYS = ('image_id', 'category_id', 'bbox', 'score')


def read_detections_json(path):
    """A COCO results file (``bbox.json``): a JSON list of ``{image_id, category_id, bbox,
    score}``.  Anything else is a ValueError naming the file and what is wrong."""
    path = str(path)
    if os.path.isdir(path):
        raise ValueError('detections json %s is a directory; give the file (e.g. %s)'
                         % (path, os.path.join(path, 'bbox.json')))
    if not os.path.isfile(path):
        raise ValueError('detections json not found: %s' % path)
    try:
        with open(path, encoding='utf-8') as f:
            detections = json.load(f)
    except UnicodeDecodeError as e:
        raise ValueError('detections json %s is not UTF-8 text (%s)' % (path, e.reason))
    except ValueError as e:
        raise ValueError('detections json %s is not valid JSON (%s)%s' % (
            path, e, ': the file is empty' if os.path.getsize(path) == 0 else
            '; a truncated file? write it again (tools/eval.py --output_eval DIR)'))
    if not isinstance(detections, list):
        raise ValueError('detections json %s holds a JSON %s, not the list of COCO results '
                         '[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...] '
                         '(a ground-truth annotation file?)' % (path, type(detections).__name__))
    for k, d in enumerate(detections):
        bad = None
        if not isinstance(d, dict):
            bad = 'is a %s, not an object' % type(d).__name__
        elif any(key not in d for key in DETECTION_KEYS):
            bad = 'lacks %s' % ', '.join(key for key in DETECTION_KEYS if key not in d)
        else:
            box = d['bbox']
            if not (isinstance(box, list) and len(box) == 4 and
                    all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
                bad = 'has bbox %r, not [x, y, w, h]' % (box,)
            elif isinstance(d['score'], bool) or not isinstance(d['score'], (int, float)):
                bad = 'has score %r, not a number' % (d['score'],)
        if bad:
            raise ValueError('detections json %s: entry %d %s (each must be {"image_id", '
                             '"category_id", "bbox": [x, y, w, h], "score"})' % (path, k, bad))
    return detections


def check_detections_fit(detections, coco_gt, source='detections', anno_file=None):
    """Refuse detections whose image or category ids the ground truth does not have
    (detections of another dataset): pycocotools asserts on the images and silently
    ignores unknown categories."""
    where = anno_file or 'the ground truth'
    for key, known, what in (('image_id', set(coco_gt.getImgIds()), 'image'),
                             ('category_id', set(coco_gt.getCatIds()), 'category')):
        unknown = sorted({d[key] for d in detections if d[key] not in known}, key=str)
        if unknown:
            n = sum(1 for d in detections if d[key] not in known)
            raise ValueError(
                '%s: %d of %d detections have %s ids that %s does not have (%s%s; it has %d '
                '%ss): they were made for another dataset; evaluate them against its '
                'annotation file (EvalDataset.dataset_dir / anno_path)' % (
                    source, n, len(detections), what, where,
                    ', '.join(str(i) for i in unknown[:5]), ', ...' if len(unknown) > 5
                    else '', len(known), what))


def cocoapi_eval(detections, anno_file=None, style='bbox', coco_gt=None,
                 max_dets=(1, 10, 100), classwise=False, image_dir=None):
    """Evaluate COCO detections (a JSON file path or a list of result dicts).

    Give the ground truth as ``anno_file`` (path; ``image_dir``: its images, see
    :func:`load_coco_gt`) or an already loaded ``coco_gt``.
    Returns the 12 COCO stats as a list of floats.
    """
    if coco_gt is None:
        if anno_file is None:
            raise ValueError('cocoapi_eval needs anno_file or coco_gt')
        coco_gt = load_coco_gt(anno_file, image_dir)
    source = 'detections'
    if isinstance(detections, (str, os.PathLike)):
        source = str(detections)
        detections = read_detections_json(detections)
    check_detections_fit(detections, coco_gt, source, anno_file)
    stats, per_class = evaluate_coco(coco_gt, detections, style=style, max_dets=max_dets,
                                     classwise=classwise)
    if per_class is not None:
        logger.info('per-class %s AP:\n%s', style, classwise_table(per_class))
    return stats
