"""Quantization-aware training as a compression step on the one Trainer."""
import os

import numpy as np
import paddle
import pytest
import yaml

import ppdet.modeling  # noqa: F401
from ppdet.core.workspace import create
from ppdet.engine.trainer import Trainer, build_model
from ppdet.engine.export import export_model
from ppdet.slim.qat import QATStep
from ppdet.slim.quant_report import load_program
from ppdet.utils.checkpoint import read_meta
from quant_test_utils import cos as _cos, paddle_predict as _predict

SIZE = 64
# Paddle Inference oneDNN int8 of the exported QAT model vs the dygraph QAT model
# (fake-quant in float), cosine on decoded scores / boxes of the random tiny model
EXPORT_COSINE_TOL = 0.97


def tiny_cfg():
    return {'architecture': 'YOLOv3', 'num_classes': 2, 'seed': 0,
            'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN',
                       'yolo_head': 'YOLOv3Head', 'post_process': 'BBoxPostProcess'},
            'MobileNetV1': {'scale': 0.25}, 'YOLOv3FPN': {'base_channel': 32},
            'YOLOv3Loss': {'ignore_thresh': 0.7},
            'MultiClassNMS': {'score_threshold': 0.05, 'keep_top_k': 20, 'nms_top_k': 200},
            'TestReader': {'inputs_def': {'image_shape': [3, SIZE, SIZE]},
                           'sample_transforms': [{'Decode': {}}, {'Permute': {}}]}}


def train_batch(seed=0, bsz=2):
    rng = np.random.RandomState(seed)
    gt_bbox = np.zeros([bsz, 2, 4], 'float32')
    gt_bbox[:, 0] = [0.4, 0.5, 0.3, 0.4]
    gt_class = np.zeros([bsz, 2], 'int32')
    gt_score = np.zeros([bsz, 2], 'float32')
    gt_score[:, 0] = 1
    return {'image': paddle.to_tensor(rng.randn(bsz, 3, SIZE, SIZE).astype('float32')),
            'gt_bbox': paddle.to_tensor(gt_bbox), 'gt_class': paddle.to_tensor(gt_class),
            'gt_score': paddle.to_tensor(gt_score)}


def qat_trainer(config=None, steps=2):
    cfg = tiny_cfg()
    trainer = Trainer(cfg, mode='train')
    trainer.apply_step(QATStep(config))
    trainer.lr = 1e-3
    trainer.optimizer = paddle.optimizer.Adam(1e-3, parameters=trainer.model.parameters())
    for i in range(steps):
        trainer.train_step(train_batch(i))
    return trainer


def quantized_names(model):
    return sorted(n for n, l in model.named_sublayers() if type(l).__name__.startswith('Quantized'))


def test_qat_quantizes_convs_and_keeps_output_convs_float():
    model = create('YOLOv3', tiny_cfg())
    n_convs = sum(isinstance(l, paddle.nn.Conv2D) for _, l in model.named_sublayers())
    model, record = QATStep().apply(model)
    names = quantized_names(model)
    assert len(names) == n_convs - 3
    assert not [n for n in names if 'yolo_output' in n]
    for conv in model.yolo_head.yolo_outputs:  # at most an output-scale observer around it
        assert not type(conv).__name__.startswith('Quantized')
        assert not [n for n, _ in conv.named_sublayers() if 'fake_quant' in n]
    # the architecture's declared float-only layers, resolved and recorded
    assert record['not_quant_pattern'] == ['yolo_head.yolo_output.%d' % i for i in range(3)]
    assert record['weight_quantize_type'] == 'channel_wise_abs_max'
    assert record['activation_quantize_type'] == 'moving_average_abs_max'


def test_qat_without_exclusion_quantizes_the_head_list_too():
    model = create('YOLOv3', tiny_cfg())
    model, _ = QATStep({'not_quant_pattern': []}).apply(model)
    # the head calls its output convs from a Python list: it must call the wrappers
    head = model.yolo_head
    for i, conv in enumerate(head.yolo_outputs):
        assert conv is head._sub_layers['yolo_output.%d' % i]
        assert 'QuantizedConv2D' in {type(l).__name__ for l in conv.sublayers(include_self=True)}
    model.eval()
    outs = model(paddle.randn([1, 3, SIZE, SIZE]))
    assert [o.shape[1] for o in outs] == [21, 21, 21]


def test_qat_step_rejects_unknown_option():
    with pytest.raises(ValueError, match='unknown quantization option'):
        QATStep({'not_quant_patern': ['x']})


@pytest.mark.parametrize('config', [None, {'use_pact': True}], ids=['plain', 'pact'])
def test_qat_checkpoint_rebuilds_from_file_alone(config, tmp_path):
    trainer = qat_trainer(config)
    path = trainer.save(str(tmp_path / 'qat'))
    meta = read_meta(path)
    assert [s['kind'] for s in meta['steps']] == ['quant']
    assert meta['steps'][0]['use_pact'] is bool(config)
    x = paddle.to_tensor(np.random.RandomState(5).randn(2, 3, SIZE, SIZE).astype('float32'))
    net = trainer.model
    net.eval()
    with paddle.no_grad():
        ref = [o.numpy() for o in net(x)]
    rebuilt, _ = build_model(tiny_cfg(), weights=path)
    rebuilt.eval()
    assert quantized_names(rebuilt) == quantized_names(net)
    with paddle.no_grad():
        got = [o.numpy() for o in rebuilt(x)]
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)


