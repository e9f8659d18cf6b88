"""COCO-format detection dataset (pycocotools)."""
import contextlib
import io
import json
import os

import numpy as np

from ppdet.core.workspace import register
from ppdet.utils.logger import setup_logger

from .dataset import SHAPES_HINT, DetDataset, SkipCounter, check_anno_file, clean_boxes

logger = setup_logger(__name__)

__all__ = ['COCODataSet', 'load_coco', 'coco_classes', 'BACKGROUND_NAMES']

# placeholder categories some annotation tools (labelme's labels.txt convention, ...)
# write as category 0; a detector has no background class
BACKGROUND_NAMES = ('_background_', '__background__', 'background')


def load_coco(anno_file):
    """pycocotools COCO object; empty or malformed files fail naming the file."""
    from pycocotools.coco import COCO
    if os.path.getsize(anno_file) == 0:
        raise ValueError('COCO annotation file %s is empty' % anno_file)
    try:
        with open(anno_file, encoding='utf-8') as f:
            data = json.load(f)
    except ValueError as e:
        raise ValueError('COCO annotation file %s is not valid JSON: %s' % (anno_file, e))
    if not isinstance(data, dict) or not data.get('images'):
        raise ValueError('COCO annotation file %s lists no images (keys: %s)' % (
            anno_file, ', '.join(sorted(data)) if isinstance(data, dict) else type(data).__name__))
    data.setdefault('annotations', [])
    data.setdefault('categories', [])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def coco_classes(coco, anno_file):
    """-> ``(catid2clsid, cname2cid)``: class ids 0..K-1 over the categories, in id order.

    A background placeholder category without annotations is left out (else every real
    class would shift by one), with a warning; duplicate category ids are an error.
    """
    ids = [c.get('id') for c in coco.dataset.get('categories', [])]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError('%s: category id(s) %s appear more than once in "categories"; '
                         'give each category its own id' % (anno_file, dup))
    cat_ids = sorted(coco.getCatIds())
    for c in list(cat_ids):
        name = coco.loadCats(c)[0].get('name', '')
        if str(name).lower() not in BACKGROUND_NAMES:
            continue
        n = len(coco.getAnnIds(catIds=[c], iscrowd=None))
        if n:
            logger.warning('%s: category %r (id %s) looks like a background placeholder but '
                           'has %d annotations: kept as class %d', anno_file, name, c, n,
                           cat_ids.index(c))
            continue
        cat_ids.remove(c)
        logger.warning('%s: category %r (id %s) has no annotations and is left out of the '
                       'classes (a detector has no background class); %d classes remain, '
                       'class 0 is %r', anno_file, name, c, len(cat_ids),
                       coco.loadCats(cat_ids[0])[0].get('name') if cat_ids else None)
    catid2clsid = {catid: i for i, catid in enumerate(cat_ids)}
    cname2cid = {coco.loadCats(c)[0]['name']: catid2clsid[c] for c in cat_ids}
    return catid2clsid, cname2cid


