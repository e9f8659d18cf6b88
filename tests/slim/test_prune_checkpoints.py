"""prune.py against what it is given: which checkpoints it resumes (-r) or starts from
(pretrain_weights), where it writes, and plans that would prune nothing.

The script's ``main()`` runs in-process on the tiny config (``run_main`` turns the
ValueError into the one ``error:`` line, checked once through a subprocess); every refusal
comes before the model is pruned (no ``GFLOPs a -> b`` line) and before anything is saved.
"""
import importlib.util
import os
import re
import subprocess
import sys

import pytest
from slim_script_runner import ROOT, write_tiny_config, run_main as _main


PRUNE = 'slim/prune/prune.py'
PARAM = 'yolo_block.0.0.0.conv.weights'


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory, tiny_dataset):
    """The tiny config, and checkpoints of it as the scripts write them: a plain training
    one, a pruned one (r578, parent: the plain one), a QAT one, and the weights of a wider
    model (their yolo_block convs have other shapes)."""
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.engine import Trainer
    from ppdet.slim.prune import PrunePlan
    from ppdet.slim.pruning_job import prune_trainer
    from ppdet.slim.qat import QATStep
    from ppdet.utils.checkpoint import save_checkpoint
    from ppdet.utils.model_stats import config_input_size
    tmp = tmp_path_factory.mktemp('prune_ckpts')
    config = write_tiny_config(str(tmp), tiny_dataset, max_iters_per_epoch=1)
    cfg = load_config(config)
    # with their optimizer state (.pdopt), as a training run's epoch checkpoints have it
    trainer = Trainer(cfg, mode='train')
    trainer._ensure_optimizer()
    plain = trainer.save(str(tmp / 'train' / '1'), epoch=1)
    pruned = Trainer(cfg, mode='train')
    pruned.load_weights(plain)
    plan = PrunePlan.from_flags(pruned.model, None, 'r578', input_size=config_input_size(cfg))
    prune_trainer(pruned, plan)
    pruned._ensure_optimizer()
    pruned_path = pruned.save(str(tmp / 'pruned' / '1'), epoch=1)
    qat = Trainer(cfg, mode='train')
    qat.load_weights(plain)
    qat.apply_step(QATStep(None))
    qat._ensure_optimizer()
    qat_path = qat.save(str(tmp / 'qat' / '1'), epoch=1)
    paddle.seed(1)
    wider = save_checkpoint(create('YOLOv3', load_config(
        config, overrides=['YOLOv3FPN.base_channel=64'])), str(tmp / 'wider'),
        meta={'steps': [], 'num_classes': cfg['num_classes'], 'config': 'wider.yml'})
    return {'tmp': tmp, 'config': config, 'plain': plain, 'pruned': pruned_path,
            'qat': qat_path, 'wider': wider, 'plan': plan}


def _save_dir(tmp_path):
    return 'save_dir=%s' % (tmp_path / 'out')


def _nothing_done(tmp_path, capsys):
    assert not os.path.exists(str(tmp_path / 'out'))   # nothing saved
    assert 'GFLOPs' not in capsys.readouterr().out     # nothing pruned


# -- 1: -r resumes a pruning run --------------------------------------------------------
def test_resume_of_an_unpruned_checkpoint_is_refused(monkeypatch, ckpts, tmp_path, capsys):
    """-r of a tools/train.py checkpoint fine-tuned the unpruned model under prune.py and
    ignored --pruned_ratios without a word."""
    with pytest.raises(ValueError, match=r'-r .*1.pdparams: this checkpoint was not pruned .*'
                                         r'-r resumes a pruning run; to prune this checkpoint '
                                         r'use -o pretrain_weights='):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path), 'epoch=3',
              '--pruned_ratios', 'r578', '-r', ckpts['plain'])
    _nothing_done(tmp_path, capsys)


