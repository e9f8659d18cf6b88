"""Do transparent huge pages change the fp32 baseline, r578@32 and r578@32 + int8 of a
--quick style build, warm (20 runs back to back) and cold (15 interleaved rounds, a 50 ms
sleep before each run, as the table times)?  Run it alternately without and with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc >= 2.35: malloc asks for THP with madvise, which
this kernel's THP mode, madvise, then grants); one JSON line of medians per process, with the
process's AnonHugePages.

Usage: [GLIBC_TUNABLES=glibc.malloc.hugetlb=1] OMP_NUM_THREADS=1 python thp_ab.py WORK_DIR SIZE"""
import sys, time, json
import numpy as np
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Detector
wd, size = sys.argv[1], sys.argv[2]
img = face_photos()['astronaut']
dets = {k: Detector('%s/yolov3_mobilenet_v1_%s_%s' % (wd, size, k), 'paddle', cpu_threads=1)
        for k in ('baseline', 'r578@32', 'r578@32_int8')}
for d in dets.values():
    d.warm_up([img], 5)
res = {}
for k, d in dets.items():          # warm: back to back
    t = []
    for _ in range(20):
        t0 = time.perf_counter(); d.predict([img]); t.append((time.perf_counter() - t0) * 1e3)
    res[k + ':warm'] = float(np.median(t))
cold = {k: [] for k in dets}
for _ in range(15):                # the table's way: interleaved, 50 ms sleep before each
    for k, d in dets.items():
        time.sleep(0.05)
        t0 = time.perf_counter(); d.predict([img]); cold[k].append((time.perf_counter() - t0) * 1e3)
for k in dets:
    res[k + ':cold'] = float(np.median(cold[k]))
with open('/proc/self/smaps_rollup') as f:
    res['anon_huge_kb'] = [int(l.split()[1]) for l in f if l.startswith('AnonHugePages')][0]
print(json.dumps(res))
