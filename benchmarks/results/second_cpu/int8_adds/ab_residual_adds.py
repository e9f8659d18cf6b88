"""A/B, one process, interleaved: full-size BlazeFace(-Lite) int8 with the residual adds in
fp32 (the default) against int8 with them quantized (quantize_residual_adds=True), beside
fp32, bf16 and the default int8 without the add + ReLU fusion that paddle_cpu_config now
inserts into Paddle's int8 pass list (as before); detection agreement with fp32 on the six
sample photos.  Both int8 builds are
calibrated (abs_max) on the same photos, from the same fp32 export (trained-like head,
benchmarks/full_size_latency.py).  ``--outputs``: one more int8 build, with the declared
float-only output convs quantized too.  Usage: python ab_residual_adds.py [--algo mse]
[--outputs] OUT_DIR WORK_DIR:ROW ..."""
import collections
import os
import sys

import ppdet.deploy.predictors as P

from ppdet.benchmark.cpu import cpu_description
from ppdet.benchmark.full_size import ab_detectors, format_ab
from ppdet.data.sample_photos import face_photos, no_face_photos
from ppdet.deploy import Detector
from ppdet.slim.quant import quantize_post
from ppdet.utils.fileio import read_json

photos = dict(face_photos())
photos.update(no_face_photos())
images = [photos[k] for k in sorted(photos)]
args = sys.argv[1:]
algo, outputs = 'abs_max', False
while args[0].startswith('--'):
    if args[0] == '--outputs':
        outputs, args = True, args[1:]
    else:
        algo, args = args[1], args[2:]
print('CPU:', cpu_description(), '| PTQ:', algo)
out_root = args[0]
for arg in args[1:]:
    work, name = arg.split(':')
    row = read_json(os.path.join(work, 'manifest.json'))['rows'][name]
    builds = {}
    variants = [('int8', False, False), ('int8 + residual adds', True, False)]
    if outputs:
        variants.append(('int8 + adds + output convs', True, True))
    for key, adds, outs in variants:
        builds[key] = quantize_post(row['dir'], images, os.path.join(out_root, name + (
            '_int8_adds' if adds else '_int8') + ('_outputs' if outs else '') + '_' + algo),
            algo=algo, batch_nums=len(images), calibration_source='sample photos',
            quantize_residual_adds=adds, quantize_float_only=outs)
    dets = collections.OrderedDict()
    dets['fp32'] = Detector(row['dir'], 'paddle', cpu_threads=1)
    dets['bf16'] = Detector(row['dir'], 'paddle', cpu_threads=1, enable_mkldnn_bfloat16=True)
    fuse = P._fuse_elementwise_activations
    P._fuse_elementwise_activations = lambda config: None
    dets['int8, no add+ReLU fusion'] = Detector(builds['int8'], 'paddle', cpu_threads=1)
    P._fuse_elementwise_activations = fuse
    for key, path in builds.items():
        dets[key] = Detector(path, 'paddle', cpu_threads=1)
    rows, _ = ab_detectors(dets, images, photos['astronaut'], rounds=15, warmup=3)
    print('\n## %s (15 rounds interleaved, 1 thread)' % name)
    print('\n'.join(format_ab(rows, width=28)))
    for d in dets.values():
        d.close()