def test_resume_flags_must_match_the_recorded_plan(monkeypatch, ckpts, tmp_path, capsys):
    with pytest.raises(ValueError, match=r'resumes the plan recorded in the checkpoint \(18 convs '
                                         r'at 0.5-0.8 \(l1_norm\)\), but the flags give another: '
                                         r'ratios of 18 convs'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path), 'epoch=3',
              '--pruned_ratios', 'sensity', '-r', ckpts['pruned'])
    with pytest.raises(ValueError, match=r'--prune_criterion fpgm \(checkpoint: l1_norm\)'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path), 'epoch=3',
              '--prune_criterion', 'fpgm', '-r', ckpts['pruned'])
    with pytest.raises(ValueError, match=r'--target_flops and -s would not be used: drop'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path), 'epoch=3',
              '--target_flops', '0.3', '-s', str(tmp_path / 's.json'), '-r', ckpts['pruned'])
    _nothing_done(tmp_path, capsys)
    # the plan it records passes (the same command with -r added)
    from ppdet.core.workspace import load_config
    from ppdet.engine import Trainer
    from ppdet.slim.pruning_job import check_resume_flags
    from ppdet.utils.checkpoint import read_meta
    meta = read_meta(ckpts['pruned'])
    model = Trainer(load_config(ckpts['config']), mode='train').model
    check_resume_flags(meta, ckpts['pruned'], model, None, 'r578', 'l1_norm', 0)
    check_resume_flags(meta, ckpts['pruned'], model)


# -- 2: a pruned pretrain_weights is not pruned again -----------------------------------
def test_a_pruned_pretrain_weights_is_refused(monkeypatch, ckpts, tmp_path, capsys):
    with pytest.raises(ValueError, match=r'pretrain_weights .*pruned.*1.pdparams is already '
                                         r'pruned by 18 convs at 0.5-0.8 \(l1_norm\); start from '
                                         r'its unpruned parent .*train.*1.pdparams, or -r it'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path),
              'pretrain_weights=%s' % ckpts['pruned'], '--pruned_ratios', 'r578')
    _nothing_done(tmp_path, capsys)


# -- 4: QAT checkpoints -----------------------------------------------------------------
@pytest.mark.parametrize('how', ['pretrain', 'resume'])
def test_a_qat_checkpoint_is_refused_by_prune(monkeypatch, ckpts, tmp_path, capsys, how):
    args = (['-o', _save_dir(tmp_path), 'pretrain_weights=%s' % ckpts['qat'], '--pruned_ratios',
             'r578'] if how == 'pretrain' else
            ['-o', _save_dir(tmp_path), 'epoch=3', '-r', ckpts['qat']])
    with pytest.raises(ValueError, match=r'qat.*1.pdparams is a quantization-aware checkpoint '
                                         r'.*: prune/analyse its float parent .*train.*'
                                         r'1.pdparams instead'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], *args)
    _nothing_done(tmp_path, capsys)


def test_a_qat_checkpoint_is_refused_by_sensitive_in_one_line(ckpts, tmp_path):
    sens = str(tmp_path / 's.json')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'slim/sensitive/sensitive.py'), '-c', ckpts['config'],
         '-o', 'weights=%s' % ckpts['qat'], '-p', PARAM, '-r', '0.5', '-s', sens],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.rstrip().splitlines()[-1].startswith(
        'error: weights %s is a quantization-aware checkpoint' % ckpts['qat']), proc.stderr
    assert not os.path.exists(sens)


# -- 5: output paths first ----------------------------------------------------------------
def test_output_paths_are_checked_before_pruning(monkeypatch, ckpts, tmp_path, capsys):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(ValueError, match=r'save_dir \(-o save_dir=DIR\): .*afile is a file'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', 'save_dir=%s' % (afile / 'o'),
              '--pruned_ratios', 'r578')
    with pytest.raises(ValueError, match=r'--output_eval: .*afile is a file'):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path),
              '--pruned_ratios', 'r578', '--eval', '--output_eval', str(afile / 'e'))
    _nothing_done(tmp_path, capsys)


