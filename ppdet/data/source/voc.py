"""Pascal-VOC-format detection dataset (PaddleDetection layout).

``anno_path`` is a list file whose lines are ``JPEGImages/x.jpg Annotations/x.xml``
(relative to ``dataset_dir``); ``label_list`` names one class per line.
"""
import difflib
import os
import xml.etree.ElementTree as ET

import numpy as np

from ppdet.core.workspace import register

from .dataset import (DatasetError, DetDataset, SkipCounter, builtin_hint, check_anno_file,
                     clean_boxes_to_image)

__all__ = ['VOCDataSet', 'read_label_list', 'parse_voc_xml', 'VOC_CLASSES']

# the 20 Pascal VOC classes in the order of PaddleDetection's label_list.txt (alphabetical):
# what a model with num_classes 20 was trained on, for export / infer without the dataset
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')


def read_label_list(path, dataset_dir=None, hint=None):
    """Class names, one per line; ``hint`` ends the not-found error (the dataset's
    :meth:`~DetDataset.missing_hint`)."""
    check_anno_file(path, dataset_dir, what='label list', hint=hint, key='label_list')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise DatasetError('label list %s is empty: it needs one class name per line' % path)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError('label list %s names %s more than once' % (path, dup))
    return names


def _num(node, tag, xml_file, where, default=0.0):
    """``float`` of ``<tag>`` under ``node``; a value that is not a number raises a
    ValueError naming the file, the element and the value (float's own message names none)."""
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return default
    try:
        return float(child.text)
    except ValueError:
        raise DatasetError('%s: <%s> of %s is %r, not a number' % (xml_file, tag, where,
                                                                child.text.strip()))


def parse_voc_xml(xml_file):
    """-> (width, height, [(name, [x1,y1,x2,y2], difficult)]); raises ValueError on bad XML,
    naming the file and what is wrong in it."""
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise DatasetError('cannot parse %s: %s' % (xml_file, e))
    size = root.find('size')
    w = _num(size, 'width', xml_file, '<size>') if size is not None else 0.0
    h = _num(size, 'height', xml_file, '<size>') if size is not None else 0.0
    objects = []
    for k, obj in enumerate(root.findall('object')):
        name = (obj.findtext('name') or '').strip()
        where = 'object %d (%r)' % (k + 1, name)
        bnd = obj.find('bndbox')
        if bnd is None:
            raise DatasetError('%s: %s has no <bndbox>' % (xml_file, where))
        box = [_num(bnd, t, xml_file, where) for t in ('xmin', 'ymin', 'xmax', 'ymax')]
        objects.append((name, box, int(_num(obj, 'difficult', xml_file, where, 0))))
    return w, h, objects


