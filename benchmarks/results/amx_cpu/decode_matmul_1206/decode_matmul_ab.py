"""A/B of two model dirs: OMP_NUM_THREADS=1 python ab.py DIR_A DIR_B [ROUNDS [THREADS]]"""
import sys, time
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector
a_dir, b_dir = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 60
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
print('CPU:', cpu_description())
img = face_photos()['astronaut']
dets = [Detector(d, 'paddle', cpu_threads=threads) for d in (a_dir, b_dir)]
outs = [d.predict([img])[0] for d in dets]
print('detections equal:', np.array_equal(outs[0], outs[1]), outs[0].shape,
      'max abs diff', np.abs(outs[0] - outs[1]).max() if outs[0].shape == outs[1].shape else '-')
for d in dets:
    d.warm_up([img], 10)
t = [[], []]
for r in range(rounds):
    for k in ((0, 1) if r % 2 == 0 else (1, 0)):
        t0 = time.perf_counter(); dets[k].predict([img])
        t[k].append((time.perf_counter() - t0) * 1e3)
a, b = np.array(t[0]), np.array(t[1])
lr = np.log(a / b)
rs = np.random.RandomState(0)
boot = [np.exp(lr[rs.randint(0, len(lr), len(lr))].mean()) for _ in range(2000)]
print('A %.2f ms  B %.2f ms  A/B %.4fx (%.4f-%.4f)' % (np.median(a), np.median(b),
      np.exp(lr.mean()), np.percentile(boot, 2.5), np.percentile(boot, 97.5)))
