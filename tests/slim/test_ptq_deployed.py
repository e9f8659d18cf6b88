"""Post-training int8 as deployed: the architecture's float-only layers stay fp32, the
oneDNN int8 graph computes what the simulation computed (per-layer deployed report), and
calibration never takes eval images unless asked.  Tiny random YOLOv3 at 64 px."""
import importlib.util
import os
import sys

import numpy as np
import paddle
import pytest
import yaml

import ppdet.modeling  # noqa: F401
from ppdet.core.workspace import create
from ppdet.engine.export import export_model
from ppdet.slim.quant import calibration_feeds, quantize_post, stack_feeds
from ppdet.slim.quant_report import (deployed_layer_report, deployed_worst, load_program,
                                     quantizable_ops)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_quant import images, tiny_cfg  # noqa: E402

OUTPUT_CONVS = ['yolo_head.yolo_output.%d' % i for i in range(3)]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    paddle.seed(3)
    cfg = resnet_cfg()
    model = create('YOLOv3', cfg)
    out = str(tmp_path_factory.mktemp('ptq_deployed') / 'fp32')
    export_model(model, cfg, out, ['a', 'b'])
    return out


def resnet_cfg():
    """The built-in model's family (thin ResNet18 YOLOv3).  A MobileNetV1 backbone is left
    out: its depthwise convs depart from the simulation in oneDNN int8 (measured on the tiny
    random model: 29.8 dB simulated vs 15.8 dB deployed at the first one; open)."""
    return tiny_cfg(YOLOv3={'backbone': 'ResNet', 'neck': 'YOLOv3FPN',
                            'yolo_head': 'YOLOv3Head', 'post_process': 'BBoxPostProcess'},
                    ResNet={'depth': 18, 'variant': 'b', 'return_idx': [1, 2, 3],
                            'freeze_at': -1, 'freeze_norm': False, 'norm_decay': 0.,
                            'width_mult': 0.25})


@pytest.fixture(scope='module')
def int8(exported, tmp_path_factory):
    return quantize_post(exported, images(4), str(tmp_path_factory.mktemp('int8') / 'm'),
                         algo='abs_max', batch_nums=4)


def _quantized_layers(model_dir):
    from ppdet.slim.quant_report import _OP_INPUT_SLOT, _trace_back
    from ppdet.utils.static_graph import op_producers
    prog = load_program(model_dir)[0]
    producers = op_producers(prog.global_block())
    return {w for op, w, _ in quantizable_ops(prog)
            if _trace_back(op.input(_OP_INPUT_SLOT[op.type])[0], producers)[1] is not None}


def _weights_of(model_dir, layers):
    names = yaml.safe_load(open(os.path.join(model_dir, 'param_names.json')))
    return {t for t, n in names.items() if n.rsplit('.weight', 1)[0] in layers}


def test_export_records_and_ptq_keeps_declared_float_only_layers(exported, int8, tmp_path):
    info = yaml.safe_load(open(os.path.join(exported, 'infer_cfg.yml')))
    assert info['float_only_layers'] == OUTPUT_CONVS  # declared by YOLOv3, as QAT uses it
    quant = yaml.safe_load(open(os.path.join(int8, 'infer_cfg.yml')))['compression']['quant']
    out_w = _weights_of(exported, OUTPUT_CONVS)
    assert len(out_w) == 3
    assert quant['float_only_layers'] == OUTPUT_CONVS
    assert set(quant['float_only_tensors']) == out_w <= set(quant['skip_tensor_list'])
    quantized = _quantized_layers(int8)
    assert quantized and not quantized & out_w
    # the flag quantizes them anyway
    every = quantize_post(exported, images(2), str(tmp_path / 'all'), algo='abs_max',
                          batch_nums=2, quantize_float_only=True)
    assert out_w <= _quantized_layers(every)
    assert yaml.safe_load(open(os.path.join(every, 'infer_cfg.yml')))['compression'][
        'quant']['float_only_layers'] == []


