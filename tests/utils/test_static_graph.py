"""ppdet.utils.static_graph.forget_failed_traces: a trace that raises leaves its parameter
record in Paddle 2.6's dy2static (keyed by id(program)); forgetting it keeps a later program
that reuses the id from inheriting parameters of a model that is gone."""
import paddle
import pytest
from paddle.jit.dy2static.program_translator import ProgramTranslator
from paddle.static import InputSpec

from ppdet.utils.static_graph import forget_failed_traces


class _Fails(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.bn = paddle.nn.BatchNorm2D(3)

    def forward(self, x):
        self.bn(x)                 # its parameters are recorded, then the trace fails
        raise RuntimeError('traced into an error on purpose')


def _records():
    return ProgramTranslator.get_instance()._params_recorder.params_dict


def test_a_failed_trace_leaves_a_record_and_it_is_forgotten(tmp_path):
    forget_failed_traces()
    assert not _records()
    layer = _Fails()
    layer.eval()
    with pytest.raises(Exception, match='on purpose'):
        paddle.jit.save(paddle.jit.to_static(layer, input_spec=[InputSpec([1, 3, 8, 8])],
                                             full_graph=True), str(tmp_path / 'bad'))
    left = [p.name for params in _records().values() for p in params]
    assert any(name.startswith('batch_norm2d') for name in left), left   # Paddle's behaviour
    forget_failed_traces()
    assert not _records()
    good = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 1), paddle.nn.BatchNorm2D(4))
    good.eval()
    paddle.jit.save(paddle.jit.to_static(good, input_spec=[InputSpec([1, 3, 8, 8])],
                                         full_graph=True), str(tmp_path / 'good'))
    assert (tmp_path / 'good.pdmodel').is_file() and not _records()
