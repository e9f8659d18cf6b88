"""FCOS (configs/builtin/fcos_r18_builtin.yml, shrunk) through the real Trainer, export +
Paddle Inference, and the pruner; every head norm and option trains."""
import math
import os

import numpy as np
import paddle
import pytest

from dense_family import ROOT, SIZE, feeds, gt_batch, write_dense_config
from family_checks import (check_export_matches_dygraph, check_pruned_checkpoint_rebuilds,
                           check_training_and_eval)
from ppdet.core.workspace import create, load_config

CONFIG = 'fcos_r18_builtin.yml'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_dataset):
    """The tiny FCOS config and a checkpoint from 4 iterations of the real Trainer."""
    from ppdet.engine import Trainer
    d = tmp_path_factory.mktemp('fcos')
    # 4 iterations leave the scores (class x centerness) low: a low threshold so that NMS
    # has boxes to keep in the export test
    path = write_dense_config(d, tiny_dataset, CONFIG, MultiClassNMS={
        'score_threshold': 0.001, 'nms_top_k': 200, 'keep_top_k': 50, 'nms_threshold': 0.5})
    trainer = Trainer(load_config(path), mode='train')
    trainer.train()
    return {'dir': d, 'config': path, 'weights': os.path.join(trainer.save_dir, 'model_final'),
            'dataset': tiny_dataset}


def _tiny_model(head=None, neck=None):
    cfg = load_config(os.path.join(ROOT, 'configs', 'builtin', CONFIG))
    cfg['FPN'].update(neck or {})
    cfg['FCOSHead'].update(head or {})
    paddle.seed(0)
    return create('FCOS', cfg)


@pytest.mark.parametrize('head, neck', [
    ({}, {}),                                                          # FPN-BN + Head-BN
    ({'norm_type': 'gn', 'norm_per_level': False, 'norm_groups': 16}, {'norm_type': None}),
    ({'norm_type': 'sync_bn', 'norm_per_level': False}, {'norm_type': 'sync_bn'}),
    ({'norm_type': 'evonorm_s0', 'norm_groups': 16}, {}),
    ({'box_loss': 'iou', 'norm_reg_targets': False, 'centerness_on_reg': False,
      'center_sampling_radius': 0.}, {}),                              # the paper's FCOS
])
def test_head_options_run_forward_and_backward(head, neck):
    model = _tiny_model(head, neck)
    model.train()
    outs = model(paddle.randn([2, 3, SIZE, SIZE]))
    assert [o.shape for o in outs] == [[2, 6, 12, 12], [2, 6, 6, 6], [2, 6, 3, 3],
                                       [2, 4, 12, 12], [2, 4, 6, 6], [2, 4, 3, 3],
                                       [2, 1, 12, 12], [2, 1, 6, 6], [2, 1, 3, 3]]
    assert all(float(o.min()) >= 0 for o in outs[3:6])                # distances
    losses = model.get_loss(outs, gt_batch())
    losses['loss'].backward()
    for k in ('loss_cls', 'loss_box', 'loss_ctr'):
        assert np.isfinite(float(losses[k])) and float(losses[k]) > 0, losses
    assert model.head.scales[0].scale.grad is not None
    assert model.head.ctr_out.weight.grad is not None


def test_declared_layers_and_prior_bias():
    model = _tiny_model()
    np.testing.assert_allclose(model.head.cls_out.bias.numpy(), -math.log(99.), rtol=1e-5)
    layers = dict(model.named_sublayers())
    for name in model.float_only_layers() + model.distill_outputs():
        assert name in layers
    assert len(model.distill_outputs()) == 9
    names = list(model.prunable_params())
    assert names[:2] == ['neck.lateral_convs.0.conv.weight', 'neck.fpn_convs.0.conv.weight']
    assert 'head.box_tower.convs.3.weight' in names and len(names) == 10
    assert not [n for n in names if 'out' in n.rsplit('.', 2)[-2] or 'backbone' in n]


def test_training_lowers_the_loss_and_eval_runs(trained):
    check_training_and_eval(trained['config'], trained['weights'], 10, 0.7)


def test_export_with_and_without_nms_matches_dygraph(trained, tmp_path):
    check_export_matches_dygraph(trained['config'], trained['weights'], feeds(), tmp_path)


def test_pruning_the_fpn_and_towers_keeps_it_runnable(trained, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.slim.prune import PrunePlan, PruneStep
    t = Trainer(load_config(trained['config'], overrides=['save_dir=%s' % tmp_path]),
                mode='train')
    t.load_weights(trained['weights'])
    t.apply_step(PruneStep(PrunePlan({'head.box_tower.convs.3.weight': 0.5,
                                      'neck.fpn_convs.0.conv.weight': 0.25},
                                     input_size=SIZE)))
    head = t.model.head
    assert head.box_out.weight.shape[1] == 32 and head.ctr_out.weight.shape[1] == 32
    # the FPN outputs all enter the shared towers: every level loses the same channels
    assert [c.conv.weight.shape[0] for c in t.model.neck.fpn_convs] == [48] * 3
    assert head.cls_tower.convs[0].weight.shape[1] == 48
    check_pruned_checkpoint_rebuilds(trained['config'], t, tmp_path, feeds()['image'], 1e-4)


def test_fine_grained_distillation_loss():
    student, teacher = _tiny_model(), _tiny_model({'feat_channel': 96})
    student.check_teacher(teacher, 'fine_grained')
    x = paddle.randn([2, 3, SIZE, SIZE])
    outs = student(x)
    assert abs(float(student.fine_grained_distill_loss(outs, outs))) < 1e-6
    loss = student.fine_grained_distill_loss(outs, teacher(x))
    loss.backward()
    assert float(loss) > 0 and student.head.ctr_out.weight.grad is not None
    other = _tiny_model({'strides': [8, 16, 32], 'object_sizes_of_interest': None}, {})
    student.check_teacher(other, 'fine_grained')   # same levels: fine
    with pytest.raises(ValueError, match='location by location'):
        student.check_teacher(_tiny_model({'strides': [8, 16], 'object_sizes_of_interest':
                                           [[-1, 32], [32, 1e8]]}, {'num_outs': 2}),
                              'fine_grained')
