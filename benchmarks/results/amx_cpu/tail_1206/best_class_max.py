"""The best-class maximum of a [1, N, 80] score tensor (the candidate bound's ranking) five
ways on Paddle Inference with oneDNN, one thread, 300 interleaved rounds: reduce_amax (what
the export runs), a 1x80 max pool, amax over 5 x 16 then 5, top-k 1, amax over rows of 16
then 5.  N = 17328 is the 76x76 scale at 608.

Usage: OMP_NUM_THREADS=1 python best_class_max.py N"""
import os, shutil, sys, tempfile, time, numpy as np, paddle
TMP = tempfile.mkdtemp(prefix='best_class_max_')
N = int(sys.argv[1]); C = 80
variants = {
 'amax': lambda x: paddle.amax(x, axis=2),
 'max_pool': lambda x: paddle.nn.functional.max_pool2d(x.unsqueeze(1), [1, C], [1, C]).reshape([1, N]),
 'split16': lambda x: paddle.amax(paddle.amax(x.reshape([1, N, 5, 16]), axis=2), axis=2),
 'topk1': lambda x: paddle.topk(x, 1, axis=2)[0].reshape([1, N]),
 'max5': lambda x: paddle.amax(x.reshape([1, N * 5, 16]), axis=2).reshape([1, N, 5]).max(axis=2),
}
class L(paddle.nn.Layer):
    def __init__(self, f):
        super().__init__(); self.f = f
    def forward(self, x):
        return self.f(x)
from paddle.inference import Config, create_predictor
x = np.random.RandomState(0).rand(1, N, C).astype('float32')
ref = x.max(2)
preds = {}
for k, f in variants.items():
    path = os.path.join(TMP, k)
    paddle.jit.save(paddle.jit.to_static(L(f), input_spec=[paddle.static.InputSpec([1, N, C], 'float32', 'x')]), path)
    c = Config(); c.set_prog_file(path + '.pdmodel'); c.disable_gpu(); c.set_cpu_math_library_num_threads(1)
    c.enable_mkldnn(); c.disable_glog_info()
    p = create_predictor(c); preds[k] = p
    p.get_input_handle('x').copy_from_cpu(x); p.run()
    out = p.get_output_handle(p.get_output_names()[0]).copy_to_cpu()
    print(k, 'equal', np.array_equal(out.reshape(ref.shape), ref))
t = {k: [] for k in preds}
for r in range(300):
    for k, p in preds.items():
        p.get_input_handle('x').copy_from_cpu(x)
        t0 = time.perf_counter(); p.run(); t[k].append((time.perf_counter() - t0) * 1e3)
for k in t: print('%-9s median %.3f min %.3f' % (k, np.median(t[k]), np.min(t[k])))
shutil.rmtree(TMP)
