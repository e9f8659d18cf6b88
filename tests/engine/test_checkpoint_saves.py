"""Saving and resuming checkpoints when things go wrong (an audit of training's saves).

A checkpoint is several files; a Ctrl-C, a kill -9 or a full disk while ``latest`` was being
saved left a set from two saves that ``-r`` refused (with ``snapshot_epoch`` above the epochs
done: all progress lost), a kill left 16 MB temporaries for good and a full disk a raw
OSError.  ``-r latest`` at the last epoch was refused by tools/train.py and prune.py.  Weights
gone inf were saved with exit 0.  An EMA run resumed without ``use_ema`` and a distillation
run resumed by tools/train.py went on silently without their EMA / teacher.  A checkpoint
saved after a pruning in its process failed at the first step after -r.  Tiny config on
the tiny built-in dataset, 1 step per epoch; the signals are real ones, sent by the process to
itself at a given ``paddle.save`` call (the middle of a checkpoint's files)."""
import errno
import importlib.util
import os
import signal
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ppdet.core.workspace import load_config
from ppdet.utils.checkpoint import read_meta

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('tests_root_conftest_saves',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)
TRAIN = os.path.join(ROOT, 'tools', 'train.py')
PRUNE = os.path.join(ROOT, 'slim', 'prune', 'prune.py')
# 2 epochs, no numbered snapshot: `latest` is the only resumable checkpoint
TWO = ['epoch=2', 'max_iters_per_epoch=1', 'snapshot_epoch=4', 'TrainReader.batch_size=2']

