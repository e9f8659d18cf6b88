"""RetinaNet (configs/builtin/retinanet_r18_builtin.yml, shrunk) through the real Trainer,
export + Paddle Inference, and the pruner; every head norm option trains."""
import os

import numpy as np
import paddle
import pytest

from dense_family import ROOT, SIZE, feeds, gt_batch, write_dense_config
from family_checks import (check_export_matches_dygraph, check_pruned_checkpoint_rebuilds,
                           check_training_and_eval)
from ppdet.core.workspace import create, load_config

CONFIG = 'retinanet_r18_builtin.yml'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_dataset):
    """The tiny RetinaNet config and a checkpoint from 5 x 4 iterations of the real Trainer
    (a few seconds; AP50 above 0 on the tiny set, which sensitivity analysis needs)."""
    from ppdet.engine import Trainer
    d = tmp_path_factory.mktemp('retinanet')
    path = write_dense_config(d, tiny_dataset, CONFIG)
    trainer = Trainer(load_config(path, overrides=['epoch=5']), mode='train')
    trainer.train()
    return {'dir': d, 'config': path, 'weights': os.path.join(trainer.save_dir, 'model_final'),
            'dataset': tiny_dataset}


def _tiny_model(head=None, neck=None):
    cfg = load_config(os.path.join(ROOT, 'configs', 'builtin', CONFIG))
    cfg['FPN'].update(neck or {})
    cfg['RetinaHead'].update(dict({'norm_type': None, 'norm_per_level': False}, **(head or {})))
    paddle.seed(0)
    return create('RetinaNet', cfg)


@pytest.mark.parametrize('head, neck', [
    ({'norm_type': None}, {}),
    ({'norm_type': 'bn'}, {'norm_type': 'bn'}),                   # FPN-BN + shared head BN
    ({'norm_type': 'bn', 'norm_per_level': True}, {}),            # Head-BN
    ({'norm_type': 'gn'}, {}),
    ({'norm_type': 'evonorm_s0'}, {}),
    ({'norm_type': 'sync_bn'}, {}),
    ({'norm_type': None, 'box_loss': 'giou'}, {}),
])
def test_head_options_run_forward_and_backward(head, neck):
    model = _tiny_model(head, neck)
    model.train()
    outs = model(paddle.randn([2, 3, SIZE, SIZE]))
    # P3-P5 at 96: 12, 6, 3; 9 anchors x 6 classes / x 4 deltas
    assert [o.shape for o in outs] == [[2, 54, 12, 12], [2, 54, 6, 6], [2, 54, 3, 3],
                                       [2, 36, 12, 12], [2, 36, 6, 6], [2, 36, 3, 3]]
    losses = model.get_loss(outs, gt_batch())
    losses['loss'].backward()
    assert np.isfinite(float(losses['loss'])) and float(losses['loss_box']) > 0
    tower = model.head.cls_tower
    assert tower.convs[0].weight.grad is not None
    levels = 3 if head.get('norm_per_level') else 1
    assert len(tower.norms) == (4 if head.get('norm_type') else 0)
    if head.get('norm_type'):
        assert len(tower.norms[0]) == levels


def test_prior_bias_and_declared_layers():
    model = _tiny_model()
    np.testing.assert_allclose(model.head.cls_out.bias.numpy(), -np.log(99.), rtol=1e-5)
    layers = dict(model.named_sublayers())
    for name in model.float_only_layers() + model.distill_outputs():
        assert name in layers
    names = list(model.prunable_params())
    assert 'head.cls_tower.convs.0.weight' in names and 'neck.fpn_convs.0.conv.weight' in names
    assert not [n for n in names if 'cls_out' in n or 'box_out' in n or 'backbone' in n]


def test_training_lowers_the_loss_and_eval_runs(trained):
    check_training_and_eval(trained['config'], trained['weights'], 10, 0.6,
                            fields=('gt_bbox', 'gt_class'))


def test_export_with_and_without_nms_matches_dygraph(trained, tmp_path):
    check_export_matches_dygraph(trained['config'], trained['weights'], feeds(), tmp_path)


def test_sensitivity_reuses_the_backbone_pass(trained, tmp_path):
    from ppdet.slim.pruning_job import run_sensitivity
    names = ['neck.fpn_convs.0.conv.weight', 'head.cls_tower.convs.3.weight']
    sens = run_sensitivity(load_config(trained['config']), trained['weights'],
                           pruned_params=','.join(names), ratios=[0.5],
                           sensitivities_file=str(tmp_path / 's.json'), progress=False,
                           metric='AP50')
    assert list(sens) == names and all(0.5 in sens[n] for n in names)


