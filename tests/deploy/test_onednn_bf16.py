"""ppdet/deploy/onednn_bf16.py: bf16 for the network's ops, fp32 for the box decoding."""
import os
import shutil

import numpy as np
import paddle
import pytest

from ppdet.benchmark.cpu import has_native_bf16
from ppdet.deploy.onednn_bf16 import MARK, bf16_kernel_ops, is_marked, mark_network_bf16
from ppdet.deploy.onednn_group_norm import program_for_onednn
from ppdet.deploy.program_fixes import CONV_OPS
from ppdet.utils.static_graph import static_mode

needs_bf16 = pytest.mark.skipif(not has_native_bf16(),
                                reason='this CPU has no AVX512-BF16 / AMX-BF16')


def _program(model_dir):
    with open(os.path.join(model_dir, 'model.pdmodel'), 'rb') as f:
        return paddle.static.Program.parse_from_string(f.read())


def _is_marked(op):
    return op.has_attr(MARK[0]) and op.attr(MARK[0]) == MARK[1]


def test_bf16_kernel_ops_come_from_paddles_registry():
    ops = bf16_kernel_ops()
    assert {'conv2d', 'depthwise_conv2d', 'pool2d', 'elementwise_add', 'concat'} <= ops
    assert 'rsqrt' not in ops and 'multiclass_nms3' not in ops   # no oneDNN bf16 kernel
    assert not any(op.endswith('_grad') for op in ops)


@pytest.mark.parametrize('fixture', ['tiny_model_dir', 'yolov3_model_dir'])
def test_the_network_is_marked_and_the_decoding_is_not(request, fixture):
    """Every conv and every bf16-capable op feeding one is marked; nothing after the last
    conv is, although the decoding uses the same op types (adds, concat, sigmoid, ...)."""
    model_dir = request.getfixturevalue(fixture)
    with static_mode():
        block = _program(model_dir).global_block()
        marked = mark_network_bf16(block)
        ops = block.ops
        last = max(i for i, op in enumerate(ops) if op.type in CONV_OPS)
        assert all(_is_marked(op) for op in ops if op.type in CONV_OPS)
        after = ops[last + 1:]
        assert {op.type for op in after} & bf16_kernel_ops()     # the types Paddle would mark
        assert not any(_is_marked(op) for op in after)
        assert marked == sum(_is_marked(op) for op in ops) > 0
        assert all(op.type in bf16_kernel_ops() for op in ops if _is_marked(op))


def test_program_for_onednn_marks_a_copy_for_bf16_only(tiny_model_dir):
    model_file = os.path.join(tiny_model_dir, 'model.pdmodel')
    path, tmp, rewritten = program_for_onednn(model_file, bf16=True)
    try:
        assert tmp and path.startswith(tmp) and rewritten == 0
        with open(path, 'rb') as f:
            assert is_marked(f.read())
    finally:
        shutil.rmtree(tmp)
    with open(model_file, 'rb') as f:
        assert not is_marked(f.read())


@needs_bf16
def test_an_unmarked_program_is_refused_for_bf16(tiny_model_dir):
    from ppdet.deploy.predictors import paddle_cpu_config
    with pytest.raises(ValueError, match='program_for_onednn'):
        paddle_cpu_config(os.path.join(tiny_model_dir, 'model.pdmodel'),
                          enable_mkldnn_bfloat16=True)


class _ConvThenOffset(paddle.nn.Layer):
    """Two convs, then ``+ 300.37`` (a ``scale`` op, which has a oneDNN bf16 kernel): a box
    decoding in miniature, a small offset turned into a coordinate in the hundreds.  (One
    conv alone would not run in bf16: Paddle returns a lone bf16 op between fp32 ones to
    fp32.)"""

    def __init__(self):
        super().__init__()
        self.convs = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 1), paddle.nn.Conv2D(4, 4, 1))

    def forward(self, x):
        return self.convs(x) + 300.37


def _export_conv_then_offset(out_dir):
    paddle.seed(0)
    layer = _ConvThenOffset()
    layer.eval()
    spec = [paddle.static.InputSpec([1, 3, 8, 8], 'float32', 'x')]
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True),
                    os.path.join(out_dir, 'model'))
    return os.path.join(out_dir, 'model.pdmodel'), os.path.join(out_dir, 'model.pdiparams')


@needs_bf16
def test_bf16_leaves_what_comes_after_the_last_conv_in_fp32(tmp_path):
    """bf16 keeps 8 significant bits: 300.37 + a small conv output, added in bf16, lands on
    a multiple of 2 (Paddle's own placement marks the ``scale`` too: errors up to 1.0).
    Here only the convs run in bf16, so what is left is their rounding, ~1e-2."""
    from paddle import inference
    from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
    model_file, params_file = _export_conv_then_offset(str(tmp_path))
    x = np.random.RandomState(0).uniform(-1, 1, (1, 3, 8, 8)).astype('float32')
    ref = run_paddle(inference.create_predictor(paddle_cpu_config(model_file, params_file)),
                     {'x': x})[0]
    path, tmp, _ = program_for_onednn(model_file, bf16=True)
    try:
        out = run_paddle(inference.create_predictor(paddle_cpu_config(
            path, params_file, enable_mkldnn_bfloat16=True)), {'x': x})[0]
    finally:
        shutil.rmtree(tmp)
    assert np.abs(ref - 300.37).max() < 5                    # offsets, not coordinates
    err = np.abs(out - ref)
    assert 0 < err.max() < 0.05, err.max()                  # the conv did run in bf16
