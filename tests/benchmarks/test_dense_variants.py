"""benchmarks/dense_variants.py without training: each comparison's variants change what
they name in the built-in RetinaNet config, the quick schedule applies, and the summary calls
a difference within the seed spread only when it is."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import dense_variants as dv  # noqa: E402


def _cfg(comparison, variant, quick=True):
    overrides = dict(dv.COMPARISONS[comparison][1])[variant]
    return dv.build_cfg(overrides, 3, quick, 'some/dir', 'out')


def _names(transforms):
    return [list(t)[0] for t in transforms]


def test_variants_change_what_they_name(monkeypatch):
    monkeypatch.chdir(ROOT)
    base = _cfg('box_loss', 'smooth_l1')
    assert (base['epoch'], base['max_iters_per_epoch'], base['seed']) == (3, 50, 3)
    assert base['TrainDataset']['dataset_dir'] == 'some/dir' == base['EvalDataset']['dataset_dir']
    assert base['RetinaHead']['box_loss'] == 'smooth_l1'
    assert _cfg('box_loss', 'giou')['RetinaHead']['box_loss'] == 'giou'
    bn, evo = _cfg('norm_batch2', 'bn_head'), _cfg('norm_batch2', 'evonorm_s0_head')
    assert bn['TrainReader']['batch_size'] == evo['TrainReader']['batch_size'] == 2
    assert bn['max_iters_per_epoch'] == evo['max_iters_per_epoch'] == 400  # 800 samples
    assert (bn['RetinaHead']['norm_type'], evo['RetinaHead']['norm_type']) == ('bn', 'evonorm_s0')
    pw = _cfg('lr', 'piecewise')['LearningRate']['schedulers']
    assert pw[0]['name'] == 'PiecewiseDecay' and pw[0]['milestones'] == [2.0, 2.75]
    assert _cfg('lr', 'cosine')['LearningRate']['schedulers'][0]['name'] == 'CosineDecay'
    full = _cfg('lr', 'piecewise', quick=False)
    assert full['LearningRate']['schedulers'][0]['milestones'] == [8.0, 11.0]
    on, off = _cfg('stitch', 'stitch'), _cfg('stitch', 'off')
    assert _names(on['TrainReader']['batch_transforms']) == \
        ['Stitch'] + _names(off['TrainReader']['batch_transforms'])


def _runs(comp, values):
    runs = {}
    for variant, vals in values.items():
        for seed, v in enumerate(vals):
            runs['%s_%d' % (variant, seed)] = {'comparison': comp, 'variant': variant,
                                                'metrics': {'AP': v, 'APs': v}}
    return runs


def test_summary_verdicts(tmp_path):
    s = dv.summarize(_runs('box_loss', {'smooth_l1': [0.10, 0.12], 'giou': [0.115, 0.125]}),
                     ['box_loss'], [0, 1])['box_loss']
    assert s['verdict'] == 'within the seed spread' and abs(s['difference'] - 0.01) < 1e-9
    s = dv.summarize(_runs('box_loss', {'smooth_l1': [0.10, 0.11], 'giou': [0.14, 0.15]}),
                     ['box_loss'], [0, 1])['box_loss']
    assert s['verdict'] == 'giou better by 0.0400 AP'
    s = dv.summarize(_runs('stitch', {'off': [0.10], 'stitch': [0.2]}), ['stitch'], [0])
    assert s['stitch']['metric'] == 'APs' and s['stitch']['verdict'].startswith('one seed')
    res = {'date': 'd', 'cpu': {'summary': 'cpu', 'model': 'm'}, 'load_avg_start': [1], 'load_avg_end': [2],
           'omp_num_threads': '1', 'mode': 'quick', 'seeds': [0], 'summary': s,
           'runs': {'off_0': {'metrics': {'AP': 0.1, 'AP50': 0.2, 'APs': 0.05},
                              'loss_first10': 1.3, 'loss_last10': 0.7, 'steps': 150,
                              'train_s': 600.}}}
    dv.write_md(str(tmp_path / 'r.md'), res)
    text = (tmp_path / 'r.md').read_text()
    assert 'one seed only' in text and '| off_0 | 0.1000 |' in text


def test_baseline_variants_share_one_training(tmp_path):
    import json
    assert [v for c in dv.COMPARISONS.values() for v, o in c[1] if not o] == \
        ['smooth_l1', 'cosine', 'off']
    for name, run in (('box_loss_giou_seed0_quick', {'overrides': {'RetinaHead.box_loss': 'giou'}}),
                      ('box_loss_smooth_l1_seed1_quick', {'overrides': {}}),
                      ('stitch_off_seed0_quick', {'overrides': {}, 'reused_from': 'x'}),
                      ('box_loss_smooth_l1_seed0_quick', {'overrides': {}})):
        (tmp_path / (name + '.json')).write_text(json.dumps(dict(run, run=name)))
    assert dv.find_baseline(str(tmp_path), 0, True)['run'] == 'box_loss_smooth_l1_seed0_quick'
    assert dv.find_baseline(str(tmp_path), 1, False) is None


def test_a_subset_of_comparisons_keeps_the_others_results():
    import pytest
    old = {'mode': 'quick', 'seeds': [0, 1], 'date': 'then',
           'runs': dict(_runs('box_loss', {'smooth_l1': [0.1, 0.12], 'giou': [0.1, 0.11]}),
                        **{'bn_head_0': {'comparison': 'norm_batch2', 'variant': 'bn_head',
                                         'metrics': {'AP': 0.5}}})}
    new = {'mode': 'quick', 'seeds': [0], 'date': 'now',
           'runs': _runs('norm_batch2', {'bn_head': [0.01], 'evonorm_s0_head': [0.02]})}
    merged = dv.merge_previous(new, old, ['norm_batch2'])
    # the box_loss runs are kept, the earlier norm_batch2 run is replaced by this run's
    assert sorted(merged['runs']) == ['bn_head_0', 'evonorm_s0_head_0', 'giou_0', 'giou_1',
                                      'smooth_l1_0', 'smooth_l1_1']
    assert merged['runs']['bn_head_0']['metrics']['AP'] == 0.01
    assert merged['comparisons'] == ['norm_batch2', 'box_loss'] and merged['seeds'] == [0, 1]
    assert merged['earlier_results_date'] == 'then'
    summary = dv.summarize(merged['runs'], merged['comparisons'], merged['seeds'])
    assert summary['box_loss']['variants']['giou']['values'] == [0.1, 0.11]
    assert dv.merge_previous(new, None, ['norm_batch2']) is new
    with pytest.raises(ValueError, match='another --results'):
        dv.merge_previous(dict(new, mode='full'), old, ['norm_batch2'])


def _main(monkeypatch, *argv):
    def no_training(*args, **kwargs):
        raise AssertionError('trained before checking its arguments')
    monkeypatch.setattr(dv, 'train_and_eval', no_training)
    monkeypatch.setattr(sys, 'argv', ['dense_variants.py'] + list(argv))
    return dv.main()


def test_bad_paths_and_a_results_file_of_the_other_mode_stop_before_training(monkeypatch,
                                                                              tmp_path):
    import json
    import pytest
    (tmp_path / 'a_file').write_text('')
    work = ['--work_dir', str(tmp_path / 'work')]
    with pytest.raises(ValueError, match='--work_dir: .* is a file'):
        _main(monkeypatch, '--work_dir', str(tmp_path / 'a_file'))
    with pytest.raises(ValueError, match='--results: .* is a file'):
        _main(monkeypatch, '--results', str(tmp_path / 'a_file' / 'r'), *work)
    # quick runs of box_loss in the results file; a full run of another comparison would
    # only have found out after all its trainings
    results = str(tmp_path / 'r')
    with open(results + '.json', 'w') as f:
        json.dump({'mode': dv.mode_name(True), 'runs': _runs('box_loss', {'giou': [0.1]})}, f)
    with pytest.raises(ValueError, match='holds quick .* runs of box_loss but this run is full'):
        _main(monkeypatch, '--results', results, '--comparisons', 'stitch', *work)
    assert not os.path.exists(str(tmp_path / 'work'))


def test_write_md_is_atomic(monkeypatch, tmp_path):
    written = []
    real = dv.atomic_write

    def spy(path, writer):
        written.append(path)
        return real(path, writer)

    monkeypatch.setattr(dv, 'atomic_write', spy)
    res = {'date': '2024-05-06 07:08', 'cpu': {'summary': '2 cores, avx2', 'model': 'Xeon T'},
           'load_avg_start': [1.5, 1.0, 0.5], 'omp_num_threads': '1', 'mode': 'quick',
           'seeds': [0], 'summary': {}, 'runs': {}}
    dv.write_md(str(tmp_path / 'r.md'), res)
    assert written == [str(tmp_path / 'r.md')] and os.listdir(str(tmp_path)) == ['r.md']
    lines = (tmp_path / 'r.md').read_text().splitlines()
    assert lines[0] == '# RetinaNet variants on the built-in dataset (seed 001 conclusions)'
    assert 'Written by `benchmarks/dense_variants.py` on 2024-05-06 07:08.' in lines
    assert '- CPU: Xeon T (2 cores, avx2); full flags in the .json' in lines
    assert any(line.startswith('- load average (1/5/15 min) when this table was written: '
                               '[1.5, 1.0, 0.5];') for line in lines), lines


def _cache(work, comp, variant, seed, ap, quick=True):
    import json
    name = dv.run_name(comp, variant, seed, quick)
    run = {'run': name, 'comparison': comp, 'variant': variant, 'seed': seed,
           'overrides': dict(dv.COMPARISONS[comp][1])[variant],
           'metrics': {'AP': ap, 'AP50': ap, 'APs': ap}, 'loss_first10': 1.0,
           'loss_last10': 0.5, 'steps': 150, 'train_s': 1.0}
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, name + '.json'), 'w') as f:
        json.dump(run, f)


def _cached_box_loss(work, seeds):
    for seed in seeds:
        _cache(work, 'box_loss', 'smooth_l1', seed, 0.1 + seed / 100.)
        _cache(work, 'box_loss', 'giou', seed, 0.2 + seed / 100.)


def test_a_work_dir_of_another_dataset_is_refused_and_results_record_it(monkeypatch,
                                                                          tmp_path, capsys):
    """The cache ignored --dataset_dir: runs of another dataset were reported as this
    one's; the results recorded neither the dataset nor the command."""
    import json
    import pytest
    monkeypatch.chdir(ROOT)
    work, results = str(tmp_path / 'work'), str(tmp_path / 'r')
    _cached_box_loss(work, [0])
    argv = ['--quick', '--comparisons', 'box_loss', '--seeds', '0', '--work_dir', work,
            '--results', results]
    _main(monkeypatch, *(argv + ['--dataset_dir', str(tmp_path / 'a')]))
    assert 'no record of their settings' in capsys.readouterr().err   # cached before it
    res = json.load(open(results + '.json'))
    assert res['dataset_dir'] == str(tmp_path / 'a')
    assert res['command'].startswith('python benchmarks/dense_variants.py --quick')
    md = open(results + '.md').read()
    assert 'dataset `%s`' % (tmp_path / 'a') in md and '- command: `python benchmarks/' in md
    with pytest.raises(ValueError, match='dataset_dir=.*give another --work_dir'):
        _main(monkeypatch, *(argv + ['--dataset_dir', str(tmp_path / 'b')]))
    with pytest.raises(ValueError, match='dataset_dir=.*give another --work_dir'):
        _main(monkeypatch, *argv)          # the config's dataset
    # a results file of another dataset is refused when its runs would be kept
    with pytest.raises(ValueError, match='on the dataset .*a but this run is on .*c; give '
                                         'another --results'):
        _main(monkeypatch, '--quick', '--comparisons', 'stitch', '--work_dir',
              str(tmp_path / 'w2'), '--results', results, '--dataset_dir', str(tmp_path / 'c'))


