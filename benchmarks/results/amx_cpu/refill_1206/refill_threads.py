"""The cold case at 1 and 2 threads: YOLOv3-MobileNetV1 r578@32 (fp32) and r578@32 + int8 on
Paddle Inference (oneDNN), THREADS threads, the whole Detector pass on the astronaut photo.
Each timed run follows a run of the same model and then a gap: none (warm), a 50 ms sleep, a
0.3 s sleep (the full-size table's pause at 2 threads and more: longer than the OpenMP
workers' 200 ms spin), or one read of a 1 GB buffer (evicts the L3; ~60 ms, inside the spin).
Medians of ROUNDS rounds, the rows in alternating order.

Usage: OMP_NUM_THREADS=THREADS python refill_threads.py WORK_DIR SIZE THREADS [ROUNDS]"""
import collections, sys, time
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector

work_dir, size, threads = sys.argv[1].rstrip('/') + '/', sys.argv[2], int(sys.argv[3])
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 16
base = work_dir + 'yolov3_mobilenet_v1_%s_r578@32' % size
print('CPU:', cpu_description(), '; threads:', threads)
rows = collections.OrderedDict([
    ('r578@32 fp32', Detector(base, 'paddle', cpu_threads=threads)),
    ('r578@32 int8', Detector(base + '_int8', 'paddle', cpu_threads=threads)),
])
img = face_photos()['astronaut']
for d in rows.values():
    d.warm_up([img], 10)
buf = np.ones(1 << 30, np.uint8).view(np.int64)
gaps = collections.OrderedDict([('none', lambda: None), ('sleep_50', lambda: time.sleep(0.05)),
                                ('sleep_300', lambda: time.sleep(0.3)), ('evict_l3', buf.sum)])
t = collections.defaultdict(list)
for r in range(rounds):
    for g, f in gaps.items():
        for name, d in (list(rows.items()) if r % 2 == 0 else list(rows.items())[::-1]):
            d.predict([img]); f()
            t0 = time.perf_counter(); d.predict([img]); t[name, g].append((time.perf_counter() - t0) * 1e3)
print('%-14s %8s %8s %8s %8s' % ('row (ms)', *gaps))
for name in rows:
    m = [np.median(t[name, g]) for g in gaps]
    print('%-14s %8.2f' % (name, m[0]) + ''.join(' %+8.2f' % (v - m[0]) for v in m[1:]))
