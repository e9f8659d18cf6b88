"""The cold refill of the real model on two runtimes: YOLOv3-MobileNetV1 r578@32 (fp32) and
r578@32 + int8 on Paddle Inference (oneDNN) and onnxruntime (the same exports), one thread,
the whole Detector pass on the astronaut photo.  Each timed run follows a run of the same model
and then a gap: none (warm), one read of a 1 GB buffer (evicts the L3), or a 50 ms sleep.
Medians of ROUNDS rounds, the rows in alternating order.

Usage: OMP_NUM_THREADS=1 python refill_runtimes.py WORK_DIR SIZE [ROUNDS]"""
import collections, sys, time
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector

work_dir, size = sys.argv[1].rstrip('/') + '/', sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
base = work_dir + 'yolov3_mobilenet_v1_%s_r578@32' % size
print('CPU:', cpu_description())
rows = collections.OrderedDict([
    ('paddle fp32', Detector(base, 'paddle', cpu_threads=1)),
    ('onnxruntime fp32', Detector(base, 'onnx', cpu_threads=1)),
    ('paddle int8', Detector(base + '_int8', 'paddle', cpu_threads=1)),
    ('onnxruntime int8', Detector(base, 'onnx', cpu_threads=1, onnx_file=base + '/model_int8.onnx')),
])
img = face_photos()['astronaut']
for d in rows.values():
    d.warm_up([img], 10)
buf = np.ones(1 << 30, np.uint8).view(np.int64)
gaps = collections.OrderedDict([('none', lambda: None), ('evict_l3', buf.sum),
                                ('sleep_50', lambda: time.sleep(0.05))])
t = collections.defaultdict(list)
for r in range(rounds):
    for g, f in gaps.items():
        for name, d in (list(rows.items()) if r % 2 == 0 else list(rows.items())[::-1]):
            d.predict([img]); f()
            t0 = time.perf_counter(); d.predict([img]); t[name, g].append((time.perf_counter() - t0) * 1e3)
print('%-17s %8s %8s %8s %8s %8s' % ('row (ms)', 'warm', 'evict', 'sleep50', '+evict', '+sleep50'))
for name in rows:
    m = {g: np.median(t[name, g]) for g in gaps}
    print('%-17s %8.2f %8.2f %8.2f %8.2f %8.2f' % (name, m['none'], m['evict_l3'], m['sleep_50'],
          m['evict_l3'] - m['none'], m['sleep_50'] - m['none']))
