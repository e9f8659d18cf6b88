"""Paddle 2.6.2's matmul_elementwise_add_mkldnn_fuse_pass and an add's axis: a [C] bias added
with axis=1 to a [1, C, L] matmul output (an identity weight, so the right answer is y + b
along C), on Paddle's own kernels, on oneDNN, and on oneDNN without that pass; then the
project's config (paddle_cpu_config), which deletes the pass for such programs
(ppdet/deploy/onednn_matmul.py).  Usage: python matmul_add_axis.py"""
import os, shutil, tempfile
import numpy as np
import paddle
from paddle import inference
from ppdet.deploy.onednn_matmul import FUSE_PASS
from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
paddle.enable_static()
rs = np.random.RandomState(0)
c, l = 255, 1600
b = rs.randn(c).astype('float32')
y_in = rs.randn(1, c, l).astype('float32')
main, start = paddle.static.Program(), paddle.static.Program()
with paddle.static.program_guard(main, start):
    y = paddle.static.data('y', [1, c, l], 'float32')
    eye = paddle.static.create_parameter([1, c, c], 'float32', name='eye',
        default_initializer=paddle.nn.initializer.Assign(np.eye(c, dtype='float32')[None]))
    bb = paddle.static.create_parameter([c], 'float32', name='b',
                                        default_initializer=paddle.nn.initializer.Assign(b))
    out = main.global_block().create_var(name='out', dtype='float32', shape=[1, c, l])
    main.global_block().append_op(type='elementwise_add',
                                  inputs={'X': [paddle.matmul(eye, y)], 'Y': [bb]},
                                  outputs={'Out': [out]}, attrs={'axis': 1})
    res = paddle.scale(out, 1.0)
exe = paddle.static.Executor(paddle.CPUPlace())
exe.run(start)
d = tempfile.mkdtemp(prefix='matmul_add_')
paddle.static.save_inference_model(os.path.join(d, 'model'), [y], [res], exe, program=main)
model, params = d + '/model.pdmodel', d + '/model.pdiparams'
expected = y_in + b[None, :, None]


def raw_config(onednn):
    config = inference.Config(model, params)
    config.disable_glog_info()
    config.switch_ir_optim(True)
    if onednn:
        config.enable_mkldnn()
    else:
        config.disable_mkldnn()      # on by default in Paddle 2.6.2's Config
    return config


cases = [('Paddle kernels', raw_config(False)), ('oneDNN', raw_config(True))]
no_pass = raw_config(True)
no_pass.delete_pass(FUSE_PASS)
cases += [('oneDNN without ' + FUSE_PASS, no_pass),
          ('paddle_cpu_config', paddle_cpu_config(model, params))]
for name, config in cases:
    pred = inference.create_predictor(config)
    got = run_paddle(pred, {'y': y_in}, pred.get_output_names())[0]
    print('%-60s max error %.6g' % (name, np.abs(got - expected).max()))
shutil.rmtree(d)