# -- 7: a half-loaded model is not pruned ---------------------------------------------------
def test_pretrain_weights_without_the_pruned_convs_are_refused(monkeypatch, ckpts, tmp_path,
                                                               capsys):
    """They loaded with a warning (the convs kept their random init) and the filters were
    ranked on random weights."""
    with pytest.raises(ValueError, match=r'pretrain_weights .*wider.pdparams do not hold 18 of '
                                         r'the 18 convs the plan prunes: 18 with another shape '
                                         r'\(%s: model \[' % PARAM.replace('.', r'\.')):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path),
              'pretrain_weights=%s' % ckpts['wider'], '--pruned_ratios', 'r578')
    _nothing_done(tmp_path, capsys)


# -- 11: a YOLOv3 preset on another family -------------------------------------------------
def test_a_yolov3_preset_on_another_model_says_so(tiny_det):
    from ppdet.slim.prune import PrunePlan
    with pytest.raises(ValueError, match=r'--pruned_ratios r578 is a YOLOv3 preset .* TinyDet has '
                                         r'none of them: list its prunable convs with prune.py '
                                         r'-c CONFIG -P'):
        PrunePlan.from_flags(tiny_det, None, 'r578')
    # with another count of its own names given it said '7 pruned_params but 18
    # pruned_ratios', not why (with 18 names a preset is only its 18 ratios)
    with pytest.raises(ValueError, match=r'--pruned_ratios r578 is a YOLOv3 preset .* TinyDet '
                                         r'has none of them'):
        PrunePlan.from_flags(tiny_det, ','.join(tiny_det.prunable_params()), 'r578')


# -- 12: plans that remove nothing -----------------------------------------------------
def test_a_plan_removing_no_filter_is_refused(monkeypatch, ckpts, tmp_path, capsys, tiny_det,
                                              ppdet_log):
    with pytest.raises(ValueError, match=r'the plan removes no filter: %s \(ratio 0 of \d+ '
                                         r'filters\)' % PARAM.replace('.', r'\.')):
        _main(monkeypatch, PRUNE, '-c', ckpts['config'], '-o', _save_dir(tmp_path), 'epoch=1',
              'pretrain_weights=%s' % ckpts['plain'], '-p', PARAM, '--pruned_ratios', '0')
    _nothing_done(tmp_path, capsys)
    from ppdet.slim.prune import PrunePlan
    from ppdet.slim.pruning_job import check_removes_filters
    # stem has 8 filters: 0.05 removes round(0.4) = 0 of them; c1 (16) loses 8
    plan = PrunePlan({'stem.conv.weights': 0.05, 'c1.conv.weights': 0.5})
    assert check_removes_filters(tiny_det, plan) == ['stem.conv.weights (ratio 0.05 of 8 '
                                                     'filters)']
    assert any('1 of the 2 pruned convs lose no filter' in m for m in ppdet_log.messages)


# -- 13 ------------------------------------------------------------------------------------
def test_help_describes_every_flag():
    spec = importlib.util.spec_from_file_location('slim_script_prune_help',
                                                  os.path.join(ROOT, PRUNE))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    parser = mod.build_parser()
    undocumented = [a.option_strings for a in parser._actions if not a.help]
    assert undocumented == []
    assert 'slim/sensitive/sensitive.py' in parser.format_help()


def test_the_unpruned_start_is_looked_for_up_the_chain(tmp_path):
    """prune.py on a pruned-then-distilled checkpoint named its direct parent, the pruned
    checkpoint, as 'its unpruned parent' (the next run refused that one too)."""
    import paddle
    from ppdet.slim.pruning_job import check_prune_start
    from ppdet.utils.checkpoint import save_checkpoint
    net = paddle.nn.Linear(2, 2)
    prune = {'kind': 'prune', 'plan': {}}
    base = save_checkpoint(net, str(tmp_path / 'base'), meta={'steps': []})
    pruned = save_checkpoint(net, str(tmp_path / 'pruned'), meta={'steps': [prune],
                                                                  'parent': base})
    distilled = save_checkpoint(net, str(tmp_path / 'distilled'), meta={
        'steps': [prune, {'kind': 'distill'}], 'parent': pruned})
    for path, said in ((pruned, 'its unpruned parent %s' % base),
                       (distilled, 'its unpruned ancestor %s' % base)):
        with pytest.raises(ValueError, match='start from %s, or -r' % re.escape(said)):
            check_prune_start(path)
