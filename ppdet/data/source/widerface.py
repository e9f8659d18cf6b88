"""WIDER FACE in its official layout.

::

    <dataset_dir>/wider_face_split/wider_face_{train,val}_bbx_gt.txt
    <dataset_dir>/WIDER_{train,val}/images/<event>/<name>.jpg
    <dataset_dir>/eval_tools/ground_truth/wider_face_val.mat          (optional, see below)
    <dataset_dir>/eval_tools/ground_truth/wider_{easy,medium,hard}_val.mat

The ground-truth text file lists, per image, its path relative to the images directory
(``0--Parade/0_Parade_marchingband_1_465.jpg``), the number of faces N, then N lines
``x1 y1 w h blur expression illumination invalid occlusion pose``.  An image without
faces has the count 0 followed by one line of zeros.

Box convention: ``gt_bbox`` is x1y1x2y2 in pixels with **x2 = x1 + w, y2 = y1 + h**
(what the official evaluation does before computing overlaps; no -1).  Faces of zero or
negative size are left out of ``gt_bbox`` (counted in the summary warning); the faces as
written in the file, with their attributes, stay in the record (``wider_faces`` x, y, w, h
and ``wider_attrs``, columns :data:`ATTRIBUTE_NAMES`) and in :meth:`wider_ground_truth`.

Evaluation subsets: the official Easy / Medium / Hard subsets exist only as the
``.mat`` files of the official ``eval_tools`` (``gt_list``: per event, per image, the
1-based indices of the faces that count).  With them :meth:`wider_ground_truth` is the
official one.  Without them every face that is not ``invalid`` and has a positive size
counts in all three subsets — NOT the official split (which came from a proposal
detection rate, not from any attribute): Easy, Medium and Hard are then the same number.
"""
import os
import re

import numpy as np

from ppdet.core.workspace import register
from ppdet.utils.logger import setup_logger

from .dataset import (IMAGE_EXTS, DatasetError, DetDataset, SkipCounter, check_anno_file,
                      clean_boxes, decoded_size)

logger = setup_logger(__name__)

__all__ = ['WIDERFaceDataSet', 'read_wider_annotation', 'read_wider_mat_ground_truth',
           'ATTRIBUTE_NAMES', 'WIDER_SUBSETS']

ATTRIBUTE_NAMES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')
WIDER_SUBSETS = ('easy', 'medium', 'hard')
_INVALID = ATTRIBUTE_NAMES.index('invalid')

COUNT_MISMATCH = 'face count does not match the lines that follow'
BAD_COUNT = 'face count line is not a non-negative integer'
BAD_FACE_LINE = 'face line with fewer than 4 numbers'
BAD_FACE_VALUE = 'face line with a value that is not a number'
# the columns of a face line, for the message about a value that is not a number
_COLUMNS = ('box',) * 4 + ATTRIBUTE_NAMES


def _is_number(tok):
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _is_image_path(toks):
    return toks[-1].lower().endswith(IMAGE_EXTS)


def _kind(toks, expecting_count):
    """What a line that is not all numbers is: 'face' (a face line with a typo in a value:
    several tokens, at least half of them numbers, ``16a6 103 153 181 2 0 0 0 1 0``),
    'count' (one token right after an image path that is no path itself: ``1a``) or 'image'
    (an image path; one that ends in an image extension always is).  Reading a face line
    with a typo as an image path made two bad entries of one (the image above lost its
    faces, the "image" got the ones below) and counted one image too many."""
    if _is_image_path(toks):
        return 'image'
    numbers = sum(_is_number(t) for t in toks)
    if len(toks) >= 2 and 2 * numbers >= len(toks):
        return 'face'
    if len(toks) == 1 and expecting_count and '/' not in toks[0] and '\\' not in toks[0]:
        return 'count'
    return 'image'


