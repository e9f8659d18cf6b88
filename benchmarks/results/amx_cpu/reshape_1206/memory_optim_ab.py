"""Paddle Inference's enable_memory_optim (on in the project's config) against off: three
Detectors of one model in one process, on #1, on #2 and off, each round all three in a rotating
order; the A/A ratio (#1 over #2) beside off over each.  Geometric means of the per-round
ratios, 95% bootstrap intervals.
Usage: OMP_NUM_THREADS=1 python memory_optim_ab.py MODEL_DIR [ROUNDS]"""
import sys, time
import numpy as np
import ppdet.deploy.predictors as P
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector
d = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 120
print('CPU:', cpu_description())
img = face_photos()['astronaut']
dets = [Detector(d, 'paddle', cpu_threads=1), Detector(d, 'paddle', cpu_threads=1)]
orig = P._common_settings
def _settings(config):
    config.disable_glog_info()
    config.switch_ir_optim(True)
    config.switch_use_feed_fetch_ops(False)
P._common_settings = _settings
dets.append(Detector(d, 'paddle', cpu_threads=1))
P._common_settings = orig
outs = [x.predict([img])[0] for x in dets]
print('detections equal:', all(np.array_equal(outs[0], o) for o in outs[1:]))
for x in dets:
    x.warm_up([img], 10)
t = [[], [], []]
orders = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)]
for r in range(rounds):
    for k in orders[r % 6]:
        t0 = time.perf_counter(); dets[k].predict([img])
        t[k].append((time.perf_counter() - t0) * 1e3)
t = [np.array(v) for v in t]
rs = np.random.RandomState(0)
def ratio(lr):
    boot = [np.exp(lr[rs.randint(0, len(lr), len(lr))].mean()) for _ in range(2000)]
    return '%.4fx (%.4f-%.4f)' % (np.exp(lr.mean()), np.percentile(boot, 2.5),
                                  np.percentile(boot, 97.5))
print('medians: on #1 %.2f, on #2 %.2f, off %.2f ms' % tuple(np.median(v) for v in t))
print('A/A (on #1 over on #2):', ratio(np.log(t[0] / t[1])))
print('off over on #1:', ratio(np.log(t[2] / t[0])))
print('off over on #2:', ratio(np.log(t[2] / t[1])))
