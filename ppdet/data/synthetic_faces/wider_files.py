"""The WIDER FACE files: ``wider_face_{split}_bbx_gt.txt``, the evaluation ``.mat`` files
and the Easy / Medium / Hard subsets.

The subsets.  WIDER FACE (Yang et al., CVPR 2016, section 3) sets three difficulty
levels by how often a generic proposal method (EdgeBox) recalls a face — 92%, 76% and
34% on average — and names scale, occlusion, blur and pose as what makes faces hard; in
its evaluation a face outside a subset's ``gt_list`` is ignored (neither a miss nor a
false positive).  No proposal method is run here: each face gets a difficulty from the
attributes measured when it was drawn, size first, each degradation worth about a
halving of the face::

    d = log2(24 / height) + blur + occlusion + (pose + illumination) / 2

Easy = valid faces with d <= 0 (a clear, unoccluded, typical face 24 px tall or more, or
one of 48 px with one degradation), Medium = valid faces with d <= 1 (a clear face of 12
px or more, 24 px with one degradation), Hard = every valid face.  So easy ⊆ medium ⊆
hard, and invalid faces (too small or too covered) are in none, as in the official
lists.  The images here are about 2.5 times smaller than WIDER's (1024 px wide), so 24
px here is about 60 px there.  On the default validation set this puts 22% / 47% / 92%
of the faces in Easy / Medium / Hard.  (In the official lists the tiniest faces, under
about 10 px, are in no subset — as read from the .mat files by users, e.g. sfzhang15/SFD
issue #7; here faces under 8 px are invalid.)

The .mat layout is what the official ``eval_tools/evaluation.m`` indexes —
``file_list{i}{j}``, ``face_bbx_list{i}{j}`` (M x 4), ``gt_list{i}{j}`` then
``ignore(keep_index) = 1`` — and what the Python ports read after ``scipy.io.loadmat``:
``event_list[i][0][0]``, ``file_list[i][0][j][0][0]``, ``face_bbx_list[i][0][j][0]`` and
``gt_list[i][0][j][0]`` used as ``ignore[keep_index - 1]``, so the indices are integers.
"""
import io

import numpy as np

__all__ = ['difficulty', 'subset_of', 'SUBSETS', 'gt_text', 'mat_bytes']

SUBSETS = ('easy', 'medium', 'hard')
_LIMITS = {'easy': 0., 'medium': 1., 'hard': np.inf}
_REFERENCE_HEIGHT = 24.
_MAT_DESCRIPTION = b'MATLAB 5.0 MAT-file, written by ppdet.data.synthetic_faces'


def difficulty(face):
    """The difficulty score d of a face record (smaller: easier)."""
    h = max(face['bbox'][3], 1)
    return (np.log2(_REFERENCE_HEIGHT / h) + face['blur'] + face['occlusion']
            + 0.5 * (face['pose'] + face['illumination']))


def subset_of(face, subset):
    """True when ``face`` counts in ``subset`` ('easy', 'medium' or 'hard')."""
    if subset not in _LIMITS:
        raise ValueError('unknown subset %r; use one of %s' % (subset, ', '.join(SUBSETS)))
    return not face['invalid'] and difficulty(face) <= _LIMITS[subset]


def gt_text(records):
    """The official ``wider_face_*_bbx_gt.txt``: per image its path under images/, the face
    count, then one line per face ``x1 y1 w h blur expression illumination invalid
    occlusion pose`` (a face-free image: count 0 and one line of zeros), each line of
    numbers ending in a space as in the official files."""
    lines = []
    for rec in records:
        lines += [rec['path'], str(len(rec['faces']))]
        rows = [f['bbox'] + [f[k] for k in ('blur', 'expression', 'illumination', 'invalid',
                                             'occlusion', 'pose')] for f in rec['faces']]
        for row in rows or [[0] * 10]:
            lines.append(' '.join(str(int(v)) for v in row) + ' ')
    return '\n'.join(lines) + '\n'


def _cell(items):
    """A MATLAB cell column (N x 1 object array) holding ``items``."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def _by_event(records):
    events = []
    for rec in records:
        if not events or events[-1][0] != rec['event_dir']:
            events.append((rec['event_dir'], []))
        events[-1][1].append(rec)
    return events


def mat_contents(records, subset=None):
    """The variables of the official ground-truth files for ``records`` (grouped by event,
    in order): ``event_list`` (E x 1 cell of names), ``file_list`` (E x 1 cell of N x 1
    cells of image names without .jpg), ``face_bbx_list`` (E x 1 cell of N x 1 cells of
    M x 4 double [x y w h]; a face-free image has a 0 x 4 array) and, for
    ``wider_face_val.mat``, the attribute label lists (M x 1 each); for a subset file
    (``subset`` given) ``gt_list`` instead: the 1-based indices of the faces that count,
    K x 1 int32 per image."""
    events = _by_event(records)
    out = {'event_list': _cell([e for e, _ in events]),
           'file_list': _cell([_cell([r['name'] for r in recs]) for _, recs in events]),
           'face_bbx_list': _cell([_cell([np.array([f['bbox'] for f in r['faces']],
                                                   np.float64).reshape(-1, 4) for r in recs])
                                   for _, recs in events])}
    if subset is None:
        for key in ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose'):
            out[key + '_label_list'] = _cell([_cell([
                np.array([f[key] for f in r['faces']], np.float64).reshape(-1, 1)
                for r in recs]) for _, recs in events])
    else:
        out['gt_list'] = _cell([_cell([
            np.array([i + 1 for i, f in enumerate(r['faces']) if subset_of(f, subset)],
                     np.int32).reshape(-1, 1) for r in recs]) for _, recs in events])
    return out


def mat_bytes(records, subset=None):
    """``mat_contents`` as MATLAB 5 file bytes.  scipy writes the creation time into the
    116-byte text header; it is replaced by a fixed text so reruns are byte-identical."""
    import scipy.io
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat_contents(records, subset), format='5', oned_as='column')
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_DESCRIPTION.ljust(116, b' ')
    return bytes(data)
