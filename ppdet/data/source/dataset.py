"""Base class of the detection datasets: a list of records plus sample transforms.

A record is a dict with ``im_file``, ``im_id`` (``np.array([id])``), ``h``, ``w``,
``gt_bbox`` (float32 ``[N,4]`` x1y1x2y2 in pixels), ``gt_class`` (int32 ``[N,1]``,
contiguous 0..C-1), ``is_crowd`` (int32 ``[N,1]``) and, for VOC, ``difficult``.

Bad input never reaches a DataLoader worker as a crash: loaders skip records they
cannot use and log one summary line (:class:`SkipCounter`).  Undecodable images depend
on ``on_bad_image``:

* ``'skip'`` (evaluation and inference, the default): when the transforms are set,
  every image is probed once; undecodable ones are left out of the records (so a
  metric never sees them, ground truth included) and listed in one warning, truncated
  ones are counted and named.  Nothing is ever replaced by another record.
* ``'substitute'`` (training): an image that fails to decode in ``__getitem__`` is
  replaced by the next record, with a counted warning.
"""
import collections
import copy
import os

import numpy as np
from paddle.io import Dataset

from ppdet.utils.image_files import IMAGE_EXTS
from ppdet.utils.image_io import ImageDecodeError, decode_rgb, probe_image, warn_truncated
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


class DatasetError(ValueError):
    """A dataset's files are wrong (an annotation, a list, a label file): the message names
    the file.  Its own type so that building the dataset from a config does not present it
    as a config error (``workspace.create`` wraps only plain ValueError/TypeError)."""

__all__ = ['DetDataset', 'SkipCounter', 'ImageDecodeError', 'clean_boxes',
           'clean_boxes_to_image', 'decoded_size', 'exif_rotation', 'warn_size_once', 'has_boxes',
           'check_anno_file', 'IMAGE_EXTS', 'BAD_IMAGE_POLICIES', 'SHAPES_HINT', 'builtin_hint']


# how many other records __getitem__ tries before giving up on a bad image
_MAX_SUBSTITUTES = 20
BAD_IMAGE_POLICIES = ('skip', 'substitute')
# reasons a SkipCounter keeps per kind of skip (the first ones, each naming its file)
_MAX_DETAILS = 3



class SkipCounter(object):
    """Counts why records or boxes were dropped and logs one summary line."""

    def __init__(self, source):
        self.source = source
        self.records = collections.Counter()   # reason -> skipped records
        self.boxes = collections.Counter()     # reason -> affected boxes
        self.examples = {}                     # reason -> first offending path
        self.details = collections.defaultdict(list)  # reason -> first few "why"s

    def skip(self, reason, path=None, detail=None):
        """``detail``: why this record is unusable, naming its file (kept for the first
        few of each reason and shown in the summary instead of the bare path)."""
        self.records[reason] += 1
        self.examples.setdefault(reason, path)
        if detail and len(self.details[reason]) < _MAX_DETAILS:
            self.details[reason].append(detail)

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
        examples = []
        for r, p in sorted(self.examples.items()):
            if self.details.get(r):
                more = self.records[r] - len(self.details[r])
                examples.append('%s: %s%s' % (r, '; '.join(self.details[r]),
                                              '; %d more' % more if more else ''))
            elif p:
                examples.append('%s e.g. %s' % (r, p))
        if examples:
            text += ' (%s)' % '; '.join(examples)
        return text

    def log(self, total):
        text = self.summary(total)
        if text:
            logger.warning(text)
        return text


# what to do about a missing annotation file of the built-in shapes set (COCO / VOC layouts)
SHAPES_HINT = ('For the built-in dataset run: python tools/gen_dataset.py --output_dir '
               'dataset/builtin')


def builtin_hint(dataset_dir):
    """The generator command when ``dataset_dir`` is a built-in set's (``<x>builtin<y>/coco``
    or ``/voc``: what tools/gen_dataset.py writes under its --output_dir), else None: the
    generator makes nothing that a config of a real dataset reads."""
    path = os.path.normpath(dataset_dir or '.')
    root, layout = os.path.split(path)
    if layout.lower() in ('coco', 'voc') and 'builtin' in os.path.basename(root).lower():
        return ('For the built-in dataset run: python tools/gen_dataset.py --output_dir %s'
                % (root or '.'))
    return None