# tools/train.py with a real signal sent at the n-th paddle.save (each checkpoint file is one:
# epoch 1's latest is calls 1-2, epoch 2's latest calls 3-4)
CHILD = r'''
import os, runpy, signal, sys
import paddle
at, sig = int(os.environ['SIGNAL_AT_SAVE']), getattr(signal, os.environ['SIGNAL'])
real, calls = paddle.save, []
def save(obj, path, *a, **k):
    calls.append(path)
    if len(calls) == at:
        os.kill(os.getpid(), sig)
    return real(obj, path, *a, **k)
paddle.save = save
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.fixture(scope='module')
def config(tmp_path_factory, tiny_dataset):
    return _root_conftest.write_tiny_config(tmp_path_factory.mktemp('saves'), tiny_dataset)


def _trainer(config, *over):
    from ppdet.engine import Trainer
    return Trainer(load_config(config, overrides=list(over)), mode='train')


def _run(*argv, **env):
    proc = subprocess.run([sys.executable] + [str(a) for a in argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT, **env),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc.returncode, proc.stdout + proc.stderr


def _signalled_run(config, save_dir, sig, at):
    return _run('-c', CHILD, TRAIN, '-c', config, '-o', 'save_dir=%s' % save_dir, *TWO,
                SIGNAL=sig, SIGNAL_AT_SAVE=str(at))


def _script(path, argv, monkeypatch, capsys):
    """Run a script's main in this process (as ``python path argv``): (exit code, stderr)."""
    from script_main import run_script_main
    return run_script_main(path, argv, monkeypatch, capsys)


@pytest.mark.parametrize('sig,rc_expected,last_line', [('SIGINT', 130, 'interrupted'),
                                                       ('SIGTERM', 143, 'terminated (SIGTERM)')])
def test_ctrl_c_while_latest_is_saved_keeps_it_resumable(config, tmp_path, monkeypatch, capsys,
                                                         sig, rc_expected, last_line):
    """Ctrl-C between the files of epoch 2's ``latest``: the run said 'resume with -r
    .../latest' and that resume was refused (cut off while being saved); the resume of
    ``latest`` at the last epoch was then refused too (nothing is left to train).  SIGTERM
    (a scheduler's stop) went to Paddle's C++ handler: a FatalError dump, no resume hint,
    a set cut off mid-save."""
    rc, out = _signalled_run(config, tmp_path, sig, 4)
    save_dir = os.path.join(str(tmp_path), 'tiny')
    latest = os.path.join(save_dir, 'latest')
    assert rc == rc_expected and 'Traceback' not in out and 'FatalError' not in out, out[-3000:]
    assert out.strip().splitlines()[-1] == last_line, out[-3000:]
    assert ('interrupted in epoch 2: the last finished epoch (2) is saved; resume with -r %s'
            % latest) in out, out[-3000:]
    assert read_meta(latest)['epoch'] == 2
    assert not [f for f in os.listdir(save_dir) if f.startswith('.')]
    code, err = _script(TRAIN, ['-c', config, '-r', latest, '-o', 'save_dir=%s' % tmp_path]
                        + TWO, monkeypatch, capsys)
    assert code == 0, err
    assert read_meta(os.path.join(save_dir, 'model_final'))['epoch'] == 2


def test_kill_while_latest_is_saved_leaves_the_previous_one(config, tmp_path):
    """kill -9 between the files of epoch 2's ``latest``: the set was mixed and refused, and
    with no numbered snapshot all progress was lost; its temporaries stayed for good."""
    rc, out = _signalled_run(config, tmp_path, 'SIGKILL', 4)
    assert rc == -9, out[-3000:]
    save_dir = os.path.join(str(tmp_path), 'tiny')
    latest = os.path.join(save_dir, 'latest')
    assert [f for f in os.listdir(save_dir) if f.startswith('.')]    # the killed save's
    t = _trainer(config, 'save_dir=%s' % tmp_path, *TWO)
    t.resume(latest)                                                  # the whole set of epoch 1
    assert t.start_epoch == 1
    t.train()
    assert sorted(os.listdir(save_dir)) == ['2.pdopt', '2.pdparams', 'latest.pdopt',
                                            'latest.pdparams', 'model_final.pdopt',
                                            'model_final.pdparams']    # no temporaries


def test_a_full_disk_is_one_line_and_keeps_the_previous_latest(config, tmp_path, monkeypatch,
                                                               capsys):
    """ENOSPC in epoch 2's ``latest``: a raw OSError traceback, and the set was half new."""
    from ppdet.utils.cli import run_main
    t = _trainer(config, 'save_dir=%s' % tmp_path, *TWO)
    real, calls = paddle.save, []

    def full_disk(obj, path, *a, **k):
        calls.append(path)
        if len(calls) >= 3:
            with open(path, 'wb') as f:
                f.write(b'\0' * 1000)       # what fitted
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(obj, path, *a, **k)
    monkeypatch.setattr(paddle, 'save', full_disk)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(t.train)
    monkeypatch.setattr(paddle, 'save', real)
    latest = os.path.join(t.save_dir, 'latest')
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['error: cannot save checkpoint %s (epoch 2): No space left on device; it is '
                   'not saved (what was at %s before is untouched); free disk space, then '
                   'resume from the last good checkpoint, %s (epoch 1): -r %s'
                   % (latest, latest, latest, latest)], err
    assert sorted(os.listdir(t.save_dir)) == ['latest.pdopt', 'latest.pdparams']
    t2 = _trainer(config, 'save_dir=%s' % tmp_path, *TWO)
    t2.resume(latest)
    assert t2.start_epoch == 1


def test_weights_without_their_optimizer_state_are_a_cut_off_save(config, tmp_path):
    t = _trainer(config, 'save_dir=%s' % tmp_path, *TWO)
    t._ensure_optimizer()
    latest = os.path.join(t.save_dir, 'latest')
    t.save(latest, epoch=1)
    os.remove(latest + '.pdopt')
    with pytest.raises(ValueError, match=r'latest.pdparams was cut off while being saved: its '
                                         r'optimizer state \(.*latest.pdopt\) is missing; '
                                         r'resume from an earlier snapshot'):
        _trainer(config, 'save_dir=%s' % tmp_path, *TWO).resume(latest)


def test_diverged_weights_are_not_saved(config, tmp_path, capsys):
    """A BN variance gone inf while the loss stays finite (base_lr 100 without clipping did it
    in epoch 2 on an AMD CPU) was saved as latest and model_final with exit 0 (eval then gave
    AP 0, -r a FloatingPointError traceback).  Made inf on purpose after epoch 1's saves: the
    same learning rate made the loss itself NaN first on an Intel Xeon (the other check)."""
    from ppdet.utils.cli import run_main
    t = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=3', 'snapshot_epoch=1',
                 'max_iters_per_epoch=2', 'LearningRate.base_lr=0.0001',
                 'OptimizerBuilder.clip_grad_by_norm=null')
    real_save = t.save

    def save_then_overflow(prefix, epoch=None, extra_meta=None):
        out = real_save(prefix, epoch, extra_meta)
        if os.path.basename(prefix) == '1':       # epoch 1's last save (after latest)
            var = next(v for k, v in t.model.state_dict().items() if k.endswith('_variance'))
            var.set_value(np.full(var.shape, np.inf, 'float32'))
        return out
    t.save = save_then_overflow
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(t.train)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    latest = os.path.join(t.save_dir, 'latest')
    assert len(err) == 1 and err[0].startswith('error: training diverged in epoch 2: '), err
    assert (' is inf, so %s is not saved; lower LearningRate.base_lr (now 0.0001) or clip the '
            'gradients (OptimizerBuilder.clip_grad_by_norm, now off: e.g. 10); then resume from '
            'the last good checkpoint, %s (epoch 1): -r %s' % (latest, latest, latest)) in err[0]
    assert sorted(os.listdir(t.save_dir)) == ['1.pdopt', '1.pdparams', 'latest.pdopt',
                                              'latest.pdparams']
    assert read_meta(latest)['epoch'] == 1
    for v in paddle.load(latest + '.pdparams').values():
        assert not isinstance(v, np.ndarray) or np.isfinite(v).all()


def test_a_nan_loss_is_one_line_naming_the_checkpoint_to_go_on_from(config, tmp_path,
                                                                    capsys):
    from ppdet.utils.cli import run_main
    t = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=1', 'max_iters_per_epoch=1')
    t.train()
    latest = os.path.join(t.save_dir, 'latest')
    t2 = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=2', 'max_iters_per_epoch=4',
                  'LearningRate.base_lr=1e30')
    t2.resume(latest)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(t2.train)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: in epoch 2 (iteration '), err
    assert 'loss became nan; lower LearningRate.base_lr (now 1e' in err[0], err
    assert err[0].endswith('no epoch of this run was saved: then resume from the checkpoint it '
                           'resumed from (epoch 1): -r %s' % latest), err


def test_an_ema_run_is_not_resumed_without_ema(config, tmp_path):
    """The averaged weights became the training weights, EMA off, without a word."""
    t = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=1', 'max_iters_per_epoch=1',
                 'use_ema=true')
    t.train()
    latest = os.path.join(t.save_dir, 'latest')
    t2 = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=2', 'max_iters_per_epoch=1')
    with pytest.raises(ValueError, match=r'latest was saved with use_ema .*: resume it with -o '
                                         r'use_ema=true; to go on without EMA start a new run '
                                         r'from the averaged weights with -o pretrain_weights='):
        t2.resume(latest)
    t3 = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=2', 'max_iters_per_epoch=1',
                  'use_ema=true')
    t3.resume(latest)
    assert t3.start_epoch == 1 and t3.ema.step == 1


def test_train_py_does_not_resume_a_distillation_without_its_teacher(config, tmp_path,
                                                                     monkeypatch, capsys):
    """tools/train.py -r of distill.py's checkpoint trained on with no distillation loss."""
    from ppdet.slim.distill import DistillStep
    teacher = _trainer(config).save(str(tmp_path / 'teacher'))
    t = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=1', 'max_iters_per_epoch=1')
    t.apply_step(DistillStep(config, teacher, student_cfg=t.cfg))
    t.train()
    latest = os.path.join(t.save_dir, 'latest')
    code, err = _script(TRAIN, ['-c', config, '-r', latest, '-o', 'save_dir=%s' % tmp_path,
                                'epoch=2', 'max_iters_per_epoch=1'], monkeypatch, capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        'error: -r %s: this checkpoint is a distillation run (teacher %s, weights %s); '
        'tools/train.py would train it on without the teacher: resume it with python '
        'slim/distillation/distill.py -c %s -t %s --teacher_pretrained %s -r %s' % (
            latest, config, teacher, config, config, teacher, latest)], err
    assert read_meta(latest)['epoch'] == 1
    # the distilled student fine-tuned alone inherits the record, trains without a teacher
    other = tmp_path / 'finetune'
    f = _trainer(config, 'save_dir=%s' % other, 'epoch=1', 'max_iters_per_epoch=1')
    f.load_weights(latest)
    f.train()
    code, err = _script(TRAIN, ['-c', config, '-r', os.path.join(f.save_dir, 'latest'), '-o',
                                'save_dir=%s' % other, 'epoch=2', 'max_iters_per_epoch=1'],
                        monkeypatch, capsys)
    assert code == 0, err


def test_prune_py_finishes_its_latest_at_the_last_epoch(config, tmp_path):
    """prune.py -r latest saved after the last epoch (stopped before model_final) was refused:
    'nothing is left to train'.  Both runs through the script."""
    start = _trainer(config).save(str(tmp_path / 'start'))  # what pruning starts from
    over = ['-o', 'save_dir=%s' % tmp_path, 'epoch=1', 'max_iters_per_epoch=1']
    rc, out = _run(PRUNE, '-c', config, '--pruned_params', 'yolo_block.0.0.0.conv.weights',
                   '--pruned_ratios', '0.5', *over + ['pretrain_weights=%s' % start])
    assert rc == 0, out[-3000:]
    final = os.path.join(str(tmp_path), 'tiny', 'model_final')
    os.remove(final + '.pdparams')
    os.remove(final + '.pdopt')
    rc, out = _run(PRUNE, '-c', config, '-r', os.path.join(str(tmp_path), 'tiny', 'latest'),
                   *over)
    assert rc == 0, out[-3000:]
    assert read_meta(final)['epoch'] == 1 and read_meta(final)['steps'][0]['kind'] == 'prune'


# a pruning, then a training in the same process (as the pipeline's stages run)
PRUNE_THEN_TRAIN = r'''
import sys
from ppdet.core.workspace import load_config
from ppdet.engine import Trainer
from ppdet.slim.prune import PrunePlan, PruneStep
config, out = sys.argv[1:]
def trainer(*over):
    return Trainer(load_config(config, overrides=list(over)), mode='train')
