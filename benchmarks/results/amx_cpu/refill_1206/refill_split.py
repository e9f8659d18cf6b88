"""The cold cost of the smallest Paddle Inference run: one 1x1 conv (16 channels, 10x10),
one thread, oneDNN on and off, split into the input copy, run() and the output copy; and numpy
work of the same size (a scale, add, clip and sum).  Gaps and medians as refill_ops.py; the
columns are the stages in ms.

Usage: OMP_NUM_THREADS=1 python refill_split.py [ROUNDS]"""
from ppdet.benchmark.cpu import cpu_description
import os, shutil, sys, tempfile, time, collections, numpy as np, paddle
from paddle.inference import Config, create_predictor
TMP = tempfile.mkdtemp(prefix='refill_split_')
conv = paddle.nn.Conv2D(16, 16, 1)
path = os.path.join(TMP, 'one')
paddle.jit.save(paddle.jit.to_static(conv, input_spec=[paddle.static.InputSpec([1, 16, 10, 10], 'float32', 'x')]), path)
print('CPU:', cpu_description())
preds = {}
for mk in (True, False):
    c = Config(path + '.pdmodel', path + '.pdiparams'); c.disable_gpu(); c.set_cpu_math_library_num_threads(1)
    if mk: c.enable_mkldnn()
    c.disable_glog_info(); preds['onednn' if mk else 'native'] = create_predictor(c)
x = np.random.rand(1, 16, 10, 10).astype('float32')
handles = {k: (p.get_input_handle('x'), p.get_output_handle(p.get_output_names()[0])) for k, p in preds.items()}
def stages(k):
    p = preds[k]; ih, oh = handles[k]
    t0 = time.perf_counter(); ih.copy_from_cpu(x)
    t1 = time.perf_counter(); p.run()
    t2 = time.perf_counter(); oh.copy_to_cpu()
    t3 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3
def numpy_work():
    t0 = time.perf_counter(); np.maximum(x * 2.0 + 1.0, 0).sum(axis=(2, 3)); return ((time.perf_counter() - t0) * 1e3,)
jobs = {'onednn': lambda: stages('onednn'), 'native': lambda: stages('native'), 'numpy': numpy_work}
for j in jobs.values():
    for _ in range(50): j()
buf = np.ones(1 << 30, np.uint8).view(np.int64)
gaps = {'none': lambda: None, 'evict_l3': buf.sum, 'sleep_50': lambda: time.sleep(0.05)}
t = collections.defaultdict(list)
for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 20):
    for g, f in gaps.items():
        for name, j in jobs.items():
            j(); f(); t[name, g].append(j())
for name in jobs:
    for g in gaps:
        a = np.median(np.array(t[name, g]), axis=0)
        print('%-7s %-9s ' % (name, g) + ' '.join('%.4f' % v for v in a), ' sum %.4f' % a.sum())
shutil.rmtree(TMP)