def read_wider_annotation(path):
    """Parse an official ``wider_face_*_bbx_gt.txt``.

    Returns a list (file order) of dicts ``{'file', 'line', 'faces' float64 [F,4] (x, y,
    w, h as written), 'attrs' int32 [F,6], 'error'}``; ``error`` is None or the reason the
    entry cannot be used (:data:`COUNT_MISMATCH`, :data:`BAD_FACE_VALUE`, ...; ``detail``
    then says which line and value) — the entry is then still listed so that the reader can
    count it.  A line made only of numbers belongs to the image above it, and so does a
    face line with a value that is not a number (``16a6 103 153 181 ...``: that image's
    error); an image path starts a new image, so a wrong count or a typo in a value never
    shifts later images.  Raises ValueError when the file lists no image at all or starts
    with numbers.
    """
    with open(path, encoding='utf-8') as f:
        lines = [(i, line.split()) for i, line in enumerate(f, 1) if line.strip()]
    blocks = []
    for lineno, toks in lines:
        numeric = all(_is_number(t) for t in toks)
        if not numeric and (not blocks or _kind(toks, not blocks[-1][2]) == 'image'):
            blocks.append((lineno, ' '.join(toks), []))
        elif not blocks:
            raise DatasetError('%s line %d: expected an image path like '
                               '"0--Parade/0_Parade_marchingband_1_465.jpg", got %r; is this a '
                               'WIDER FACE wider_face_*_bbx_gt.txt?'
                               % (path, lineno, ' '.join(toks)))
        else:
            blocks[-1][2].append((lineno, toks))
    if not blocks:
        raise DatasetError('WIDER FACE annotation file %s lists no images' % path)
    entries = []
    for lineno, rel, rows in blocks:
        entry = {'file': rel, 'line': lineno, 'faces': np.zeros([0, 4]),
                 'attrs': np.zeros([0, len(ATTRIBUTE_NAMES)], np.int32), 'error': None}
        entries.append(entry)
        if not rows or len(rows[0][1]) != 1 or not re.fullmatch(r'\d+', rows[0][1][0]):
            entry['error'] = BAD_COUNT
            entry['detail'] = ('line %d: %r' % (rows[0][0], ' '.join(rows[0][1])) if rows else
                               'no count line follows')
            continue
        count, faces = int(rows[0][1][0]), rows[1:]
        bad = [(n, k, t) for n, toks in faces for k, t in enumerate(toks) if not _is_number(t)]
        if bad:
            n, k, tok = bad[0]
            column = _COLUMNS[k] if k < len(_COLUMNS) else 'column %d' % (k + 1)
            entry['error'] = BAD_FACE_VALUE
            entry['detail'] = 'line %d: %s value %r is not a number' % (n, column, tok)
            continue
        if count == 0 and len(faces) == 1 and all(float(t) == 0 for t in faces[0][1]):
            faces = []   # the official line of zeros of an image without faces
        if len(faces) != count:
            entry['error'] = COUNT_MISMATCH
            entry['detail'] = 'count %d, %d face line(s)' % (count, len(faces))
            continue
        short = [n for n, toks in faces if len(toks) < 4]
        if short:
            entry['error'] = BAD_FACE_LINE
            entry['detail'] = 'line %d' % short[0]
            continue
        vals = [[float(t) for t in toks] for _, toks in faces]
        entry['faces'] = np.array([v[:4] for v in vals], np.float64).reshape(-1, 4)
        entry['attrs'] = np.array([(v[4:10] + [0] * 6)[:6] for v in vals],
                                  np.int32).reshape(-1, len(ATTRIBUTE_NAMES))
    return entries


def _image_size(path):
    """(h, w) the image decodes to (the header's size, turned by a JPEG's EXIF orientation
    as the decoder turns it: the stored size clipped the faces of such an image), or
    (0, 0) when it cannot be read (the decode probe of evaluation / the substitution of
    training then deals with the file)."""
    size = decoded_size(path)
    if size is None:
        return 0.0, 0.0
    return float(size[1]), float(size[0])


def _as_str(v):
    while isinstance(v, np.ndarray):
        if v.size == 0:
            return ''
        v = v.reshape(-1)[0]
    return str(v)


def _cells(v):
    return list(np.asarray(v, dtype=object).reshape(-1))


