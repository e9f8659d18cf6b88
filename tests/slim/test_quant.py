"""Post-training quantization and the per-layer error report, on tiny exported models.

Random-weight tiny YOLOv3s give near-empty, ill-conditioned detections after NMS, so
these tests compare what is well defined: the raw head maps of a bare-network export
(int8 vs fp32 by cosine), and per-layer errors.  Detections are compared on a briefly
trained model in test_quant_int8.py.
"""
import os

import numpy as np
import paddle
import pytest
import yaml
from paddle.static.quantization.cal_kl_threshold import cal_kl_threshold

import ppdet.modeling  # noqa: F401
from ppdet.core.workspace import create
from ppdet.engine.export import export_model, write_infer_cfg
from ppdet.deploy.infer_cfg import write_param_names
import ppdet.slim.kl_threshold as kl_module
from ppdet.slim.kl_threshold import kl_threshold
from ppdet.slim.quant import (QUANTIZABLE_OP_TYPES, calibration_feeds, quantize_post,
                              quantize_post_with_report, resolve_skip_layers, stack_feeds)
from ppdet.slim.quant_report import format_table, load_program, write_report
from quant_test_utils import cos, paddle_predict

SIZE = 64
# Paddle Inference oneDNN int8 vs fp32 on the raw head maps of the random tiny model
# (measured 0.98-0.99 with 'hist'; oneDNN on AVX2 without VNNI uses ~7-bit weights)
RAW_COSINE_TOL = 0.97


def tiny_cfg(size=SIZE, **over):
    cfg = {'architecture': 'YOLOv3', 'num_classes': 2,
           'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN',
                      'yolo_head': 'YOLOv3Head', 'post_process': 'BBoxPostProcess'},
           'MobileNetV1': {'scale': 0.25}, 'YOLOv3FPN': {'base_channel': 32},
           'YOLOv3Loss': {'ignore_thresh': 0.7},
           'MultiClassNMS': {'score_threshold': 0.05, 'keep_top_k': 20, 'nms_top_k': 200},
           'TestReader': {'inputs_def': {'image_shape': [3, size, size]}, 'sample_transforms': [
               {'Decode': {}},
               {'Resize': {'target_size': [size, size], 'keep_ratio': False, 'interp': 2}},
               {'NormalizeImage': {'mean': [0.485, 0.456, 0.406],
                                   'std': [0.229, 0.224, 0.225], 'is_scale': True}},
               {'Permute': {}}]}}
    cfg.update(over)
    return cfg