def _edits(a, b):
    """Edit distance (insert, delete, replace, swap of neighbours), case ignored."""
    a, b = a.lower(), b.lower()
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _close_names(name, choices, n=3):
    """The names in ``choices`` a typo away from ``name`` (1 edit for a short name, up to 3
    for a long one), closest first.  Tighter than difflib's ratio, which calls
    instances_train2017.json close to instances_val2017.json: a sibling that is there is not
    what a missing file was meant to be."""
    limit = 1 if len(name) < 6 else 2 if len(name) < 15 else 3
    choices = [c for c in choices if abs(len(c) - len(name)) <= limit]
    if len(choices) > 2000:   # a folder of images: only the names of the same kind of file
        ext = os.path.splitext(name)[1].lower()
        choices = [c for c in choices if os.path.splitext(c)[1].lower() == ext][:2000]
    scored = sorted((_edits(name, c), c) for c in choices)
    return [c for d, c in scored if d <= limit][:n]


def _entries(folder, dirs):
    """Names of the sub-directories (``dirs``) or the files in ``folder`` ([] if unreadable)."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if e.is_dir() == dirs)
    except OSError:
        return []


def _typo_hint(path, dataset_dir, key, sections):
    """When ``dataset_dir`` is there but ``path`` (under it) is not: where the path breaks
    ("annotations/ has no instances_vall.json"), the names close to the missing one in that
    folder (did you mean ...?; a typo in a directory name is followed to the closest one)
    and the key to fix.  -> ``(text, found)``; ``found``: whether a close name was found
    (else ``text`` lists what the folder holds), or None when ``dataset_dir`` is empty."""
    root = os.path.normpath(dataset_dir)
    full = os.path.normpath(path)
    rel = os.path.relpath(full, root)
    prefix = ''
    if rel == os.curdir:
        return None
    if rel.split(os.sep)[0] == os.pardir:
        # an absolute path outside dataset_dir: look in its own folder only
        root, rel = os.path.dirname(full), os.path.basename(full)
        prefix = root
        if not os.path.isdir(root):
            return None
    if not (_entries(root, dirs=True) or _entries(root, dirs=False)):
        return None
    parts = rel.split(os.sep)
    folder, fixed, broken, holds = root, [], None, []
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        here = os.path.join(folder, part)
        if os.path.isfile(here) if last else os.path.isdir(here):
            fixed.append(part)
            folder = here
            continue
        names = _entries(folder, dirs=not last)
        if broken is None:   # where the path first breaks
            broken = (os.path.join(*fixed) + os.sep if fixed else None,
                      part if last else part + os.sep)
            holds = sorted(_entries(folder, dirs=True), key=str.lower)
            holds = [n + os.sep for n in holds] + sorted(_entries(folder, dirs=False),
                                                         key=str.lower)
        close = _close_names(part, names)
        if not close:
            fixed = None
            break
        if last:
            fixed = [fixed + [c] for c in close]
            break
        fixed.append(close[0])
        folder = os.path.join(folder, close[0])
    else:
        fixed = [fixed]   # only directory names were off: the corrected path is a file
    in_dir, name = broken
    where = 'it' if in_dir is None else in_dir
    text = '%s is there, but %s has no %s' % (dataset_dir, where, name)
    if not fixed:
        shown = ', '.join(holds[:8]) + (', ...' if len(holds) > 8 else '')
        return '%s (it holds %s). If %s names the wrong file, fix it.' % (
            text, shown or 'nothing', key), False
    guesses = [os.path.join(prefix, *f) for f in fixed]
    return ('%s; did you mean %s? Fix %s in the section that names it (%s).' % (
        text, ' or '.join(guesses), key, ' or '.join(
            '-o %s.%s=%s' % (s, key, guesses[0]) for s in sections))), True


def check_anno_file(path, dataset_dir, what='annotation file', hint=SHAPES_HINT,
                    key='anno_path', sections=('TrainDataset', 'EvalDataset')):
    """``path`` if it is a file, else FileNotFoundError naming it and ``hint`` (how to get
    the file: each dataset class gives its own, :meth:`DetDataset.missing_hint`).

    When ``dataset_dir`` exists and a name in it is close to the missing one (a typo in
    ``key``, relative to ``dataset_dir``: ``instances_vall.json``, ``tst.txt``), the message
    names the close ones and the key to fix instead of ``hint`` (which says how to make or
    download a dataset that is already there).  ``sections``: where ``key`` is set, for the
    ``-o`` example."""
    if os.path.isfile(path):
        return path
    text = '%s %s not found (dataset_dir=%r; %s is relative to it).' % (
        what, path, dataset_dir, key)
    typo = None
    if dataset_dir and os.path.isdir(dataset_dir):
        typo = _typo_hint(path, dataset_dir, key, sections)
    if typo and typo[1]:   # a close name: the data is there, the key has a typo
        raise FileNotFoundError('%s %s' % (text, typo[0]))
    if typo:               # the folder holds other things: say what, then how to get it
        text = '%s %s' % (text, typo[0])
    raise FileNotFoundError('%s%s' % (text, ' ' + hint if hint else ''))


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


# EXIF orientations whose turn swaps width and height (5-8: a quarter turn, with or
# without a mirror)
_QUARTER_TURNS = (5, 6, 7, 8)
_SIZE_WARNED = set()   # image files whose size disagreement was warned about


def exif_rotation(path):
    """The EXIF orientation (5-8) that turns ``path`` by 90 degrees when decoded, else None."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112)
    except Exception:   # noqa: BLE001 - not an image PIL reads, no EXIF: nothing to say
        return None
    return orientation if orientation in _QUARTER_TURNS else None


