"""fold_conv_bias_reshapes: conv biases as oneDNN fuses them, same outputs."""
import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ppdet.deploy.program_fixes import fold_conv_bias_reshapes
from ppdet.utils.static_graph import load_program


def _ops(model_dir):
    prog = load_program(model_dir)[0]
    return [(op.type, {k: op.input(k) for k in op.input_names},
             op.attr('axis') if op.has_attr('axis') else None)
            for op in prog.global_block().ops]


class ConvHead(nn.Layer):
    """A conv with a bias (what Paddle writes as reshape2 + add) and one without."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2D(3, 8, 3, padding=1, bias_attr=False)
        self.b = nn.Conv2D(8, 5, 1)

    def forward(self, x):
        return self.b(paddle.nn.functional.relu(self.a(x))).reshape([0, 5, -1])


def _run(model_dir, x):
    from paddle.inference import Config, create_predictor
    c = Config(str(model_dir) + '/model.pdmodel', str(model_dir) + '/model.pdiparams')
    c.disable_gpu()
    c.enable_mkldnn()
    c.disable_glog_info()
    p = create_predictor(c)
    p.get_input_handle(p.get_input_names()[0]).copy_from_cpu(x)
    p.run()
    return p.get_output_handle(p.get_output_names()[0]).copy_to_cpu()


def test_bias_add_takes_the_parameter_and_outputs_stay(tmp_path):
    paddle.seed(3)
    net = ConvHead()
    net.eval()
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[InputSpec([1, 3, 16, 16], 'float32')]),
                    str(tmp_path / 'model'))
    before = _ops(tmp_path)
    adds = [op for op in before if op[0] == 'elementwise_add']
    assert len(adds) == 1 and adds[0][2] == -1          # Paddle 2.6: reshape2 + add(-1)
    assert sum(op[0] == 'reshape2' for op in before) == 2
    x = np.random.RandomState(0).rand(1, 3, 16, 16).astype('float32')
    ref = _run(tmp_path, x)
    assert fold_conv_bias_reshapes(str(tmp_path)) == 1
    after = _ops(tmp_path)
    add = [op for op in after if op[0] == 'elementwise_add'][0]
    assert add[2] == 1 and add[1]['Y'] == [net.b.bias.name]
    assert sum(op[0] == 'reshape2' for op in after) == 1   # the model's own reshape stays
    np.testing.assert_array_equal(_run(tmp_path, x), ref)
    assert fold_conv_bias_reshapes(str(tmp_path)) == 0     # idempotent


def test_every_export_is_folded(tmp_path):
    """export_model folds the YOLOv3 output convs' biases (three levels)."""
    from tests.modeling.test_nms_bound import _random_head_yolov3
    from ppdet.engine.export import export_model
    model, cfg = _random_head_yolov3(['num_classes=3'])
    export_model(model, cfg, str(tmp_path / 'm'), ['a', 'b', 'c'])
    ops = _ops(tmp_path / 'm')
    conv_adds = [op for op in ops if op[0] == 'elementwise_add' and op[2] == 1]
    assert len(conv_adds) == 3
