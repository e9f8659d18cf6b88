"""Sensitivities files between sensitive.py and prune.py: what counts as finished, which
resumes are the same analysis, which files prune.py plans from, and flags checked before
the model loads."""
import os
import pickle

import pytest

from ppdet.slim.sensitivity import check_finished, load_sensitivities, sensitivity
from slim_script_runner import write_tiny_config, run_main as _main


PRUNE = 'slim/prune/prune.py'
SENSITIVE = 'slim/sensitive/sensitive.py'
PARAM = 'yolo_block.0.0.0.conv.weights'
NAMES = ('stem.conv.weights', 'c1.conv.weights', 'pw.conv.weights', 'route.conv.weights',
         'tip0.conv.weights', 'fuse.conv.weights', 'tip1.conv.weights')


class _Stop(object):
    """An eval function that scores 1 - (removed share) and raises KeyboardInterrupt (Ctrl-C)
    on call ``stop_at``."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = 0, stop_at

    def __call__(self, model):
        self.calls += 1
        if self.stop_at is not None and self.calls >= self.stop_at:
            raise KeyboardInterrupt
        return 1.0 - 0.001 * self.calls


# -- 3: a -p subset run does not finish another run's parameters -------------------------
def test_a_subset_run_does_not_finish_an_interrupted_file(tiny_det, tmp_path):
    path = str(tmp_path / 's.json')
    with pytest.raises(KeyboardInterrupt):   # all 7 params x 2 ratios; Ctrl-C at probe 4
        sensitivity(tiny_det, None, _Stop(stop_at=5), ratios=[0.3, 0.6],
                    sensitivities_file=path, progress=False, input_size=32)
    state = load_sensitivities(path, with_state=True)
    assert state['finished'] is False and state['pending'][0] == 'c1.conv.weights'
    # a run over one parameter the interrupted one had not reached
    sensitivity(tiny_det, 'tip1.conv.weights', _Stop(), ratios=[0.3, 0.6],
                sensitivities_file=path, progress=False, input_size=32)
    state = load_sensitivities(path, with_state=True)
    assert state['finished'] is False
    assert state['pending'] == list(NAMES[1:6])
    with pytest.raises(ValueError, match=r'did not finish \(3 parameter\(s\), 5 probes so far; '
                                         r'not finished: 5, e.g. c1.conv.weights'):
        check_finished(path)
    # the interrupted command again finishes it
    sensitivity(tiny_det, None, _Stop(), ratios=[0.3, 0.6], sensitivities_file=path,
                progress=False, input_size=32)
    state = check_finished(path)
    assert state['finished'] is True and state['pending'] == []
    assert sorted(state['sensitivities']) == sorted(NAMES)


def test_a_file_marked_unfinished_before_the_pending_list_needs_a_full_run(tiny_det, tmp_path):
    from ppdet.utils.fileio import write_json
    path = str(tmp_path / 's.json')
    sensitivity(tiny_det, 'stem.conv.weights', _Stop(), ratios=[0.5], sensitivities_file=path,
                progress=False, input_size=32)
    state = load_sensitivities(path, with_state=True)
    state['finished'] = False   # what an interrupted run of the previous version left
    del state['pending']
    write_json(path, state)
    sensitivity(tiny_det, 'stem.conv.weights', _Stop(), ratios=[0.5], sensitivities_file=path,
                progress=False, input_size=32)
    with pytest.raises(ValueError, match='did not finish'):
        check_finished(path)
    sensitivity(tiny_det, None, _Stop(), ratios=[0.5], sensitivities_file=path, progress=False,
                input_size=32)
    assert check_finished(path)['finished'] is True


# -- 8: the same weights spelled otherwise ---------------------------------------------------
def test_resume_takes_the_same_weights_spelled_otherwise(tiny_det, make_det, tmp_path):
    path = str(tmp_path / 's.json')
    base = str(tmp_path / 'w' / 'model_final')

    def run(model, weights, ratios=(0.5,)):
        return sensitivity(model, 'stem.conv.weights', _Stop(), ratios=ratios,
                           sensitivities_file=path, progress=False, input_size=32,
                           eval_settings={'weights': weights, 'max_images': None})

    run(tiny_det, base)
    run(tiny_det, base + '.pdparams', ratios=(0.5, 0.7))          # the same file
    run(tiny_det, str(tmp_path / 'copy.pdparams'), ratios=(0.3,))  # a copy: same content
    assert sorted(load_sensitivities(path)['stem.conv.weights']) == [0.3, 0.5, 0.7]
    assert load_sensitivities(path, with_state=True)['settings']['eval']['weights'] == base
    # other weights at the same path: refused, the setting named with its flag
    with pytest.raises(ValueError, match=r"made with different settings.*\(1 differ\):\n  the "
                                         r"weights' content: model.weights_sha1 \(file: "):
        run(make_det(seed=1), base)
    with pytest.raises(ValueError, match=r"\(1 differ\):\n  --eval_images: eval.max_images "
                                         r"\(file: null, now: 5\)"):
        sensitivity(tiny_det, 'stem.conv.weights', _Stop(), ratios=[0.5],
                    sensitivities_file=path, progress=False, input_size=32,
                    eval_settings={'weights': base, 'max_images': 5})


# -- 9, 10: what prune.py plans from ---------------------------------------------------------
@pytest.fixture(scope='module')
def tiny(tmp_path_factory, tiny_dataset):
    tmp = tmp_path_factory.mktemp('sens_files')
    return {'tmp': tmp, 'config': write_tiny_config(str(tmp), tiny_dataset,
                                                    max_iters_per_epoch=1)}


@pytest.mark.parametrize('content,match', [
    (b'{"version": 1, "sensitivities": {"a": {"0.1"', r'cannot read sensitivities file .*bad '
     r'\(.*\); make one with slim/sensitive/sensitive.py -c CONFIG -s .*bad$'),
    (pickle.dumps({'conv2d_1.w_0': {0.1: 0.01}}), r"cannot read sensitivities file .*bad \(a "
     r"pickle, not JSON\); make one with .*\(PaddleSlim's pickled sensitivities are not read\)"),
    (b'{"a": 1}', r'bad is not a sensitivities file written by ppdet .*; make one with '
     r'slim/sensitive/sensitive.py'),
])
def test_prune_says_how_to_make_a_sensitivities_file(monkeypatch, tiny, tmp_path, content,
                                                      match):
    bad = tmp_path / 'bad'
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, PRUNE, '-c', tiny['config'], '-o', 'save_dir=%s' % (tmp_path / 'o'),
              '--target_flops', '0.3', '-s', bad)
    assert not os.path.exists(str(tmp_path / 'o'))


def test_prune_plans_with_the_criterion_the_file_was_measured_with(monkeypatch, tiny, tmp_path):
    """A file measured with FPGM was planned from with the default l1_norm without a word."""
    from ppdet.core.workspace import create, load_config
    model = create('YOLOv3', load_config(tiny['config']))
    path = str(tmp_path / 'fpgm.json')
    sensitivity(model, PARAM, _Stop(), ratios=[0.5], sensitivities_file=path, progress=False,
                criterion='fpgm', input_size=64)
    with pytest.raises(ValueError, match=r'measured with --prune_criterion geometry_median, but '
                                         r'this run prunes by l1_norm: .*give --prune_criterion '
                                         r'geometry_median \(or leave it out\)'):
        _main(monkeypatch, PRUNE, '-c', tiny['config'], '-o', 'save_dir=%s' % (tmp_path / 'o'),
              '--target_flops', '0.01', '-s', path, '--prune_criterion', 'l1_norm')
    assert not os.path.exists(str(tmp_path / 'o'))
    from ppdet.slim.pruning_job import check_sensitivities_for_pruning
    assert check_sensitivities_for_pruning(path, 'fpgm', model)[1] == 'geometry_median'
    assert check_sensitivities_for_pruning(path, None, model)[1] == 'geometry_median'


# -- 5, 6: sensitive.py checks its flags and outputs before the weights load ---------------
@pytest.fixture(scope='module')
def wider(tiny):
    """Weights of a wider model: loading them into the tiny config fails, so a flag refused
    before them is refused before the weights load."""
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.utils.checkpoint import save_checkpoint
    paddle.seed(1)
    cfg = load_config(tiny['config'], overrides=['YOLOv3FPN.base_channel=64'])
    return save_checkpoint(create('YOLOv3', cfg), str(tiny['tmp'] / 'wider'),
                           meta={'steps': [], 'num_classes': cfg['num_classes']})


@pytest.mark.parametrize('flags,match', [
    (['-p', 'yolo_block.0.0.0.conv.weight'], r"unknown parameter 'yolo_block.0.0.0.conv.weight'; "
     r"did you mean 'yolo_block.0.0.0.conv.weights'\?"),
    (['-r', '0.1,1.5'], r'-r/--pruned_ratios 0.1,1.5: every ratio to probe must be in \(0, 1\)'),
    (['--max_loss', '0'], r'--max_loss must be > 0 \(got 0\)'),
    (['-s', '{tmp}/notsens.json'], r'notsens.json is not a sensitivities file written by ppdet'),
    (['-s', '{tmp}/afile/sens.json'], r'-s/--sensitivities_file: .*afile is a file'),
    (['--plot', '{tmp}/afile/p.png'], r'--plot: .*afile is a file'),
])
def test_sensitive_flags_and_outputs_are_refused_before_the_weights_load(
        monkeypatch, tiny, wider, tmp_path, flags, match):
    (tmp_path / 'afile').write_text('x')
    (tmp_path / 'notsens.json').write_text('{"a": 1}')
    flags = [f.format(tmp=tmp_path) for f in flags]
    if '-s' not in flags:
        flags += ['-s', str(tmp_path / 'sens.json')]
    if '-p' not in flags:
        flags += ['-p', PARAM]
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, SENSITIVE, '-c', tiny['config'], '-o', 'weights=%s' % wider, *flags)
    assert sorted(os.listdir(str(tmp_path))) == ['afile', 'notsens.json']  # nothing written


def test_a_model_without_prunable_convs_is_refused_before_any_file(tmp_path):
    """BlazeFace-Lite declares no prunable convs: sensitive.py wrote an empty table and a
    blank plot, which prune.py then refused as "run the sensitivity analysis first" (audit
    2026-12-05); now one line saying why."""
    from ppdet.core.workspace import create, load_config
    from ppdet.utils.checkpoint import save_checkpoint
    from slim_script_runner import ROOT, fail
    config = 'configs/face_detection/blazeface_lite_builtin.yml'
    cfg = load_config(os.path.join(ROOT, config))
    weights = save_checkpoint(create(cfg['architecture'], cfg), str(tmp_path / 'lite'),
                              meta={'architecture': cfg['architecture'], 'steps': []})
    sens = tmp_path / 'sens.json'
    err = fail(SENSITIVE, '-c', config, '-o', 'weights=%s' % weights, '-s', sens)
    assert 'declares no prunable convs' in err and 'nothing to analyse' in err, err
    assert not sens.exists()


def test_target_flops_without_a_file_says_none_was_given(tmp_path):
    """``prune.py --target_flops`` without ``-s`` said "not found: None"."""
    from ppdet.slim.pruning_job import check_sensitivities_for_pruning
    with pytest.raises(ValueError, match=r'needs a sensitivities file \(-s FILE\) made by '
                                         r'slim/sensitive/sensitive.py .*: none was given$'):
        check_sensitivities_for_pruning(None)
    with pytest.raises(ValueError, match=r'; not found: .*nope.json$'):
        check_sensitivities_for_pruning(str(tmp_path / 'nope.json'))


def test_a_file_of_another_family_with_the_same_shapes_is_refused(tmp_path):
    """The built-in RetinaNet and FCOS have the same prunable names and shapes: a RetinaNet
    sensitivities file planned FCOS's pruning without a word (audit 2026-12-05)."""
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.prune import prunable_params
    from ppdet.slim.sensitivity import check_made_for
    from slim_script_runner import ROOT
    models = {}
    for name in ('retinanet', 'fcos'):
        cfg = load_config(os.path.join(ROOT, 'configs', 'builtin', '%s_r18_builtin.yml' % name))
        models[name] = create(cfg['architecture'], cfg)
    shapes = {n: {k: list(p.shape) for k, p in prunable_params(m).items()}
              for n, m in models.items()}
    assert shapes['retinanet'] == shapes['fcos']  # what made the shape check blind
    name = list(shapes['fcos'])[0]
    sens = str(tmp_path / 'retinanet.json')
    sensitivity(models['retinanet'], name, lambda m: 1.0, ratios=[0.5], sensitivities_file=sens,
                progress=False, input_size=64)
    check_made_for(sens, models['retinanet'])
    with pytest.raises(ValueError, match=r'retinanet.json was made for a RetinaNet model and '
                                         r'this one is a FCOS'):
        check_made_for(sens, models['fcos'])


