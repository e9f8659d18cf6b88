"""A/B, one process, interleaved: exports of the same checkpoints with BlazeFace's decoding
before and after it was rewritten on whole rows (no per-coordinate slices and last-axis
stack, sigmoid for one class); each pair's detections compared on the sample photos.

Usage: python ab_decode.py NAME=MODEL_DIR ... [--rounds N]
(pairs named old_X / new_X; the first model is the speed-up baseline)"""
import collections
import sys

import numpy as np

from ppdet.benchmark.cpu import cpu_description
from ppdet.benchmark.full_size import ab_detectors, format_ab
from ppdet.data.sample_photos import face_photos, no_face_photos
from ppdet.deploy import Detector

args = sys.argv[1:]
rounds = 20
if '--rounds' in args:
    i = args.index('--rounds')
    rounds, args = int(args[i + 1]), args[:i] + args[i + 2:]
photos = dict(face_photos())
photos.update(no_face_photos())
images = [photos[k] for k in sorted(photos)]
print('CPU:', cpu_description())
dets = collections.OrderedDict((n, Detector(d, 'paddle', cpu_threads=1))
                               for n, d in (a.split('=', 1) for a in args))
rows, preds = ab_detectors(dets, images, photos['astronaut'], rounds=rounds, warmup=3)
print('\n## %d rounds interleaved, 1 thread, NMS inside' % rounds)
print('\n'.join(format_ab(rows, width=12)))
for name in dets:
    if name.startswith('new_') and 'old_' + name[4:] in preds:
        old, new = preds['old_' + name[4:]], preds[name]
        counts = [(len(o), len(n)) for o, n in zip(old, new)]
        # each old row (class, score, box) that has a new row equal to 1e-3; boxes tied in
        # score at the keep_top_k cut may be kept in another subset by a last-bit difference
        found = sum(int((np.abs(o[:, None] - n[None]).max(-1) < 1e-3).any(1).sum())
                    for o, n in zip(old, new) if len(o) and len(n))
        print('%s vs old_%s on %d photos: detections %d / %d; old rows with an equal new row '
              '(to 1e-3): %d' % (name, name[4:], len(images), sum(a for a, _ in counts),
                                 sum(b for _, b in counts), found))
for d in dets.values():
    d.close()
