"""Three Detectors of one model in one process: in place #1, in place #2, copy (the decoding
tail's reshapes, onednn_reshape_in_place on / on / off), each round all three in a rotating
order; -> the A/A ratio (#1 over #2: what two identical Detectors differ by) beside the A/B
ratios (copy over each in-place Detector).  Geometric means of the per-round ratios, 95%
bootstrap intervals.
With NO_MEMORY_OPTIM=1 the predictors run without Paddle Inference's enable_memory_optim
(the project's config has it on).
Usage: [NO_MEMORY_OPTIM=1] OMP_NUM_THREADS=1 python reshape_aab.py MODEL_DIR [ROUNDS]"""
import sys, time
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
import os
from ppdet.deploy import Detector
if os.environ.get('NO_MEMORY_OPTIM'):
    import ppdet.deploy.predictors as P
    def _settings(config):
        config.disable_glog_info()
        config.switch_ir_optim(True)
        config.switch_use_feed_fetch_ops(False)
    P._common_settings = _settings
    print('memory optim off')
d = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 120
print('CPU:', cpu_description())
img = face_photos()['astronaut']
dets = [Detector(d, 'paddle', cpu_threads=1, onednn_reshape_in_place=on)
        for on in (True, True, False)]
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


print('medians: in place #1 %.2f ms, in place #2 %.2f ms, copy %.2f ms'
      % tuple(np.median(v) for v in t))
print('A/A (#1 over #2):           ', ratio(np.log(t[0] / t[1])))
print('A/B (copy over in place #1):', ratio(np.log(t[2] / t[0])))
print('A/B (copy over in place #2):', ratio(np.log(t[2] / t[1])))