def _loadmat(path, keys):
    from scipy.io import loadmat
    try:
        mat = loadmat(path)
    except Exception as e:  # noqa: BLE001 - scipy raises several types for bad files
        raise DatasetError('cannot read %s with scipy.io.loadmat: %s' % (path, e))
    missing = [k for k in keys if k not in mat]
    if missing:
        raise DatasetError('%s has no %s (keys: %s); expected the official WIDER FACE eval_tools '
                           'file' % (path, ', '.join(missing),
                                     ', '.join(k for k in mat if not k.startswith('__'))))
    return mat


def read_wider_mat_ground_truth(face_mat, subset_mats):
    """The official ground truth from ``wider_face_val.mat`` (``event_list``, ``file_list``,
    ``face_bbx_list``) and, per subset name, ``wider_<subset>_val.mat`` (``gt_list``).

    Returns a list of dicts ``{'event', 'name', 'boxes' float64 [F,4] x, y, w, h, 'keep':
    {subset: 0-based int64 indices}}`` in the files' order (event, then image).
    """
    mat = _loadmat(face_mat, ('event_list', 'file_list', 'face_bbx_list'))
    events = [_as_str(e) for e in _cells(mat['event_list'])]
    files = [[_as_str(f) for f in _cells(cell)] for cell in _cells(mat['file_list'])]
    boxes = [[np.asarray(b, np.float64).reshape(-1, 4) if np.size(b) else np.zeros([0, 4])
              for b in _cells(cell)] for cell in _cells(mat['face_bbx_list'])]
    if not len(events) == len(files) == len(boxes):
        raise DatasetError('%s: event_list, file_list and face_bbx_list have %d, %d and %d '
                           'events' % (face_mat, len(events), len(files), len(boxes)))
    for e, (fl, bl) in enumerate(zip(files, boxes)):
        if len(fl) != len(bl):
            raise DatasetError('%s: event %s has %d files but %d face lists' % (
                face_mat, events[e], len(fl), len(bl)))
    keeps = {}
    for subset, path in subset_mats.items():
        gt_list = [[np.asarray(k).reshape(-1) for k in _cells(cell)]
                   for cell in _cells(_loadmat(path, ('gt_list',))['gt_list'])]
        if [len(c) for c in gt_list] != [len(f) for f in files]:
            raise DatasetError('%s: gt_list has %s images per event but %s has %s; the files are '
                               'from different releases' % (path, [len(c) for c in gt_list][:5],
                                                          face_mat, [len(f) for f in files][:5]))
        keeps[subset] = gt_list
    out = []
    for e, event in enumerate(events):
        for j, name in enumerate(files[e]):
            n = len(boxes[e][j])
            keep = {}
            for subset, gt_list in keeps.items():
                idx = gt_list[e][j].astype(np.float64)
                if idx.size and (np.any(idx != np.round(idx)) or idx.min() < 1 or idx.max() > n):
                    raise DatasetError('%s: gt_list of %s/%s holds %s, but the image has %d faces '
                                       '(indices are 1-based)' % (subset_mats[subset], event,
                                                                name, idx.tolist(), n))
                keep[subset] = idx.astype(np.int64) - 1
            out.append({'event': event, 'name': name, 'boxes': boxes[e][j], 'keep': keep})
    return out