def _set_thresholds(model_dir, value):
    """Give every op a (clipping) out_threshold, as PaddleSlim's KL/mse ones can be."""
    from paddle.framework import core
    path = os.path.join(model_dir, 'model.pdmodel')
    desc = core.ProgramDesc(open(path, 'rb').read())
    block = desc.block(0)
    for i in range(block.op_size()):
        op = block.op(i)
        if op.type() in ('conv2d', 'depthwise_conv2d', 'batch_norm', 'relu', 'elementwise_add'):
            op._set_attr('out_threshold', float(value))
    open(path, 'wb').write(desc.serialize_to_string())


def test_deployed_int8_follows_simulation_and_report_names_departure(exported, int8, tmp_path):
    feeds = stack_feeds(calibration_feeds(exported, images(2, seed=5)))
    report = deployed_layer_report(exported, int8, feeds)
    rows = report['rows']
    assert len(rows) == len(quantizable_ops(load_program(exported)[0]))
    heads = [r for r in rows if r['layer'] in OUTPUT_CONVS]
    assert len(heads) == 3 and not any(r['quantized'] for r in heads)
    for r in heads:  # what decoding reads: execution adds no error beyond the simulation's
        assert r['deployed_vs_fp32']['snr_db'] > r['sim_vs_fp32']['snr_db'] - 3.0, r
    assert set(deployed_worst(report, 2)) <= _quantized_layers(int8)
    aligned = np.mean([r['deployed_vs_sim']['snr_db'] for r in rows])

    # thresholds the simulation never used (clipping at 0.05): oneDNN clips, the report says
    # where execution first departs
    import shutil
    bad = str(tmp_path / 'bad')
    shutil.copytree(int8, bad)
    _set_thresholds(bad, 0.05)
    report = deployed_layer_report(exported, bad, feeds)
    assert report['first_departure'] is not None
    first = next(r for r in report['rows'] if r['layer'] == report['first_departure'])
    assert first['deployed_vs_sim']['snr_db'] < 30
    assert np.mean([r['deployed_vs_sim']['snr_db'] for r in report['rows']]) < aligned - 5


def _post_quant_module():
    spec = importlib.util.spec_from_file_location(
        'post_quant_script', os.path.join(ROOT, 'slim', 'quantization', 'post_quant.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize('flag,folder', [([], 'train'), (['--calib_dataset', 'eval'], 'val'),
                                         (['--quantize_residual_adds'], 'train')])
def test_post_quant_calibrates_on_train_images_unless_asked(tmp_path, monkeypatch, flag, folder):
    from ppdet.data.synthetic import generate_dataset
    from slim_script_configs import write_tiny_yolov3
    generate_dataset(str(tmp_path / 'data'), num_train=3, num_val=5, image_size=64, seed=0)
    config = write_tiny_yolov3(tmp_path / 'tiny.yml', ROOT, tmp_path / 'out', tmp_path / 'data',
                               64)
    seen = {}

    def fake_quantize_post(model_dir, data, out_dir, **kw):
        seen['data'], seen['kw'] = list(data), kw
        return out_dir
    import ppdet.slim.quant as quant
    monkeypatch.setattr(quant, 'quantize_post', fake_quantize_post)
    # no model is quantized here (only which images would calibrate it): 'x' is no export
    monkeypatch.setattr(quant, 'check_dirs', lambda model_dir, out_dir: None)
    monkeypatch.setattr(sys, 'argv', ['post_quant.py', '-c', str(config), '--model_dir', 'x',
                                      '--batch_nums', '8'] + flag)
    _post_quant_module().main()
    files = seen['data']
    assert files and all(os.path.basename(os.path.dirname(f)) == folder for f in files), files
    assert len(files) == (3 if folder == 'train' else 5)
    assert seen['kw']['calibration_source'] == ('TrainDataset' if folder == 'train'
                                                else 'EvalDataset')
    assert seen['kw']['quantize_residual_adds'] == ('--quantize_residual_adds' in flag)
    assert np.all([os.path.isfile(f) for f in files])


