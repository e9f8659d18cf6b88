"""The built-in face set: real faces shipped with scikit-image, composed into cluttered
scenes and written in the exact WIDER FACE layout.

``generate_face_dataset(out_dir)`` writes::

    WIDER_{train,val}/images/<i>--<Event>/<i>_<Event>_<split>_<n>.jpg
    wider_face_split/wider_face_{train,val}_bbx_gt.txt
    eval_tools/ground_truth/wider_face_val.mat, wider_{easy,medium,hard}_val.mat
    manifest.json

Events are the scene types of :mod:`.scenes` (Portrait, Group, Crowd, Occluded, Blurry,
Lowlight).  Faces come from :mod:`.faces` (the astronaut, the cameraman and LFW's 100
crops, mirrored, rolled, recoloured, blurred), from 5 px to half the image; their
attributes are measured from what was drawn and the Easy / Medium / Hard subsets follow
from them (:mod:`.wider_files`).  Every image is drawn from its own random generator
seeded by (seed, split, index), so the output is byte-identical on every run and image i
of a split is the same at every size of the set.  ``manifest.json``, written last,
records the parameters; a later call with the same parameters does nothing, one with
others rewrites the set saying which changed.  A non-empty directory without it (the real
WIDER FACE, whose file names this set shares) is refused unless ``force``
(:mod:`ppdet.data.synthetic.outdir`).

Sizes: image sides from 320 to 512 px (the long one 368-512), 800 train + 200 val by
default — 40-50 s to generate on one core.  A small BlazeFace trains on them at a
fixed input (e.g. 256 or 320) without the decode or resize costing more than a few ms per
image on 2 CPU cores.
"""
import hashlib
import os
import time

import cv2
import numpy as np

from ppdet.data.synthetic import _clear_stale, _write_bytes, _write_text
from ppdet.data.synthetic.outdir import begin, finish, progress_bar
from ppdet.utils.logger import setup_logger

from .scenes import ATTRIBUTES, EVENTS, render_scene
from .wider_files import SUBSETS, difficulty, gt_text, mat_bytes, mat_contents, subset_of

logger = setup_logger(__name__)

__all__ = ['generate_face_dataset', 'render_scene', 'render_record', 'face_statistics',
           'DEFAULTS', 'GENERATOR_VERSION', 'EVENTS', 'SUBSETS', 'subset_of', 'difficulty',
           'mat_contents']

# bump when the output changes (the manifest check compares it): 1 first cut; 2 oval hard
# negatives and invalid for faces too dark or burnt out
GENERATOR_VERSION = 2
GENERATOR = 'ppdet.data.synthetic_faces'   # the manifest's name for this generator
SPLITS = {'train': 1, 'val': 2}
_SALT = 7  # keeps these images' random streams apart from the shapes set's
DEFAULTS = {'num_train': 800, 'num_val': 200, 'min_side': 320, 'max_side': 512, 'seed': 0,
            'max_faces': 50, 'jpeg_quality': 90}


def event_dir(event):
    return '%d--%s' % (EVENTS.index(event), event)


def render_record(params, split, idx):
    """Render image ``idx`` (0-based) of ``split``: (uint8 RGB image, record) where the
    record holds its event, WIDER name, path under images/ and faces."""
    rng = np.random.default_rng([params['seed'], _SALT, SPLITS[split], idx])
    event, im, faces = render_scene(rng, params['min_side'], params['max_side'],
                                    params['max_faces'])
    name = '%d_%s_%s_%05d' % (EVENTS.index(event), event, split, idx + 1)
    return im, {'event': event, 'event_dir': event_dir(event), 'name': name,
                'path': '%s/%s.jpg' % (event_dir(event), name), 'faces': faces,
                'width': int(im.shape[1]), 'height': int(im.shape[0])}


def _params(num_train, num_val, min_side, max_side, seed, max_faces, jpeg_quality):
    return {'generator_version': GENERATOR_VERSION, 'num_train': int(num_train),
            'num_val': int(num_val), 'min_side': int(min_side), 'max_side': int(max_side),
            'seed': int(seed), 'max_faces': int(max_faces), 'jpeg_quality': int(jpeg_quality)}


def _check_args(num_train, num_val, min_side, max_side, max_faces, jpeg_quality):
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1 (got %d, %d)' % (num_train, num_val))
    if not 128 <= min_side <= max_side:
        raise ValueError('need 128 <= min_side <= max_side, got min_side=%d max_side=%d '
                         '(e.g. --min_side 320 --max_side 512)' % (min_side, max_side))
    if max_faces < 1:
        raise ValueError('max_faces must be >= 1, got %d' % max_faces)
    if not 50 <= jpeg_quality <= 100:
        raise ValueError('jpeg_quality must be in 50..100, got %d' % jpeg_quality)


# the names render_record gives (e.g. 2_Crowd_train_00012.jpg; the real set's differ)
_NAME = r'\d+_[A-Za-z]+_(train|val)_\d{5,}\.jpg'