@register
class VOCDataSet(DetDataset):
    """Pascal VOC xml annotations listed in ``anno_path``.

    Args:
        dataset_dir: root of the dataset.
        anno_path: list file (``JPEGImages/x.jpg Annotations/x.xml`` per line).
        label_list: class names file, one per line, in class-id order.
        allow_empty: keep images without boxes.
        sample_num: use only the first ``sample_num`` lines (-1: all).
        image_dir: optional prefix (relative to ``dataset_dir``) of the image paths.
    """

    def __init__(self, dataset_dir=None, anno_path=None, label_list=None, allow_empty=False,
                 sample_num=-1, image_dir=None):
        super(VOCDataSet, self).__init__(dataset_dir, image_dir, anno_path, sample_num)
        self.label_list_file = label_list
        self.allow_empty = allow_empty
        self.parse_dataset()

    def missing_hint(self):
        """The built-in set's generator when ``dataset_dir`` is the built-in set's; else
        where Pascal VOC comes from and the layout this loader reads (the generator makes no
        such file), and the flags that point a config at a copy elsewhere."""
        builtin = builtin_hint(self.dataset_dir)
        if builtin:
            return builtin
        return ('Pascal VOC is not part of this project: download VOC2007 trainval + test and '
                'VOC2012 trainval (http://host.robots.ox.ac.uk/pascal/VOC/) and unpack them into '
                '%s/VOCdevkit/; this loader then reads trainval.txt (VOC2007 + VOC2012 trainval) '
                'and test.txt (VOC2007 test) in %s, one line "VOCdevkit/VOC2007/JPEGImages/'
                '000005.jpg VOCdevkit/VOC2007/Annotations/000005.xml" per image (the ids are in '
                'VOC20xx/ImageSets/Main/), and label_list.txt, the 20 class names one per line '
                'in alphabetical order (aeroplane ... tvmonitor). A copy elsewhere: -o '
                'TrainDataset.dataset_dir=DIR EvalDataset.dataset_dir=DIR. This project\'s '
                'built-in dataset has its own configs, configs/builtin/*.yml (python '
                'tools/gen_dataset.py --output_dir dataset/builtin makes it, in COCO and in this '
                'layout: configs/datasets/builtin_voc.yml)' % (self.dataset_dir, self.dataset_dir))

    def _read_list(self, list_file):
        pairs = []
        with open(list_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise DatasetError('%s line %d: expected "JPEGImages/x.jpg Annotations/x.xml", '
                                       'got %r' % (list_file, lineno, line))
                pairs.append(parts)
        if not pairs:
            raise DatasetError('VOC image list %s is empty (expected lines like '
                               '"JPEGImages/x.jpg Annotations/x.xml")' % list_file)
        return pairs

    def parse_dataset(self):
        list_file = check_anno_file(self.get_anno(), self.dataset_dir, what='VOC image list',
                                    hint=self.missing_hint())
        if not self.label_list_file:
            raise DatasetError('VOCDataSet needs label_list (a file with one class name per line)')
        names = read_label_list(os.path.join(self.dataset_dir, self.label_list_file),
                                self.dataset_dir, hint=self.missing_hint())
        self.cname2cid = {n: i for i, n in enumerate(names)}
        self.catid2clsid = {i: i for i in range(len(names))}
        pairs = self._read_list(list_file)
        if self.sample_num > 0:
            pairs = pairs[:self.sample_num]
        # every listed image by its im_id (the line's index), read or not: the metric's
        # "evaluated K of N images" line names the ones it did not see
        self.listed_images = [im_rel for im_rel, _ in pairs]
        counter = SkipCounter('VOCDataSet(%s)' % list_file)
        records = []
        for im_id, (im_rel, xml_rel) in enumerate(pairs):
            im_path = os.path.join(self.dataset_dir, self.image_dir, im_rel)
            xml_path = os.path.join(self.dataset_dir, xml_rel)
            if not os.path.isfile(im_path):
                counter.skip('missing files', im_path)
                continue
            if not os.path.isfile(xml_path):
                counter.skip('missing annotation files', xml_path)
                continue
            try:
                w, h, objects = parse_voc_xml(xml_path)
            except ValueError as e:   # the reason goes into the summary warning
                counter.skip('unreadable annotation files', xml_path, detail=str(e))
                continue
            if w <= 0 or h <= 0:
                shape = _image_shape(im_path)
                if shape is None:
                    counter.skip('unreadable images', im_path)
                    continue
                h, w = shape
            for name, _, _ in objects:
                if name not in self.cname2cid:
                    close = difflib.get_close_matches(name, list(self.cname2cid), n=3)
                    raise DatasetError('%s: class %r is not in the label list %s%s' % (
                        xml_path, name, self.label_list_file,
                        ('; did you mean %s?' % ' or '.join(map(repr, close))) if close else ''))
            raw = np.array([o[1] for o in objects], dtype=np.float32).reshape(-1, 4)
            # the <size> is used unless a box reaches past it and the file decodes to
            # another size (then that one: see clean_boxes_to_image)
            boxes, keep, w, h = clean_boxes_to_image(raw, w, h, im_path, counter)
            record = {
                'im_file': im_path, 'im_id': np.array([im_id], dtype=np.int64),
                'h': float(h), 'w': float(w),
                'gt_bbox': boxes,
                'gt_class': np.array([[self.cname2cid[objects[i][0]]] for i in keep],
                                     dtype=np.int32).reshape(-1, 1),
                'difficult': np.array([[objects[i][2]] for i in keep],
                                      dtype=np.int32).reshape(-1, 1),
                'is_crowd': np.zeros([len(keep), 1], dtype=np.int32),
            }
            if len(boxes) == 0 and not self.allow_empty:
                counter.skip('no boxes', im_path)
                continue
            records.append(record)
        self._finish(records, counter, len(pairs), list_file, self.allow_empty)


def _image_shape(path):
    import cv2
    im = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return None if im is None else im.shape[:2]
