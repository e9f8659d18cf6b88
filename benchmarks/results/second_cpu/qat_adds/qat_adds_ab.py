"""A/B, one process, interleaved: the face job's trained BlazeFace-Lite checkpoints exported at
the size of CONFIG (e.g. 640) -- the fp32 twin, QAT, and QAT with the residual adds
quantized (``Quant.quantize_residual_adds``) -- timed end to end on one photo, detections
compared with the first on the sample photos.

Usage: python qat_adds_ab.py CONFIG OUT_DIR NAME=WEIGHTS ... [--rounds N]"""
import collections
import os
import sys

from ppdet.benchmark.cpu import cpu_description
from ppdet.benchmark.full_size import ab_detectors, format_ab
from ppdet.core.workspace import load_config
from ppdet.data.sample_photos import face_photos, no_face_photos
from ppdet.deploy import Detector
from ppdet.engine.export import export_checkpoint

args = sys.argv[1:]
rounds = 15
if '--rounds' in args:
    i = args.index('--rounds')
    rounds, args = int(args[i + 1]), args[:i] + args[i + 2:]
config, out_root, pairs = args[0], args[1], [a.split('=', 1) for a in args[2:]]
photos = dict(face_photos())
photos.update(no_face_photos())
images = [photos[k] for k in sorted(photos)]
print('CPU:', cpu_description())
dets = collections.OrderedDict()
for name, weights in pairs:
    out = os.path.join(out_root, name)
    export_checkpoint(load_config(config), weights, out)
    dets[name] = Detector(out, 'paddle', cpu_threads=1)
rows, _ = ab_detectors(dets, images, photos['astronaut'], rounds=rounds, warmup=3)
print('\n## %s (%d rounds interleaved, 1 thread, NMS inside)' % (os.path.basename(config), rounds))
print('\n'.join(format_ab(rows, width=28)))
for d in dets.values():
    d.close()
