"""ppdet/deploy/onednn_reduce.py: maxima over the innermost axis on Paddle's own kernel, at
predictor creation (the export keeps its reduce_max; the predictor's copy and detections:
test_program_for_onednn.py)."""
import paddle

from ppdet.deploy.onednn_reduce import innermost_max_as_amax
from ppdet.utils.static_graph import read_program


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

