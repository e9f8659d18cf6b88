"""fold_conv_bias_reshapes: conv biases as oneDNN fuses them, same outputs."""
import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ppdet.deploy.predictors import run_paddle
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


def _run_all(model_dir, feeds):
    from paddle.inference import Config, create_predictor
    c = Config(str(model_dir) + '/model.pdmodel', str(model_dir) + '/model.pdiparams')
    c.disable_gpu()
    c.enable_mkldnn()
    c.disable_glog_info()
    p = create_predictor(c)
    return run_paddle(p, {n: feeds[n] for n in p.get_input_names()})


def _run(model_dir, x):
    """The first output for ``x`` fed to the model's only input."""
    return _run_all(model_dir, {load_program(model_dir)[1][0]: x})[0]


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
    # three output convs, and two convs (one bias each) per split route concat
    assert len(conv_adds) == 3 + 2 * 2



def test_decode_convs_padded_to_the_vector_width_same_detections(tmp_path, monkeypatch):
    """3 classes: 3 * (5 + 3) = 24 decode channels -> 32 computed, 24 sliced into yolo_box."""
    from tests.modeling.test_nms_bound import SIZE, _random_head_yolov3
    from ppdet.deploy.program_fixes import pad_decode_convs
    from ppdet.engine.export import export_model
    model, cfg = _random_head_yolov3(['num_classes=3'])
    export_model(model, cfg, str(tmp_path / 'm'), ['a', 'b', 'c'])
    prog = load_program(tmp_path / 'm')[0]
    block = prog.global_block()
    decodes = [op for op in block.ops if op.type == 'yolo_box']
    writers = {op.output_arg_names[0]: op for op in block.ops if op.output_arg_names}
    slices = [writers[op.input('X')[0]] for op in decodes]
    assert len(decodes) == 3 and [op.type for op in slices] == ['slice'] * 3
    assert all(op.attr('ends') == [24] for op in slices)
    assert sorted(int(block.var(op.input('Input')[0]).shape[1]) for op in slices) == [32] * 3
    assert pad_decode_convs(str(tmp_path / 'm')) == 0        # idempotent
    # the same numbers as the unpadded graph: export again with the rewrite switched off
    import ppdet.deploy.program_fixes as fixes
    monkeypatch.setattr(fixes, '_pad_decode', lambda *a, **k: 0)
    export_model(model, cfg, str(tmp_path / 'ref'), ['a', 'b', 'c'])
    ref = load_program(tmp_path / 'ref')[0].global_block()
    assert sorted(int(ref.var(op.input('X')[0]).shape[1]) for op in ref.ops
                  if op.type == 'yolo_box') == [24] * 3
    size = SIZE
    rng = np.random.RandomState(1)
    feeds = {'image': rng.rand(1, 3, size, size).astype('float32'),
             'im_shape': np.array([[size, size]], 'float32'),
             'scale_factor': np.array([[1.0, 1.0]], 'float32')}
    for got, want in zip(_run_all(tmp_path / 'm', feeds), _run_all(tmp_path / 'ref', feeds)):
        np.testing.assert_array_equal(got, want)


def test_route_concats_become_sums_of_convs_same_detections(tmp_path, monkeypatch):
    """concat -> 1x1 conv -> BN of the YOLOv3 neck: two convs (BN folded) and an add."""
    from tests.modeling.test_nms_bound import SIZE, _random_head_yolov3
    from ppdet.deploy.infer_cfg import read_param_names
    from ppdet.engine.export import export_model
    from ppdet.slim.quant import resolve_skip_layers
    import ppdet.deploy.program_fixes as fixes
    model, cfg = _random_head_yolov3(['num_classes=3'])
    export_model(model, cfg, str(tmp_path / 'm'), ['a', 'b', 'c'])
    block = load_program(tmp_path / 'm')[0].global_block()
    writers = {n: op for op in block.ops for n in op.output_arg_names}
    readers = {}
    for op in block.ops:
        for n in op.input_arg_names:
            readers.setdefault(n, []).append(op.type)
    assert not [op for op in block.ops if op.type == 'concat' and
                'conv2d' in readers.get(op.output('Out')[0], [])]
    sums = [op for op in block.ops if op.type == 'elementwise_add' and op.attr('axis') == -1
            and all(writers[op.input(k)[0]].type == 'elementwise_add' for k in ('X', 'Y'))]
    assert len(sums) == 2
    # the two convs of a split layer keep its readable name: skip_tensors still finds them
    names = read_param_names(tmp_path / 'm')
    layer = 'neck.yolo_block.1.conv_module.conv0.conv'
    parts = sorted(t for t, n in names.items() if n == layer + '.weight')
    assert len(parts) == 2 and sorted(resolve_skip_layers(str(tmp_path / 'm'), [layer])) == parts
    monkeypatch.setattr(fixes, '_split_concats', lambda *a, **k: {})
    export_model(model, cfg, str(tmp_path / 'ref'), ['a', 'b', 'c'])
    monkeypatch.undo()
    import shutil
    shutil.copytree(tmp_path / 'ref', tmp_path / 'alone')     # the rewrite alone, later
    assert fixes.split_concat_convs(str(tmp_path / 'alone')) == 2
    assert sorted(resolve_skip_layers(str(tmp_path / 'alone'), [layer])) == parts
    rng = np.random.RandomState(2)
    feeds = {'image': rng.rand(1, 3, SIZE, SIZE).astype('float32'),
             'im_shape': np.array([[SIZE, SIZE]], 'float32'),
             'scale_factor': np.array([[1.0, 1.0]], 'float32')}
    want = _run_all(tmp_path / 'ref', feeds)
    for name in ('m', 'alone'):
        got = _run_all(tmp_path / name, feeds)
        np.testing.assert_array_equal(got[1], want[1])                  # boxes per image
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-3)  # BN folded