def decoded_size(path):
    """``(w, h)`` that ``path`` decodes to (what ``Decode`` gets), or None when unreadable.

    The header's size (PIL reads only the first few KB), turned for a JPEG whose EXIF
    orientation is a quarter turn (OpenCV applies it); another format with such an
    orientation is decoded, as whether OpenCV turns it depends on the format and version."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
            # the EXIF block a JPEG's header holds (other formats: only if already read)
            orientation = im.getexif().get(0x0112) if im.info.get('exif') else None
    except Exception:   # noqa: BLE001 - PIL cannot read it: the decoder may
        orientation, fmt = 0, None
    if orientation not in _QUARTER_TURNS and fmt is not None:
        return int(w), int(h)
    if fmt in ('JPEG', 'MPO'):
        return int(h), int(w)
    try:
        shape = decode_rgb(path).shape
    except ImageDecodeError:
        return None
    return int(shape[1]), int(shape[0])


def warn_size_once(path, aw, ah, w, h):
    """The annotation's width/height (``aw`` x ``ah``) disagree with the decoded image's
    (``w`` x ``h``): said once per file (it was said every epoch), with what is done about
    it: the boxes are clipped to the decoded size, so nothing inside the image is lost (the
    dataset reads the size from the file when a box reaches past the annotation's size,
    Decode clips to it otherwise).  An EXIF-rotated JPEG, annotated with its stored size,
    is the usual cause."""
    if path in _SIZE_WARNED:
        return False
    _SIZE_WARNED.add(path)
    rotation = exif_rotation(path) if path else None
    turned = rotation and (int(round(aw)), int(round(ah))) == (h, w)
    why = (' (its EXIF orientation %d turns it by 90 degrees when decoded: the annotation '
           'has the stored size)' % rotation if turned else '')
    logger.warning('%s: annotation says %dx%d (w x h) but the image decodes as %dx%d%s; its '
                   'boxes are clipped to the decoded %dx%d, not to the annotation\'s size: fix '
                   'width/height in the annotation file%s', path, aw, ah, w, h, why, w, h,
                   ' (boxes drawn on the stored, unturned image do not fit the decoded one: '
                   'turn them too, or save the image turned and without the EXIF orientation)'
                   if turned else '')
    return True


def clean_boxes_to_image(boxes, w, h, im_path, counter):
    """:func:`clean_boxes` against the size ``im_path`` decodes to, when that is not the
    annotation's ``w`` x ``h``.

    The file is looked at only when a box reaches past the annotation's right or bottom
    edge (the annotation's size would clip or drop it): only then can the real size change
    the boxes.  Where the file decodes to another size (an EXIF-rotated JPEG annotated with
    its stored size, a wrong width/height), the boxes are clipped to the decoded size and
    that is said once per file (:func:`warn_size_once`); a box that still lies outside the
    image is dropped.  Any other disagreement (every box inside the annotation's size)
    is clipped by ``Decode``, which knows the decoded size.

    Returns ``(boxes, keep, w, h)``: :func:`clean_boxes`' two and the size used."""
    raw = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    past = im_path and w > 0 and h > 0 and len(raw) and (
        (raw[:, 2] > w) | (raw[:, 3] > h)).any()   # the common case stops here
    if past:
        past = (np.all(np.isfinite(raw), axis=1) & (raw[:, 2] > raw[:, 0]) &
                (raw[:, 3] > raw[:, 1]) & ((raw[:, 2] > w) | (raw[:, 3] > h))).any()
    if past:
        size = decoded_size(im_path)
        if size is not None and size != (int(round(w)), int(round(h))):
            warn_size_once(im_path, w, h, *size)
            w, h = float(size[0]), float(size[1])
    return clean_boxes(raw, w, h, counter) + (w, h)


def has_boxes(record):
    """Whether a record (or a sample) holds at least one box."""
    return 'gt_bbox' in record and len(record['gt_bbox']) > 0


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
        self.on_bad_image = 'skip'
        self.skipped_images = []     # [(im_file, reason)] left out by the 'skip' probe
        self.truncated_images = []   # [(im_file, reason)] decodable but cut short
        self._probed = False

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

    def get_image_root(self):
        """The folder the annotation's image file names are relative to."""
        return os.path.join(self.dataset_dir or '', self.image_dir or '')

    def missing_hint(self):
        """What to do when the annotation file is missing (the message's last sentence):
        a subclass whose data another generator or download gives says so."""
        return SHAPES_HINT

    def get_imid2path(self):
        return {int(np.asarray(r['im_id']).reshape(-1)[0]): r['im_file'] for r in self.roidbs}

    def set_transform(self, transform):
        """``transform(sample) -> sample`` applied in ``__getitem__`` (e.g. a Compose).

        With ``on_bad_image='skip'`` this is when the images are probed (once)."""
        if self.on_bad_image not in BAD_IMAGE_POLICIES:
            raise DatasetError('on_bad_image must be one of %s, got %r' % (
                ', '.join(BAD_IMAGE_POLICIES), self.on_bad_image))
        self.transform = transform
        if self.on_bad_image == 'skip' and not self._probed:
            self.probe_images()

    def probe_images(self):
        """Leave undecodable images out of the records; name truncated ones.

        Raises ImageDecodeError when no image is left."""
        self._probed = True
        kept, skipped, truncated = [], [], []
        for record in self.roidbs:
            path = record.get('im_file')
            if path is None or 'image' in record:
                kept.append(record)
                continue
            try:
                reason = probe_image(path)
            except ImageDecodeError as e:
                skipped.append((path, str(e)))
                continue
            if reason:
                truncated.append((path, reason))
                warn_truncated(path, reason)
            kept.append(record)
        total = len(self.roidbs)
        self.skipped_images, self.truncated_images = skipped, truncated
        where = os.path.join(self.dataset_dir, self.image_dir)
        if skipped and not kept:
            raise ImageDecodeError(
                'none of the %d image(s) under %s can be decoded (%s); replace or remove them'
                % (total, where, '; '.join(r for _, r in skipped[:3])))
        if skipped:
            logger.warning('%s: %d of %d images cannot be decoded and are left out (%sno '
                           'other image is used instead): %s', type(self).__name__,
                           len(skipped), total, 'their ground truth too; ' if any(
                               has_boxes(r) for r in self.roidbs) else '',
                           '; '.join(r for _, r in skipped[:10]))
        if truncated:
            logger.warning('%s: %d of %d images are truncated and used as decoded: %s',
                           type(self).__name__, len(truncated), total,
                           ', '.join(p for p, _ in truncated[:10]))
        self.roidbs = kept
        self.num_bad_images = len(skipped)

    def __len__(self):
        return len(self.roidbs)

    def __getitem__(self, idx):
        if self.on_bad_image != 'substitute':
            sample = copy.deepcopy(self.roidbs[idx])
            return sample if self.transform is None else self.transform(sample)
        # Training: a record whose image fails to decode is replaced by the next one, so
        # a corrupt file costs one sample, not the whole DataLoader worker.
        n = len(self.roidbs)
        tries = min(n, _MAX_SUBSTITUTES + 1)
        for attempt in range(tries):
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
                logger.warning('%s; training on another record instead (%d undecodable '
                               'image(s) so far in this process)', e, self.num_bad_images)
        what = ('none of the %d image(s)' % n) if tries == n else (
            '%d consecutive images from record %d' % (tries, idx))
        raise ImageDecodeError('%s under %s can be decoded (last: %s); replace or remove them'
                               % (what, os.path.join(self.dataset_dir, self.image_dir),
                                  self.roidbs[j]['im_file']))

    # -- helpers for subclasses ----------------------------------------------
    def _finish(self, records, counter, total, anno_file, allow_empty):
        counter.log(total)
        if not records:
            raise DatasetError('%s: no usable records in %s (%s)' % (
                type(self).__name__, anno_file,
                counter.summary(total) or 'the file lists no images'))
        self.skip_counter = counter
        self.roidbs = records
        logger.debug('%s: %d records from %s', type(self).__name__, len(records), anno_file)
