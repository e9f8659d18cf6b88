"""A/B, one process, interleaved: bf16 with Paddle's own placement (every op type with a
oneDNN bf16 kernel, the decoding too) against bf16 on the network only (the decoding in
fp32, ppdet.deploy.onednn_bf16); agreement with fp32 on six photos, and, for scale, fp32's
agreement with itself when every input pixel moves by +-1."""
import sys, collections
import numpy as np
import ppdet.deploy.onednn_bf16 as B
import ppdet.deploy.predictors as P
from ppdet.benchmark.full_size import ab_detectors, format_ab, matched_share
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos, no_face_photos
from ppdet.benchmark.cpu import cpu_description
from ppdet.utils.fileio import read_json

mark, off, req = B.mark_network_bf16, B.PLACEMENT_OFF, P._require_bf16_marks
def paddle_placement(on):
    B.mark_network_bf16 = (lambda block: 0) if on else mark
    B.PLACEMENT_OFF = set() if on else off       # empty: Paddle's default, every type
    P._require_bf16_marks = (lambda f: None) if on else req
photos = dict(face_photos()); photos.update(no_face_photos())
images = [photos[k] for k in sorted(photos)]
rng = np.random.RandomState(0)
noisy = [np.clip(im.astype(np.int16) + rng.randint(-1, 2, im.shape), 0, 255).astype(np.uint8)
         for im in images]
print('CPU:', cpu_description())
for arg in sys.argv[1:]:
    work, name = arg.split(':')
    row = read_json(work + '/manifest.json')['rows'][name]
    dets = collections.OrderedDict()
    dets['fp32'] = Detector(row['dir'], 'paddle', cpu_threads=1)
    paddle_placement(True)
    dets['bf16, Paddle placement (decoding bf16)'] = Detector(
        row['dir'], 'paddle', cpu_threads=1, enable_mkldnn_bfloat16=True)
    paddle_placement(False)
    dets['bf16, network only (decoding fp32)'] = Detector(
        row['dir'], 'paddle', cpu_threads=1, enable_mkldnn_bfloat16=True)
    rounds = 6 if row['input_size'] >= 700 else 12
    rows, preds = ab_detectors(dets, images, photos['astronaut'], rounds)
    noisy_preds = [dets['fp32'].predict([im])[0] for im in noisy]
    print('\n## %s (%d rounds interleaved, 1 thread)' % (name, rounds))
    print('\n'.join(format_ab(rows, width=42)))
    print('%-42s %28s %.0f%%' % ('fp32, every input pixel +-1', '',
                                  100 * matched_share(preds['fp32'], noisy_preds)))
    for d in dets.values():
        d.close()
