"""Images for inference; the annotation file only supplies the class names."""
import os

import numpy as np

from ppdet.core.workspace import register

from .coco import coco_classes, load_coco
from .dataset import IMAGE_EXTS, DetDataset, check_anno_file
from .voc import read_label_list

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
    """

    def __init__(self, dataset_dir=None, anno_path=None, image_dir=None, sample_num=-1):
        super(ImageFolder, self).__init__(dataset_dir, image_dir, anno_path, sample_num)
        self._load_labels()
        self._images = []
        if image_dir:
            self.set_images(_list_images(os.path.join(self.dataset_dir, image_dir)))

    def _load_labels(self):
        if not self.anno_path:
            raise ValueError('ImageFolder needs anno_path (a COCO json or a label list file) '
                             'for the class names')
        path = check_anno_file(self.get_anno(), self.dataset_dir, what='label source')
        if path.lower().endswith('.json'):
            self.catid2clsid, self.cname2cid = coco_classes(load_coco(path), path)
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
            raise ValueError('no images given (%r)' % (images,))
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
