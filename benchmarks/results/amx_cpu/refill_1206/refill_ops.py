"""Is the cold refill of a Paddle Inference run the model's data or Paddle's own code?
Chains of K 1x1 convs (each + ReLU) on a 10x10 map, fp32, oneDNN, one thread:
distinct shapes (16..16+K channels: every conv its own oneDNN kernel), one shape (64 channels:
one kernel shared), or wide (256 channels: 4-16x the weight bytes of the others at the same
K).  Each timed run follows a run of the same model and then a gap: none (warm), one read of
a 1 GB buffer (evicts the L3), or a 50 ms sleep.  Medians of ROUNDS rounds.

Usage: OMP_NUM_THREADS=1 python refill_ops.py [ROUNDS]"""
from ppdet.benchmark.cpu import cpu_description
import os, shutil, sys, tempfile, time, collections, numpy as np, paddle
from paddle.inference import Config, create_predictor
TMP = tempfile.mkdtemp(prefix='refill_ops_')
HW = 10
def chain(channels):
    class L(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.convs = paddle.nn.LayerList([paddle.nn.Conv2D(a, b, 1) for a, b in zip(channels[:-1], channels[1:])])
        def forward(self, x):
            for c in self.convs:
                x = paddle.nn.functional.relu(c(x))
            return x
    return L()
models = collections.OrderedDict()
for K in (1, 4, 24, 96):
    models['distinct_%d' % K] = [16 + i for i in range(K + 1)]
    models['same_%d' % K] = [64] * (K + 1)
for K in (24, 96):
    models['wide_%d' % K] = [256] * (K + 1)
print('CPU:', cpu_description())
preds = {}
for name, ch in models.items():
    path = os.path.join(TMP, name)
    paddle.jit.save(paddle.jit.to_static(chain(ch), input_spec=[paddle.static.InputSpec([1, ch[0], HW, HW], 'float32', 'x')]), path)
    c = Config(path + '.pdmodel', path + '.pdiparams'); c.disable_gpu(); c.set_cpu_math_library_num_threads(1)
    c.enable_mkldnn(); c.disable_glog_info()
    p = create_predictor(c)
    x = np.random.rand(1, ch[0], HW, HW).astype('float32')
    preds[name] = (p, x)
    w = sum(a * b for a, b in zip(ch[:-1], ch[1:])) * 4
    print(name, 'weights %.2f MB' % (w / 2**20))
def run(p, x):
    p.get_input_handle('x').copy_from_cpu(x); p.run()
for p, x in preds.values():
    for _ in range(20): run(p, x)
buf = np.ones(1 << 30, np.uint8).view(np.int64)
gaps = {'none': lambda: None, 'evict_l3': buf.sum, 'sleep_50': lambda: time.sleep(0.05)}
t = collections.defaultdict(list)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
for r in range(rounds):
    for g, f in gaps.items():
        for name, (p, x) in preds.items():
            run(p, x); f()
            t0 = time.perf_counter(); run(p, x); t[name, g].append((time.perf_counter() - t0) * 1e3)
print('%-12s %8s %8s %8s %9s %9s %9s' % ('model (ms)', 'warm', 'evict', 'sleep50', '+evict', 'evict/op', 'sleep/op'))
print('(per op: us)')
for name, ch in models.items():
    K = len(ch) - 1
    m = {g: np.median(t[name, g]) for g in gaps}
    print('%-12s %8.3f %8.3f %8.3f %9.3f %9.1f %9.1f' % (name, m['none'], m['evict_l3'], m['sleep_50'],
          m['evict_l3'] - m['none'], (m['evict_l3'] - m['none']) / K * 1e3, (m['sleep_50'] - m['none']) / K * 1e3))
shutil.rmtree(TMP)
