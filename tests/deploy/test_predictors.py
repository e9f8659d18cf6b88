"""The predictor factory: every run mode runs here or fails with its clear message."""
import os

import numpy as np
import onnx
import paddle
import pytest

from ppdet.deploy import (BackendUnavailable, Preprocessor, create_predictor, load_infer_cfg,
                          match_batch)
from ppdet.benchmark.cpu import has_native_bf16
from ppdet.deploy.lite import LiteEnvMissing
from ppdet.deploy.onnx import quantize_onnx
from ppdet.deploy.predictors import trt_dynamic_shapes

no_cuda = pytest.mark.skipif(paddle.is_compiled_with_cuda(),
                             reason='checks the message of a Paddle build without CUDA')


def _inputs(model_dir, images):
    return Preprocessor(load_infer_cfg(model_dir))(images)


def _agree(ref, out):
    r = match_batch(ref, out)
    assert r['n_a'] > 0
    assert r['matched_fraction'] == 1.0, r
    assert r['mean_iou'] > 0.999 and r['max_score_diff'] < 1e-4, r
    return r


def test_paddle_outputs_follow_the_contract(tiny_model_dir, images):
    outs = create_predictor(tiny_model_dir, 'paddle', cpu_threads=1).run(
        _inputs(tiny_model_dir, images))
    assert sorted(outs) == ['bbox', 'bbox_num']
    assert outs['bbox_num'].dtype == np.int32 and outs['bbox_num'].shape == (3,)
    assert outs['bbox'].shape == (int(outs['bbox_num'].sum()), 6)
    rows = outs['bbox'][:outs['bbox_num'][1]]
    assert set(rows[:, 0].astype(int)) <= {0, 1, 2}
    # boxes in original pixels of a 96x128 (h, w) image for image 2
    second = outs['bbox'][outs['bbox_num'][0]:outs['bbox_num'][:2].sum()]
    assert second[:, [2, 4]].max() <= 128 + 1e-3 and second[:, [3, 5]].max() <= 96 + 1e-3


def test_paddle_with_and_without_onednn_agree(yolov3_model_dir, images):
    inputs = _inputs(yolov3_model_dir, images)
    on = create_predictor(yolov3_model_dir, 'paddle', enable_mkldnn=True)
    off = create_predictor(yolov3_model_dir, 'paddle', enable_mkldnn=False)
    assert on.config.mkldnn_enabled() and not off.config.mkldnn_enabled()
    _agree(on.run(inputs), off.run(inputs))


@pytest.mark.parametrize('fixture', ['tiny_model_dir', 'yolov3_model_dir'])
def test_paddle_and_onnx_agree(fixture, request, images):
    model_dir = request.getfixturevalue(fixture)
    inputs = _inputs(model_dir, images)
    ref = create_predictor(model_dir, 'paddle').run(inputs)
    onnx_pred = create_predictor(model_dir, 'onnx', cpu_threads=1)
    assert os.path.isfile(os.path.join(model_dir, 'model.onnx'))
    _agree(ref, onnx_pred.run(inputs))          # batch of 3: run image by image
    _agree(create_predictor(model_dir, 'paddle').run(_inputs(model_dir, images[:1])),
           onnx_pred.run(_inputs(model_dir, images[:1])))


def test_onnx_conversion_is_cached(tiny_model_dir):
    create_predictor(tiny_model_dir, 'onnx')
    path = os.path.join(tiny_model_dir, 'model.onnx')
    stamp = os.path.getmtime(path)
    create_predictor(tiny_model_dir, 'onnx')
    assert os.path.getmtime(path) == stamp


def test_onnx_on_the_gpu_is_refused_before_converting(tiny_model_dir, tmp_path):
    """--run_mode onnx --device GPU wrote MODEL/model.onnx, then said it needs onnxruntime-gpu."""
    import shutil
    import onnxruntime
    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        pytest.skip('onnxruntime-gpu')
    model_dir = str(tmp_path / 'model')
    shutil.copytree(tiny_model_dir, model_dir, ignore=shutil.ignore_patterns('*.onnx'))
    with pytest.raises(BackendUnavailable, match='needs onnxruntime-gpu'):
        create_predictor(model_dir, 'onnx', device='GPU')
    assert not [f for f in os.listdir(model_dir) if f.endswith('.onnx')]


