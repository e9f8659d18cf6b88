"""YOLOv3's post-conv tail (box decoding, candidate bound, NMS) as the export builds it
(``concat``: the three scales' scores concatenated, their best-class maximum, top-k rows
gathered from a reshaped copy) against a per-scale bound (``per_scale``: each scale's maximum
right after its ``yolo_box``, the rows gathered from each scale with ``gather_nd``: no concat
and no reshape of the full score tensor).  Standalone programs fed head maps of a trained-like
head (1% of boxes sure), on Paddle Inference with oneDNN (the export's reduce_max rewrite
applied), one thread, 200 interleaved rounds; the outputs are compared first.

Usage: OMP_NUM_THREADS=1 python per_scale_bound.py SIZE"""
import sys, time
import numpy as np
import paddle
from ppdet.modeling.post_process import YOLOBox, MultiClassNMS

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 608
ANCH = [[116, 90, 156, 198, 373, 326], [30, 61, 62, 45, 59, 119], [10, 13, 16, 30, 33, 23]]
dec = YOLOBox(conf_thresh=0.005, num_classes=80)
nms = MultiClassNMS(score_threshold=0.01, nms_top_k=1000, keep_top_k=100, pre_nms_top_k=1000)


def per_scale(outs, im_shape, scale_factor):
    origin = paddle.floor(im_shape / scale_factor + 0.5).astype('int32')
    boxes, scores, maxima = [], [], []
    for i, (o, a) in enumerate(zip(outs, ANCH)):
        b, s = paddle.vision.ops.yolo_box(o, origin, a, 80, 0.005, 32 // 2 ** i,
                                          clip_bbox=True, scale_x_y=1.0)
        boxes.append(b); scores.append(s); maxima.append(s.max(axis=2))
    boxes = paddle.concat(boxes, axis=1)
    best = paddle.concat(maxima, axis=1)
    k, n = 1000, boxes.shape[1]
    idx = paddle.topk(best, k, axis=1)[1]                                   # [B,K]
    bi = paddle.arange(paddle.shape(idx)[0], dtype=idx.dtype).unsqueeze(-1)
    rows = (idx + bi * n).reshape([-1])
    bb = paddle.gather(boxes.reshape([-1, 4]), rows).reshape([-1, k, 4])
    bi = paddle.expand_as(bi, idx)
    sc, off = None, 0
    for s in scores:
        m = s.shape[1]
        local = paddle.clip(idx - off, 0, m - 1)
        g = paddle.gather_nd(s, paddle.stack([bi, local], axis=-1))          # [B,K,C]
        if sc is None:
            sc = g
        else:
            sc = paddle.where((idx >= off).unsqueeze(-1), g, sc)
        off += m
    floor = paddle.topk(sc.reshape([-1, k * 80]), k, axis=1)[0][:, k - 1:k].unsqueeze(-1)
    sc = paddle.where(sc >= floor, sc, paddle.zeros_like(sc))
    return nms._nms(bb, sc.transpose([0, 2, 1]))


def concat_variant(outs, im_shape, scale_factor):
    b, s = dec.decode_rows(outs, ANCH, im_shape, scale_factor)
    return nms.nms_rows(b, s)


class Tail(paddle.nn.Layer):
    def __init__(self, fn):
        super().__init__(); self.fn = fn
    def forward(self, o0, o1, o2, im_shape, scale_factor):
        return self.fn([o0, o1, o2], im_shape, scale_factor)


def save(fn, path):
    g = [SIZE // 32, SIZE // 16, SIZE // 8]
    spec = [paddle.static.InputSpec([None, 255, h, h], 'float32', 'o%d' % i) for i, h in enumerate(g)]
    spec += [paddle.static.InputSpec([None, 2], 'float32', 'im_shape'),
             paddle.static.InputSpec([None, 2], 'float32', 'scale_factor')]
    paddle.jit.save(paddle.jit.to_static(Tail(fn), input_spec=spec), path)


def predictor(path):
    from paddle.inference import Config, create_predictor
    from ppdet.deploy.onednn_group_norm import program_for_onednn
    import shutil
    model_file, tmp, _ = program_for_onednn(path + '.pdmodel')
    c = Config(); c.set_prog_file(model_file)
    c.disable_gpu(); c.set_cpu_math_library_num_threads(1); c.enable_mkldnn()
    c.disable_glog_info()
    try:
        return create_predictor(c)
    finally:           # the predictor has read the rewritten program
        if tmp:
            shutil.rmtree(tmp)


def feed(p, arrs):
    for name, a in zip(p.get_input_names(), arrs):
        p.get_input_handle(name).copy_from_cpu(a)


def main():
    import tempfile
    d = tempfile.mkdtemp(prefix='tail_bound_')
    save(concat_variant, d + '/concat'); save(per_scale, d + '/per_scale')
    rng = np.random.RandomState(0)
    g = [SIZE // 32, SIZE // 16, SIZE // 8]
    outs = []
    for h in g:
        o = rng.randn(1, 3, 85, h, h).astype('float32')
        o[:, :, 4] = o[:, :, 4] - 9.0 + 8.0 * (rng.rand(1, 3, h, h) < 0.01)     # objectness: few boxes sure
        o[:, :, 5:] -= 2.0
        outs.append(o.reshape(1, 255, h, h))
    arrs = outs + [np.array([[SIZE, SIZE]], 'float32'), np.ones([1, 2], 'float32')]
    preds = {k: predictor(d + '/' + k) for k in ('concat', 'per_scale')}
    res = {}
    for k, p in preds.items():
        feed(p, arrs); p.run()
        res[k] = [p.get_output_handle(n).copy_to_cpu() for n in p.get_output_names()]
    a, b = res['concat'], res['per_scale']
    print('outputs equal:', all(np.array_equal(x, y) for x, y in zip(a, b)), a[0].shape, b[0].shape)
    t = {k: [] for k in preds}
    for r in range(200):
        for k, p in preds.items():
            feed(p, arrs)
            t0 = time.perf_counter(); p.run(); t[k].append((time.perf_counter() - t0) * 1e3)
    for k in t:
        print('%-10s median %.3f ms  min %.3f' % (k, np.median(t[k]), np.min(t[k])))
    import shutil
    shutil.rmtree(d)


main()
