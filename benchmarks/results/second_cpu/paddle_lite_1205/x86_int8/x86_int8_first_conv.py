"""Paddle-Lite's x86 int8 convolution against the int8 model it runs: an int8 export's
program cut after its first conv, run (a) in float by Paddle (the quantized graph's own
arithmetic), (b) by Paddle Inference's oneDNN int8 kernels, (c) as an x86 .nb by
Paddle-Lite, on the astronaut photo squeezed towards the model's normalisation mean by a
contrast factor (so the first conv's input, the pixels less that mean, shrinks with it).
SNR of (b) and (c) against (a), and the range of Lite's per-channel gain against (a).

Usage: python x86_int8_first_conv.py INT8_MODEL_DIR OUT_DIR
(e.g. output/issue17/quick_vnni_1204/yolov3_mobilenet_v1_320_r578@32_int8)"""
import os
import shutil
import sys

import numpy as np
import paddle
from paddle import inference

from ppdet.benchmark.cpu import cpu_description
from ppdet.data.sample_photos import face_photos
from ppdet.deploy import Preprocessor, lite, load_infer_cfg
from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
from ppdet.utils.static_graph import static_mode


def snr_db(want, got):
    return 10 * np.log10((want ** 2).mean() / max(((got - want) ** 2).mean(), 1e-30))


model_dir, out = sys.argv[1], sys.argv[2]
cut = os.path.join(out, 'first_conv')
photo = face_photos()['astronaut'].astype(np.float32)
norm = next(op for op in load_infer_cfg(model_dir)['Preprocess'] if op['type'] == 'NormalizeImage')
mean = np.array(norm['mean'], np.float32) * (255.0 if norm.get('is_scale', True) else 1.0)
print('CPU:', cpu_description())
with static_mode():
    exe = paddle.static.Executor(paddle.CPUPlace())
    prog, _, _ = paddle.static.load_inference_model(os.path.join(model_dir, 'model'), exe)
    block = prog.global_block()
    conv = next(o for o in block.ops if o.type == 'conv2d')
    deq = next(o for o in block.ops if conv.output('Output')[0] in o.input_arg_names)
    name = deq.output_arg_names[0]
    shutil.rmtree(cut, ignore_errors=True)
    paddle.static.save_inference_model(os.path.join(cut, 'model'), [block.var('image')],
                                       [block.var(name)], exe, program=prog)
    shutil.copy(os.path.join(model_dir, 'infer_cfg.yml'), cut)
    program, _, fetch = paddle.static.load_inference_model(os.path.join(cut, 'model'), exe)
    print('cut after the first conv: %s (%s)' % (name, deq.type))
    onednn = inference.create_predictor(paddle_cpu_config(
        os.path.join(cut, 'model.pdmodel'), os.path.join(cut, 'model.pdiparams'),
        enable_mkldnn_int8=True))
    worker = lite.LiteWorker(lite.optimize(cut, 'x86'))
    pre = Preprocessor(load_infer_cfg(cut))
    try:
        for contrast in (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0):
            image = np.clip(mean + contrast * (photo - mean), 0, 255).astype(np.uint8)
            feed = pre([image])['image']
            want = exe.run(program, feed={'image': feed}, fetch_list=fetch)[0]
            got_onednn = run_paddle(onednn, {'image': feed})[0]
            got_lite = worker.run([('image', feed)])[0]
            gains = [(w * g).sum() / max((w * w).sum(), 1e-30)
                     for w, g in zip(want[0], got_lite[0])]
            print('contrast %.2f (|pixel - mean| <= %3.0f): oneDNN int8 %6.1f dB, Lite x86 int8 '
                  '%6.1f dB; Lite channel gains %.2f-%.2f'
                  % (contrast, np.abs(image - mean).max(), snr_db(want, got_onednn),
                     snr_db(want, got_lite), min(gains), max(gains)))
    finally:
        worker.close()
