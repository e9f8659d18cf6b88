"""The Paddle-Lite check (ppdet.benchmark.full_size_lite) on the face job's exports: trained
BlazeFace-Lite weights on the built-in face set, fp32 and every int8 flavour (PTQ abs_max and
mse, with and without the residual adds in int8, QAT, QAT with the adds).

Usage: python face_job_lite.py INFERENCE_DIR OUT_MD   (e.g. output/adds_face/inference)"""
import collections
import os
import sys

import yaml

from ppdet.benchmark.cpu import cpu_description
from ppdet.benchmark.full_size_lite import format_lite_checks, lite_checks
from ppdet.data.sample_photos import face_photos, no_face_photos

root, out = sys.argv[1], sys.argv[2]
rows = collections.OrderedDict()
for name in sorted(os.listdir(root)):
    with open(os.path.join(root, name, 'infer_cfg.yml')) as f:
        cfg = yaml.safe_load(f)
    rows[name] = {'dir': os.path.join(root, name), 'config': 'face job (%s)' % cfg['arch'],
                  'input_size': cfg['image_shape'][-1], 'strategy': name,
                  'int8': bool(cfg.get('quantized')), 'fuse_preprocess': True}
photos = dict(face_photos())
photos.update(no_face_photos())
checks = lite_checks({'rows': rows}, [photos[k] for k in sorted(photos)], photos['astronaut'])
with open(out, 'w') as f:
    f.write('# Paddle-Lite check of the face job\'s exports (%s)\n\nCPU: %s\n%s'
            % (root, cpu_description(), format_lite_checks(checks)))
print(open(out).read())
