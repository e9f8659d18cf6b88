"""What a training run starts from and what it saves over (an audit of the slim/ scripts).

prune.py, distill.py and QAT without ``-o pretrain_weights`` trained from random weights and
replaced the trained baseline's ``model_final`` (``save_dir`` is ``<save_dir>/<config name>``
whatever the script) with rc 0; pruning chose its filters on random weights before any
warning; after Ctrl-C the resume hint named an earlier run's ``latest``; ``-r model_final``
at the last epoch rewrote it.  Tiny config on the tiny built-in dataset, 1 step per epoch."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from ppdet.core.workspace import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('tests_root_conftest_overwrite',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)
TINY = ['epoch=1', 'max_iters_per_epoch=1', 'TrainReader.batch_size=2']
PARAMS = 'yolo_block.0.0.0.conv.weights'


def run(script, *args):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT))
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def baseline(tmp_path_factory, tiny_dataset):
    """A config whose ``weights`` is its own ``save_dir/<name>/model_final`` (as the built-in
    configs'), and that baseline trained there (tools/train.py's run)."""
    from ppdet.engine import Trainer
    tmp = tmp_path_factory.mktemp('overwrite')
    save_dir = str(tmp / 'output')
    final = os.path.join(save_dir, 'tiny', 'model_final')
    config = _root_conftest.write_tiny_config(tmp, tiny_dataset)
    with open(config, 'a') as f:
        f.write('\nweights: %s\n' % final)
    t = Trainer(load_config(config, overrides=TINY), mode='train')
    t.train()
    assert os.path.isfile(final + '.pdparams')
    keep = str(tmp / 'kept')
    shutil.copytree(t.save_dir, keep)       # restored by each test that writes
    return {'config': config, 'final': final, 'dir': t.save_dir, 'keep': keep, 'tmp': tmp}


def _fresh(b):
    shutil.rmtree(b['dir'])
    shutil.copytree(b['keep'], b['dir'])
    return {f: os.path.getmtime(os.path.join(b['dir'], f)) for f in os.listdir(b['dir'])}


def _trainer(b, *over):
    from ppdet.engine import Trainer
    return Trainer(load_config(b['config'], overrides=TINY + list(over)), mode='train')


def test_pruning_random_weights_is_warned_before_filters_are_chosen_and_refused(baseline,
                                                                                ppdet_log):
    """Finding 1 + 4: the prune step warns before it chooses its filters (the unread
    weights= warning came only after), naming the checkpoint to start from; the training is
    then refused before anything is saved."""
    from ppdet.slim.prune import PrunePlan, PruneStep
    mtimes = _fresh(baseline)
    t = _trainer(baseline)
    plan = PrunePlan.from_flags(t.model, PARAMS, '0.5', 'l1_norm', 128)
    seen = []
    original = PruneStep.apply

    def apply(step, model):
        seen.extend(m for m in ppdet_log.messages if 'PRUNES RANDOM WEIGHTS' in m)
        return original(step, model)
    step = PruneStep(plan)
    step.apply = apply.__get__(step)          # the real apply, after a look at the log
    t.apply_step(step)
    assert len(seen) == 1 and 'it would prune a model with random weights' in seen[0]
    assert ('-o pretrain_weights=%s save_dir=DIR' % baseline['final']) in seen[0]
    assert '-o weights=%s is not read by training' % baseline['final'] in seen[0]
    with pytest.raises(ValueError, match='it would prune a model with random weights; start '
                                         'from the trained model with -o pretrain_weights='):
        t.train()
    assert mtimes == {f: os.path.getmtime(os.path.join(baseline['dir'], f))
                      for f in os.listdir(baseline['dir'])}


def test_prune_script_without_pretrain_weights_keeps_the_baseline(baseline):
    """The audit's reproduction: rc 0 and the baseline replaced by a 1-epoch model pruned
    from random weights."""
    mtimes = _fresh(baseline)
    rc, out = run('slim/prune/prune.py', '-c', baseline['config'], '--pruned_params', PARAMS,
                  '--pruned_ratios', '0.5', '-o', *TINY)
    assert rc == 2 and 'Traceback' not in out, out[-3000:]
    last = out.rstrip().splitlines()[-1]
    assert last.startswith('error: pruning chooses the filters') and \
        '-o pretrain_weights=%s save_dir=DIR' % baseline['final'] in last, last
    assert 'GFLOPs' not in out   # refused before a plan is chosen and applied
    assert mtimes == {f: os.path.getmtime(os.path.join(baseline['dir'], f))
                      for f in os.listdir(baseline['dir'])}


def test_qat_script_from_random_weights_does_not_overwrite_the_baseline(baseline):
    """QAT (and distill) from random weights: a loud warning, then refused before training
    because the save_dir holds another model (the baseline)."""
    mtimes = _fresh(baseline)
    rc, out = run('slim/quantization/train.py', '-c', baseline['config'], '-o', *TINY)
    assert rc == 2 and 'Traceback' not in out, out[-3000:]
    assert 'THIS RUN STARTS FROM RANDOM WEIGHTS: quant is applied' in out, out[-3000:]
    last = out.rstrip().splitlines()[-1]
    assert last == (
        'error: save_dir %s holds %s (YOLOv3 without compression, epoch 1), another model than '
        'this run saves there (YOLOv3 + quant): it would be overwritten; give this run '
        'another -o save_dir=DIR' % (baseline['dir'], baseline['final'])), last
    assert mtimes == {f: os.path.getmtime(os.path.join(baseline['dir'], f))
                      for f in os.listdir(baseline['dir'])}


def test_another_plan_from_trained_weights_is_refused_in_the_same_save_dir(baseline, ppdet_log):
    """Pruned from a copy of the baseline kept elsewhere, saving into the baseline's dir."""
    from ppdet.slim.prune import PrunePlan, PruneStep
    mtimes = _fresh(baseline)
    elsewhere = str(baseline['tmp'] / 'copy' / 'base')
    os.makedirs(os.path.dirname(elsewhere), exist_ok=True)
    shutil.copy(baseline['final'] + '.pdparams', elsewhere + '.pdparams')
    t = _trainer(baseline, 'pretrain_weights=%s' % elsewhere)
    t.load_weights(elsewhere)
    t.apply_step(PruneStep(PrunePlan.from_flags(t.model, PARAMS, '0.5', 'l1_norm', 128)))
    with pytest.raises(ValueError, match=r'holds .*model_final \(YOLOv3 without compression, '
                                         r'epoch 1\), another model than this run saves there '
                                         r'\(YOLOv3 \+ prune\): it would be overwritten'):
        t.train()
    assert mtimes == {f: os.path.getmtime(os.path.join(baseline['dir'], f))
                      for f in os.listdir(baseline['dir'])}
    # into another save_dir it trains
    t = _trainer(baseline, 'pretrain_weights=%s' % elsewhere,
                 'save_dir=%s' % (baseline['tmp'] / 'pruned'))
    t.load_weights(elsewhere)
    t.apply_step(PruneStep(PrunePlan.from_flags(t.model, PARAMS, '0.5', 'l1_norm', 128)))
    t.train()
    assert os.path.isfile(os.path.join(t.save_dir, 'model_final.pdparams'))


