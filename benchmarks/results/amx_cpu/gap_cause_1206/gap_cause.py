"""What does the gap before a timed run cost, and why?  YOLOv3-MobileNetV1 baseline fp32 and
r578@32 + int8 (a --quick style build, one thread) in one process; each timed run follows an
untimed run of the same model and then one kind of gap, the kinds in rotating order over the
rounds:

  none          no gap (back to back)
  other_model   an untimed run of the other model (what the table's interleaving does)
  sleep_MS      time.sleep: the core idles
  spin_MS       a Python busy-wait: the core stays busy, touching almost no memory
  avx512_MS     a busy-wait of 64x64 float32 matmuls (numpy: AVX-512 FMAs, 48 KB of data):
                keeps the core's vector units and clock under load
  l2_loop_MS    a busy-wait re-reading a 1 MB buffer (half the L2; after the first pass, no L3
                traffic)
  l3_stride_MS  a busy-wait reading one 8-byte word per 128 KB of a 1 GB buffer: a stream of
                L3 / memory reads that all land in one of the L2's 2048 sets (keeps the mesh
                and L3 busy and evicts almost nothing of ours from the L2)
  evict_l2      one read of a 16 MB buffer (> the 2 MB L2, << the 480 MB L3), no waiting
  evict_l3      one read of a 1 GB buffer (> the L3): every cached line of ours is gone
  other+sleep_50  an untimed run of the other model, then a 0.05 s sleep (the table's gap with
                two configurations)
  cold          an untimed run of the other model, one read of the 1 GB buffer and a 0.2 s sleep
                (the table's gap with its 13-30 configurations comes closer to this)

Usage: OMP_NUM_THREADS=1 python gap_cause.py WORK_DIR SIZE [ROUNDS [ROW]]
(ROW: the row timed beside the baseline, default r578@32_int8; e.g. baseline_int8)"""
import sys, time, collections
import numpy as np
from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector

work_dir, size = sys.argv[1].rstrip('/') + '/', sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
row = sys.argv[4] if len(sys.argv) > 4 else 'r578@32_int8'
names = ['yolov3_mobilenet_v1_%s_baseline' % size, 'yolov3_mobilenet_v1_%s_%s' % (size, row)]
img = face_photos()['astronaut']
print('CPU:', cpu_description())
dets = collections.OrderedDict((n.split('_', 3)[-1], Detector(work_dir + n, 'paddle',
                                                               cpu_threads=1)) for n in names)
for d in dets.values():
    d.warm_up([img], 5)
small = np.ones((64, 64), np.float32)
l2_buf = np.ones(16 << 20, np.uint8).view(np.int64)
l3_buf = np.ones(1 << 30, np.uint8).view(np.int64)


def spin(seconds, work=None):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if work is not None:
            work()


gaps = collections.OrderedDict([('none', None), ('other_model', None)])
for ms in (2, 10, 50, 200):
    gaps['sleep_%d' % ms] = (lambda s: lambda: time.sleep(s))(ms / 1e3)
    gaps['spin_%d' % ms] = (lambda s: lambda: spin(s))(ms / 1e3)
gaps['spin_0.5'] = lambda: spin(0.0005)
l2_loop = np.ones(1 << 20, np.uint8).view(np.int64)
l3_stride = l3_buf[::(128 << 10) // 8]
for ms in (10, 50):
    gaps['avx512_%d' % ms] = (lambda s: lambda: spin(s, lambda: small @ small))(ms / 1e3)
    gaps['l2_loop_%d' % ms] = (lambda s: lambda: spin(s, l2_loop.sum))(ms / 1e3)
    gaps['l3_stride_%d' % ms] = (lambda s: lambda: spin(s, l3_stride.sum))(ms / 1e3)
gaps['evict_l2'] = lambda: l2_buf.sum()
gaps['evict_l3'] = lambda: l3_buf.sum()
gaps['other+sleep_50'] = 'other_model', 0.05
gaps['cold'] = 'other_model', 'evict_l3', 0.2
t0 = time.perf_counter(); l3_stride.sum(); print('one strided pass (%d reads): %.2f ms' % (
    l3_stride.size, (time.perf_counter() - t0) * 1e3))
t0 = time.perf_counter(); l3_buf.sum(); print('one 1 GB read: %.0f ms' % ((time.perf_counter() - t0) * 1e3))
samples = collections.defaultdict(list)
keys = list(gaps)
for r in range(rounds):
    order = keys[r % len(keys):] + keys[:r % len(keys)]
    for g in order:
        for n, d in (dets.items() if r % 2 == 0 else list(dets.items())[::-1]):
            d.predict([img])  # every gap starts right after a run of the model it times
            for step in (gaps[g] if isinstance(gaps[g], tuple) else (g,)):
                if step == 'none':
                    pass
                elif step == 'other_model':
                    [o for k, o in dets.items() if k != n][0].predict([img])
                elif isinstance(step, float):
                    time.sleep(step)
                else:
                    gaps[step]()
            t0 = time.perf_counter(); d.predict([img])
            samples[(n, g)].append((time.perf_counter() - t0) * 1e3)
            for st in ('preprocess', 'inference', 'postprocess'):
                samples[(n, g, st)].append(d.timer.samples[st][-1])
print('median ms over %d rounds (the runs after each kind of gap), size %s' % (rounds, size))
base, pruned = list(dets)
print('%-15s %12s %8s %12s %8s %9s' % ('gap', base[:12], '+ms', pruned[:12], '+ms', 'speed-up'))
ref = [np.median(samples[(n, 'none')]) for n in dets]
for g in keys:
    m = [np.median(samples[(n, g)]) for n in dets]
    print('%-15s %12.2f %+8.2f %12.2f %+8.2f %8.2fx' % (g, m[0], m[0] - ref[0], m[1], m[1] - ref[1],
                                                     m[0] / m[1]))
print('the same runs by stage (median ms, + over none)')
print('%-15s' % 'gap' + ''.join('%9s %6s' % (st[:9], '+ms') for st in ('pre', 'inference',
                                                                       'post') for n in dets))
print('%-15s' % '' + ''.join('%16s' % n[:14] for st in range(3) for n in dets))
for g in keys:
    cells = []
    for st in ('preprocess', 'inference', 'postprocess'):
        for n in dets:
            m, r = np.median(samples[(n, g, st)]), np.median(samples[(n, 'none', st)])
            cells.append('%9.2f %+6.2f' % (m, m - r))
    print('%-15s' % g + ''.join(cells))
