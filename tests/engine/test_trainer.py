"""The one training loop end to end on the tiny built-in dataset (real ops, real data)."""
import os

import numpy as np
import paddle
import pytest

from ppdet.core.workspace import load_config
from ppdet.engine import Trainer, build_model
from ppdet.utils.checkpoint import read_meta


def _trainer(config, *over):
    return Trainer(load_config(config, overrides=list(over)), mode='train')


def test_train_checkpoints_resume_and_eval(tiny_config, tmp_path):
    t = _trainer(tiny_config, 'epoch=2', 'max_iters_per_epoch=2')
    t.train(validate=True)
    final = os.path.join(t.save_dir, 'model_final.pdparams')
    assert os.path.isfile(final) and os.path.isfile(os.path.join(t.save_dir, '1.pdopt'))
    assert os.path.isfile(os.path.join(t.save_dir, 'best_model.pdparams'))
    meta = read_meta(final)
    assert meta['architecture'] == 'YOLOv3' and meta['num_classes'] == 6
    assert meta['steps'] == [] and meta['epoch'] == 2

    # resume from epoch 1: continues at epoch 1 with the same weights
    t2 = _trainer(tiny_config, 'epoch=2', 'max_iters_per_epoch=2')
    t2.resume(os.path.join(t.save_dir, '1'))
    assert t2.start_epoch == 1
    w1 = paddle.load(os.path.join(t.save_dir, '1.pdparams'))
    key = 'yolo_head.yolo_output.0.weight'
    np.testing.assert_array_equal(t2.model.state_dict()[key].numpy(), w1[key])

    e = Trainer(load_config(tiny_config), mode='eval')
    e.load_weights(final)
    res = e.evaluate(output_eval=str(tmp_path / 'ev'))
    assert len(res) == 12 and res.primary_name == 'AP' and 0.0 <= res.primary <= 1.0
    assert res.primary == res['AP'] and list(res)[1] == 'AP50'
    assert os.path.isfile(tmp_path / 'ev' / 'bbox.json')


def test_training_reduces_loss_on_real_data(tiny_config):
    t = _trainer(tiny_config, 'epoch=1', 'max_iters_per_epoch=1')
    t._ensure_optimizer()
    batch = next(iter(t.train_loader))
    t.model.train()
    first = t.train_step(batch)['loss']
    for _ in range(6):
        last = t.train_step(batch)['loss']
    assert last < first


def test_build_model_checks_class_count(tiny_config, tmp_path):
    t = _trainer(tiny_config)
    path = t.save(str(tmp_path / 'ck'))
    cfg = load_config(tiny_config, overrides=['num_classes=3'])
    with pytest.raises(ValueError, match='num_classes=6 but the config has 3'):
        build_model(cfg, path)


def test_nonfinite_loss_stops_with_advice(tiny_config):
    t = _trainer(tiny_config, 'LearningRate.base_lr=1e30', 'max_iters_per_epoch=3')
    with pytest.raises(FloatingPointError, match='lower LearningRate.base_lr'):
        t.train()