class ProjectionBlock(nn.Layer):
    """A ResNet basic block with a projection shortcut, then one with an identity one."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2D(3, 8, 3, 2, 1, bias_attr=False), nn.BatchNorm2D(8),
                               nn.ReLU(), nn.Conv2D(8, 8, 3, 1, 1, bias_attr=False),
                               nn.BatchNorm2D(8))
        self.short = nn.Sequential(nn.Conv2D(3, 8, 1, 2, bias_attr=False), nn.BatchNorm2D(8))
        self.b = nn.Sequential(nn.Conv2D(8, 8, 3, 1, 1, bias_attr=False), nn.BatchNorm2D(8))

    def forward(self, x):
        y = paddle.nn.functional.relu(self.a(x) + self.short(x))
        return paddle.nn.functional.relu(self.b(y) + y)


def test_projection_sums_become_sum_ops_same_outputs(tmp_path):
    from ppdet.deploy.program_fixes import sum_projection_adds
    paddle.seed(5)
    net = ProjectionBlock()
    for bn in (net.a[1], net.a[4], net.short[1], net.b[1]):     # non-trivial statistics
        bn._mean.set_value(paddle.rand([8]) - 0.5)
        bn._variance.set_value(paddle.rand([8]) + 0.5)
    net.eval()
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[InputSpec([1, 3, 16, 16], 'float32')]),
                    str(tmp_path / 'model'))
    x = np.random.RandomState(0).rand(1, 3, 16, 16).astype('float32')
    ref = _run(tmp_path, x)
    assert sum_projection_adds(str(tmp_path)) == 1            # not the identity shortcut
    types = [op[0] for op in _ops(tmp_path)]
    assert types.count('sum') == 1 and types.count('elementwise_add') == 1
    np.testing.assert_array_equal(_run(tmp_path, x), ref)
    assert sum_projection_adds(str(tmp_path)) == 0            # idempotent


def _identity_scales_at_outputs(model_dir):
    block = load_program(model_dir)[0].global_block()
    writers = {n: op for op in block.ops for n in op.output_arg_names}
    fetched = [op.input('X')[0] for op in block.ops if op.type == 'fetch']
    return [n for n in fetched if n in writers and writers[n].type == 'scale']


def test_fused_normalisation_folds_into_the_first_conv_and_outputs_are_bare(tmp_path,
                                                                            monkeypatch):
    """fuse_preprocess: x/255, -mean, /std -> x - 255*mean and a scaled first conv; no
    identity scale in front of the outputs; the same detections as without the fold."""
    from tests.modeling.test_nms_bound import SIZE, _random_head_yolov3
    from ppdet.engine.export import export_model
    import ppdet.deploy.program_fixes as fixes
    model, cfg = _random_head_yolov3(['num_classes=3'])
    export_model(model, cfg, str(tmp_path / 'm'), ['a', 'b', 'c'], fuse_preprocess=True)
    types = [op.type for op in load_program(tmp_path / 'm')[0].global_block().ops]
    assert types[3:6] == ['cast', 'transpose2', 'elementwise_sub'] and types[6] == 'conv2d'
    assert 'elementwise_div' not in types[:8] and _identity_scales_at_outputs(tmp_path / 'm') == []
    assert fixes.fold_input_normalization(str(tmp_path / 'm')) == 0      # idempotent
    assert fixes.drop_fetch_scales(str(tmp_path / 'm')) == 0
    monkeypatch.setattr(fixes, '_fold_normalization', lambda *a, **k: 0)
    monkeypatch.setattr(fixes, 'drop_fetch_scales', lambda *a, **k: 0)
    export_model(model, cfg, str(tmp_path / 'ref'), ['a', 'b', 'c'], fuse_preprocess=True)
    assert len(_identity_scales_at_outputs(tmp_path / 'ref')) == 2
    # each rewrite alone (as ptq_quality applies them to an older export) does the same
    import shutil
    shutil.copytree(tmp_path / 'ref', tmp_path / 'alone')
    monkeypatch.undo()
    assert fixes.fold_input_normalization(str(tmp_path / 'alone')) == 1
    assert fixes.drop_fetch_scales(str(tmp_path / 'alone')) >= 2   # a layer per save
    assert _identity_scales_at_outputs(tmp_path / 'alone') == []
    rng = np.random.RandomState(4)
    feeds = {'image': rng.randint(0, 256, (1, SIZE, SIZE, 3)).astype('uint8'),
             'im_shape': np.array([[SIZE, SIZE]], 'float32'),
             'scale_factor': np.array([[1.0, 1.0]], 'float32')}
    want = _run_all(tmp_path / 'ref', feeds)
    for name in ('m', 'alone'):
        got = _run_all(tmp_path / name, feeds)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-3)
