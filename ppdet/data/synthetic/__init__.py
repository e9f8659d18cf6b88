"""The built-in dataset: coloured, textured shapes on real-photo backgrounds.

``generate_dataset(out_dir)`` writes the same images and boxes twice, as COCO
(``coco/{train,val}/*.jpg``, ``coco/annotations/instances_{train,val}.json``) and as
Pascal VOC (``voc/JPEGImages``, ``voc/Annotations``, ``trainval.txt``, ``test.txt``,
``label_list.txt``).  Every image is drawn from its own random generator seeded by
(seed, split, index), so the output is byte-identical on every run.  A
``manifest.json`` written last records the parameters; a later call with the same
parameters finds it and does nothing, one with others rewrites the set saying which
changed.  A non-empty directory without it (a user's own COCO / VOC tree) is refused
unless ``force`` (:mod:`.outdir`).

What makes it learnable but not trivial: six shape classes in random colours and
shades (colour says nothing about the class), sizes from 24 px to half the image,
stretched and rotated, partly occluding each other, on softened crops of the photos
bundled with scikit-image, among clutter (lines, curves, text) and with noise, blur
and JPEG artefacts.  Version 2 (the default since the first) removed shape-like decoy
blobs and busy object textures: with them a small detector trained from scratch on 2
CPU cores stayed near chance (AP50 0.03 after 40 epochs).  The defaults then moved
from 600 training images with objects from 16 px to 1800 images from 24 px (the
same renderer: image i of a split is the same picture at every size of the set):
the built-in YOLOv3 trained for the same number of steps overfitted 600 images
less than it learned from 1800, and objects of 12 px at its 192 input were below
what it resolves in that budget (README, "Built-in dataset").
"""
import hashlib
import json
import os
import re
import time

import cv2
import numpy as np

from ppdet.utils.fileio import atomic_write
from ppdet.utils.logger import setup_logger

from .outdir import begin, finish, progress_bar
from .scenes import CLASSES, render_image

logger = setup_logger(__name__)

__all__ = ['generate_dataset', 'CLASSES', 'DEFAULTS', 'GENERATOR_VERSION', 'render_image',
           'dataset_statistics']

GENERATOR_VERSION = 2
GENERATOR = 'ppdet.data.synthetic'   # the manifest's name for this generator
SPLITS = {'train': 1, 'val': 2}
# The built-in dataset as the pipeline and tools/gen_dataset.py make it.  1800 training images
# (was 600) and objects from 24 px (was 16): see above.
DEFAULTS = {'num_train': 1800, 'num_val': 150, 'image_size': 256, 'seed': 0, 'min_size': 24,
            'max_objects': 8}

# -- writing ------------------------------------------------------------------------------
def _voc_xml(file_name, size, boxes, classes):
    lines = ['<annotation>', '  <folder>JPEGImages</folder>',
             '  <filename>%s</filename>' % file_name,
             '  <size><width>%d</width><height>%d</height><depth>3</depth></size>' % (size, size)]
    for box, cls in zip(boxes, classes):
        lines += ['  <object>', '    <name>%s</name>' % CLASSES[cls],
                  '    <pose>Unspecified</pose>',
                  '    <truncated>0</truncated>', '    <difficult>0</difficult>',
                  '    <bndbox><xmin>%d</xmin><ymin>%d</ymin>'
                  '<xmax>%d</xmax><ymax>%d</ymax></bndbox>'
                  % tuple(int(v) for v in box), '  </object>']
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def _write_bytes(path, data):
    atomic_write(path, lambda f: f.write(data), mode='wb')


def _write_text(path, text):
    atomic_write(path, lambda f: f.write(text))


def _params(num_train, num_val, image_size, seed, jpeg_quality, min_size, max_objects):
    return {'generator_version': GENERATOR_VERSION, 'num_train': int(num_train),
            'num_val': int(num_val), 'image_size': int(image_size), 'seed': int(seed),
            'jpeg_quality': int(jpeg_quality), 'min_size': float(min_size),
            'max_objects': int(max_objects), 'classes': CLASSES}