start = trainer().save(out + '/start')
p = trainer('save_dir=%s/pruned' % out, 'epoch=1', 'max_iters_per_epoch=1')
p.load_weights(start)
p.apply_step(PruneStep(PrunePlan.from_flags(p.model, 'yolo_block.0.0.0.conv.weights', '0.5',
                                            'l1_norm', 128)))
p.train()
trainer()   # the layer names start over after the pruning: this model takes start's
trainer('save_dir=%s' % out, 'epoch=1', 'max_iters_per_epoch=1').train()   # and this p's
'''


def test_a_checkpoint_saved_after_a_pruning_in_its_process_resumes(config, tmp_path):
    """After a pruning the layer names start over, so a later model in the process gets the
    names of the pruned one and its optimizer accumulators are numbered ``_1``
    (``conv2d_50.w_0_moment1_1``); -r in another process, which numbers them ``_0``, failed
    at its first step: 'Optimizer set error, ... should in state dict'."""
    rc, out = _run('-c', PRUNE_THEN_TRAIN, config, tmp_path)
    assert rc == 0, out[-3000:]
    latest = os.path.join(str(tmp_path), 'tiny', 'latest')
    assert [k for k in paddle.load(latest + '.pdopt') if k.endswith('_moment1_1')]
    t = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=2', 'max_iters_per_epoch=1')
    t.resume(latest)
    t.train()
    assert read_meta(os.path.join(str(tmp_path), 'tiny', 'model_final'))['epoch'] == 2


def _children(pid):
    out = []
    for task in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/children' % (pid, task)) as f:
            out += [int(p) for p in f.read().split()]
    return out


def test_sigterm_with_data_workers_leaves_no_shared_memory(config, tmp_path):
    """SIGTERM to a run with 2 data workers: Paddle's C++ handler printed a FatalError dump
    and the workers' segments stayed in /dev/shm (35 for this run)."""
    proc = subprocess.Popen(
        [sys.executable, TRAIN, '-c', config, '-o', 'save_dir=%s' % tmp_path, 'epoch=50',
         'worker_num=2', 'TrainReader.batch_size=2', 'snapshot_epoch=1'],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT))
    lines, workers = [], []
    try:
        for line in proc.stdout:
            lines.append(line)
            if 'epoch 2/50 iter 2/' in line:      # epoch 1 saved, the workers serving epoch 2
                workers = _children(proc.pid)
                proc.send_signal(signal.SIGTERM)
                break
        out = ''.join(lines) + proc.stdout.read()
        rc = proc.wait(timeout=120)
    finally:
        proc.kill()
    assert workers, out[-3000:]
    assert rc == 143 and 'FatalError' not in out and 'Traceback' not in out, out[-3000:]
    latest = os.path.join(str(tmp_path), 'tiny', 'latest')
    assert 'resume with -r %s' % latest in out and out.strip().endswith('terminated (SIGTERM)')
    left = [f for f in os.listdir('/dev/shm')
            if f.split('_')[:2] in (['paddle', str(p)] for p in workers)]
    assert not left, left


@pytest.mark.parametrize('other', ['{type: Momentum, momentum: 0.9}', '{type: SGD}'])
def test_a_resume_with_another_optimizer_type_is_refused(config, tmp_path, other):
    """Adam's checkpoint resumed with Momentum failed at the first step with Paddle's
    'AssertionError: Optimizer set error, conv2d_0.w_0_velocity_0 should in state dict';
    with SGD the saved state was dropped without a word."""
    t = _trainer(config, 'save_dir=%s' % tmp_path, *TWO[:1], 'max_iters_per_epoch=1',
                 'epoch=1')
    t.train()
    latest = os.path.join(t.save_dir, 'latest')
    t2 = _trainer(config, 'save_dir=%s' % tmp_path, 'OptimizerBuilder.optimizer=%s' % other)
    kind = other.split()[1].rstrip(',}')
    with pytest.raises(ValueError) as e:
        t2.resume(latest)
    assert str(e.value) == (
        '%s.pdparams was trained with Adam (its optimizer state holds beta1_pow_acc, '
        'beta2_pow_acc, moment1, moment2), this run builds %s: -r goes on with the optimizer '
        'it was trained with, so set OptimizerBuilder.optimizer.type to Adam; to train on with '
        '%s, start a new run from its weights: -o pretrain_weights=%s.pdparams (and another -o '
        'save_dir=DIR)' % (latest, kind, kind, latest))
    t3 = _trainer(config, 'save_dir=%s' % tmp_path, 'epoch=2')
    t3.resume(latest)                     # the same type resumes
    t3.train()
