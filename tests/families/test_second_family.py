"""Issue 13's proof that the seams hold: PointDet (tests/families/point_det.py), a family
ppdet does not know, runs through the real train / eval / export (with and without NMS) /
sensitivity / prune / PTQ / QAT / distillation code, plugged in by its config alone
(``custom_imports``)."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from config_writer import dump_config
from family_checks import check_export_matches_dygraph, check_training_and_eval
from ppdet.core.workspace import load_config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIZE = 96
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # what PYTHONPATH does for the scripts


def _test_transforms():
    return [{'Decode': {}},
            {'Resize': {'target_size': [SIZE, SIZE], 'keep_ratio': False, 'interp': 2}},
            {'NormalizeImage': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
                                'is_scale': True}},
            {'Permute': {}}]


def write_family_config(directory, dataset_dir, name='point_det.yml', width=32, **extra):
    cfg = {
        '_BASE_': [os.path.join(ROOT, 'configs', 'datasets', 'builtin_coco.yml')],
        'custom_imports': ['point_det'],
        'architecture': 'PointDet',
        'PointDet': {'width': width},
        'MultiClassNMS': {'score_threshold': 0.05, 'keep_top_k': 20, 'nms_threshold': 0.5},
        'epoch': 20, 'max_iters_per_epoch': 4, 'log_iter': 20, 'worker_num': 0, 'seed': 1,
        'save_dir': os.path.join(str(directory), 'output'),
        'LearningRate': {'base_lr': 0.03, 'schedulers': [{'name': 'CosineDecay'}]},
        'OptimizerBuilder': {'optimizer': {'type': 'Adam'}},
        'TrainReader': {
            'sample_transforms': [{'Decode': {}}, {'RandomFlip': {}}],
            'batch_transforms': [
                {'BatchRandomResize': {'target_size': [SIZE], 'random_size': False,
                                       'random_interp': False, 'keep_ratio': False}},
                {'PointTargets': {'stride': 8}},
                {'NormalizeImage': {'mean': [0.485, 0.456, 0.406],
                                    'std': [0.229, 0.224, 0.225], 'is_scale': True}},
                {'Permute': {}}],
            'batch_size': 4, 'shuffle': True, 'drop_last': True},
        'EvalReader': {'sample_transforms': _test_transforms(), 'batch_size': 2},
        'TestReader': {'inputs_def': {'image_shape': [3, SIZE, SIZE]},
                       'sample_transforms': _test_transforms(), 'batch_size': 1},
    }
    return dump_config(directory, name, cfg, dataset_dir, **extra)


@pytest.fixture(scope='module')
def family(tmp_path_factory, tiny_dataset):
    """The family's config and a checkpoint trained 20 x 4 iterations by the real Trainer
    (a few seconds; enough for a non-zero AP50 on the tiny set)."""
    from ppdet.engine import Trainer
    d = tmp_path_factory.mktemp('point_det')
    path = write_family_config(d, tiny_dataset)
    trainer = Trainer(load_config(path), mode='train')
    trainer.train(validate=True)
    return {'dir': d, 'config': path, 'weights': os.path.join(trainer.save_dir, 'model_final'),
            'dataset': tiny_dataset}


def _feeds(seed=0, n=2):
    return {'image': np.random.RandomState(seed).randn(n, 3, SIZE, SIZE).astype('float32'),
            'im_shape': np.array([[SIZE, SIZE]] * n, 'float32'),
            'scale_factor': np.array([[SIZE / 120., SIZE / 100.]] * n, 'float32')}


def test_training_lowers_the_loss_and_eval_reports_the_primary_metric(family):
    # the family's own targets reach the batch; YOLO's gt_bbox does not
    check_training_and_eval(family['config'], family['weights'], 12, 0.7,
                            fields=('cls_target', 'box_target'), absent=('gt_bbox',))


def test_export_with_and_without_nms_matches_dygraph(family, tmp_path):
    check_export_matches_dygraph(family['config'], family['weights'], _feeds(), tmp_path,
                                 require_boxes=False)


def test_sensitivity_and_pruning_use_the_declared_convs(family, tmp_path):
    from ppdet.engine import Trainer, build_model
    from ppdet.slim.prune import PrunePlan, PruneStep, prune
    from ppdet.slim.pruning_job import run_sensitivity
    cfg = load_config(family['config'])
    sens = run_sensitivity(cfg, family['weights'], pruned_params='tower.conv.weight',
                           ratios=[0.5], sensitivities_file=str(tmp_path / 's.json'),
                           progress=False, metric='AP50')
    assert list(sens) == ['tower.conv.weight'] and 0.5 in sens['tower.conv.weight']

    t = Trainer(load_config(family['config'], overrides=['epoch=1', 'save_dir=%s' % tmp_path]),
                mode='train')
    t.load_weights(family['weights'])
    with pytest.raises(ValueError, match="'cls_out.weight' cannot be pruned"):
        prune(t.model, PrunePlan({'cls_out.weight': 0.5}, input_size=SIZE))
    t.apply_step(PruneStep(PrunePlan({'backbone.stages.1.conv.weight': 0.5,
                                      'tower.conv.weight': 0.25}, input_size=SIZE)))
    assert t.model.tower.conv.weight.shape[0] == 24
    assert t.model.backbone.stages[2].conv.weight.shape[1] == 8  # the next conv follows
    t.train()
    path = t.save(str(tmp_path / 'pruned'), 1)
    rebuilt, meta = build_model(cfg, path)  # from the file alone
    assert meta['steps'][0]['kind'] == 'prune'
    rebuilt.eval()
    t.model.eval()
    x = paddle.to_tensor(_feeds()['image'])
    with paddle.no_grad():
        for a, b in zip(rebuilt(x), t.model(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_post_training_quantization_of_the_export(family, tmp_path):
    from ppdet.engine import build_model
    from ppdet.engine.export import export_model
    from ppdet.engine.infer_eval import evaluate_exported
    from ppdet.slim.quant import quantize_post
    cfg = load_config(family['config'])
    model, meta = build_model(cfg, family['weights'])
    fp32 = str(tmp_path / 'fp32')
    export_model(model, cfg, fp32, ['c%d' % i for i in range(6)], meta=meta)
    train_dir = os.path.join(family['dataset'], 'coco', 'train')
    images = [os.path.join(train_dir, f) for f in sorted(os.listdir(train_dir))[:4]]
    int8 = quantize_post(fp32, images, str(tmp_path / 'int8'), algo='abs_max', batch_nums=4)
    info = yaml.safe_load(open(os.path.join(int8, 'infer_cfg.yml')))
    assert info['quantized'] is True and info['compression']['quant']['algo'] == 'abs_max'
    res = evaluate_exported(cfg, int8, max_images=4)
    assert res.primary_name == 'AP' and 0.0 <= res.primary <= 1.0


def test_quantization_aware_training_keeps_the_declared_layers_float(family, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.engine.export import export_model
    from ppdet.slim.qat import QATStep
    from ppdet.slim.quant_report import load_program
    t = Trainer(load_config(family['config'], overrides=['epoch=1', 'save_dir=%s' % tmp_path]),
                mode='train')
    t.load_weights(family['weights'])
    record = t.apply_step(QATStep())
    assert record['not_quant_pattern'] == ['cls_out', 'box_out']
    layers = dict(t.model.named_sublayers())

    def fake_quant(name):
        return [n for n, _ in layers[name].named_sublayers() if 'fake_quant' in n]
    assert fake_quant('tower.conv') and fake_quant('backbone.stages.0.conv')
    assert not fake_quant('cls_out') and not fake_quant('box_out')
    t.train()
    out = str(tmp_path / 'qat')
    export_model(t.model, t.cfg, out, ['c%d' % i for i in range(6)], meta=t.meta(1))
    types = {op.type for op in load_program(out)[0].global_block().ops}
    assert 'quantize_linear' in types and 'multiclass_nms3' in types


def test_distillation_pairs_the_declared_outputs(family, tmp_path):
    from ppdet.engine import Trainer, build_model
    from ppdet.slim.distill import DistillStep
    teacher_cfg = write_family_config(family['dir'], family['dataset'], name='teacher.yml',
                                      width=48)
    teacher = Trainer(load_config(teacher_cfg), mode='train')
    teacher_weights = teacher.save(str(tmp_path / 'teacher'), 0)
    cfg = load_config(family['config'], overrides=['epoch=1', 'save_dir=%s' % tmp_path])
    t = Trainer(cfg, mode='train')
    t.load_weights(family['weights'])
    record = t.apply_step(DistillStep(teacher_cfg, teacher_weights, loss='l2', student_cfg=cfg))
    assert record['pairs'] == [{'teacher': 'cls_out', 'student': 'cls_out'},
                               {'teacher': 'box_out', 'student': 'box_out'}]
    t._ensure_optimizer()
    t.model.train()
    losses = t.train_step(next(iter(t.train_loader)))
    assert losses['distill_loss'] > 0
    path = t.save(str(tmp_path / 'student'), 1)
    student, meta = build_model(cfg, path)  # the student alone
    assert [s['kind'] for s in meta['steps']] == ['distill']
    with pytest.raises(ValueError, match='PointDet has no fine-grained distillation loss'):
        DistillStep(teacher_cfg, teacher_weights, loss='fine_grained').apply(student)


@pytest.mark.slow
def test_the_scripts_take_the_family_from_its_config(family, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))
    run = [sys.executable, 'tools/eval.py', '-c', family['config'],
           '-o', 'weights=%s' % family['weights']]
    proc = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'COCO bbox: AP=' in proc.stdout
    out = str(tmp_path / 'export')
    proc = subprocess.run([sys.executable, 'tools/export_model.py', '-c', family['config'],
                           '-o', 'weights=%s' % family['weights'], '--output_dir', out],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = yaml.safe_load(open(os.path.join(out, 'point_det', 'infer_cfg.yml')))  # DIR/<config>
    assert info['arch'] == 'PointDet'


def test_fused_preprocess_export_evaluates_like_the_unfused_one(family, tmp_path):
    """evaluate_exported feeds a fused export (normalisation in the graph, folded into its
    first conv) the resized uint8 image, and it detects what the unfused export does."""
    from ppdet.deploy.compare import detection_agreement
    from ppdet.engine import build_model
    from ppdet.engine.export import export_model
    from ppdet.engine.infer_eval import evaluate_exported
    cfg = load_config(family['config'])
    model, meta = build_model(cfg, family['weights'])
    labels = ['c%d' % i for i in range(6)]
    plain, fused = str(tmp_path / 'plain'), str(tmp_path / 'fused')
    export_model(model, cfg, plain, labels, meta=meta)
    export_model(model, cfg, fused, labels, meta=meta, fuse_preprocess=True)
    out_plain, out_fused = [], []
    a = evaluate_exported(cfg, plain, max_images=4, outputs=out_plain)
    b = evaluate_exported(cfg, fused, max_images=4, outputs=out_fused)
    assert abs(a.primary - b.primary) < 0.005
    assert detection_agreement(out_plain, out_fused)['matched_fraction'] >= 0.95