@register
class WIDERFaceDataSet(DetDataset):
    """WIDER FACE, official layout (see the module docstring); one class, ``face``.

    Args:
        dataset_dir: root of the dataset (holds ``wider_face_split/``, ``WIDER_val/``, ...).
        image_dir: images directory relative to ``dataset_dir``, e.g. ``WIDER_val/images``.
        anno_path: ground-truth text file relative to ``dataset_dir``, e.g.
            ``wider_face_split/wider_face_val_bbx_gt.txt``.
        subset_dir: directory (relative to ``dataset_dir``) of the official evaluation
            ``.mat`` files; None or '' to always form the subsets from ``anno_path``.
        allow_empty: keep images without (usable) faces (evaluation: yes, so that every
            image gets a result file).
        sample_num: use only the first ``sample_num`` images of the file (-1: all).
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None,
                 subset_dir='eval_tools/ground_truth', allow_empty=False, sample_num=-1):
        super(WIDERFaceDataSet, self).__init__(dataset_dir, image_dir, anno_path, sample_num)
        self.subset_dir = subset_dir
        self.allow_empty = allow_empty
        self.cname2cid = {'face': 0}
        self.catid2clsid = {0: 0}
        self.parse_dataset()

    def missing_hint(self):
        """The built-in face set's generator (into ``dataset_dir`` when it is a built-in
        set's, e.g. dataset/wider_face_builtin) or the real WIDER FACE's layout."""
        out = self.dataset_dir if 'builtin' in os.path.basename(
            os.path.normpath(self.dataset_dir)) else 'dataset/wider_face_builtin'
        return ('For the built-in face set run: python tools/gen_face_dataset.py --output_dir '
                '%s (the *_builtin face configs read it); for the real WIDER FACE unpack its '
                'release so that dataset_dir holds wider_face_split/, WIDER_train/images/ and '
                'WIDER_val/images/ (configs/datasets/wider_face.yml)' % out)

    def parse_dataset(self):
        if not self.anno_path:
            raise DatasetError('WIDERFaceDataSet needs anno_path, e.g. '
                               'wider_face_split/wider_face_val_bbx_gt.txt')
        anno = check_anno_file(self.get_anno(), self.dataset_dir,
                               what='WIDER FACE ground-truth file', hint=self.missing_hint())
        entries = read_wider_annotation(anno)
        if self.sample_num > 0:
            entries = entries[:self.sample_num]
        counter = SkipCounter('WIDERFaceDataSet(%s)' % anno)
        records = []
        for im_id, entry in enumerate(entries):
            where = '%s line %d (%s%s)' % (anno, entry['line'], entry['file'],
                                           ': ' + entry['detail'] if 'detail' in entry else '')
            if entry['error']:
                counter.skip(entry['error'], where, detail=where)
                continue
            im_path = os.path.join(self.dataset_dir, self.image_dir, entry['file'])
            if not os.path.isfile(im_path):
                counter.skip('missing images', im_path)
                continue
            h, w = _image_size(im_path)
            faces = entry['faces']
            x1y1x2y2 = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:]], axis=1)
            boxes, keep = clean_boxes(x1y1x2y2, w, h, counter)
            if len(boxes) == 0 and not self.allow_empty:
                counter.skip('no faces', im_path)
                continue
            event, base = os.path.split(entry['file'])
            records.append({
                'im_file': im_path, 'im_id': np.array([im_id], dtype=np.int64),
                'h': h, 'w': w,
                'gt_bbox': boxes,
                'gt_class': np.zeros([len(keep), 1], dtype=np.int32),
                'is_crowd': np.zeros([len(keep), 1], dtype=np.int32),
                'wider_file': entry['file'], 'wider_event': event,
                'wider_name': os.path.splitext(base)[0],
                'wider_faces': faces.astype(np.float32), 'wider_attrs': entry['attrs'],
            })
        self._finish(records, counter, len(entries), anno, self.allow_empty)

    # -- evaluation ground truth --------------------------------------------------------
    def split(self):
        """'val', 'train', ... from ``anno_path`` (wider_face_<split>_bbx_gt.txt); 'val'
        when the name does not say."""
        m = re.search(r'wider_face_([A-Za-z]+)_bbx_gt', os.path.basename(self.anno_path or ''))
        return m.group(1) if m else 'val'

    def subset_files(self):
        """``(wider_face_<split>.mat, {subset: wider_<subset>_<split>.mat})`` when the
        official files are there, else None.  Some but not all of them: an error."""
        if not self.subset_dir:
            return None
        root = os.path.join(self.dataset_dir, self.subset_dir)
        split = self.split()
        face = os.path.join(root, 'wider_face_%s.mat' % split)
        subsets = {s: os.path.join(root, 'wider_%s_%s.mat' % (s, split)) for s in WIDER_SUBSETS}
        present = [p for p in [face] + list(subsets.values()) if os.path.isfile(p)]
        if not present:
            return None
        if len(present) < 4:
            missing = sorted(set([face] + list(subsets.values())) - set(present))
            have = ', '.join(map(os.path.basename, present))
            raise FileNotFoundError('%s holds %s but not %s: copy all four files of the official '
                                    'eval_tools/ground_truth, or set subset_dir: null to form the '
                                    'subsets from %s' % (root, have, ', '.join(missing),
                                                         self.anno_path))
        return face, subsets

    def wider_ground_truth(self):
        """Ground truth for :class:`ppdet.metrics.WiderFaceMetric`.

        Returns ``{'images': [...], 'official': bool, 'source': str}``; each image is
        ``{'im_id' (None for an image of the .mat files that is not among the records),
        'event', 'name', 'file' (event/name.jpg), 'boxes' float64 [F,4] x, y, w, h as in
        the files, 'keep': {'easy'|'medium'|'hard': 0-based indices of the faces that count}}``.
        From the official ``.mat`` files when :meth:`subset_files` finds them; else from
        ``anno_path``: every face with invalid == 0 and w, h > 0 counts in all three
        subsets (not the official split; a warning says so).  Computed once per set of
        records (sensitivity analysis builds a metric per probe).
        """
        key = (id(self.roidbs), len(self.roidbs), self.subset_dir)
        cached = getattr(self, '_wider_gt', None)
        if cached is None or cached[0] != key:
            self._wider_gt = (key, self._read_ground_truth())
        return self._wider_gt[1]

    def _read_ground_truth(self):
        mats = self.subset_files()
        if mats is None:
            images = []
            for r in self.roidbs:
                faces = np.asarray(r['wider_faces'], np.float64).reshape(-1, 4)
                attrs = np.asarray(r['wider_attrs']).reshape(-1, len(ATTRIBUTE_NAMES))
                idx = np.nonzero((attrs[:, _INVALID] == 0) & (faces[:, 2] > 0) &
                                 (faces[:, 3] > 0))[0].astype(np.int64)
                images.append({'im_id': int(r['im_id'][0]), 'event': r['wider_event'],
                               'name': r['wider_name'], 'file': r['wider_file'], 'boxes': faces,
                               'keep': {s: idx.copy() for s in WIDER_SUBSETS}})
            source = ('%s (no official .mat files under %s: every valid face counts in Easy, '
                      'Medium and Hard alike; NOT the official subsets)' % (
                          self.get_anno(), os.path.join(self.dataset_dir, self.subset_dir or '')))
            logger.warning('WIDER FACE evaluation subsets from %s', source)
            return {'images': images, 'official': False, 'source': source}
        face_mat, subset_mats = mats
        images = read_wider_mat_ground_truth(face_mat, subset_mats)
        by_key = {(r['wider_event'], r['wider_name']): r for r in self.roidbs}
        differ = []
        for im in images:
            r = by_key.pop((im['event'], im['name']), None)
            im['im_id'] = None if r is None else int(r['im_id'][0])
            im['file'] = r['wider_file'] if r is not None else '%s/%s.jpg' % (im['event'],
                                                                                 im['name'])
            if r is not None and len(r['wider_faces']) != len(im['boxes']):
                differ.append(im['file'])
        if by_key:
            extra = sorted(r['wider_file'] for r in by_key.values())
            raise DatasetError('%d image(s) of %s are not in %s (e.g. %s): the .mat files are for '
                               'another split or release; set subset_dir: null to evaluate on the '
                               'subsets formed from the annotation file' % (
                                 len(extra), self.get_anno(), face_mat, ', '.join(extra[:3])))
        if differ:
            logger.warning('%d image(s) have another number of faces in %s than in %s (e.g. %s); '
                           'the evaluation uses the .mat files', len(differ), face_mat,
                           self.get_anno(), differ[0])
        return {'images': images, 'official': True,
                'source': 'official subsets %s' % os.path.dirname(face_mat)}
