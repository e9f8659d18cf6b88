"""Base class of the detection datasets: a list of records plus sample transforms.

A record is a dict with ``im_file``, ``im_id`` (``np.array([id])``), ``h``, ``w``,
``gt_bbox`` (float32 ``[N,4]`` x1y1x2y2 in pixels), ``gt_class`` (int32 ``[N,1]``,
contiguous 0..C-1), ``is_crowd`` (int32 ``[N,1]``) and, for VOC, ``difficult``.

Bad input never reaches a DataLoader worker as a crash: loaders skip records they
cannot use and log one summary line (:class:`SkipCounter`); an image that fails to
decode at ``__getitem__`` time is replaced by another record and counted.
"""
import collections
import copy
import os

import numpy as np
from paddle.io import Dataset

from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['DetDataset', 'SkipCounter', 'ImageDecodeError', 'clean_boxes',
           'check_anno_file', 'IMAGE_EXTS']

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')

# how many other records __getitem__ tries before giving up on a bad image
_MAX_SUBSTITUTES = 20


class ImageDecodeError(IOError):
    """An image file exists but cannot be decoded (truncated, not an image, ...)."""


class SkipCounter(object):
    """Counts why records or boxes were dropped and logs one summary line."""

    def __init__(self, source):
        self.source = source
        self.records = collections.Counter()   # reason -> skipped records
        self.boxes = collections.Counter()     # reason -> affected boxes
        self.examples = {}                     # reason -> first offending path

    def skip(self, reason, path=None):
        self.records[reason] += 1
        self.examples.setdefault(reason, path)

    def box(self, reason, n=1):
        if n:
            self.boxes[reason] += n

    @property
    def num_skipped(self):
        return sum(self.records.values())

    def summary(self, total):
        parts = []
        if self.records:
            parts.append('skipped %d of %d records: %s' % (
                self.num_skipped, total, ', '.join(
                    '%d %s' % (n, r) for r, n in sorted(self.records.items()))))
        if self.boxes:
            parts.append('boxes: ' + ', '.join('%d %s' % (n, r)
                                               for r, n in sorted(self.boxes.items())))
        if not parts:
            return None
        text = '%s: %s' % (self.source, '; '.join(parts))
        examples = ['%s e.g. %s' % (r, p) for r, p in sorted(self.examples.items()) if p]
        if examples:
            text += ' (%s)' % '; '.join(examples)
        return text

    def log(self, total):
        text = self.summary(total)
        if text:
            logger.warning(text)
        return text


def check_anno_file(path, dataset_dir, what='annotation file'):
    if not os.path.isfile(path):
        raise FileNotFoundError('%s %s not found (dataset_dir=%r; anno_path is relative to it). '
                                'For the built-in dataset run: python tools/gen_dataset.py '
                                '--output_dir dataset/builtin' % (what, path, dataset_dir))
    return path


def clean_boxes(boxes, w, h, counter):
    """Clip x1y1x2y2 boxes to the image and drop zero/negative-area ones.

    Returns ``(boxes float32 [K,4], keep index array)``; counts clipped and dropped
    boxes in ``counter``.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes, np.zeros([0], dtype=np.int64)
    finite = np.all(np.isfinite(boxes), axis=1)
    boxes = np.where(finite[:, None], boxes, 0).astype(np.float32)
    clipped = boxes.copy()
    if w > 0 and h > 0:
        clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, w)
        clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, h)
    keep = finite & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    changed = np.any(np.abs(clipped - boxes) > 1e-3, axis=1) & keep
    counter.box('clipped to the image', int(changed.sum()))
    counter.box('dropped as degenerate (zero/negative area or outside the image)',
                int((~keep).sum()))
    idx = np.nonzero(keep)[0]
    return clipped[idx], idx


class DetDataset(Dataset):
    """Records + sample transforms.  Subclasses fill ``self.roidbs`` in ``parse_dataset``."""

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, sample_num=-1):
        super(DetDataset, self).__init__()
        self.dataset_dir = dataset_dir if dataset_dir is not None else ''
        self.image_dir = image_dir if image_dir is not None else ''
        self.anno_path = anno_path
        self.sample_num = sample_num
        self.transform = None
        self.roidbs = []
        self.cname2cid = {}
        self.catid2clsid = {}
        self.num_bad_images = 0
        self._bad = set()

    # -- to implement --------------------------------------------------------
    def parse_dataset(self):
        raise NotImplementedError

    # -- contract ---------------------------------------------------------------
    @property
    def num_classes(self):
        return len(self.catid2clsid)

    @property
    def clsid2catid(self):
        return {v: k for k, v in self.catid2clsid.items()}

    def label_list(self):
        """Class names in class-id order."""
        names = sorted(self.cname2cid.items(), key=lambda kv: kv[1])
        return [n for n, _ in names]

    def get_anno(self):
        if self.anno_path is None:
            return None
        return os.path.join(self.dataset_dir, self.anno_path)

    def get_imid2path(self):
        return {int(np.asarray(r['im_id']).reshape(-1)[0]): r['im_file'] for r in self.roidbs}

    def set_transform(self, transform):
        """``transform(sample) -> sample`` applied in ``__getitem__`` (e.g. a Compose)."""
        self.transform = transform

    def __len__(self):
        return len(self.roidbs)

    def __getitem__(self, idx):
        # A record whose image fails to decode is replaced by the next one, so a
        # corrupt file costs one sample, not the whole DataLoader worker.
        n = len(self.roidbs)
        for attempt in range(min(n, _MAX_SUBSTITUTES + 1)):
            j = (idx + attempt) % n
            if j in self._bad and attempt < n - 1:
                continue
            sample = copy.deepcopy(self.roidbs[j])
            if self.transform is None:
                return sample
            try:
                return self.transform(sample)
            except ImageDecodeError as e:
                self._bad.add(j)
                self.num_bad_images = len(self._bad)
                logger.warning('%s; using another record instead (%d undecodable image(s) '
                               'so far in this process)', e, self.num_bad_images)
        raise ImageDecodeError('%d consecutive records from index %d could not be decoded '
                               '(last: %s); check the images under %s' % (
                                   _MAX_SUBSTITUTES + 1, idx, self.roidbs[j]['im_file'],
                                   os.path.join(self.dataset_dir, self.image_dir)))

    # -- helpers for subclasses ----------------------------------------------
    def _finish(self, records, counter, total, anno_file, allow_empty):
        counter.log(total)
        if not records:
            raise ValueError('%s: no usable records in %s (%s)' % (
                type(self).__name__, anno_file,
                counter.summary(total) or 'the file lists no images'))
        self.skip_counter = counter
        self.roidbs = records
        logger.debug('%s: %d records from %s', type(self).__name__, len(records), anno_file)
