"""The main job's wiring, end to end on a tiny dataset (real training, pruning, int8, distillation)."""
import json
import os

import pytest
import yaml

from ppdet.utils.checkpoint import read_meta

from ppdet.pipeline.main_job import DEMO_PTQ_ALGOS, DISTILL_WEIGHTS, PRUNE_PRESETS, Pipeline
from ppdet.pipeline.results_table import format_results, pruning_rows


def _tiny_teacher(directory, student_config):
    path = os.path.join(str(directory), 'teacher.yml')
    with open(path, 'w') as f:
        yaml.safe_dump({'_BASE_': [student_config], 'YOLOv3': {'backbone': 'ResNet'},
                        'ResNet': {'depth': 18, 'variant': 'b', 'return_idx': [1, 2, 3]}}, f)
    return path


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_resumes(tiny_config, tmp_path):
    work = str(tmp_path / 'pipe')
    data = str(tmp_path / 'data')
    kw = dict(work_dir=work, dataset_dir=data, sensitivity_images=4,
              # a few epochs on 12 images, evaluated on those images: enough recall
              # for sensitivity analysis to have a non-zero baseline
              overrides=['epoch=8', 'LearningRate.base_lr=0.005',
                         'YOLOBox.conf_thresh=0.0', 'MultiClassNMS.score_threshold=0.0',
                         'EvalDataset.image_dir=train',
                         'EvalDataset.anno_path=annotations/instances_train.json'],
              sensitivity_metric='AR100', finetune_epochs=1, calib_images=2, prune_seeds=(0, 3),
              teacher_config=_tiny_teacher(tmp_path, tiny_config),
              # the distillation stages need a teacher checkpoint, not a good one
              teacher_epochs=2,
              dataset_kwargs=dict(num_train=12, num_val=4, image_size=128))
    res = Pipeline(tiny_config, **kw).run()
    pruned = [n for p in PRUNE_PRESETS for n in ('uniform_%s' % p, 'derived_%s' % p, p)]
    expected = (['baseline'] + pruned + ['post_%s' % a for a in DEMO_PTQ_ALGOS] +
                ['post_abs_max_keep3', 'r578_post', 'finetuned', 'aware', 'r578_finetuned',
                 'r578_aware', 'teacher',
                 'student_alone', 'l2_distill', 'fine_grained_distill', 'r578_distill'])
    assert res['rows'] == expected
    for row in expected:
        assert os.path.isfile(os.path.join(res[row]['inference_dir'], 'model.pdmodel')), row
    assert res['r578']['GFLOPs'] < res['sensity']['GFLOPs'] < res['baseline']['GFLOPs']
    assert 'AP_after_prune' in res['r578'] and 'AP_deployed' in res['baseline']
    check_pruning_comparison(res, work)
    # the per-layer report picked three layers to keep in fp32
    assert len(res['post_abs_max_keep3']['kept_fp32']) == 3
    assert len(res['post_abs_max_keep3']['worst_layers']) >= 3
    for row in ('post_hist', 'post_abs_max_keep3', 'aware', 'r578_aware', 'r578_post'):
        info = yaml.safe_load(open(os.path.join(res[row]['inference_dir'], 'infer_cfg.yml')))
        assert info['quantized'], row
        assert 0.0 <= res[row]['AP'] <= 1.0
        # every int8 row: simulated beside deployed, and their detection agreement
        assert res[row]['AP'] == res[row]['AP_deployed'], row
        assert 0.0 <= res[row]['AP_simulated'] <= 1.0, row
        assert 0.0 <= res[row]['agreement_vs_simulated'] <= 1.0, row
    for row in ('post_hist', 'r578_post'):
        assert res[row]['calibration_source'] == 'TrainDataset'
        info = yaml.safe_load(open(os.path.join(res[row]['inference_dir'], 'infer_cfg.yml')))
        assert info['compression']['quant']['calibration_source'] == 'TrainDataset'
    # QAT beside its fp32 twin: same source, same schedule, no quantization
    for source, twin in (('baseline', 'finetuned'), ('r578', 'r578_finetuned')):
        aware = 'aware' if source == 'baseline' else 'r578_aware'
        assert res[aware]['twin'] == twin and res[twin]['parent'] == source
        assert res[twin]['GFLOPs'] == res[aware]['GFLOPs'] == res[source]['GFLOPs']
    assert [s['kind'] for s in read_meta(res['r578_finetuned']['weights'])['steps']] == \
        ['prune']
    # the chained checkpoints describe themselves
    kinds = [s['kind'] for s in read_meta(res['r578_aware']['weights'])['steps']]
    assert kinds == ['prune', 'quant']
    kinds = [s['kind'] for s in read_meta(res['r578_distill']['weights'])['steps']]
    assert kinds == ['prune', 'distill']
    # the distilled students and their undistilled twin all start from the trained baseline
    for row in ('student_alone', 'l2_distill'):
        assert res[row]['GFLOPs'] == res['baseline']['GFLOPs']
    # the built-in pair's distillation weights (10x below PaddleDetection's COCO values)
    assert res['l2_distill']['distill_weight'] == DISTILL_WEIGHTS['l2'] == 2.0
    assert res['fine_grained_distill']['distill_weight'] == DISTILL_WEIGHTS['fine_grained']
    assert res['r578_distill']['GFLOPs'] == res['r578']['GFLOPs'] == res['r578_aware']['GFLOPs']
    # each distilled row names its undistilled twin, and the table sets them side by side
    assert res['l2_distill']['twin'] == res['fine_grained_distill']['twin'] == 'student_alone'
    assert res['r578_distill']['twin'] == 'r578'
    assert os.path.isfile(res['sensitivity']['plot']) and os.path.isfile(res['infer_image'])
    table = format_results(res)
    assert '| r578_aware |' in table and '(-' in table
    assert '| aware | %.4f | %.4f |' % (res['aware']['AP_simulated'], res['aware']['AP']) in table
    assert '| finetuned | %.4f |' % res['finetuned']['AP'] in table
    assert '| r578_distill | l2 (2) | %.4f | r578 | %.4f |' % (
        res['r578_distill']['AP'], res['r578']['AP']) in table
    # the job's output ends with the plans compared at equal FLOPs, over both seeds
    last = table.rstrip().splitlines()[-6:]
    assert all(line.startswith('| -') and ', n=2) | 0,3 | ' in line for line in last), last
    assert all(float(line.rstrip(' |').rsplit('| ', 1)[1]) > 0 for line in last), last
    assert [line.split(' | ')[1].split(' ')[0] for line in last] == \
        ['uniform', 'preset', 'sensitivity-derived'] * 2

    # a second run finds every stage done and changes nothing
    before = json.load(open(os.path.join(work, 'results.json')))
    again = Pipeline(tiny_config, **kw).run()
    assert again['_done'] == before['_done']
    assert again['r578'] == before['r578']


