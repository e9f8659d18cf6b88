"""ppdet/deploy/onednn_reshape.py: the decoding tail's reshapes in place, at predictor creation
(the export is not changed; the predictor's copy and detections: test_program_for_onednn.py)."""
import shutil

import numpy as np
import paddle

from ppdet.deploy.onednn_reshape import tail_reshapes_in_place
from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
from ppdet.deploy.program_fixes import drop_fetch_scales
from ppdet.utils.fileio import temp_copy
from ppdet.utils.static_graph import read_program


class _Tail(paddle.nn.Layer):
    """A reshape before the conv, then after it: one whose input is dead (renamed), one whose
    input is read again (kept), one whose output is fetched (kept)."""

    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 1)

    def forward(self, x):
        flat_input = (x * 3.0).reshape([0, -1])         # before the conv: left alone
        y = self.conv(x)
        dead = y.reshape([0, -1])                       # y is read by nothing after: in place
        b = dead * 2.0
        read_again = b.reshape([-1])                    # b is read below: copied
        total = b.sum() + read_again.sum() + flat_input.sum()
        fetched = (read_again + 1.0).reshape([2, -1])   # an output of the program: kept
        return fetched, total


def _reshapes(block):
    return [(op.input('X')[0], op.output('Out')[0]) for op in block.ops
            if op.type == 'reshape2']


def _run(model_file, params_file, x):
    predictor = paddle.inference.create_predictor(paddle_cpu_config(model_file, params_file))
    return run_paddle(predictor, {predictor.get_input_names()[0]: x})


def test_only_the_dead_input_after_the_last_conv_is_renamed(tmp_path):
    prefix = str(tmp_path / 'tail')
    paddle.jit.save(_Tail(), prefix, input_spec=[paddle.static.InputSpec([1, 3, 4, 4], 'float32')])
    assert drop_fetch_scales(str(tmp_path), 'tail.pdmodel') == 2   # as the exports: fetched
    program = read_program(prefix + '.pdmodel')
    block = program.global_block()
    assert len(_reshapes(block)) == 5                   # and the conv bias's, a weight
    assert tail_reshapes_in_place(block) == 1
    pairs = _reshapes(block)
    assert sum(x == out for x, out in pairs) == 1
    renamed = [x for x, out in pairs if x == out][0]
    ops = list(block.ops)
    at = [i for i, op in enumerate(ops) if op.type == 'reshape2' and
          op.input('X')[0] == renamed][0]
    # the conv's output (after its bias add) is reshaped in place; the `* 2` reads it
    assert ops[at - 1].output_arg_names == [renamed]
    assert ops[at - 1].type in ('conv2d', 'elementwise_add')
    assert ops[at + 1].type == 'scale' and ops[at + 1].input('X') == [renamed]
    # the rewritten program computes what the export does
    x = np.random.RandomState(0).rand(1, 3, 4, 4).astype('float32')
    path, tmp = temp_copy('tail.pdmodel', program.desc.serialize_to_string(), 'test_reshape_')
    try:
        ours = _run(path, prefix + '.pdiparams', x)
    finally:
        shutil.rmtree(tmp)
    theirs = _run(prefix + '.pdmodel', prefix + '.pdiparams', x)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


class _NoConv(paddle.nn.Layer):
    def forward(self, x):
        y = (x * 2.0).reshape([-1]) + 1.0
        return y * x.reshape([-1])                 # the last read of a fed input: copied


def test_without_convs_all_of_it_is_the_tail_and_sub_blocks_are_left_alone(tmp_path):
    prefix = str(tmp_path / 'noconv')
    paddle.jit.save(_NoConv(), prefix, input_spec=[paddle.static.InputSpec([2, 3], 'float32')])
    block = read_program(prefix + '.pdmodel').global_block()
    assert tail_reshapes_in_place(block) == 1
    assert [x == out for x, out in _reshapes(block)] == [True, False]
    program = read_program(prefix + '.pdmodel')
    program._create_block()
    assert program.num_blocks == 2
    assert tail_reshapes_in_place(program.global_block()) == 0

