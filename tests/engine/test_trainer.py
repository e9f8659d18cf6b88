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


def test_latest_is_saved_every_epoch_whatever_the_snapshot_interval(tiny_config):
    """An interrupted run resumes from its last finished epoch even when the numbered
    snapshots are sparser than the run (the built-in configs snapshot every 4 epochs and
    fine-tune for 3)."""
    from ppdet.engine.callbacks import Callback
    seen = []

    class RecordLatest(Callback):
        def on_epoch_end(self, status):
            latest = os.path.join(self.trainer.save_dir, 'latest.pdparams')
            seen.append(read_meta(latest)['epoch'] if os.path.isfile(latest) else None)

    t = _trainer(tiny_config, 'epoch=3', 'max_iters_per_epoch=1', 'snapshot_epoch=4')
    t.extra_callbacks.append(RecordLatest(t))       # runs after the Checkpointer
    t.train(validate=False)
    assert seen == [1, 2, 3]
    assert sorted(f for f in os.listdir(t.save_dir) if f[0].isdigit()) == ['3.pdopt',
                                                                           '3.pdparams']
    t2 = _trainer(tiny_config, 'epoch=3', 'max_iters_per_epoch=1', 'snapshot_epoch=4')
    t2.resume(os.path.join(t.save_dir, 'latest'))
    assert t2.start_epoch == 3


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


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_ema_checkpoints_hold_the_average_and_resume_exactly(tiny_config, tmp_path):
    """use_ema: the checkpoint's weights are the average (what eval and export see), the raw
    weights sit in .pdema, and -r from epoch 1 ends with the uninterrupted run's weights."""
    over = ['epoch=2', 'max_iters_per_epoch=2', 'use_ema=true', 'ema_decay=0.9',
            'save_dir=%s' % tmp_path]
    t = _trainer(tiny_config, *over)
    t.train()
    assert t.ema.step == 4 and t.ema.current_decay() == pytest.approx(min(0.9, 5 / 14.))
    final = os.path.join(t.save_dir, 'model_final')
    saved = paddle.load(final + '.pdparams')
    raw = paddle.load(final + '.pdema')
    key = 'yolo_head.yolo_output.0.weight'
    np.testing.assert_array_equal(saved[key], t.ema.state[key].numpy())
    np.testing.assert_array_equal(raw['raw'][key], t.model.state_dict()[key].numpy())
    assert not np.allclose(saved[key], raw['raw'][key])  # an average, not the raw weights
    # evaluation runs on the average and leaves the raw weights in the model
    before = _weights(t.model)
    t.evaluate()
    after = _weights(t.model)
    assert all(np.array_equal(before[k], after[k]) for k in before)

    t2 = _trainer(tiny_config, *over[:-1], 'save_dir=%s' % (tmp_path / 'resumed'))
    t2.resume(os.path.join(t.save_dir, '1'))
    assert t2.ema.step == 2
    t2.train()
    for k, v in _weights(t2.model).items():
        np.testing.assert_array_equal(v, after[k], err_msg=k)
    for k, v in t2.ema.state.items():
        np.testing.assert_array_equal(v.numpy(), t.ema.state[k].numpy(), err_msg=k)

    no_ema = _trainer(tiny_config, 'epoch=2', 'max_iters_per_epoch=2')
    with pytest.raises(FileNotFoundError, match='saved without use_ema'):
        _trainer(tiny_config, *over).resume(
            no_ema.save(os.path.join(str(tmp_path), 'plain'), 0)[:-len('.pdparams')])


def test_eval_interval_and_print_flops(tiny_config, tmp_path, caplog):
    import logging
    t = _trainer(tiny_config, 'epoch=3', 'max_iters_per_epoch=1', 'eval_interval=2',
                 'print_flops=true', 'log_file=%s' % (tmp_path / 'train.log'))
    evaluated = []
    original = t.evaluate

    def counting_evaluate(*a, **k):
        evaluated.append(1)
        return original(*a, **k)
    t.evaluate = counting_evaluate
    with caplog.at_level(logging.INFO, logger='ppdet'):
        logging.getLogger('ppdet').addHandler(caplog.handler)
        try:
            t.train(validate=True)
        finally:
            logging.getLogger('ppdet').removeHandler(caplog.handler)
    assert len(evaluated) == 2  # after epoch 2 and after the last one (3)
    flops = [r.getMessage() for r in caplog.records if 'GFLOPs at' in r.getMessage()]
    assert len(flops) == 1 and 'MB of parameters' in flops[0]
