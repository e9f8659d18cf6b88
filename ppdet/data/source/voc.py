"""Pascal-VOC-format detection dataset (PaddleDetection layout).

``anno_path`` is a list file whose lines are ``JPEGImages/x.jpg Annotations/x.xml``
(relative to ``dataset_dir``); ``label_list`` names one class per line.
"""
import difflib
import os
import xml.etree.ElementTree as ET

import numpy as np

from ppdet.core.workspace import register

from .dataset import DetDataset, SkipCounter, check_anno_file, clean_boxes

__all__ = ['VOCDataSet', 'read_label_list', 'parse_voc_xml']


def read_label_list(path, dataset_dir=None):
    check_anno_file(path, dataset_dir, what='label list')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError('label list %s is empty: it needs one class name per line' % path)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError('label list %s names %s more than once' % (path, dup))
    return names


def _num(node, tag, default=0.0):
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return default
    return float(child.text)


def parse_voc_xml(xml_file):
    """-> (width, height, [(name, [x1,y1,x2,y2], difficult)]); raises ValueError on bad XML."""
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise ValueError('cannot parse %s: %s' % (xml_file, e))
    size = root.find('size')
    w = _num(size, 'width') if size is not None else 0.0
    h = _num(size, 'height') if size is not None else 0.0
    objects = []
    for obj in root.findall('object'):
        name = (obj.findtext('name') or '').strip()
        bnd = obj.find('bndbox')
        if bnd is None:
            raise ValueError('%s: object %r has no <bndbox>' % (xml_file, name))
        box = [_num(bnd, k) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        objects.append((name, box, int(_num(obj, 'difficult', 0))))
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

    def _read_list(self, list_file):
        pairs = []
        with open(list_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise ValueError('%s line %d: expected "JPEGImages/x.jpg Annotations/x.xml", '
                                     'got %r' % (list_file, lineno, line))
                pairs.append(parts)
        if not pairs:
            raise ValueError('VOC image list %s is empty (expected lines like '
                             '"JPEGImages/x.jpg Annotations/x.xml")' % list_file)
        return pairs

    def parse_dataset(self):
        list_file = check_anno_file(self.get_anno(), self.dataset_dir, what='VOC image list',
                                    hint=self.missing_hint())
        if not self.label_list_file:
            raise ValueError('VOCDataSet needs label_list (a file with one class name per line)')
        names = read_label_list(os.path.join(self.dataset_dir, self.label_list_file),
                                self.dataset_dir)
        self.cname2cid = {n: i for i, n in enumerate(names)}
        self.catid2clsid = {i: i for i in range(len(names))}
        pairs = self._read_list(list_file)
        if self.sample_num > 0:
            pairs = pairs[:self.sample_num]
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
            except ValueError:
                counter.skip('unreadable annotation files', xml_path)
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
                    raise ValueError('%s: class %r is not in the label list %s%s' % (
                        xml_path, name, self.label_list_file,
                        ('; did you mean %s?' % ' or '.join(map(repr, close))) if close else ''))
            raw = np.array([o[1] for o in objects], dtype=np.float32).reshape(-1, 4)
            boxes, keep = clean_boxes(raw, w, h, counter)
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