@register
class COCODataSet(DetDataset):
    """COCO json + an image directory.

    Args:
        dataset_dir: root of the dataset.
        image_dir: images directory, relative to ``dataset_dir``.
        anno_path: instances json, relative to ``dataset_dir``.
        allow_empty: keep images without (usable) boxes (needed for evaluation).
        empty_ratio: with ``allow_empty``, the share of empty images among all kept
            images (0 <= r < 1); 1.0 (or any value outside [0, 1)) keeps every empty image.
        sample_num: use only the first ``sample_num`` images (-1: all).
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, allow_empty=False,
                 empty_ratio=1.0, sample_num=-1):
        super(COCODataSet, self).__init__(dataset_dir, image_dir, anno_path, sample_num)
        self.allow_empty = allow_empty
        self.empty_ratio = empty_ratio
        self.parse_dataset()

    def missing_hint(self):
        """A face set (``face`` in the directory's name: mediapipe_blazeface_128.yml's
        dataset/faces_coco) is the user's own, which nothing here makes; else the built-in
        shapes set's generator."""
        if 'face' not in os.path.basename(os.path.normpath(self.dataset_dir)).lower():
            return SHAPES_HINT
        return ('%s is the place of a COCO-format face set of your own (one category, face), '
                'which nothing in this project makes: point the config at yours with '
                '-o EvalDataset.dataset_dir=DIR EvalDataset.image_dir=... '
                'EvalDataset.anno_path=..., or evaluate on the built-in face set (WIDER FACE '
                'layout) with -c configs/face_detection/mediapipe_blazeface_builtin.yml after '
                'python tools/gen_face_dataset.py --output_dir dataset/wider_face_builtin'
                % self.dataset_dir)

    def _sample_empty(self, empty, num_nonempty):
        if self.empty_ratio < 0 or self.empty_ratio >= 1.0:
            return empty
        keep = min(int(num_nonempty * self.empty_ratio / (1 - self.empty_ratio)), len(empty))
        rng = np.random.RandomState(0)  # deterministic choice
        idx = sorted(rng.choice(len(empty), keep, replace=False)) if keep else []
        return [empty[i] for i in idx]

    def parse_dataset(self):
        anno_file = check_anno_file(self.get_anno(), self.dataset_dir,
                                    hint=self.missing_hint())
        image_root = os.path.join(self.dataset_dir, self.image_dir)
        coco = load_coco(anno_file)
        cat_ids = sorted(coco.getCatIds())
        self.catid2clsid, self.cname2cid = coco_classes(coco, anno_file)
        counter = SkipCounter('COCODataSet(%s)' % anno_file)
        records, empty = [], []
        img_ids = sorted(coco.getImgIds())
        if self.sample_num > 0:
            img_ids = img_ids[:self.sample_num]
        for img_id in img_ids:
            info = coco.loadImgs([img_id])[0]
            im_path = os.path.join(image_root, info.get('file_name', ''))
            if not os.path.isfile(im_path):
                counter.skip('missing files', im_path)
                continue
            w, h = float(info.get('width', 0) or 0), float(info.get('height', 0) or 0)
            if w <= 0 or h <= 0:
                counter.skip('without width/height', im_path)
                continue
            anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[img_id], iscrowd=None))
                    if not a.get('ignore', False)]
            unknown = [a for a in anns if a.get('category_id') not in self.catid2clsid]
            if unknown:
                raise ValueError('%s: annotation %s of image %s has category_id %r, which is not '
                                 'in "categories" (%s)' % (anno_file, unknown[0].get('id'), img_id,
                                                          unknown[0].get('category_id'), cat_ids))
            xywh = np.array([a.get('bbox', [0, 0, 0, 0]) for a in anns],
                            dtype=np.float32).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            boxes, keep = clean_boxes(xyxy, w, h, counter)
            record = {
                'im_file': im_path, 'im_id': np.array([img_id], dtype=np.int64),
                'h': h, 'w': w,
                'gt_bbox': boxes,
                'gt_class': np.array([[self.catid2clsid[anns[i]['category_id']]] for i in keep],
                                     dtype=np.int32).reshape(-1, 1),
                'is_crowd': np.array([[int(anns[i].get('iscrowd', 0))] for i in keep],
                                     dtype=np.int32).reshape(-1, 1),
                'difficult': np.zeros([len(keep), 1], dtype=np.int32),
            }
            if len(boxes) == 0:
                if self.allow_empty:
                    empty.append(record)
                else:
                    counter.skip('no boxes', im_path)
                continue
            records.append(record)
        if empty:
            kept = self._sample_empty(empty, len(records))
            if len(kept) < len(empty):
                counter.skip('empty (beyond empty_ratio)', None)
                counter.records['empty (beyond empty_ratio)'] = len(empty) - len(kept)
            records = sorted(records + kept, key=lambda r: int(r['im_id'][0]))
        self._finish(records, counter, len(img_ids), anno_file, self.allow_empty)
