"""The face pipeline (tools/pipeline.py --model blazeface) end to end on a tiny face set: real
training, WIDER FACE evaluation, pruning, int8, QAT, distillation, the imported MediaPipe
model and its int8 model on real photos."""
import os

import pytest
import yaml

from ppdet.pipeline.face_job import (FACE_CONFIG, FACE_PRUNE_TARGET, FacePipeline,
                                     face_results_table)

from config_writer import fixed_size_readers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = 128


def _tiny_face_config(directory):
    """The built-in face config at a 128 input, batch 4, no augmentation."""
    norm = {'NormalizeImage': {'mean': [104., 117., 123.], 'std': [127.502231] * 3,
                               'is_scale': False}}
    cfg = {'_BASE_': [os.path.join(ROOT, FACE_CONFIG)], 'epoch': 2, 'log_iter': 1,
           'worker_num': 0, 'snapshot_epoch': 1,
           'LearningRate': {'base_lr': 0.003, 'schedulers': []},
           'MultiClassNMS': {'score_threshold': 0.01}}
    cfg.update(fixed_size_readers(TINY, norm, num_max_boxes=60, interp=1))
    path = os.path.join(str(directory), 'tiny_face.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f)
    return path


@pytest.mark.slow
def test_face_pipeline_runs_every_stage(tmp_path):
    kw = dict(work_dir=str(tmp_path / 'pipe'), dataset_dir=str(tmp_path / 'faces'),
              sensitivity_images=4, finetune_epochs=1, calib_images=2, ptq_algos=('abs_max',),
              latency_repeats=2, photo_canvases=1, overrides=['TrainReader.batch_size=4'],
              mediapipe_config=os.path.join(ROOT, 'configs', 'face_detection',
                                            'mediapipe_blazeface_builtin.yml'),
              dataset_kwargs=dict(num_train=12, num_val=4, min_side=128, max_side=192,
                                  max_faces=6))
    tiny = _tiny_face_config(tmp_path)
    lite = os.path.join(str(tmp_path), 'tiny_lite.yml')
    with open(lite, 'w') as f:
        yaml.safe_dump({'_BASE_': [tiny], 'BlazeNet': {'lite_edition': True}}, f)
    res = FacePipeline(tiny, lite_config=lite, **kw).run()
    half = FACE_PRUNE_TARGET
    assert res['rows'] == ['baseline', 'mediapipe', 'uniform_%s' % half, 'derived_%s' % half,
                           'student_alone', 'post_abs_max', 'mediapipe_post_abs_max', 'finetuned', 'aware',
                           'mediapipe_finetuned', 'mediapipe_aware', 'uniform_%s_distill' % half,
                           'lite', 'lite_post_abs_max', 'lite_post_mse', 'lite_post_mse_adds',
                           'lite_finetuned', 'lite_aware', 'lite_aware_adds',
                           'lite_alone', 'lite_distill']
    for name in res['rows']:
        row = res[name]
        assert os.path.isfile(os.path.join(row['inference_dir'], 'model.pdmodel')), name
        # every row is scored by the official WIDER FACE evaluation's three subsets
        assert all(0.0 <= row[k] <= 1.0 for k in ('Easy', 'Medium', 'Hard')), name
        assert row['AP'] == row['Easy']
    # the int8 rows are scored deployed; the aware row keeps its simulated score beside it
    for name in ('post_abs_max', 'mediapipe_post_abs_max', 'aware', 'mediapipe_aware',
                 'lite_post_mse_adds', 'lite_aware_adds'):
        info = yaml.safe_load(open(os.path.join(res[name]['inference_dir'], 'infer_cfg.yml')))
        assert info['quantized'], name
        assert res[name]['Hard'] == res[name]['Hard_deployed']
    assert 'AP_simulated' in res['aware']
    # Lite's int8 twin rows: the same PTQ, one with its residual adds in int8 too
    adds = yaml.safe_load(open(os.path.join(res['lite_post_mse_adds']['inference_dir'],
                                            'infer_cfg.yml')))['compression']['quant']
    assert adds['quantize_residual_adds'] and adds['residual_adds_int8'] > 0
    assert res['lite_post_mse_adds']['quantize_residual_adds']
    assert not res['lite_post_mse']['quantize_residual_adds']
    # ... and its QAT twin rows (the adds chosen once, by tracing, and recorded)
    qat = yaml.safe_load(open(os.path.join(res['lite_aware_adds']['inference_dir'],
                                           'infer_cfg.yml')))['compression']['quant']
    assert qat['quantize_residual_adds'] and len(qat['residual_adds']) > 0
    assert res['lite_aware_adds']['twin'] == res['lite_aware']['twin'] == 'lite_finetuned'
    assert res['lite_aware_adds']['quantize_residual_adds']
    assert not res['lite_aware']['quantize_residual_adds']
    # ... and, only when named, the same with the declared float-only head convs int8 too
    res = FacePipeline(tiny, lite_config=lite, stages=['lite:aware_adds_int8_head'],
                       **kw).run()
    assert res['rows'][-1] == 'lite_aware_adds_int8_head'
    head = yaml.safe_load(open(os.path.join(res['lite_aware_adds_int8_head']['inference_dir'],
                                            'infer_cfg.yml')))['compression']['quant']
    assert head['not_quant_pattern'] == [] and qat['not_quant_pattern']
    assert res['lite_aware_adds_int8_head']['int8_head'] and not res['lite_aware_adds']['int8_head']
    # pruning: both plans at the same cut, below the baseline's FLOPs; the distilled student
    # and its twin share the pruned structure; the imported model is 128 px
    plans = res['prune_plans'][half]
    assert plans['target_cut'] > 0.05
    for plan in ('uniform', 'derived'):
        assert abs(plans[plan]['cut'] - plans['target_cut']) < 0.03
        assert res['%s_%s' % (plan, half)]['GFLOPs'] < res['baseline']['GFLOPs']
    assert res['uniform_%s_distill' % half]['GFLOPs'] == res['uniform_%s' % half]['GFLOPs']
    assert res['uniform_%s_distill' % half]['distill'] == 'l2'
    assert res['mediapipe']['input_size'] == 128
    assert res['lite']['GFLOPs'] > res['baseline']['GFLOPs']   # Lite is wider than NAS
    # BlazeFace -> Lite: the Lite student, the unpruned BlazeFace twin as teacher, and its twin
    assert res['lite_distill']['teacher'] == res['student_alone']['weights']
    assert res['lite_distill']['twin'] == 'lite_alone'
    assert res['uniform_%s_distill' % half]['twin'] == 'uniform_%s' % half
    assert res['lite_distill']['GFLOPs'] == res['lite_alone']['GFLOPs'] == res['lite']['GFLOPs']
    assert res['lite_aware']['twin'] == 'lite_finetuned'
    # latency of every row on Paddle fp32 (int8 rows on Paddle int8)
    lat = res['latency']['median_ms']
    assert lat['baseline']['paddle_fp32'] > 0 and lat['post_abs_max']['paddle_int8'] > 0
    # and onnxruntime: the fixed-size face exports keep a static box count into NMS
    assert lat['baseline']['onnx_fp32'] > 0 and not res['latency']['failed'], res['latency']
    # real photos: the imported model finds the faces and int8 keeps most of them
    photos = res['photos']
    assert len(photos['photos']) == 4
    kept = photos['mediapipe_post_abs_max']
    assert kept['n_ref'] >= 6 and kept['matched'] <= kept['n_ref']
    assert photos['mediapipe_aware']['reference'] == 'mediapipe'
    assert photos['mediapipe_aware_vs_mediapipe_finetuned']['reference'] == 'mediapipe_finetuned'
    table = face_results_table(res)
    assert '| mediapipe_post_abs_max |' in table and 'kept' in table
    assert '| lite_distill | l2 (' in table and ' | lite_alone | ' in table
