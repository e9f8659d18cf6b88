"""The dense-detector pipeline (tools/pipeline.py --model retinanet / fcos) end to end on a
tiny generated set: real training, COCO evaluation, sensitivities, pruning at one FLOPs cut,
the unpruned twin, post-training int8, QAT beside its fp32 twin, dense-head distillation of
the pruned student and CPU latency of every row."""
import os

import pytest
import yaml

from ppdet.pipeline.dense_job import (DENSE_CONFIGS, DENSE_DISTILL_WEIGHT, DENSE_PRUNE_TARGET,
                                      DensePipeline, dense_results_table)

from config_writer import fixed_size_readers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = 96
NORM = {'NormalizeImage': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
                           'is_scale': True}}


def _tiny_dense_config(directory, family):
    """The built-in config of ``family`` at a 96 input, batch 4, no augmentation, constant LR."""
    cfg = {'_BASE_': [os.path.join(ROOT, DENSE_CONFIGS[family])], 'epoch': 6, 'log_iter': 50,
           'worker_num': 0, 'snapshot_epoch': 1, 'seed': 1,
           'LearningRate': {'base_lr': 0.005, 'schedulers': []},
           'MultiClassNMS': {'score_threshold': 0.0}}
    cfg.update(fixed_size_readers(TINY, NORM, num_max_boxes=30, interp=2))
    path = os.path.join(str(directory), 'tiny_%s.yml' % family)
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f)
    return path


@pytest.mark.slow
def test_dense_pipeline_runs_every_stage(tmp_path):
    target = DENSE_PRUNE_TARGET
    work = str(tmp_path / 'pipe')
    kw = dict(work_dir=work, dataset_dir=str(tmp_path / 'data'), sensitivity_images=4,
              # a few epochs on 12 images, scored on those images (AR100: enough recall for
              # the sensitivities to differ from layer to layer)
              overrides=['EvalDataset.image_dir=train',
                         'EvalDataset.anno_path=annotations/instances_train.json'],
              sensitivity_metric='AR100', finetune_epochs=1, calib_images=2, latency_repeats=2,
              dataset_kwargs=dict(num_train=12, num_val=4, image_size=128))
    res = DensePipeline(_tiny_dense_config(tmp_path, 'retinanet'), **kw).run()
    rows = ['baseline', 'uniform_%s' % target, 'derived_%s' % target, 'student_alone',
            'post_abs_max', 'finetuned', 'aware', 'uniform_%s_distill' % target]
    assert res['rows'] == rows
    for name in rows:
        row = res[name]
        assert os.path.isfile(os.path.join(row['inference_dir'], 'model.pdmodel')), name
        assert 0.0 <= row['AP'] <= 1.0 and 0.0 <= row['AP50'] <= 1.0, name
    assert res['baseline']['AP50'] > 0   # it learned something: the sensitivities mean something
    # pruning: both plans at the one cut, below the baseline's FLOPs; the twin is unpruned
    plans = res['prune_plans'][target]
    assert plans['target_cut'] > 0.1 and plans['ratio_of_every_conv'] == 0.4
    for plan in ('uniform', 'derived'):
        assert abs(plans[plan]['cut'] - plans['target_cut']) < 0.03, plan
        row = res['%s_%s' % (plan, target)]
        assert row['GFLOPs'] < 0.95 * res['baseline']['GFLOPs'] and row['plan'] == plan
        assert row['size_MB'] < res['baseline']['size_MB'] and 'AP_after_prune' in row
    assert len(set(plans['uniform']['ratios'].values())) == 1
    assert list(plans['derived']['ratios']) == list(plans['uniform']['ratios'])
    assert res['student_alone']['GFLOPs'] == res['baseline']['GFLOPs']
    assert res['student_alone']['parent'] == 'baseline'
    # the int8 rows are exported quantized and scored deployed, simulated beside it
    for name in ('post_abs_max', 'aware'):
        info = yaml.safe_load(open(os.path.join(res[name]['inference_dir'], 'infer_cfg.yml')))
        assert info['quantized'], name
        assert res[name]['AP'] == res[name]['AP_deployed'], name
        assert 0.0 <= res[name]['AP_simulated'] <= 1.0, name
    for name in ('baseline', 'finetuned', 'student_alone'):
        info = yaml.safe_load(open(os.path.join(res[name]['inference_dir'], 'infer_cfg.yml')))
        assert not info.get('quantized'), name
    # QAT beside its fp32 twin, same GFLOPs
    assert res['aware']['twin'] == 'finetuned' and res['finetuned']['parent'] == 'baseline'
    assert res['aware']['GFLOPs'] == res['finetuned']['GFLOPs'] == res['baseline']['GFLOPs']
    # the distilled student is the uniform plan's pruned checkpoint, taught by the baseline
    distilled = res['uniform_%s_distill' % target]
    assert distilled['GFLOPs'] == res['uniform_%s' % target]['GFLOPs']
    assert distilled['distill'] == 'fine_grained'
    assert distilled['twin'] == 'uniform_%s' % target
    assert distilled['distill_weight'] == DENSE_DISTILL_WEIGHT
    assert res['teacher']['weights'] == res['baseline_weights']
    # latency: every row on Paddle fp32 (int8 rows on Paddle int8); onnxruntime either timed
    # or recorded with its reason
    lat = res['latency']
    for name in rows:
        ms = lat['median_ms'][name]
        if name in ('post_abs_max', 'aware'):
            assert ms['paddle_int8'] > 0, name
        else:
            assert ms['paddle_fp32'] > 0, name
            why = dict(lat['unavailable'].get(name) or {}, **(lat['failed'].get(name) or {}))
            assert (ms.get('onnx_fp32') or 0) > 0 or 'onnx_fp32' in why, name
    table = dense_results_table(res)
    rows_table = table.split('\n\n')[0]          # then the distillation comparison
    assert len([line for line in rows_table.splitlines() if line.startswith('| ')]) == \
        len(rows) + 1
    assert '| uniform_%s_distill |' % target in table
    assert '| uniform_%s_distill | fine_grained (%g) | %.4f | uniform_%s |' % (
        target, DENSE_DISTILL_WEIGHT, distilled['AP'], target) in table   # beside its twin
    assert '| baseline | trained here | %.4f |' % res['baseline']['GFLOPs'] in table