def test_a_corrupt_export_is_refused_before_any_runtime_reads_it(tiny_model_dir, tmp_path):
    """Every backend checks the program first (Paddle Inference segfaulted on it; the Lite
    run mode is refused before its environment is looked for)."""
    import shutil
    model_dir = str(tmp_path / 'model')
    shutil.copytree(tiny_model_dir, model_dir)
    with open(os.path.join(model_dir, 'model.pdmodel'), 'wb') as f:
        f.write(b'\x00garbage' * 100)
    with pytest.raises(ValueError, match='model.pdmodel is not a Paddle program'):
        create_predictor(model_dir, 'lite', lite_env=str(tmp_path / 'no-lite-env'))


def test_onnx_refuses_nms_over_a_dynamic_box_count(tmp_path):
    from deploy_models import export_yolov3
    model_dir = export_yolov3(str(tmp_path), size=None)
    with pytest.raises(ValueError, match='dynamic number of boxes'):
        create_predictor(model_dir, 'onnx')


def test_onnx_int8_qdq_close_to_fp32(tiny_model_dir, images, photo):
    calib = (_inputs(tiny_model_dir, [im]) for im in images + [photo[::-1], photo[:, ::-1]])
    path = quantize_onnx(tiny_model_dir, calib)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    inputs = _inputs(tiny_model_dir, images)
    ref = create_predictor(tiny_model_dir, 'paddle').run(inputs)
    r = match_batch(ref, create_predictor(tiny_model_dir, 'onnx', onnx_file=path).run(inputs))
    # measured on this fixture: 0.93 matched, mean IoU 0.94, max score diff 0.03
    assert r['matched_fraction'] >= 0.8 and r['mean_iou'] > 0.85, r


@no_cuda
@pytest.mark.parametrize('run_mode', ['trt_fp32', 'trt_fp16', 'trt_int8'])
def test_tensorrt_modes_fail_first_with_a_clear_message(run_mode, tmp_path):
    # an empty directory: the check must come before anything reads the model
    with pytest.raises(BackendUnavailable) as e:
        create_predictor(str(tmp_path), run_mode, device='GPU')
    msg = str(e.value)
    assert msg.startswith('run_mode %s needs a GPU build of Paddle with TensorRT '
                          '(paddlepaddle-gpu + TensorRT libs); this Paddle build has no CUDA: '
                          'use --run_mode paddle or onnx, or run on a GPU machine: ' % run_mode)
    assert 'pip install paddlepaddle-gpu' in msg and '--run_mode %s' % run_mode in msg


def test_tensorrt_dynamic_shapes():
    fixed = {'image_shape': [3, 320, 320]}
    mn, mx, opt = trt_dynamic_shapes(fixed, 4, 1, 640, 1280)
    assert mn['image'] == [1, 3, 320, 320] and mx['image'] == [4, 3, 320, 320]
    assert opt['scale_factor'] == [4, 2]
    mn, mx, opt = trt_dynamic_shapes({'image_shape': [3, None, None]}, 2, 32, [480, 640], 1280)
    assert mn['image'] == [1, 3, 32, 32] and opt['image'] == [2, 3, 480, 640]
    assert mx['image'] == [2, 3, 1280, 1280]


@no_cuda
def test_gpu_device_without_cuda(tiny_model_dir):
    with pytest.raises(BackendUnavailable, match='no CUDA: use --device CPU'):
        create_predictor(tiny_model_dir, 'paddle', device='GPU')


