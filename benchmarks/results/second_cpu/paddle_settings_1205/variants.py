import sys, time, os, statistics
import ppdet.deploy.predictors as P
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos
variant = sys.argv[1]; size = sys.argv[2]
orig = P._common_settings
def patched(config):
    orig(config)
    if variant == 'newexec':
        config.enable_new_executor(True)
    if variant == 'cache0':
        config.set_mkldnn_cache_capacity(0)
    if variant == 'nomemopt':
        config.enable_memory_optim(False)
P._common_settings = patched
img = face_photos()['astronaut']
names = ['baseline', 'r578@32']
dets = {n: Detector('/tmp/i17/work/yolov3_mobilenet_v1_%s_%s' % (size, n), cpu_threads=1) for n in names}
for d in dets.values(): d.warm_up([img], 5)
times = {n: [] for n in names}
for r in range(int(sys.argv[3])):
    for n in names:
        d = dets[n]
        for k in range(3):
            t = time.perf_counter(); d.predict([img]); times[n].append((time.perf_counter()-t)*1e3)
med = {n: statistics.median(v) for n, v in times.items()}
print(variant, size, ' '.join('%s %.2f' % kv for kv in med.items()), 'ratio %.3f' % (med['baseline']/med['r578@32']), flush=True)