def test_fewer_seeds_keep_every_cached_run(monkeypatch, tmp_path):
    """--seeds 1 after a seed-0 run dropped the seed-0 runs from the results."""
    import json
    monkeypatch.chdir(ROOT)
    work, results = str(tmp_path / 'work'), str(tmp_path / 'r')
    _cached_box_loss(work, [0, 1])
    _cache(work, 'box_loss', 'giou', 0, 0.9, quick=False)      # a full run: not this mode
    _main(monkeypatch, '--quick', '--comparisons', 'box_loss', '--seeds', '1',
          '--work_dir', work, '--results', results)
    res = json.load(open(results + '.json'))
    assert res['seeds'] == [0, 1]
    assert sorted(res['runs']) == ['box_loss_giou_seed0_quick', 'box_loss_giou_seed1_quick',
                                   'box_loss_smooth_l1_seed0_quick',
                                   'box_loss_smooth_l1_seed1_quick']
    import pytest
    assert res['summary']['box_loss']['variants']['giou']['values'] == pytest.approx([0.2, 0.21])


def test_bad_seeds_are_refused_before_training(monkeypatch, tmp_path):
    """--seeds -1 failed in the first training with numpy's message, naming no flag."""
    import pytest
    for seeds in (['-1'], ['0', str(2 ** 32)]):
        with pytest.raises(ValueError, match=r'--seeds must be in \[0, 4294967295\], got '):
            _main(monkeypatch, '--seeds', *seeds, '--work_dir', str(tmp_path / 'w'),
                  '--results', str(tmp_path / 'r'))
    assert not os.path.exists(str(tmp_path / 'w'))