def test_pruning_the_fpn_and_towers_keeps_it_runnable(trained, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.slim.prune import PrunePlan, PruneStep, prune
    t = Trainer(load_config(trained['config'], overrides=['save_dir=%s' % tmp_path]),
                mode='train')
    t.load_weights(trained['weights'])
    with pytest.raises(ValueError, match="'head.cls_out.weight' cannot be pruned"):
        prune(t.model, PrunePlan({'head.cls_out.weight': 0.5}, input_size=SIZE))
    t.apply_step(PruneStep(PrunePlan({'head.cls_tower.convs.1.weight': 0.5,
                                      'head.box_tower.convs.3.weight': 0.25,
                                      'neck.lateral_convs.0.conv.weight': 0.25},
                                     input_size=SIZE)))
    head = t.model.head
    assert head.cls_tower.convs[1].weight.shape[0] == 32
    assert head.cls_tower.convs[2].weight.shape[1] == 32          # the next conv follows
    assert head.box_out.weight.shape[1] == 48                     # the output conv's input
    assert [n.weight.shape for n in head.cls_tower.norms[1]] == [[32]] * 3  # its 3 BNs too
    check_pruned_checkpoint_rebuilds(trained['config'], t, tmp_path, feeds()['image'], 1e-5)


def test_group_norm_towers_are_not_declared_prunable():
    names = list(_tiny_model({'norm_type': 'gn'}, {'norm_type': 'gn'}).prunable_params())
    assert names == []
    names = list(_tiny_model({'norm_type': 'evonorm_s0'}).prunable_params())
    assert names and not [n for n in names if n.startswith('head.')]


def test_distillation_pairs_levels_and_the_dense_loss(trained, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.slim.distill import DistillStep
    teacher_cfg = write_dense_config(trained['dir'], trained['dataset'], CONFIG, name='teacher.yml',
                                     RetinaHead={'feat_channel': 96})
    teacher_weights = Trainer(load_config(teacher_cfg), mode='train').save(
        str(tmp_path / 'teacher'), 0)
    cfg = load_config(trained['config'], overrides=['save_dir=%s' % tmp_path])
    for loss in ('l2', 'fine_grained'):
        t = Trainer(cfg, mode='train')
        t.load_weights(trained['weights'])
        record = t.apply_step(DistillStep(teacher_cfg, teacher_weights, loss=loss,
                                          student_cfg=cfg))
        if loss == 'l2':  # each level's class and box outputs
            assert [p['student'] for p in record['pairs']] == [
                'head.cls_levels.0', 'head.cls_levels.1', 'head.cls_levels.2',
                'head.box_levels.0', 'head.box_levels.1', 'head.box_levels.2']
        t._ensure_optimizer()
        t.model.train()
        assert t.train_step(next(iter(t.train_loader)))['distill_loss'] > 0
    # fine-grained distillation needs the same anchors
    other = write_dense_config(trained['dir'], trained['dataset'], CONFIG, name='other.yml',
                               AnchorGenerator={'octave_base_scale': 4, 'strides': [8, 16, 32]})
    other_weights = Trainer(load_config(other), mode='train').save(str(tmp_path / 'other'), 0)
    with pytest.raises(ValueError, match='location by location'):
        Trainer(cfg, mode='train').apply_step(
            DistillStep(other, other_weights, loss='fine_grained', student_cfg=cfg))


def test_quantization_aware_training_keeps_the_output_convs_float(trained, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.slim.qat import QATStep
    t = Trainer(load_config(trained['config'], overrides=['save_dir=%s' % tmp_path]),
                mode='train')
    t.load_weights(trained['weights'])
    record = t.apply_step(QATStep())
    assert record['not_quant_pattern'] == ['head.cls_out', 'head.box_out']
    layers = dict(t.model.named_sublayers())

    def fake_quant(name):
        return [n for n, _ in layers[name].named_sublayers() if 'fake_quant' in n]
    assert fake_quant('head.cls_tower.convs.0') and fake_quant('neck.fpn_convs.0.conv')
    assert not fake_quant('head.cls_out') and not fake_quant('head.box_out')
    t._ensure_optimizer()
    t.model.train()
    assert np.isfinite(t.train_step(next(iter(t.train_loader)))['loss'])