def test_a_run_refused_for_a_zero_baseline_does_not_hold_the_file(tiny_det, tmp_path):
    """A model scoring 0 is refused, and its file (which measured nothing) neither records
    the 0 nor refuses the next run, with other weights, as 'made with different settings'."""
    path = str(tmp_path / 's.json')

    def run(eval_fn, weights):
        return sensitivity(tiny_det, 'stem.conv.weights', eval_fn, ratios=[0.5],
                           sensitivities_file=path, progress=False, input_size=32,
                           eval_settings={'weights': weights, 'max_images': None})

    with pytest.raises(ValueError, match='the unpruned model scores 0.0'):
        run(lambda model: 0.0, str(tmp_path / 'untrained'))
    assert load_sensitivities(path, with_state=True)['baseline'] is None
    sens = run(_Stop(), str(tmp_path / 'trained'))
    assert list(sens) == ['stem.conv.weights']
    state = load_sensitivities(path, with_state=True)
    assert state['baseline'] > 0 and state['settings']['eval']['weights'].endswith('trained')


def test_a_baseline_too_weak_to_rank_by_is_said(tiny_det, tmp_path, ppdet_log):
    """At a baseline AP of 0.003 the curves said pruning improved AP 5-fold (losses -3.4 ..
    -4.9), and --target_flops planned from them without a word (an audit)."""
    scores = iter([0.003] + [0.015] * 4)
    sensitivity(tiny_det, 'stem.conv.weights,c1.conv.weights', lambda m: next(scores),
                ratios=[0.3, 0.6], sensitivities_file=str(tmp_path / 's.json'), progress=False,
                input_size=32)
    assert ('4 probe(s) score over 50% above the unpruned model (e.g. stem.conv.weights at '
            '0.3: loss -4.000; baseline 0.003): the baseline is too weak') in ppdet_log.text