def test_help_shows_the_defaults(monkeypatch, capsys):
    import pytest
    monkeypatch.setattr(sys, 'argv', ['dense_variants.py', '--help'])
    with pytest.raises(SystemExit):
        dv.main()
    text = ' '.join(capsys.readouterr().out.split())
    for default in ('(default: [0, 1])', '(default: output/dense_variants_work)',
                    '(default: %s)' % dv.RESULTS):
        assert default in text


def test_ctrl_c_says_to_run_the_same_command_again(monkeypatch, tmp_path, capsys):
    """The training's hint "resume with -r DIR/latest" named a flag this script lacks."""
    import pytest
    from ppdet.utils.cli import run_main
    monkeypatch.chdir(ROOT)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(dv, 'train_and_eval', ctrl_c)
    monkeypatch.setattr(sys, 'argv', ['dense_variants.py', '--quick', '--work_dir',
                                      str(tmp_path / 'w'), '--results', str(tmp_path / 'r')])
    with pytest.raises(SystemExit) as e:
        run_main(dv.main)
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert 'run the same command again' in err and 'takes no -r' in err


def test_an_interrupted_training_resumes_from_its_last_epoch(tmp_path, tiny_config):
    """A rerun trained an interrupted run from the start (the trainer's -r hint named a
    flag this script lacks)."""
    from ppdet.core.workspace import load_config

    def cfg(epochs):
        return load_config(tiny_config, overrides=['save_dir=%s' % tmp_path, 'epoch=%d' % epochs,
                                                   'max_iters_per_epoch=1', 'worker_num=0'])
    first = dv.train_and_eval(cfg(1), 'r')       # epoch 1 saved as latest: "interrupted" there
    assert first['steps'] == 1 and 'resumed_at_epoch' not in first
    again = dv.train_and_eval(cfg(2), 'r')
    assert again['resumed_at_epoch'] == 1 and again['steps'] == 1
