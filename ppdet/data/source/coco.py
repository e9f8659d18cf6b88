"""COCO-format detection dataset (pycocotools)."""
import contextlib
import io
import json
import os

import numpy as np

from ppdet.core.workspace import register
from ppdet.utils.logger import setup_logger

from .dataset import (DatasetError, DetDataset, SkipCounter, builtin_hint, check_anno_file,
                     clean_boxes_to_image)

logger = setup_logger(__name__)

__all__ = ['COCODataSet', 'load_coco', 'check_coco_json', 'coco_classes', 'BACKGROUND_NAMES',
           'COCO_CATEGORIES']

# placeholder categories some annotation tools (labelme's labels.txt convention, ...)
# write as category 0; a detector has no background class
BACKGROUND_NAMES = ('_background_', '__background__', 'background')

# the 80 categories of COCO 2014/2017 (instances_*.json), (id, name) in id order: what a
# model with num_classes 80 was trained on, for export / infer without the annotation files
COCO_CATEGORIES = (
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'), (5, 'airplane'), (6, 'bus'),
    (7, 'train'), (8, 'truck'), (9, 'boat'), (10, 'traffic light'), (11, 'fire hydrant'),
    (13, 'stop sign'), (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'),
    (18, 'dog'), (19, 'horse'), (20, 'sheep'), (21, 'cow'), (22, 'elephant'), (23, 'bear'),
    (24, 'zebra'), (25, 'giraffe'), (27, 'backpack'), (28, 'umbrella'), (31, 'handbag'),
    (32, 'tie'), (33, 'suitcase'), (34, 'frisbee'), (35, 'skis'), (36, 'snowboard'),
    (37, 'sports ball'), (38, 'kite'), (39, 'baseball bat'), (40, 'baseball glove'),
    (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'), (44, 'bottle'),
    (46, 'wine glass'), (47, 'cup'), (48, 'fork'), (49, 'knife'), (50, 'spoon'), (51, 'bowl'),
    (52, 'banana'), (53, 'apple'), (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'),
    (57, 'carrot'), (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'), (62, 'chair'),
    (63, 'couch'), (64, 'potted plant'), (65, 'bed'), (67, 'dining table'), (70, 'toilet'),
    (72, 'tv'), (73, 'laptop'), (74, 'mouse'), (75, 'remote'), (76, 'keyboard'),
    (77, 'cell phone'), (78, 'microwave'), (79, 'oven'), (80, 'toaster'), (81, 'sink'),
    (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'), (87, 'scissors'),
    (88, 'teddy bear'), (89, 'hair drier'), (90, 'toothbrush'))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _image_label(k, im):
    """``images[3] (id 7, a.jpg)``: the place in the list (as jq names it) and what is known."""
    known = [('id %s' % _short(im['id'])) if 'id' in im else None,
             str(im['file_name']) if isinstance(im.get('file_name'), str) else None]
    known = [x for x in known if x]
    return 'images[%d]%s' % (k, ' (%s)' % ', '.join(known) if known else '')


def _image_name(k, im):
    """``images[3] (a.jpg)``, or ``images[3]`` when it has no file name."""
    name = im.get('file_name')
    return 'images[%d]%s' % (k, ' (%s)' % name if isinstance(name, str) else '')


def _ann_label(k, ann):
    known = [('id %s' % _short(ann['id'])) if 'id' in ann else None,
             ('image_id %s' % _short(ann['image_id'])) if 'image_id' in ann else None]
    known = [x for x in known if x]
    return 'annotations[%d]%s' % (k, ' (%s)' % ', '.join(known) if known else '')


def check_coco_json(data, anno_file, need_files=True):
    """Refuse a COCO dict that pycocotools would crash on (a KeyError deep in createIndex)
    or, worse, read wrongly; one ValueError naming the file, the entry (``annotations[4]``:
    its place in the list, as jq names it) and the field.

    * an image id given to two images: pycocotools keys images by id, so one of them was
      evaluated with the other's boxes and its own were dropped, without a word;
    * an annotation whose image_id or category_id names no image / category: its box would
      be left out of training and of the metric silently (the image it belongs to would be
      scored without it), so it is refused rather than counted;
    * two categories with the same name: the class names are keyed by name, so the label
      list (what an exported model names its classes by) was one short and shifted;
    * a missing image id / file_name, annotation image_id / category_id, category id /
      name; "annotations" that is not a list; a bbox that is not 4 numbers; a width,
      height, area or iscrowd that is not a number.

    Annotation ids are not checked: nothing but pycocotools' index uses them, and both
    readers renumber them when they are missing or repeated.  A missing or null bbox, or a
    missing width/height, is left to the readers, which count and drop such boxes / images.
    ``need_files``: check ``file_name`` too (the image reader; the metric and the class-name
    reader never open an image).  Returns ``data`` with "annotations" / "categories"
    defaulted to [].
    """
    if not isinstance(data, dict) or not data.get('images'):
        raise DatasetError('COCO annotation file %s lists no images (keys: %s)' % (
            anno_file, ', '.join(sorted(data)) if isinstance(data, dict) else type(data).__name__))
    data.setdefault('annotations', [])
    data.setdefault('categories', [])
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data[key], list):
            raise DatasetError('%s: "%s" is %s; it must be a list%s' % (
                anno_file, key, 'null' if data[key] is None else 'a JSON ' + (
                    'object' if isinstance(data[key], dict) else type(data[key]).__name__),
                ' (give [] for a set without boxes)' if key == 'annotations' else ''))

    def fail(label, text):
        raise DatasetError('%s: %s %s' % (anno_file, label, text))

    first = {}   # image id -> index of the first image with it
    for k, im in enumerate(data['images']):
        if not isinstance(im, dict):
            fail('images[%d]' % k, 'is %s, not an object {"id", "file_name", "width", '
                 '"height"}' % _short(im))
        label = _image_label(k, im)
        if 'id' not in im:
            fail(label, 'has no "id"')
        if not _is_id(im['id']):
            fail(label, 'has "id": %s; image ids must be integers (the reader and the metric '
                 'key the images by them)' % _short(im['id']))
        if need_files and (not isinstance(im.get('file_name'), str) or
                           not im['file_name'].strip()):
            fail(label, 'has no "file_name" (the image\'s path under image_dir)' if
                 im.get('file_name') is None else 'has "file_name": %s; it must be the image\'s '
                 'path under image_dir' % _short(im['file_name']))
        for field in ('width', 'height'):
            value = im.get(field)
            if value is None:
                continue   # the reader counts and skips an image without a size
            try:
                ok = not isinstance(value, bool) and np.isfinite(float(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                fail(label, 'has "%s": %s; it must be a number of pixels' % (field, _short(value)))
        if im['id'] in first:
            j = first[im['id']]
            ids = [i.get('id') for i in data['images'] if isinstance(i, dict)]
            ids = [i for i in ids if _is_id(i)]
            repeated = len(ids) - len(set(ids))
            fail('image id %d' % im['id'], 'is given to two images, %s and %s%s; give each '
                 'image its own id (an annotation\'s image_id cannot tell them apart: one '
                 'image would get the other\'s boxes)' % (
                     _image_name(j, data['images'][j]), _image_name(k, im),
                     ' (%d repeated ids in all)' % repeated if repeated > 1 else ''))
        first[im['id']] = k

    cat_ids, names = set(), {}   # name (stripped) -> index of the first category with it
    for k, cat in enumerate(data['categories']):
        label = 'categories[%d]' % k
        if not isinstance(cat, dict):
            fail(label, 'is %s, not an object {"id", "name"}' % _short(cat))
        if 'id' not in cat:
            fail(label, 'has no "id"')
        label += ' (id %s)' % _short(cat['id'])
        if not _is_id(cat['id']):
            fail(label, 'has "id": %s; category ids must be integers' % _short(cat['id']))
        if not isinstance(cat.get('name'), str) or not cat['name'].strip():
            fail(label, 'has no "name" (the class name)' if cat.get('name') is None else
                 'has "name": %s; it must be the class name' % _short(cat['name']))
        name = cat['name'].strip()
        if name in names:
            j = names[name]
            other = data['categories'][j]
            if other['id'] == cat['id']:
                fail(label, 'repeats categories[%d] (same id and name %r); remove one'
                     % (j, other['name']))
            fail(label, 'has the name %r, as categories[%d] (id %s%s) does; give each '
                 'category its own name, or merge the two into one (class names are keyed by '
                 'name: the label list, what an exported model names its classes by, would be '
                 'one short and the classes from the first of them on would get wrong names)' % (
                     cat['name'], j, _short(other['id']), ', %r' % other['name']
                     if other['name'] != cat['name'] else ''))
        names[name] = k
        cat_ids.add(cat['id'])

    dangling = []
    for k, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            fail('annotations[%d]' % k, 'is %s, not an object {"id", "image_id", '
                 '"category_id", "bbox"}' % _short(ann))
        label = _ann_label(k, ann)
        for field in ('image_id', 'category_id'):
            if field not in ann:
                fail(label, 'has no "%s" (each annotation needs "image_id", "category_id" and '
                     '"bbox")' % field)
            if not _is_id(ann[field]):
                fail(label, 'has "%s": %s; it must be the integer id of %s' % (
                    field, _short(ann[field]),
                    'an image' if field == 'image_id' else 'a category'))
        if ann['category_id'] not in cat_ids:
            fail(label, 'has category_id %d, which is not in "categories" (%s)' % (
                ann['category_id'], sorted(cat_ids)))
        box = ann.get('bbox')
        if box is not None and not (isinstance(box, (list, tuple)) and len(box) == 4 and
                                    all(_is_number(v) for v in box)):
            fail(label, 'has "bbox": %s; it must be 4 numbers [x, y, width, height]'
                 % _short(box))
        for field in ('area', 'iscrowd'):
            if field in ann and not (_is_number(ann[field]) or
                                     (field == 'iscrowd' and isinstance(ann[field], bool))):
                fail(label, 'has "%s": %s; it must be a number' % (field, _short(ann[field])))
        if ann['image_id'] not in first:
            dangling.append(k)
    if dangling:
        shown = ', '.join('annotations[%d] (image_id %d)' % (k, data['annotations'][k]['image_id'])
                          for k in dangling[:5])
        raise DatasetError('%s: %d annotation(s) name an image_id that no image has: %s%s; add '
                           'those images to "images" or remove the annotations (their boxes would '
                           'be left out of training and of the metric)' % (
                             anno_file, len(dangling), shown, ', ...' if len(dangling) > 5 else ''))
    return data


def load_coco(anno_file, need_files=True):
    """pycocotools COCO object; empty or malformed files fail naming the file (see
    :func:`check_coco_json`; ``need_files=False``: only the class names are wanted)."""
    from pycocotools.coco import COCO
    if os.path.getsize(anno_file) == 0:
        raise DatasetError('COCO annotation file %s is empty' % anno_file)
    try:
        with open(anno_file, encoding='utf-8') as f:
            data = json.load(f)
    except ValueError as e:
        raise DatasetError('COCO annotation file %s is not valid JSON: %s' % (anno_file, e))
    check_coco_json(data, anno_file, need_files)
    anns = data['annotations']
    ids = [a.get('id') for a in anns]
    if any(not _is_id(i) for i in ids) or len(set(ids)) != len(ids):
        # pycocotools' index is keyed by annotation id: a missing one is a KeyError and a
        # repeated one hands one annotation's box to every image that shares the id
        for k, ann in enumerate(anns):
            ann['id'] = k + 1
        logger.debug('%s: annotation ids missing or repeated; renumbered 1..%d',
                     anno_file, len(anns))
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
        raise DatasetError('%s: category id(s) %s appear more than once in "categories"; '
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
        """What makes the missing json: the built-in set's generator when ``dataset_dir`` is
        the built-in set's; for a face set (``face`` in the directory's name:
        mediapipe_blazeface_128.yml's dataset/faces_coco) that it is the user's own; else
        where COCO 2017 comes from and the layout this loader reads (the generator makes no
        such file: naming it sent users the wrong way), and the flags that point a config
        at a copy elsewhere."""
        builtin = builtin_hint(self.dataset_dir)
        if builtin:
            return builtin
        if 'face' in os.path.basename(os.path.normpath(self.dataset_dir)).lower():
            return ('%s is the place of a COCO-format face set of your own (one category, '
                    'face), which nothing in this project makes: point the config at yours with '
                    '-o EvalDataset.dataset_dir=DIR EvalDataset.image_dir=... '
                    'EvalDataset.anno_path=..., or evaluate on the built-in face set (WIDER '
                    'FACE layout) with -c configs/face_detection/mediapipe_blazeface_builtin.yml '
                    'after python tools/gen_face_dataset.py --output_dir '
                    'dataset/wider_face_builtin' % self.dataset_dir)
        return ('COCO 2017 is not part of this project: download train2017.zip, val2017.zip and '
                'annotations_trainval2017.zip from https://cocodataset.org/#download and unzip '
                'them into %s, so that it holds annotations/instances_train2017.json, '
                'annotations/instances_val2017.json, train2017/ and val2017/; or point the '
                'config at a copy (or a COCO-format set of your own) with -o '
                'TrainDataset.dataset_dir=DIR EvalDataset.dataset_dir=DIR (and their anno_path '
                '/ image_dir when the names differ). This project\'s built-in dataset has its '
                'own configs, configs/builtin/*.yml (python tools/gen_dataset.py --output_dir '
                'dataset/builtin makes it)' % self.dataset_dir)

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
            # the image's own annotation dicts (check_coco_json: every category is known);
            # not loadAnns(getAnnIds(...)), which looks them up again by annotation id
            anns = [a for a in coco.imgToAnns.get(img_id, []) if not a.get('ignore', False)]
            xywh = np.array([a.get('bbox') or [0, 0, 0, 0] for a in anns],
                            dtype=np.float32).reshape(-1, 4)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            # clipped to the size the file decodes to where the annotation's would clip
            # or drop a box and the two differ (an EXIF-rotated JPEG annotated with its
            # stored size): the record then holds that size
            boxes, keep, w, h = clean_boxes_to_image(xyxy, w, h, im_path, counter)
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
