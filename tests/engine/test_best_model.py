"""``best_model`` during training with evaluation (real training on the tiny built-in set).

Found wrong: a resume replaced a better ``best_model`` (the best score started at -1 on
every start), an evaluated epoch that was not a snapshot epoch could never be the best, and
an eval set that gives AP -1 (no annotations) saved no ``best_model`` without a word."""
import json
import os
import shutil

import numpy as np
import paddle

from ppdet.core.workspace import load_config
from ppdet.engine import Trainer
from ppdet.engine.callbacks import Callback
from ppdet.engine.trainer import deployable
from ppdet.utils.checkpoint import META_KEY, read_meta

KEY = 'yolo_head.yolo_output.0.weight'


class Record(Callback):
    """Each epoch's evaluation and weights, as the Checkpointer saw them (it runs before)."""

    def __init__(self, trainer, seen):
        super().__init__(trainer)
        self.seen = seen

    def on_epoch_end(self, status):
        if status.get('eval_key') is not None:
            self.seen[status['epoch_id'] + 1] = (
                status['eval_value'], deployable(self.trainer.model).state_dict()[KEY].numpy())


def _train(config, over, seen=None, resume=None, interrupt_in=None):
    t = Trainer(load_config(config, overrides=['max_iters_per_epoch=1'] + over), mode='train')
    if resume:
        t.resume(os.path.join(t.save_dir, resume))
    if seen is not None:
        t.extra_callbacks.append(Record(t, seen))
    if interrupt_in:
        class CtrlC(Callback):
            def on_step_end(self, status):
                if status['epoch_id'] + 1 == interrupt_in:
                    raise KeyboardInterrupt
        t.extra_callbacks.append(CtrlC(t))
        try:
            t.train(validate=True)
        except KeyboardInterrupt:
            return t
        raise AssertionError('not interrupted')
    t.train(validate=True)
    return t


def _best(t):
    """best_model's epoch, weights and record of its score."""
    path = os.path.join(t.save_dir, 'best_model.pdparams')
    meta = read_meta(path)
    return meta['epoch'], paddle.load(path)[KEY], meta.get('best')


def _expected(seen):
    """The first epoch with the highest score (a later tie does not replace it)."""
    epoch = max(sorted(seen), key=lambda e: seen[e][0])
    return {'metric': 'AP', 'score': seen[epoch][0], 'epoch': epoch}


def _said_best(log):
    return [m for m in log.messages if m.startswith('best AP so far:')]


def test_every_evaluated_epoch_is_a_candidate(tiny_config, ppdet_log):
    """eval_interval=1, snapshot_epoch=3: epochs 1 and 2 were evaluated but only epoch 3
    (a snapshot epoch) could become best_model."""
    seen = {}
    t = _train(tiny_config, ['epoch=3', 'snapshot_epoch=3', 'eval_interval=1'], seen)
    assert sorted(seen) == [1, 2, 3]
    epoch, weights, best = _best(t)
    assert epoch == _expected(seen)['epoch']
    np.testing.assert_array_equal(weights, seen[epoch][1])
    assert best == _expected(seen)
    assert _said_best(ppdet_log)[0] == 'best AP so far: %.4f (epoch 1)' % seen[1][0]
    assert sorted(f for f in os.listdir(t.save_dir) if f[0].isdigit()) == ['3.pdopt',
                                                                           '3.pdparams']


def _rewrite_best(t, score, epoch):
    """best_model's record rewritten as if it were of ``epoch``, scoring ``score``; returns
    the record and the weights it holds."""
    path = os.path.join(t.save_dir, 'best_model.pdparams')
    state = paddle.load(path)
    meta = json.loads(state[META_KEY])
    meta.update(epoch=epoch, best={'metric': 'AP', 'score': score, 'epoch': epoch})
    state[META_KEY] = json.dumps(meta, sort_keys=True)
    paddle.save(state, path)
    return meta['best'], state[KEY]


def test_a_resume_does_not_replace_a_better_best_model(tiny_config, ppdet_log):
    """Interrupted in epoch 2, resumed from latest: the first evaluation after the resume
    always became best_model, however well epoch 1 had scored."""
    seen = {}
    over = ['epoch=3', 'snapshot_epoch=1']
    t = _train(tiny_config, over, seen, interrupt_in=2)
    assert sorted(seen) == [1]
    best, _ = _rewrite_best(t, 0.99, 1)         # epoch 1 scored higher than any to come
    t = _train(tiny_config, over, seen, resume='latest')
    assert sorted(seen) == [1, 2, 3]
    assert not _said_best(ppdet_log)[1:]        # epoch 1's, before the interruption
    epoch, weights, record = _best(t)
    np.testing.assert_array_equal(weights, seen[1][1])
    assert (epoch, record) == (1, best)
    assert 'resuming with the best_model of epoch 1 (AP 0.9900): an epoch replaces it only ' \
           'with a higher AP' in ppdet_log.messages