def test_retraining_the_same_model_replaces_it_with_a_warning(baseline, ppdet_log):
    """tools/train.py into the baseline's own dir from scratch: a legitimate rerun."""
    _fresh(baseline)
    t = _trainer(baseline)
    t.train()
    said = [m for m in ppdet_log.messages if 'holds checkpoints of an earlier run of this '
            'model' in m]
    assert len(said) == 1 and 'latest' in said[0] and 'model_final' in said[0]
    assert not [m for m in ppdet_log.messages if 'is not read by training' in m]


def test_ctrl_c_names_no_checkpoint_this_run_did_not_save(baseline, ppdet_log, capsys):
    """Finding 2: an earlier run's latest was named as where to resume this one."""
    from ppdet.engine.callbacks import Callback
    from ppdet.utils.cli import run_main

    class CtrlC(Callback):
        def on_step_end(self, status):
            raise KeyboardInterrupt

    _fresh(baseline)
    t = _trainer(baseline, 'epoch=2')
    t.extra_callbacks.append(CtrlC(t))
    with pytest.raises(SystemExit) as e:
        run_main(t.train)
    assert e.value.code == 130
    said = [m for m in ppdet_log.messages if m.startswith('interrupted in epoch 1')]
    assert len(said) == 1 and '-r' not in said[0], said
    assert 'nothing was saved' in said[0] and 'run the same command again' in said[0]
    # resumed from a checkpoint and stopped before saving: that checkpoint again
    t = _trainer(baseline, 'epoch=3')
    t.resume(os.path.join(baseline['dir'], 'latest'))
    t.extra_callbacks.append(CtrlC(t))
    with pytest.raises(KeyboardInterrupt):
        t.train()
    assert ppdet_log.messages[-1] == ('interrupted in epoch 2, before this run saved an epoch: '
                                      'resume with -r %s again'
                                      % os.path.join(baseline['dir'], 'latest'))


def test_resuming_model_final_at_the_last_epoch_is_refused(baseline):
    """Finding 3: distill.py / QAT -r model_final with epoch == the checkpoint's rewrote it
    with rc 0 (prune.py and tools/train.py refuse it themselves)."""
    mtimes = _fresh(baseline)
    t = _trainer(baseline)
    t.resume(baseline['final'])
    with pytest.raises(ValueError, match='model_final was saved after epoch 1 and the config '
                                         r'trains 1 epoch\(s\): nothing is left to train'):
        t.train()
    rc, out = run('slim/distillation/distill.py', '-c', baseline['config'], '-t',
                  baseline['config'], '--teacher_pretrained', baseline['final'], '-r',
                  baseline['final'], '-o', *TINY)
    assert rc == 2 and 'Traceback' not in out, out[-3000:]
    # a plain checkpoint is no distillation to continue: refused before anything is written
    assert 'this checkpoint was not made by a distillation' in out.rstrip().splitlines()[-1]
    assert mtimes == {f: os.path.getmtime(os.path.join(baseline['dir'], f))
                      for f in os.listdir(baseline['dir'])}
    # the pipeline's case: latest of the last epoch, model_final not written yet
    os.remove(baseline['final'] + '.pdparams')
    t = _trainer(baseline)
    t.resume(os.path.join(baseline['dir'], 'latest'))
    t.train()
    assert os.path.isfile(baseline['final'] + '.pdparams')
