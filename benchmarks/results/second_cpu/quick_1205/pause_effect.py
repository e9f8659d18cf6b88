"""Does the sleep before each timed run change the latency?  YOLOv3-MobileNetV1 baseline fp32
and r578@32 + int8 (output/issue17/quick_vnni_1204) in one process, 1 thread: per pause, 6
runs of each back to back (the first dropped) and 5 interleaved rounds, pauses in alternating
order over the rounds.  Usage: OMP_NUM_THREADS=1 python pause_effect.py SIZE [ROUNDS [WORK_DIR]]
(WORK_DIR: another build of the quick grid, e.g. output/issue17/quick_amx_1206/ on the AMX CPU)"""
import sys, time, collections
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector

W = sys.argv[3] if len(sys.argv) > 3 else 'output/issue17/quick_vnni_1204/'
size = sys.argv[1]
names = ['yolov3_mobilenet_v1_%s_baseline' % size, 'yolov3_mobilenet_v1_%s_r578@32_int8' % size]
img = face_photos()['astronaut']
print('CPU:', cpu_description())
dets = collections.OrderedDict((n.split('_', 3)[-1], Detector(W + n, 'paddle', cpu_threads=1)) for n in names)
for d in dets.values():
    d.warm_up([img], 5)
pauses = [0.0, 0.002, 0.01, 0.05, 0.2]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
samples = {(n, p, m): [] for n in dets for p in pauses for m in ('b2b', 'inter')}
for r in range(rounds):
    for p in (pauses if r % 2 == 0 else pauses[::-1]):
        # back to back: 5 runs of one model, each after the pause
        for n, d in dets.items():
            for i in range(6):
                if p: time.sleep(p)
                t0 = time.perf_counter(); d.predict([img]); dt = (time.perf_counter() - t0) * 1e3
                if i: samples[(n, p, 'b2b')].append(dt)
        # interleaved: alternate models, each after the pause
        for i in range(5):
            for n, d in (dets.items() if i % 2 == 0 else list(dets.items())[::-1]):
                if p: time.sleep(p)
                t0 = time.perf_counter(); d.predict([img]); samples[(n, p, 'inter')].append((time.perf_counter() - t0) * 1e3)
print('median ms (n=%d each)' % len(samples[(list(dets)[0], 0.0, 'b2b')]))
print('%-8s %-6s %10s %10s %10s' % ('pause', 'order', *[n[:10] for n in dets], 'speed-up'))
for p in pauses:
    for m in ('b2b', 'inter'):
        meds = [np.median(samples[(n, p, m)]) for n in dets]
        print('%-8g %-6s %10.2f %10.2f %9.2fx' % (p, m, meds[0], meds[1], meds[0] / meds[1]))