def images(n, seed=0, size=80):
    """RGB uint8 images with a few flat rectangles on a noisy background."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        im = 120 + rng.randn(size, size + 16, 3) * 20
        for _ in range(3):
            y, x = rng.randint(0, size - 20, 2)
            im[y:y + 20, x:x + 24] = rng.randint(0, 255, 3)
        out.append(np.clip(im, 0, 255).astype('uint8'))
    return out


def export_bare(model, cfg, out_dir):
    """Export the network alone (image -> 3 raw head maps) plus infer_cfg.yml."""
    os.makedirs(out_dir, exist_ok=True)
    model.eval()
    spec = [paddle.static.InputSpec([None, 3, SIZE, SIZE], 'float32', name='image')]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True),
                    os.path.join(out_dir, 'model'))
    write_infer_cfg(cfg, out_dir, ['a', 'b'])
    write_param_names(model, out_dir)
    return out_dir


@pytest.fixture(scope='module')
def bare_fp32(tmp_path_factory):
    paddle.seed(1)
    cfg = tiny_cfg()
    model = create('YOLOv3', cfg)
    return export_bare(model, cfg, str(tmp_path_factory.mktemp('fp32') / 'bare'))


def test_ptq_int8_runs_with_mkldnn_int8_and_agrees_with_fp32(bare_fp32, tmp_path):
    out = quantize_post(bare_fp32, images(8), str(tmp_path / 'int8'), algo='hist', batch_nums=4,
                        batch_size=2)
    info = yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))
    assert info['quantized'] is True
    quant = info['compression']['quant']
    assert quant['algo'] == 'hist' and quant['calibration_images'] == 8
    assert quant['weight_quantize_type'] == 'channel_wise_abs_max'

    feeds = stack_feeds(calibration_feeds(bare_fp32, images(2, seed=7)))
    ref = paddle_predict(bare_fp32, feeds)
    got = paddle_predict(out, feeds, int8=True)
    assert len(got) == 3
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        assert cos(r, g) > RAW_COSINE_TOL, cos(r, g)


def test_ptq_leaves_decode_and_nms_in_float(tmp_path):
    paddle.seed(2)
    cfg = tiny_cfg()
    model = create('YOLOv3', cfg)
    fp32 = str(tmp_path / 'fp32')
    export_model(model, cfg, fp32, ['a', 'b'])
    out = quantize_post(fp32, images(2), str(tmp_path / 'int8'), algo='abs_max', batch_nums=2)
    prog = load_program(out)[0]
    ops = prog.global_block().ops
    consumers = {}
    for op in ops:
        for name in op.input_arg_names:
            consumers.setdefault(name, []).append(op.type)
    quant_ops = [op for op in ops if op.type.startswith('fake_quantize')]
    assert quant_ops
    for op in quant_ops:  # every quantized activation feeds only conv/matmul ops
        assert set(consumers[op.output('Out')[0]]) <= set(QUANTIZABLE_OP_TYPES)
    assert {'yolo_box', 'multiclass_nms3'} <= {op.type for op in ops}
    # the int8 model with NMS inside runs with real int8 kernels
    feeds = stack_feeds(calibration_feeds(fp32, images(1, seed=3)))
    bbox, bbox_num = paddle_predict(out, feeds, int8=True)
    assert bbox_num.shape == (1,) and bbox.shape[-1] == 6


def _break_layer(model):
    """Give backbone.conv2_1's depthwise conv an input with one huge channel it ignores.

    Its input is quantized per tensor, so the scale grows with the outlier and every
    other channel rounds to zero: this layer's own int8 error is huge.
    """
    with paddle.no_grad():
        bn = model.backbone.conv1._batch_norm
        bias = bn.bias.numpy()
        bias[0] = 500.0
        bn.bias.set_value(bias)
        dw = model.backbone.conv2_1._depthwise_conv._conv
        w = dw.weight.numpy()
        w[0] = 0.0
        dw.weight.set_value(w)
    return 'backbone.conv2_1._depthwise_conv._conv'


def test_report_ranks_broken_layer_worst_and_keep_worst_fixes_it(tmp_path):
    paddle.seed(3)
    cfg = tiny_cfg()
    model = create('YOLOv3', cfg)
    broken = _break_layer(model)
    fp32 = export_bare(model, cfg, str(tmp_path / 'fp32'))
    out, reports = quantize_post_with_report(fp32, images(4), str(tmp_path / 'int8'),
                                             keep_worst=1, report_images=2, algo='abs_max',
                                             batch_nums=4)
    first, final = reports['first'], reports['final']
    assert len(first) == len(final) == 50  # every conv of the tiny YOLOv3
    assert first[0]['layer'] == broken, format_table(first, 5)
    assert first[0]['isolated']['snr_db'] < 10 < first[1]['isolated']['snr_db']
    row = {r['layer']: r for r in final}[broken]
    assert row['quantized'] is False
    before = {r['layer']: r for r in first}[broken]
    assert row['accumulated']['snr_db'] > before['accumulated']['snr_db'] + 10
    assert reports['kept_fp32'] == [before['weight']]
    info = yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))
    assert info['compression']['quant']['skip_tensor_list'] == [before['weight']]

    jpath, mpath = write_report(final, str(tmp_path / 'report'))
    assert broken in open(mpath).read()
    assert os.path.isfile(jpath)


def test_post_quant_per_tensor_weights_gives_one_scale_per_conv(bare_fp32, tmp_path,
                                                                 monkeypatch, capsys):
    """post_quant.py --per_tensor_weights reaches quantize_post: the record says abs_max and
    every quantized conv's weight is rounded on one scale (its largest |w| -> 127); the
    default (per output channel) rounds each filter on its own."""
    from ppdet.data.synthetic import generate_dataset
    from ppdet.utils.static_graph import load_program
    from script_main import run_script_main
    from slim_script_configs import write_tiny_yolov3
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    generate_dataset(str(tmp_path / 'data'), num_train=1, num_val=1, image_size=SIZE, seed=0)
    config = write_tiny_yolov3(tmp_path / 'tiny.yml', root, tmp_path / 'out', tmp_path / 'data',
                               SIZE)
    out = str(tmp_path / 'int8')
    code, err = run_script_main(
        os.path.join(root, 'slim', 'quantization', 'post_quant.py'),
        ['-c', config, '--model_dir', bare_fp32, '--output_dir', out, '--algo', 'abs_max',
         '--batch_nums', '1', '--per_tensor_weights'], monkeypatch, capsys)
    assert code == 0, err
    quant = yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))['compression']['quant']
    assert quant['weight_quantize_type'] == 'abs_max'
    fp32_scope = load_program(bare_fp32)[3]
    prog, _, _, scope = load_program(out)
    ops = prog.global_block().ops
    dequant = [op for op in ops if 'dequantize' in op.type]
    assert dequant and {op.type for op in dequant} == {'fake_dequantize_max_abs'}
    assert all(isinstance(op.attr('max_range'), float) for op in dequant)
    convs = [op.input('Filter')[0] for op in ops if op.type in ('conv2d', 'depthwise_conv2d')]
    quantized = 0
    for name in convs:
        w = np.array(fp32_scope.find_var(name).get_tensor())
        q = np.array(scope.find_var(name).get_tensor())
        if np.array_equal(q, w):
            continue  # kept in fp32
        quantized += 1
        np.testing.assert_array_equal(q, np.round(w / np.abs(w).max() * 127), err_msg=name)
    assert quantized == len(dequant)


def test_skip_layers_accepts_model_or_tensor_names(bare_fp32):
    names = resolve_skip_layers(bare_fp32, 'yolo_head.yolo_output.0,backbone.conv1._conv.weight')
    assert len(names) == 2 and all(n.endswith('.w_0') for n in names)
    assert resolve_skip_layers(bare_fp32, names) == names
    with pytest.raises(ValueError, match='did you mean'):
        resolve_skip_layers(bare_fp32, 'yolo_head.yolo_outptu.0')


def test_bad_arguments_are_named(bare_fp32, tmp_path):
    with pytest.raises(ValueError, match='unknown PTQ algo'):
        quantize_post(bare_fp32, images(1), str(tmp_path), algo='kl')
    with pytest.raises(FileNotFoundError, match='export'):
        quantize_post(str(tmp_path / 'nothing'), images(1), str(tmp_path))


def test_compare_int8_refuses_speedup_when_detections_disagree(tmp_path):
    from ppdet.slim.quant_report import compare_int8
    dirs = []
    for seed in (5, 6):  # two different random models: int8 of one vs fp32 of the other
        paddle.seed(seed)
        cfg = tiny_cfg()
        d = str(tmp_path / ('fp32_%d' % seed))
        export_model(create('YOLOv3', cfg), cfg, d, ['a', 'b'])
        dirs.append(d)
    int8 = quantize_post(dirs[1], images(1), str(tmp_path / 'int8'), algo='abs_max', batch_nums=1)
    result = compare_int8(dirs[0], int8, images(2, seed=4), runtimes=('paddle',),
                          tolerance={'score_thresh': 0.0}, repeats=2)
    entry = result['runtimes']['paddle']
    assert entry['agreement']['agrees'] is False
    assert entry['speedup'] is None and 'no speed-up is reported' in entry['refused']
    assert entry['refused'].startswith('int8 detections disagree with fp32')
    assert set(result['median_ms']) == {'paddle_fp32', 'paddle_int8'}
    # a reference that finds nothing (score threshold above every score) is no disagreement
    nothing = compare_int8(dirs[0], int8, images(2, seed=4), runtimes=('paddle',),
                           tolerance={'score_thresh': 1.01}, repeats=2)['runtimes']['paddle']
    assert nothing['refused'].startswith('int8 detections could not be compared with fp32 '
                                         '(the reference finds nothing')


def test_kl_calibration_uses_the_numpy_search(bare_fp32, tmp_path, monkeypatch):
    """A KL calibration of the tiny export asks ppdet.slim.kl_threshold for every activation's
    threshold; on the histograms it collected, Paddle's search gives the same (checked on
    eight of them: Paddle's takes ~0.2 s each)."""
    calls = []

    def counted(hist, width, bits):
        calls.append((hist.copy(), width, bits))
        return kl_threshold(hist, width, bits)

    monkeypatch.setattr(kl_module, 'kl_threshold', counted)
    out = quantize_post(bare_fp32, images(2), str(tmp_path / 'int8'), algo='KL', batch_nums=2)
    assert os.path.isfile(os.path.join(out, 'model.pdmodel'))
    assert len(calls) > 20, 'KL calibration did not use the numpy search'
    step = len(calls) // 8
    for hist, width, bits in calls[::step][:8]:
        assert hist.sum() > 0 and len(hist) == 2048
        assert kl_threshold(hist, width, bits) == cal_kl_threshold(hist, width, bits)


