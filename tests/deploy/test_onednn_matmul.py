"""ppdet/deploy/onednn_matmul.py: a matmul + bias add that oneDNN's fuse pass gets wrong runs
right through paddle_cpu_config, and only such programs lose the pass."""
import numpy as np
import paddle
import pytest
from paddle import inference

from ppdet.deploy.onednn_matmul import FUSE_PASS, misaligned_matmul_adds
from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
from ppdet.utils.static_graph import read_program, static_mode

C, L = 24, 40


def _save(path, axis, bias_shape):
    """[1, C, L] input -> matmul with a [1, C, C] weight -> + bias (``axis``) -> x 1."""
    rs = np.random.RandomState(0)
    weight = rs.randn(1, C, C).astype('float32')
    bias = rs.randn(*bias_shape).astype('float32')
    with static_mode():
        main, start = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, start):
            x = paddle.static.data('x', [1, C, L], 'float32')
            w = paddle.static.create_parameter(
                weight.shape, 'float32', default_initializer=paddle.nn.initializer.Assign(weight))
            b = paddle.static.create_parameter(
                bias.shape, 'float32', default_initializer=paddle.nn.initializer.Assign(bias))
            y = paddle.matmul(w, x)
            added = main.global_block().create_var(name='added', dtype='float32',
                                                   shape=[1, C, L])
            main.global_block().append_op(type='elementwise_add', inputs={'X': [y], 'Y': [b]},
                                          outputs={'Out': [added]}, attrs={'axis': axis})
            out = paddle.scale(added, 1.0)
        exe = paddle.static.Executor(paddle.CPUPlace())
        exe.run(start)
        paddle.static.save_inference_model(path, [x], [out], exe, program=main)
    expected = lambda v: weight @ v + bias.reshape((1, C, 1) if axis == 1 else bias.shape)
    return path + '.pdmodel', path + '.pdiparams', expected


@pytest.mark.parametrize('int8', [False, True])
def test_a_bias_added_along_the_channels_of_a_matmul_is_right_on_onednn(tmp_path, int8):
    model, params, expected = _save(str(tmp_path / 'm'), 1, (C,))
    config = paddle_cpu_config(model, params, enable_mkldnn_int8=int8)
    assert FUSE_PASS not in config.pass_builder().all_passes()
    x = np.random.RandomState(1).randn(1, C, L).astype('float32')
    predictor = inference.create_predictor(config)
    out = run_paddle(predictor, {'x': x}, predictor.get_output_names())[0]
    np.testing.assert_allclose(out, expected(x), rtol=1e-4, atol=1e-4)


def test_the_fuse_pass_stays_for_a_trailing_broadcast(tmp_path):
    model, params, expected = _save(str(tmp_path / 'm'), -1, (L,))
    config = paddle_cpu_config(model, params)
    assert FUSE_PASS in config.pass_builder().all_passes()
    x = np.random.RandomState(1).randn(1, C, L).astype('float32')
    predictor = inference.create_predictor(config)
    out = run_paddle(predictor, {'x': x}, predictor.get_output_names())[0]
    np.testing.assert_allclose(out, expected(x), rtol=1e-4, atol=1e-4)


def test_only_adds_from_a_matmul_off_the_trailing_axis_are_found(tmp_path):
    _save(str(tmp_path / 'mid'), 1, (C,))
    _save(str(tmp_path / 'tail'), -1, (L,))
    _save(str(tmp_path / 'tail2'), 2, (L,))
    with static_mode():
        found = [misaligned_matmul_adds(read_program(str(tmp_path / name) + '.pdmodel')
                                        .global_block()) for name in ('mid', 'tail', 'tail2')]
    assert found == [['added'], [], []]
