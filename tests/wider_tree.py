"""Tiny WIDER FACE trees in the official layout, written by the tests (uniquely named module:
the data and metric tests both use it)."""
import os

import cv2
import numpy as np

ANNO = 'wider_face_split/wider_face_%s_bbx_gt.txt'
IMAGES = 'WIDER_%s/images'
MAT_DIR = 'eval_tools/ground_truth'


def face_line(x, y, w, h, blur=0, expression=0, illumination=0, invalid=0, occlusion=0, pose=0):
    return '%g %g %g %g %d %d %d %d %d %d' % (x, y, w, h, blur, expression, illumination,
                                              invalid, occlusion, pose)


def write_image(path, w, h, value=128):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((h, w, 3), value, np.uint8))


def write_wider(root, images, split='val', size=(64, 48), text=None):
    """``images``: [(rel_path, [face lines])]; writes the ground-truth file (or ``text``
    verbatim) and a ``size`` (w, h) JPEG per image.  An image without faces gets the official
    count 0 and one line of zeros.  Returns the annotation path relative to ``root``."""
    lines = []
    for rel, faces in images:
        write_image(os.path.join(root, IMAGES % split, rel), *size)
        lines.append(rel)
        lines.append(str(len(faces)))
        lines.extend(faces if faces else ['0 0 0 0 0 0 0 0 0 0'])
    anno = ANNO % split
    path = os.path.join(root, anno)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text if text is not None else '\n'.join(lines) + '\n')
    return anno


def _cell(items):
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


def write_wider_mat(root, events, subsets, split='val', only=None):
    """The official eval_tools .mat files, written with scipy.io.savemat in their structure.

    ``events``: [(event, [(name, boxes [M,4] x y w h)])]; ``subsets``: {'easy'|'medium'|'hard':
    per event, per image, the 1-based indices of the faces that count}.  ``only`` limits
    which of the four files are written.
    """
    from scipy.io import savemat
    d = os.path.join(root, MAT_DIR)
    os.makedirs(d, exist_ok=True)
    event_list = _cell([e for e, _ in events])
    file_list = _cell([_cell([n for n, _ in ims]) for _, ims in events])
    if only is None or 'face' in only:
        savemat(os.path.join(d, 'wider_face_%s.mat' % split), {
            'event_list': event_list, 'file_list': file_list,
            'face_bbx_list': _cell([_cell([np.asarray(b, np.float64).reshape(-1, 4)
                                           for _, b in ims]) for _, ims in events])})
    for subset, per_event in subsets.items():
        if only is not None and subset not in only:
            continue
        savemat(os.path.join(d, 'wider_%s_%s.mat' % (subset, split)), {
            'event_list': event_list, 'file_list': file_list,
            'gt_list': _cell([_cell([np.asarray(k, np.float64).reshape(-1, 1) for k in ims])
                              for ims in per_event])})
    return d