def test_report_rows_of_a_split_layer_say_which_part():
    """A route concat's conv split by the export shows as two rows of one layer name: the
    table says which part each is (the audit read them as a duplicate)."""
    def row(layer, weight, snr):
        err = {'cosine': 0.99, 'snr_db': snr}
        return {'layer': layer, 'weight': weight, 'op_type': 'conv2d', 'quantized': True,
                'isolated': err, 'accumulated': err}
    table = format_table([row('neck.c0', 'conv_3.w_0_part1', 20.0),
                          row('neck.c0', 'conv_3.w_0_part0', 25.0),
                          row('backbone.c1', 'conv_1.w_0', 30.0)])
    assert '| neck.c0 [part 2/2] |' in table and '| neck.c0 [part 1/2] |' in table
    assert '| backbone.c1 |' in table


def test_fewer_calibration_images_than_asked_are_said(bare_fp32, tmp_path, ppdet_log):
    """--batch_nums 10 --batch_size 4 on 1 image said only 'calibrating on 1 images'."""
    quantize_post(bare_fp32, images(2), str(tmp_path / 'int8'), algo='abs_max', batch_nums=3,
                  batch_size=2)
    assert ('PTQ abs_max: 2 calibration image(s), not the 6 asked for (--batch_nums 3 x '
            '--batch_size 2)') in ppdet_log.text