def test_exporter_writes_int8_ready_model_for_a_qat_checkpoint(tmp_path):
    from ppdet.engine.export import export_model
    trainer = qat_trainer(steps=1)
    export_model(trainer.model, trainer.cfg, str(tmp_path), ['a', 'b'],
                 meta=trainer.meta(1))  # what tools/export_model.py passes
    info = yaml.safe_load(open(os.path.join(str(tmp_path), 'infer_cfg.yml')))
    assert info['quantized'] is True
    assert info['compression']['quant']['not_quant_pattern'] == [
        'yolo_head.yolo_output.%d' % i for i in range(3)]
    types = {op.type for op in load_program(str(tmp_path))[0].global_block().ops}
    assert 'quantize_linear' in types and 'multiclass_nms3' in types


@pytest.mark.slow
def test_qat_export_runs_int8_and_matches_dygraph_qat(tmp_path):
    from ppdet.modeling.architectures import InferenceModel
    trainer = qat_trainer({'use_pact': True}, steps=3)
    model = trainer.model
    model.eval()
    out = str(tmp_path / 'qat')
    export_model(model, trainer.cfg, out, ['a', 'b'], meta={'steps': trainer.steps},
                 exclude_nms=True)
    info = yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))
    assert info['quantized'] is True and info['compression']['quant']['method'] == 'quant_aware'
    feeds = {'image': np.random.RandomState(9).randn(2, 3, SIZE, SIZE).astype('float32'),
             'im_shape': np.array([[SIZE, SIZE]] * 2, 'float32'),
             'scale_factor': np.array([[1., 1.]] * 2, 'float32')}
    with paddle.no_grad():
        ref = [t.numpy() for t in InferenceModel(model, exclude_nms=True)(
            *[paddle.to_tensor(feeds[k]) for k in ('image', 'im_shape', 'scale_factor')])]
    got = _predict(out, feeds, int8=True)
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        print('QAT export int8 vs dygraph cosine', _cos(r, g))
        assert _cos(r, g) > EXPORT_COSINE_TOL, _cos(r, g)


@pytest.mark.slow
def test_qat_resnet_projection_shortcuts_run_int8(tmp_path):
    """A QAT ResNet export sums each projection shortcut with a ``sum`` op (found through the
    quantize/dequantize pair observing each conv's output): no conv waits in fp32 for a
    residual scale, and the deployed int8 model still follows the dygraph QAT model."""
    from collections import Counter
    from ppdet.benchmark.onednn_ops import profile_records
    from ppdet.modeling.architectures import InferenceModel
    from test_ptq_deployed import resnet_cfg
    cfg = dict(resnet_cfg(), seed=0)
    trainer = Trainer(cfg, mode='train')
    trainer.apply_step(QATStep(None))
    trainer.lr = 1e-3
    trainer.optimizer = paddle.optimizer.Adam(1e-3, parameters=trainer.model.parameters())
    for i in range(2):
        trainer.train_step(train_batch(i))
    model = trainer.model
    model.eval()
    detector, out = str(tmp_path / 'qat'), str(tmp_path / 'qat_raw')
    export_model(model, trainer.cfg, detector, ['a', 'b'], meta=trainer.meta(1))
    assert [op.type for op in load_program(detector)[0].global_block().ops].count('sum') >= 2
    kinds = Counter((r['primitive'], r['dtype']) for r in profile_records(detector, warmup=1))
    assert kinds[('convolution', 'f32')] == 3, kinds          # the three output convs
    export_model(model, trainer.cfg, out, ['a', 'b'], meta=trainer.meta(1), exclude_nms=True)
    feeds = {'image': np.random.RandomState(9).randn(2, 3, SIZE, SIZE).astype('float32'),
             'im_shape': np.array([[SIZE, SIZE]] * 2, 'float32'),
             'scale_factor': np.array([[1., 1.]] * 2, 'float32')}
    with paddle.no_grad():
        ref = [t.numpy() for t in InferenceModel(model, exclude_nms=True)(
            *[paddle.to_tensor(feeds[k]) for k in ('image', 'im_shape', 'scale_factor')])]
    for r, g in zip(ref, _predict(out, feeds, int8=True)):
        assert _cos(r, g) > EXPORT_COSINE_TOL, _cos(r, g)


def test_export_rounds_the_final_weights_with_their_own_scales(tmp_path):
    """The weight scales a QAT model holds are those of its last forward, before the
    optimizer's last step; the export recomputes them, so each exported weight's scale is
    its channel's absolute maximum (with the stored scale it was not: checked below)."""
    from ppdet.utils.static_graph import op_producers
    trainer = qat_trainer(steps=2)
    first = next(l for _, l in trainer.model.named_sublayers()
                 if type(l).__name__ == 'QuantizedConv2D')
    fresh = np.abs(first.weight.numpy()).reshape(first.weight.shape[0], -1).max(1)
    assert not np.allclose(first._fake_quant_weight._scale.numpy(), fresh, rtol=1e-6, atol=0)
    export_model(trainer.model, trainer.cfg, str(tmp_path), ['a', 'b'], meta=trainer.meta(1))
    prog, _, _, scope = load_program(str(tmp_path))
    block = prog.global_block()
    producers = op_producers(block)
    conv = next(op for op in block.ops if op.type == 'conv2d')
    dequant = producers[conv.input('Filter')[0]]
    assert dequant.type == 'dequantize_linear'
    scale = np.array(scope.find_var(dequant.input('Scale')[0]).get_tensor())
    np.testing.assert_allclose(scale, fresh, rtol=1e-6)