def check_pruning_comparison(res, work):
    """Uniform, preset and derived plans at each preset's cut, each fine-tuned per seed."""
    base = res['baseline']['GFLOPs']
    for preset in PRUNE_PRESETS:
        plans = res['prune_plans'][preset]
        target = plans['target_cut']
        assert target == pytest.approx(1 - res[preset]['GFLOPs'] / base, abs=1e-6)
        # the search reaches the preset's cut (within one filter: < 2% on the tiny model)
        assert target <= plans['derived']['cut'] < target + 0.02
        assert abs(plans['uniform']['cut'] - target) < 0.02
        assert len(set(plans['uniform']['ratios'].values())) == 1
        assert list(plans['derived']['ratios']) == list(plans['uniform']['ratios'])
        for plan in ('uniform', 'derived', 'preset'):
            rows = pruning_rows(res, preset, plan)
            assert [r['seed'] for r in rows] == [0, 3]
            # one pruned checkpoint per plan, fine-tuned once per seed on one schedule
            assert rows[0]['AP_after_prune'] == rows[1]['AP_after_prune']
            assert rows[0]['GFLOPs'] == rows[1]['GFLOPs']
            assert rows[0]['GFLOPs'] == pytest.approx(base * (1 - plans[plan]['cut']), rel=1e-6)
            assert 'inference_dir' in rows[0] and 'inference_dir' not in rows[1]
    # the first seed's rows, exported, timed beside the baseline
    timed = res['prune_latency']['median_ms']
    assert sorted(timed) == sorted(['baseline'] + [r['name'] for p in PRUNE_PRESETS for k in
                                                   ('uniform', 'derived', 'preset')
                                                   for r in pruning_rows(res, p, k)[:1]])
    assert all(ms > 0 for ms in timed.values())
    assert res['derived_r578_seed3']['weights'].startswith(
        os.path.join(work, 'prune_derived_r578_seed3'))


def test_stages_select_groups_or_single_stages(tmp_path):
    ran = []
    for only in (['distill'], ['distill:teacher'], ['quant', 'distill:l2']):
        pipe = Pipeline('unused.yml', work_dir=str(tmp_path / '_'.join(only)), stages=only)
        for name in ('train', 'prune_r578', 'quant:aware', 'distill:teacher', 'distill:l2'):
            pipe.stage(name, lambda n=name: ran.append(n))
        ran.append('|')
    assert ran == ['distill:teacher', 'distill:l2', '|', 'distill:teacher', '|',
                   'quant:aware', 'distill:l2', '|']


def test_a_stage_off_by_default_runs_only_when_named(tmp_path):
    ran = []
    for only in (None, ['quant'], ['quant:extra']):
        pipe = Pipeline('unused.yml', work_dir=str(tmp_path / str(only)), stages=only)
        pipe.stage('quant:aware', lambda: ran.append('quant:aware'))
        pipe.stage('quant:extra', lambda: ran.append('quant:extra'), by_default=False)
        ran.append('|')
    assert ran == ['quant:aware', '|', 'quant:aware', '|', 'quant:extra', '|']


def test_finetune_epochs_zero_is_refused_and_none_is_the_configs_schedule(tmp_path,
                                                                           monkeypatch):
    from ppdet.core.workspace import load_config
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))))
    config = 'configs/builtin/yolov3_r18_builtin.yml'
    for bad in (0, -2):   # 0 used to run the config's full 12 epochs, without a word
        with pytest.raises(ValueError, match=r'finetune_epochs \(--finetune_epochs\) must be '
                                             r'>= 1, got %d' % bad):
            Pipeline(config, work_dir=str(tmp_path / 'w'), finetune_epochs=bad)
    assert not os.path.exists(str(tmp_path / 'w'))
    assert Pipeline(config, work_dir=str(tmp_path), finetune_epochs=2)._finetune_cfg()[
        'epoch'] == 2
    assert Pipeline(config, work_dir=str(tmp_path), finetune_epochs=None)._finetune_cfg()[
        'epoch'] == load_config(config)['epoch']