def test_split_route_concats_run_int8_without_a_round_trip(exported, int8, tmp_path,
                                                            monkeypatch):
    """The export's split concats (program_fixes.split_concat_convs) quantize with their
    residual scale: against the same model exported with its concats, oneDNN runs no int8
    concat and two u8 reorders fewer (the dequantize + quantize round trip of the backbone
    map each concat took), and no conv falls back to fp32."""
    from collections import Counter
    from ppdet.benchmark.onednn_ops import timed_pass_records, _CHILD
    import ppdet.deploy.program_fixes as fixes
    quant = yaml.safe_load(open(os.path.join(int8, 'infer_cfg.yml')))['compression']['quant']
    assert quant['residual_scales'] == 4           # two sums, one scale per conv of each
    monkeypatch.setattr(fixes, '_split_concats', lambda *a, **k: {})
    paddle.seed(3)
    cfg = resnet_cfg()
    export_model(create('YOLOv3', cfg), cfg, str(tmp_path / 'fp32'), ['a', 'b'])
    joined = quantize_post(str(tmp_path / 'fp32'), images(4), str(tmp_path / 'int8'),
                           algo='abs_max', batch_nums=4)

    def kinds(model_dir):
        return Counter((r['primitive'], r['dtype'])
                       for r in timed_pass_records(_CHILD, [model_dir, 'paddle', 1, 1], model_dir))
    split, concat = kinds(int8), kinds(joined)
    assert concat[('concat', 's8')] == 2 and split[('concat', 's8')] == 0
    assert split[('reorder', 'u8')] == concat[('reorder', 'u8')] - 2
    assert split[('convolution', 'f32')] == concat[('convolution', 'f32')]
    assert split[('convolution', 's8')] + split[('convolution', 'u8')] == \
        concat[('convolution', 's8')] + concat[('convolution', 'u8')] + 2


def test_resnet_adds_fold_into_convs_so_none_is_quantized_as_an_add(exported):
    """``quantize_residual_adds`` leaves ResNet alone: its adds read a conv + BN output,
    which oneDNN folds into the conv as a residual input."""
    from ppdet.slim.residual_adds import standalone_adds
    ops = load_program(exported)[0].global_block().ops
    assert [op for op in ops if op.type == 'elementwise_add' and op.attr('axis') == -1]
    assert standalone_adds(exported) == []


def test_int8_outputs_are_not_behind_identity_scales(int8):
    """PaddleSlim's save puts scale(x, 1.0) in front of each output; PTQ drops them."""
    block = load_program(int8)[0].global_block()
    writers = {n: op for op in block.ops for n in op.output_arg_names}
    fetched = [op.input('X')[0] for op in block.ops if op.type == 'fetch']
    assert len(fetched) == 2 and all(writers[n].type == 'multiclass_nms3' for n in fetched)


def test_projection_shortcut_convs_run_int8(int8):
    """The ResNet blocks with a projection shortcut sum their two conv + BN branches with a
    ``sum`` op (program_fixes.sum_projection_adds): oneDNN fuses neither conv into the
    other, so no conv waits in fp32 for a residual scale; only the three output convs
    (declared float-only) run fp32."""
    from collections import Counter
    from ppdet.benchmark.onednn_ops import profile_records
    sums = [op for op in load_program(int8)[0].global_block().ops if op.type == 'sum']
    assert len(sums) >= 2
    kinds = Counter((r['primitive'], r['dtype']) for r in profile_records(int8, warmup=1))
    assert kinds[('convolution', 'f32')] == len(OUTPUT_CONVS), kinds
    assert kinds[('sum', 'f32')] == len(sums)