def test_bad_arguments(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown run_mode 'tensorrt'"):
        create_predictor(tiny_model_dir, 'tensorrt')
    with pytest.raises(FileNotFoundError, match='missing model.pdmodel.*export_model.py'):
        create_predictor(str(tmp_path), 'paddle')
    with pytest.raises(ValueError, match='missing model inputs'):
        create_predictor(tiny_model_dir, 'paddle').run({'image': np.zeros((1, 3, 64, 64))})


def test_lite_without_its_environment_names_make_lite_env(tiny_model_dir, tmp_path):
    with pytest.raises(LiteEnvMissing, match='run `make lite-env`'):
        create_predictor(tiny_model_dir, 'lite', lite_env=str(tmp_path / 'no-lite-env'))


def test_paddle_int8_of_a_ptq_model_runs_and_is_compared(yolov3_model_dir, images, photo,
                                                          tmp_path):
    from ppdet.deploy import Detector
    from ppdet.slim.quant import quantize_post
    int8_dir = quantize_post(yolov3_model_dir, images + [photo[::-1], photo[:, ::-1]],
                             str(tmp_path / 'int8'), algo='abs_max', batch_nums=5)
    assert load_infer_cfg(int8_dir)['quantized'] is True
    det = Detector(int8_dir)                           # quantized: int8 kernels by default
    assert det.predictor.config.mkldnn_int8_enabled()
    inputs = _inputs(yolov3_model_dir, images)
    ref = create_predictor(yolov3_model_dir, 'paddle').run(inputs)
    r = match_batch(ref, det.predictor.run(inputs))
    # untrained weights give near-tied scores, so agreement is loose here (measured 0.65
    # matched, mean IoU 0.71); trained models must be checked on the real eval
    assert r['n_b'] > 0 and r['matched_fraction'] > 0.3, r


def test_enable_mkldnn_false_on_an_int8_run_is_said_to_have_no_effect(yolov3_int8_dir,
                                                                      ppdet_log):
    """--enable_mkldnn false on an int8 export ran oneDNN int8 anyway, without a word."""
    pred = create_predictor(yolov3_int8_dir, 'paddle', enable_mkldnn=False,
                            enable_mkldnn_int8=True)
    assert pred.config.mkldnn_int8_enabled()
    assert 'enable_mkldnn=False has no effect on an int8 run' in ppdet_log.text
    ppdet_log.messages.clear()
    create_predictor(yolov3_int8_dir, 'paddle', enable_mkldnn=True, enable_mkldnn_int8=True)
    assert 'no effect' not in ppdet_log.text


def test_require_bf16_names_the_cpus_that_have_it():
    from ppdet.deploy.predictors import require_bf16
    require_bf16(['avx2', 'avx512f', 'avx512_bf16'])
    require_bf16(['amx_bf16'])
    for flags in (['avx2', 'fma'], ['avx2', 'avx512f', 'avx512_vnni']):
        with pytest.raises(BackendUnavailable, match='AVX512-BF16 or AMX-BF16.*enable_mkldnn_int8'):
            require_bf16(flags)


def test_bf16_requests_that_cannot_mean_bf16_are_refused(tiny_model_dir):
    with pytest.raises(ValueError, match='run_mode onnx does not take it'):
        create_predictor(tiny_model_dir, 'onnx', enable_mkldnn_bfloat16=True)
    with pytest.raises(ValueError, match='needs enable_mkldnn true'):
        create_predictor(tiny_model_dir, 'paddle', enable_mkldnn=False,
                         enable_mkldnn_bfloat16=True)
    with pytest.raises(ValueError, match='this one is quantized'):
        create_predictor(tiny_model_dir, 'paddle', enable_mkldnn_int8=True,
                         enable_mkldnn_bfloat16=True)


@pytest.mark.skipif(has_native_bf16(), reason='checks the refusal on a CPU without bf16')
def test_bf16_on_a_cpu_without_it_fails_with_the_fix(tiny_model_dir):
    with pytest.raises(BackendUnavailable, match='run fp32, or a quantized model'):
        create_predictor(tiny_model_dir, 'paddle', enable_mkldnn_bfloat16=True)


@pytest.mark.skipif(not has_native_bf16(), reason='this CPU has no AVX512-BF16 / AMX-BF16')
def test_bf16_runs_the_convs_in_bf16_close_to_fp32(yolov3_model_dir, images):
    from ppdet.benchmark.onednn_ops import onednn_profile
    inputs = _inputs(yolov3_model_dir, images)
    ref = create_predictor(yolov3_model_dir, 'paddle').run(inputs)
    bf16 = create_predictor(yolov3_model_dir, 'paddle', enable_mkldnn_bfloat16=True)
    r = match_batch(ref, bf16.run(inputs))
    # measured: 59 of 60 matched, max score difference 0.007 (bf16 keeps 8 mantissa bits)
    assert r['n_b'] > 0 and r['matched_fraction'] > 0.9 and r['max_score_diff'] < 0.02, r
    convs = [row for row in onednn_profile(yolov3_model_dir, bf16=True)['rows']
             if row['primitive'] == 'convolution']
    assert convs and all(row['dtype'] == 'bf16' for row in convs), convs
    fp32 = [row for row in onednn_profile(yolov3_model_dir)['rows']
            if row['primitive'] == 'convolution']
    assert fp32 and all(row['dtype'] == 'f32' for row in fp32), fp32
