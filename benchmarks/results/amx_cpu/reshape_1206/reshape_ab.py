"""The decoding tail's reshapes in place (ppdet/deploy/onednn_reshape.py) against the copy:
YOLOv3-MobileNetV1 baseline fp32 and r578@32 + int8 at SIZE, each as two Detectors in one
process (onednn_reshape_in_place on / off), one thread, the whole pass on the astronaut photo.
Each round times every Detector once, back to back, the on / off order alternating between
rounds; the gain is the geometric mean of the per-round ratios off / on (the two orders
weigh the same) with the medians beside it.  The detections are compared first.

Usage: OMP_NUM_THREADS=1 python reshape_ab.py WORK_DIR SIZE [ROUNDS [MODEL [ROWS]]]
(MODEL default yolov3_mobilenet_v1, ROWS default baseline,r578@32_int8; e.g. retinanet_r50_fpn
baseline,baseline_int8)"""
import collections, sys, time
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector

work_dir, size = sys.argv[1].rstrip('/') + '/', sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 60
model = sys.argv[4] if len(sys.argv) > 4 else 'yolov3_mobilenet_v1'
row_names = (sys.argv[5] if len(sys.argv) > 5 else 'baseline,r578@32_int8').split(',')
print('CPU:', cpu_description())
img = face_photos()['astronaut']
models = collections.OrderedDict()
for row in row_names:
    d = work_dir + '%s_%s_%s' % (model, size, row)
    models[row] = {on: Detector(d, 'paddle', cpu_threads=1, onednn_reshape_in_place=on)
                   for on in (True, False)}
    a, b = (m.predict([img])[0] for m in models[row].values())
    print(row, 'detections equal:', np.array_equal(a, b), a.shape)
    for m in models[row].values():
        m.warm_up([img], 10)
t = collections.defaultdict(list)
for r in range(rounds):
    for row, pair in models.items():
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            t0 = time.perf_counter(); pair[on].predict([img])
            t[row, on].append((time.perf_counter() - t0) * 1e3)
print('%-14s %12s %12s %s' % ('row', 'in place', 'copy', 'gain (geomean of off/on, 95% bootstrap)'))
rs = np.random.RandomState(0)
for row in models:
    on, off = np.array(t[row, True]), np.array(t[row, False])
    lr = np.log(off / on)
    boot = [np.exp(lr[rs.randint(0, len(lr), len(lr))].mean()) for _ in range(2000)]
    print('%-14s %9.2f ms %9.2f ms %.4fx (%.4f-%.4f)' % (row, np.median(on), np.median(off),
          np.exp(lr.mean()), np.percentile(boot, 2.5), np.percentile(boot, 97.5)))