def test_a_resume_from_an_older_snapshot_keeps_a_later_best(tiny_config, ppdet_log):
    """-r <save_dir>/1 where best_model is of epoch 2: kept unless beaten, and said so; a run
    that does not resume (no -r) does not inherit the score."""
    over = ['epoch=2', 'snapshot_epoch=1']
    t = _train(tiny_config, over)
    best, kept = _rewrite_best(t, 0.99, 2)      # a best_model of epoch 2 at AP 0.99
    path = os.path.join(t.save_dir, 'best_model.pdparams')
    del ppdet_log.messages[:]

    t = _train(tiny_config, over, resume='1')
    assert not _said_best(ppdet_log)
    epoch, weights, record = _best(t)
    np.testing.assert_array_equal(weights, kept)
    assert (epoch, record) == (2, best)
    assert [m for m in ppdet_log.messages if 'after the resume point' in m] == [
        '%s is from epoch 2, after the resume point (epoch 1): it is kept (AP 0.9900) and '
        'replaced only by an epoch that scores higher; delete it to start the best over' % path]

    seen = {}
    t = _train(tiny_config, over, seen)             # a new run: its own best
    assert _best(t)[2] == _expected(seen)


def test_an_eval_set_without_annotations_warns_once(tiny_config, tiny_dataset, tmp_path,
                                                    ppdet_log):
    """AP -1 at every evaluation: no best_model, and nothing was said."""
    data = str(tmp_path / 'noann')
    shutil.copytree(os.path.join(tiny_dataset, 'coco'), os.path.join(data, 'coco'))
    ann = os.path.join(data, 'coco', 'annotations', 'instances_val.json')
    with open(ann) as f:
        coco = json.load(f)
    coco['annotations'] = []
    with open(ann, 'w') as f:
        json.dump(coco, f)
    t = _train(tiny_config, ['epoch=2', 'snapshot_epoch=1',
                             'EvalDataset.dataset_dir=%s' % os.path.join(data, 'coco')])
    assert not os.path.exists(os.path.join(t.save_dir, 'best_model.pdparams'))
    assert [m for m in ppdet_log.messages if 'gave a score' in m] == [
        'no evaluation gave a score (AP -1.0000 at epoch 1: the eval set has no annotations?): '
        'best_model is not saved']
    assert not _said_best(ppdet_log)


def test_evaluating_during_training_does_not_change_the_trained_weights(tiny_config, tmp_path):
    """``--eval`` drew from the global random state (the eval loader seeds its data workers
    from it), so the next epochs saw other batches and sizes: the same run trained other
    weights with evaluation than without."""
    finals = []
    for validate in (True, False):
        t = Trainer(load_config(tiny_config, overrides=[
            'max_iters_per_epoch=2', 'epoch=3', 'worker_num=2', 'save_dir=%s' % (tmp_path / str(validate))]),
            mode='train')
        t.train(validate=validate)
        finals.append(deployable(t.model).state_dict()[KEY].numpy())
    np.testing.assert_array_equal(finals[0], finals[1])


def test_a_run_without_eval_says_an_earlier_best_model_is_not_its_own(tiny_config, tmp_path,
                                                                      ppdet_log):
    """A fresh run without --eval into a save_dir with an earlier run's best_model (and
    later snapshots) left them beside its model_final without a word."""
    over = ['save_dir=%s' % tmp_path, 'snapshot_epoch=1']
    _train(tiny_config, over + ['epoch=3'])                       # with eval: best_model, 1-3
    t = Trainer(load_config(tiny_config, overrides=['max_iters_per_epoch=1', 'epoch=1'] + over),
                mode='train')
    t.check_no_other_run_overwritten()     # as prune.py does before its evaluation: said once
    t.train()
    said = [m for m in ppdet_log.messages if 'of an earlier run, which this run' in m]
    assert said == ['%s also holds 2, 3, best_model of an earlier run, which this run does not '
                    'write (best_model is written only with --eval): they stay, and they are '
                    'not this run\'s weights (this run\'s are latest and model_final)' % t.save_dir], said


def test_the_weights_a_run_starts_from_in_its_own_folder_are_not_called_an_earlier_runs(
        tiny_config, tmp_path, ppdet_log):
    """The pipeline saves a pruned model as ``pruned_no_finetune`` in the folder its fine-tune
    then trains in: every fresh `make demo` said that folder "also holds pruned_no_finetune of
    an earlier run".  The start is left out; an earlier run's file beside it is still named."""
    first = _train(tiny_config, ['save_dir=%s' % (tmp_path / 'a'), 'epoch=1'])
    t = Trainer(load_config(tiny_config, overrides=['max_iters_per_epoch=1', 'epoch=1',
                                                    'save_dir=%s' % (tmp_path / 'b')]),
                mode='train')
    os.makedirs(t.save_dir)
    for name in ('pruned_no_finetune', '7'):
        shutil.copy(os.path.join(first.save_dir, 'model_final.pdparams'),
                    os.path.join(t.save_dir, name + '.pdparams'))
    t.load_weights(os.path.join(t.save_dir, 'pruned_no_finetune'))
    t.train()
    said = [m for m in ppdet_log.messages if 'of an earlier run, which this run' in m]
    assert said == ['%s also holds 7 of an earlier run, which this run does not write: they '
                    'stay, and they are not this run\'s weights (this run\'s are latest and '
                    'model_final)' % t.save_dir], said


def test_training_does_not_repeat_paddles_batch_norm_notice(tiny_config, tmp_path):
    """Paddle 2.6's BatchNorm warns "When training, we now always track global mean and
    variance." in every training forward: a line of noise per stage of `make demo`."""
    import warnings
    with warnings.catch_warnings(record=True) as seen:   # the filters in force, not reset
        _train(tiny_config, ['save_dir=%s' % tmp_path, 'epoch=1'])
    assert not [w for w in seen if 'always track global mean' in str(w.message)]