def _clear_stale(directory, keep, pattern):
    """Remove the files of ``directory`` named like a generator's (``pattern``, a regex
    matched on the whole name) that are not in ``keep``: what a set made with more
    images left; other files (a user's, under ``force``) stay."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name not in keep and re.fullmatch(pattern, name):
            p = os.path.join(directory, name)
            if os.path.isfile(p):
                os.remove(p)


def _check_args(num_train, num_val, image_size, min_size, max_objects):
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1 (got %d, %d)' % (num_train, num_val))
    if image_size < 64:
        raise ValueError('image_size must be >= 64, got %d' % image_size)
    if not 4 <= min_size < image_size * 0.5:
        raise ValueError('min_size must be in [4, image_size/2), got %r' % (min_size,))
    if not 1 <= max_objects <= 8:
        raise ValueError('max_objects must be in 1..8, got %r' % (max_objects,))


_STEM = r'(train|val)_\d{6,}'


def _write_split(out_dir, split, params, files, bar):
    """Render and write one split in both layouts; returns (stems, COCO dict)."""
    size = params['image_size']
    images, annotations, stems = [], [], []
    for idx in range(params['num_%s' % split]):
        rng = np.random.default_rng([params['seed'], SPLITS[split], idx])
        im, boxes, classes, areas = render_image(rng, size, params['max_objects'],
                                                 params['min_size'])
        ok, buf = cv2.imencode('.jpg', cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, params['jpeg_quality']])
        if not ok:
            raise RuntimeError('JPEG encoding failed for %s image %d' % (split, idx))
        stem = '%s_%06d' % (split, idx + 1)
        stems.append(stem)
        data = buf.tobytes()
        for rel in ('coco/%s/%s.jpg' % (split, stem), 'voc/JPEGImages/%s.jpg' % stem):
            _write_bytes(os.path.join(out_dir, rel), data)
            files[rel] = hashlib.md5(data).hexdigest()
        xml = _voc_xml(stem + '.jpg', size, boxes, classes)
        _write_text(os.path.join(out_dir, 'voc', 'Annotations', stem + '.xml'), xml)
        files['voc/Annotations/%s.xml' % stem] = hashlib.md5(xml.encode()).hexdigest()
        images.append({'id': idx + 1, 'file_name': stem + '.jpg', 'width': size, 'height': size})
        bar.update(1)
        for box, cls, area in zip(boxes, classes, areas):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({'id': len(annotations) + 1, 'image_id': idx + 1,
                                'category_id': int(cls) + 1, 'bbox': [x1, y1, x2 - x1, y2 - y1],
                                'area': float(area), 'iscrowd': 0})
    coco = {'info': {'description': 'ppdet built-in synthetic shapes',
                     'version': GENERATOR_VERSION},
            'images': images, 'annotations': annotations,
            'categories': [{'id': i + 1, 'name': n, 'supercategory': 'shape'}
                           for i, n in enumerate(CLASSES)]}
    text = json.dumps(coco, sort_keys=True)
    rel = 'coco/annotations/instances_%s.json' % split
    _write_text(os.path.join(out_dir, rel), text)
    files[rel] = hashlib.md5(text.encode()).hexdigest()
    _clear_stale(os.path.join(out_dir, 'coco', split), {n + '.jpg' for n in stems},
                 _STEM + r'\.jpg')
    return stems, coco


def _write_voc_lists(out_dir, stems, files):
    voc_dir = os.path.join(out_dir, 'voc')
    texts = {'label_list.txt': '\n'.join(CLASSES) + '\n'}
    for split, list_name in (('train', 'trainval.txt'), ('val', 'test.txt')):
        texts[list_name] = ''.join('JPEGImages/%s.jpg Annotations/%s.xml\n' % (n, n)
                                   for n in stems[split])
    for list_name, text in texts.items():
        _write_text(os.path.join(voc_dir, list_name), text)
        files['voc/' + list_name] = hashlib.md5(text.encode()).hexdigest()
    every = set(stems['train']) | set(stems['val'])
    _clear_stale(os.path.join(voc_dir, 'JPEGImages'), {n + '.jpg' for n in every},
                 _STEM + r'\.jpg')
    _clear_stale(os.path.join(voc_dir, 'Annotations'), {n + '.xml' for n in every},
                 _STEM + r'\.xml')


def generate_dataset(out_dir='dataset/builtin', num_train=DEFAULTS['num_train'],
                     num_val=DEFAULTS['num_val'], image_size=DEFAULTS['image_size'],
                     seed=DEFAULTS['seed'], jpeg_quality=90, min_size=DEFAULTS['min_size'],
                     max_objects=DEFAULTS['max_objects'], force=False):
    """Write the built-in dataset under ``out_dir`` (COCO in ``coco/``, VOC in ``voc/``).

    ``min_size`` (smallest object extent in pixels) and ``max_objects`` (per image) set
    how hard it is.  Returns the manifest dict (parameters, statistics, file checksums).
    Does nothing but return the existing manifest when ``out_dir`` already holds a
    complete dataset made with the same parameters (unless ``force``); a set of ours made
    with others (or half written) is rewritten with one warning naming the changes.  A
    non-empty ``out_dir`` holding no set of ours raises ValueError unless ``force`` (then
    files of the same names are overwritten).
    """
    _check_args(num_train, num_val, image_size, min_size, max_objects)
    params = _params(num_train, num_val, image_size, seed, jpeg_quality, min_size, max_objects)
    manifest = begin(out_dir, GENERATOR, params, 'built-in dataset', force=force,
                     legacy_keys=('image_size', 'classes'))
    if manifest is not None:
        return manifest
    tic = time.time()
    files, stems, cocos = {}, {}, {}
    with progress_bar(num_train + num_val, 'built-in dataset') as bar:
        for split in ('train', 'val'):
            stems[split], cocos[split] = _write_split(out_dir, split, params, files, bar)
    _write_voc_lists(out_dir, stems, files)
    manifest = finish(out_dir, GENERATOR, {
        'params': params,
        'statistics': {s: dataset_statistics(cocos[s], image_size) for s in cocos},
        'generation_seconds': round(time.time() - tic, 1), 'files': files})
    logger.info('built-in dataset written to %s in %.1f s: %s', out_dir, time.time() - tic,
                '; '.join('%s %d images, %d boxes' % (s, v['images'], v['boxes'])
                          for s, v in manifest['statistics'].items()))
    return manifest


def dataset_statistics(coco, image_size):
    """Counts per class, boxes per image and box sizes (COCO small/medium/large by box area)."""
    anns = coco['annotations']
    per_image = np.bincount([a['image_id'] for a in anns], minlength=len(coco['images']) + 1)[1:]
    sides = np.array([np.sqrt(a['bbox'][2] * a['bbox'][3]) for a in anns]) if anns else np.zeros(0)
    names = {c['id']: c['name'] for c in coco['categories']}
    return {
        'images': len(coco['images']), 'boxes': len(anns),
        'boxes_per_image': {'mean': round(float(per_image.mean()), 2),
                            'min': int(per_image.min()), 'max': int(per_image.max())},
        'per_class': {names[i]: sum(a['category_id'] == i for a in anns) for i in sorted(names)},
        'box_sqrt_area_px': {'min': round(float(sides.min()), 1),
                             'median': round(float(np.median(sides)), 1),
                             'max': round(float(sides.max()), 1)} if len(sides) else {},
        'coco_size': {'small(<32^2)': int((sides < 32).sum()),
                      'medium': int(((sides >= 32) & (sides < 96)).sum()),
                      'large(>=96^2)': int((sides >= 96).sum())},
        'image_size': image_size,
    }