def _write_split(out_dir, split, params, files, bar):
    records = []
    for idx in range(params['num_%s' % split]):
        im, rec = render_record(params, split, idx)
        ok, buf = cv2.imencode('.jpg', cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, params['jpeg_quality']])
        if not ok:
            raise RuntimeError('JPEG encoding failed for %s image %d' % (split, idx))
        rel = 'WIDER_%s/images/%s' % (split, rec['path'])
        data = buf.tobytes()
        _write_bytes(os.path.join(out_dir, rel), data)
        files[rel] = hashlib.md5(data).hexdigest()
        records.append(rec)
        bar.update(1)
    records.sort(key=lambda r: (EVENTS.index(r['event']), r['name']))  # official order
    image_root = os.path.join(out_dir, 'WIDER_%s' % split, 'images')
    for event in EVENTS:
        keep = {r['name'] + '.jpg' for r in records if r['event'] == event}
        _clear_stale(os.path.join(image_root, event_dir(event)), keep, _NAME)
    rel = 'wider_face_split/wider_face_%s_bbx_gt.txt' % split
    text = gt_text(records)
    _write_text(os.path.join(out_dir, rel), text)
    files[rel] = hashlib.md5(text.encode()).hexdigest()
    return records


def _write_mats(out_dir, records, files):
    for name, subset in [('wider_face_val.mat', None)] + \
            [('wider_%s_val.mat' % s, s) for s in SUBSETS]:
        rel = 'eval_tools/ground_truth/' + name
        data = mat_bytes(records, subset)
        _write_bytes(os.path.join(out_dir, rel), data)
        files[rel] = hashlib.md5(data).hexdigest()


def generate_face_dataset(out_dir='dataset/wider_face_builtin', num_train=DEFAULTS['num_train'],
                          num_val=DEFAULTS['num_val'], min_side=DEFAULTS['min_side'],
                          max_side=DEFAULTS['max_side'], seed=DEFAULTS['seed'],
                          max_faces=DEFAULTS['max_faces'],
                          jpeg_quality=DEFAULTS['jpeg_quality'], force=False):
    """Write the built-in face set under ``out_dir`` in the WIDER FACE layout.

    ``min_side`` / ``max_side`` bound the image sides in pixels, ``max_faces`` the faces
    of a crowd.  Returns the manifest (parameters, statistics, file checksums); does
    nothing but return it when ``out_dir`` already holds a complete set made with the same
    parameters (unless ``force``).  A set of ours made with others (or half written) is
    rewritten with one warning naming the changes; a non-empty ``out_dir`` holding no set
    of ours (a real WIDER FACE tree) raises ValueError unless ``force`` (then files of the
    same names are overwritten).
    """
    _check_args(num_train, num_val, min_side, max_side, max_faces, jpeg_quality)
    params = _params(num_train, num_val, min_side, max_side, seed, max_faces, jpeg_quality)
    manifest = begin(out_dir, GENERATOR, params, 'built-in face set', force=force,
                     legacy_keys=('min_side', 'max_faces'))
    if manifest is not None:
        return manifest
    tic = time.time()
    files, stats = {}, {}
    with progress_bar(num_train + num_val, 'built-in face set') as bar:
        for split in ('train', 'val'):
            records = _write_split(out_dir, split, params, files, bar)
            stats[split] = face_statistics(records)
            if split == 'val':
                _write_mats(out_dir, records, files)
    manifest = finish(out_dir, GENERATOR, {
        'params': params, 'statistics': stats,
        'generation_seconds': round(time.time() - tic, 1), 'files': files})
    logger.info('built-in face set written to %s in %.1f s: %s', out_dir, time.time() - tic,
                '; '.join('%s %d images, %d faces' % (s, v['images'], v['faces'])
                          for s, v in stats.items()))
    return manifest


def face_statistics(records):
    """Faces per image, face heights, attribute counts and the share of faces per subset."""
    faces = [f for r in records for f in r['faces']]
    per_image = np.array([len(r['faces']) for r in records])
    heights = np.array([f['bbox'][3] for f in faces], np.float64)
    edges = [0, 8, 16, 32, 64, 128, 100000]
    bins = np.histogram(heights, edges)[0] if len(heights) else np.zeros(len(edges) - 1, int)
    n = max(len(faces), 1)
    return {
        'images': len(records), 'faces': len(faces),
        'face_free_images': int((per_image == 0).sum()),
        'faces_per_image': {'mean': round(float(per_image.mean()), 2),
                            'median': float(np.median(per_image)),
                            'max': int(per_image.max())},
        'per_event': {e: {'images': int(sum(r['event'] == e for r in records)),
                          'faces': int(sum(len(r['faces']) for r in records
                                           if r['event'] == e))}
                      for e in EVENTS},
        'face_height_px': {'%d-%s' % (lo, hi if hi < 100000 else ''): int(c)
                           for lo, hi, c in zip(edges[:-1], edges[1:], bins)},
        'attributes': {k: {str(v): int(sum(f[k] == v for f in faces)) for v in (0, 1, 2)
                           if v < 2 or k in ('blur', 'occlusion')} for k in ATTRIBUTES},
        'subsets': {s: {'faces': int(sum(subset_of(f, s) for f in faces)),
                        'share': round(float(sum(subset_of(f, s) for f in faces)) / n, 3)}
                    for s in SUBSETS},
        'lfw_faces_share': round(float(sum(f['source'].startswith('lfw') for f in faces)) / n,
                                 3),
    }
