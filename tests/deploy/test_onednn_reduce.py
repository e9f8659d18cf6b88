"""ppdet/deploy/onednn_reduce.py: maxima over the innermost axis on Paddle's own kernel, at
predictor creation (the export keeps its reduce_max)."""
import os
import shutil

import numpy as np
import paddle

from ppdet.deploy import Detector
from ppdet.deploy.onednn_group_norm import program_for_onednn
from ppdet.deploy.onednn_reduce import innermost_max_as_amax
from ppdet.utils.static_graph import read_program


def _op_types(model_file):
    return [op.type for op in read_program(model_file).global_block().ops]


class _Maxima(paddle.nn.Layer):
    def forward(self, x):
        return x.max(axis=-1), x.max(axis=2), x.max(axis=1), x.max(), x.max(axis=[1, 2])


def test_only_maxima_over_the_last_axis_alone_are_renamed(tmp_path):
    prefix = str(tmp_path / 'maxima')
    paddle.jit.save(_Maxima(), prefix,
                    input_spec=[paddle.static.InputSpec([1, 7, 5], 'float32')])
    program = read_program(prefix + '.pdmodel')
    block = program.global_block()
    assert [op.type for op in block.ops].count('reduce_max') == 5
    assert innermost_max_as_amax(block) == 2          # axis=-1 and axis=2 of a rank-3 input
    kept = [op for op in block.ops if op.type == 'reduce_max']
    assert [list(op.attr('dim')) for op in kept if not op.attr('reduce_all')] == [[1], [1, 2]]
    assert len(kept) == 3


def test_the_predictor_runs_a_renamed_copy_with_the_same_detections(yolov3_model_dir, photo):
    model_file = os.path.join(yolov3_model_dir, 'model.pdmodel')
    with open(model_file, 'rb') as f:
        before = f.read()
    assert _op_types(model_file).count('reduce_max') == 1   # the NMS candidate bound's
    path, tmp, _ = program_for_onednn(model_file, group_norm=False, reshape_in_place=False)
    try:
        assert tmp and path.startswith(tmp)
        ops = _op_types(path)
        assert 'reduce_max' not in ops and ops.count('reduce_amax') == 1
        with open(model_file, 'rb') as f:
            assert f.read() == before                   # the export is not changed
    finally:
        shutil.rmtree(tmp)
    assert program_for_onednn(model_file, group_norm=False, reduce_max=False,
                              reshape_in_place=False) == (model_file, None, 0)
    rows = [Detector(yolov3_model_dir, onednn_reduce_max=on).predict([photo])[0]
            for on in (True, False)]
    assert len(rows[0]) > 0
    np.testing.assert_array_equal(rows[0], rows[1])
