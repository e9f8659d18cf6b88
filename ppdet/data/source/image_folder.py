"""Images for inference; the annotation file only supplies the class names."""
import os

import numpy as np

from ppdet.core.workspace import register
from ppdet.utils.logger import setup_logger

from .coco import COCO_CATEGORIES, coco_classes, load_coco
from .dataset import DatasetError, IMAGE_EXTS, DetDataset, builtin_hint, check_anno_file
from .voc import VOC_CLASSES, read_label_list

logger = setup_logger(__name__)

__all__ = ['ImageFolder']


@register
class ImageFolder(DetDataset):
    """Inference images: ``set_images(paths)`` or every image under ``image_dir``.

    Args:
        dataset_dir: root the other paths are relative to.
        anno_path: a COCO json (class names and category ids from its ``categories``)
            or a label list text file (one name per line; ids 0..C-1).
        image_dir: optional directory (or single image) to list when ``set_images``
            is not called.
        sample_num: use only the first ``sample_num`` images (-1: all).
        num_classes: the model's (from the config): with 80 and a COCO json that is not
            there, the 80 COCO class names are used (export / infer need no COCO download);
            with 20 and a label list that is not there, the 20 Pascal VOC names.
    """
    __shared__ = ['num_classes']

    def __init__(self, dataset_dir=None, anno_path=None, image_dir=None, sample_num=-1,
                 num_classes=None):
        super(ImageFolder, self).__init__(dataset_dir, image_dir, anno_path, sample_num)
        self.model_num_classes = num_classes
        self._load_labels()
        self._images = []
        if image_dir:
            self.set_images(_list_images(os.path.join(self.dataset_dir, image_dir)))

    def missing_hint(self):
        """Only the class names are read from the label source: say so, and how to give
        another (the built-in set's generator when ``dataset_dir`` is the built-in one)."""
        builtin = builtin_hint(self.dataset_dir)
        return ('TestDataset reads only the class names from it (export, infer, quantization): '
                'give -o TestDataset.dataset_dir=DIR TestDataset.anno_path=FILE, a COCO json or '
                'a label list (one class name per line, in the model\'s class order)%s'
                % ('. ' + builtin if builtin else ''))

    def _load_labels(self):
        if not self.anno_path:
            raise DatasetError('ImageFolder needs anno_path (a COCO json or a label list file) '
                               'for the class names')
        path = self.get_anno()
        if not os.path.isfile(path) and path.lower().endswith('.json') and \
                self.model_num_classes == 80:
            # a COCO model: its class names are public facts, no download needed for them
            logger.warning('label source %s not found: using the 80 COCO class names (%s, ..., '
                           '%s) as num_classes is 80; give -o TestDataset.anno_path=FILE if the '
                           'model was trained on other classes', path, COCO_CATEGORIES[0][1],
                           COCO_CATEGORIES[-1][1])
            self.catid2clsid = {c: i for i, (c, _) in enumerate(COCO_CATEGORIES)}
            self.cname2cid = {n: i for i, (_, n) in enumerate(COCO_CATEGORIES)}
            return
        if not os.path.isfile(path) and not path.lower().endswith('.json') and \
                self.model_num_classes == 20:
            # a Pascal VOC model (label_list.txt): the same, with the 20 VOC names
            logger.warning('label source %s not found: using the 20 Pascal VOC class names (%s, '
                           '..., %s, in label_list.txt order) as num_classes is 20; give -o '
                           'TestDataset.anno_path=FILE if the model was trained on other '
                           'classes', path, VOC_CLASSES[0], VOC_CLASSES[-1])
            self.cname2cid = {n: i for i, n in enumerate(VOC_CLASSES)}
            self.catid2clsid = {i: i for i in range(len(VOC_CLASSES))}
            return
        check_anno_file(path, self.dataset_dir, what='label source', hint=self.missing_hint(),
                        sections=('TestDataset',))
        if path.lower().endswith('.json'):
            self.catid2clsid, self.cname2cid = coco_classes(load_coco(path, need_files=False),
                                                             path)
        else:
            names = read_label_list(path, self.dataset_dir)
            self.cname2cid = {n: i for i, n in enumerate(names)}
            self.catid2clsid = {i: i for i in range(len(names))}

    def set_images(self, images):
        """Use these image files (or directories of images), in order; ids 0..N-1."""
        if isinstance(images, str):
            images = [images]
        paths = []
        for p in images:
            paths.extend(_list_images(p) if os.path.isdir(p) else [p])
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError('image file(s) not found: %s' % ', '.join(missing[:5]))
        if not paths:
            raise DatasetError('no images given (%r)' % (images,))
        if self.sample_num > 0:
            paths = paths[:self.sample_num]
        self._images = paths
        self._probed = False  # new images: probe them again when the transform is set
        self.roidbs = [{'im_file': p, 'im_id': np.array([i], dtype=np.int64)}
                       for i, p in enumerate(paths)]

    def get_images(self):
        return list(self._images)

    def parse_dataset(self):
        return self.roidbs


def _list_images(path):
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError('image directory %s not found' % path)
    found = []
    for root, _, files in os.walk(path):
        found.extend(os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTS))
    return sorted(found)
