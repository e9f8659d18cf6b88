"""A checkpoint is several files (weights, optimizer state, raw EMA weights), each replaced
atomically but not together: a save killed between them left a set from two saves, and
``-r`` resumed from it without a word (weights of epoch 2, optimizer of epoch 1: the final
model differed in 211 of 212 tensors).  Every file of a save now carries its id."""
import importlib.util
import os
import shutil

import pytest

from ppdet.core.workspace import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('tests_root_conftest_interrupted',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)


@pytest.fixture(scope='module')
def config(tmp_path_factory, tiny_dataset):
    return _root_conftest.write_tiny_config(tmp_path_factory.mktemp('interrupted'),
                                            tiny_dataset)


def _two_saves(config, tmp_path, ema):
    """``latest`` saved after epoch 1 (copied aside) and again after epoch 2."""
    from ppdet.engine import Trainer
    over = ['save_dir=%s' % tmp_path, 'use_ema=%s' % str(ema).lower()]
    t = Trainer(load_config(config, overrides=over), mode='train')
    t._ensure_optimizer()
    prefix = os.path.join(t.save_dir, 'latest')
    t.save(prefix, epoch=1)
    old = os.path.join(str(tmp_path), 'epoch1')
    os.makedirs(old)
    for ext in ('.pdparams', '.pdopt') + (('.pdema',) if ema else ()):
        shutil.copy(prefix + ext, os.path.join(old, 'latest' + ext))
    t.save(prefix, epoch=2)
    return prefix, os.path.join(old, 'latest'), over


def _resume(config, over, prefix):
    from ppdet.engine import Trainer
    t = Trainer(load_config(config, overrides=over + ['epoch=4']), mode='train')
    t.resume(prefix)
    return t


def test_a_set_cut_off_mid_save_is_refused(config, tmp_path):
    prefix, old, over = _two_saves(config, tmp_path, ema=False)
    assert _resume(config, over, prefix).start_epoch == 2          # a whole set resumes
    shutil.copy(old + '.pdopt', prefix + '.pdopt')  # the kill landed between the two files
    with pytest.raises(ValueError, match=r'latest.pdparams was cut off while being saved: its '
                                         r'optimizer state \(.pdopt, epoch 1\) comes from '
                                         r'another save .*resume from an earlier snapshot'):
        _resume(config, over, prefix)


def test_an_ema_set_cut_off_mid_save_is_refused(config, tmp_path):
    prefix, old, over = _two_saves(config, tmp_path, ema=True)
    assert _resume(config, over, prefix).start_epoch == 2
    shutil.copy(old + '.pdema', prefix + '.pdema')
    with pytest.raises(ValueError, match=r'cut off while being saved: its raw EMA weights '
                                         r'\(.pdema\) comes from another save'):
        _resume(config, over, prefix)
    os.remove(prefix + '.pdema')   # killed before the first .pdema: not "saved without EMA"
    with pytest.raises(ValueError, match=r'cut off while being saved: its raw EMA weights '
                                         r'\(.pdema\) is missing'):
        _resume(config, over, prefix)


def test_an_interrupted_sensitivity_file_is_not_pruned_from(tmp_path):
    """An analysis stopped part-way left valid JSON covering 10 of 18 parameters, and
    prune.py --target_flops pruned those 10 as if the rest did not exist."""
    from ppdet.slim.sensitivity import check_finished
    from ppdet.utils.fileio import write_json
    path = str(tmp_path / 's.json')
    state = {'version': 1, 'settings': {}, 'baseline': 0.5, 'finished': False,
             'sensitivities': {'a': {'0.1': 0.0}, 'b': {'0.1': 0.01, '0.2': 0.02}}}
    write_json(path, state)
    with pytest.raises(ValueError, match=r's.json is from an analysis that did not finish \(2 '
                                         r'parameter\(s\), 3 probes so far\): run the same'):
        check_finished(path)
    state['finished'] = True
    write_json(path, state)
    assert check_finished(path)['baseline'] == 0.5
    del state['finished']          # a file from before the marker: taken as it is
    write_json(path, state)
    check_finished(path)


def test_ctrl_c_in_training_says_how_to_resume(config, tmp_path, ppdet_log, capsys):
    """Ctrl-C printed a KeyboardInterrupt traceback and nothing on what was saved."""
    from ppdet.engine import Trainer
    from ppdet.engine.callbacks import Callback
    from ppdet.utils.cli import run_main

    class CtrlC(Callback):
        def on_step_end(self, status):
            if status['epoch_id'] == 1:
                raise KeyboardInterrupt

    t = Trainer(load_config(config, overrides=['save_dir=%s' % tmp_path, 'epoch=3',
                                               'max_iters_per_epoch=1']), mode='train')
    t.extra_callbacks.append(CtrlC(t))
    with pytest.raises(SystemExit) as e:
        run_main(t.train)
    assert e.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == 'interrupted'
    said = [m for m in ppdet_log.messages if m.startswith('interrupted in epoch 2')]
    assert said and 'resume with -r %s' % os.path.join(t.save_dir, 'latest') in said[0]
