"""benchmarks/distill_quality.py: run labels carry loss and weight; the table and the
written findings survive a rerun (the trainings themselves are the pipeline's, tested there)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import distill_quality as dq  # noqa: E402

WEIGHTS = {'l2': 2.0, 'fine_grained': 100.0}


def test_kinds_and_labels():
    assert dq.parse_kind('twin') == (None, None)
    assert dq.parse_kind('l2') == ('l2', None) and dq.parse_kind('l2@0.5') == ('l2', 0.5)
    assert dq.kind_label('twin', WEIGHTS) == 'twin'
    assert dq.kind_label('l2', WEIGHTS) == 'l2w2'          # the pipeline's weight, named
    assert dq.kind_label('l2@10', WEIGHTS) == 'l2w10'
    assert dq.kind_label('fine_grained', WEIGHTS) == 'fine_grainedw100'
    for bad, says in (('l3', 'unknown kind'), ('l2@x', 'must be a number'),
                      ('twin@2', 'unknown kind')):
        with pytest.raises(ValueError, match=says):
            dq.parse_kind(bad)


def _result(student, label, seed, ap):
    return {dq.run_name(student, label, seed): {'AP': ap, 'student': student}}


def test_summary_means_deltas_and_markdown(tmp_path):
    results = {}
    for seed, (twin, l2) in enumerate(((0.30, 0.33), (0.32, 0.31))):
        results.update(_result('r578', 'twin', seed, twin))
        results.update(_result('r578', 'l2w2', seed, l2))
    results['r578_l2w2_seed0_weights'] = 'a/path'       # not a result row
    summary = dq.summarize(results, ['r578'], [0, 1])
    assert summary['r578']['per_seed'] == {0: {'twin': 30.0, 'l2w2': 33.0},
                                           1: {'twin': 32.0, 'l2w2': 31.0}}
    assert summary['r578']['mean'] == {'twin': 31.0, 'l2w2': 32.0, 'l2w2_minus_twin': 1.0}
    path = str(tmp_path / 'dq.md')
    res = {'cpu': 'x', 'cpu_flags': ['avx2'], 'date': '2026-12-05 11:10',
           'teacher_config': 't.yml', 'teacher_weights': 'w',
           'teacher_AP': 60.0, 'finetune_epochs': 3, 'distill_weights': WEIGHTS,
           'students': summary, 'command': 'python benchmarks/distill_quality.py'}
    dq.write_md(path, res)
    with open(path) as f:
        assert 'Date: 2026-12-05 11:10' in f.read()    # beside the CPU, not only in the JSON
    with open(path, 'a') as f:
        f.write('\n## What it shows\n\nfindings written by hand\n')
    dq.write_md(path, res)                               # a rerun keeps them
    text = open(path).read()
    assert '| student | seed | twin | l2w2 |' in text
    assert '| r578 | mean | 31.0 | 32.0 (+1.00) |' in text
    assert '`l2w2` = l2 at weight 2' in text
    assert text.count('findings written by hand') == 1


def test_findings_of_another_table_are_marked_as_earlier(tmp_path):
    path = str(tmp_path / 'dq.md')
    with open(path, 'w') as f:
        f.write('# title\n\n| student | seed | twin |\n|---|---|---|\n| r578 | 0 | 30.0 |\n'
                '\n## What it shows\n\nr578 reaches 30.0\n')
    res = {'cpu': 'x', 'cpu_flags': [], 'teacher_config': 't.yml', 'teacher_weights': 'w',
           'finetune_epochs': 3, 'distill_weights': WEIGHTS, 'command': 'c',
           'students': dq.summarize(_result('r578', 'twin', 0, 0.25), ['r578'], [0])}
    for _ in range(2):                                   # marked once, kept on every rerun
        dq.write_md(path, res)
        text = open(path).read()
        assert text.count(dq.EARLIER_FINDINGS) == 1 and text.count('r578 reaches 30.0') == 1
        table, earlier = text.split(dq.EARLIER_FINDINGS)
        assert '| r578 | 0 | 25.0 |' in table and '30.0' not in table
        assert '| r578 | 0 | 30.0 |' in earlier          # the table they were written for
        assert earlier.index('| r578 | 0 | 30.0 |') < earlier.index('## What it shows')
        # it read backwards: "they describe this one, not that"
        assert 'they describe the table below, not the one at the top' in earlier


def test_twins_only_caption_has_no_empty_weights_note(tmp_path):
    path = str(tmp_path / 'dq.md')
    res = {'cpu': 'x', 'cpu_flags': [], 'teacher_config': 't.yml', 'teacher_weights': 'w',
           'finetune_epochs': 3, 'distill_weights': WEIGHTS, 'command': 'c',
           'students': dq.summarize(_result('r578', 'twin', 0, 0.25), ['r578'], [0])}
    dq.write_md(path, res)
    text = open(path).read()
    assert 'twin = the same run without the teacher. COCO' in text
    assert 'default weights now' not in text


class _FakePipeline(object):
    """Main's view of the pipeline, with the teacher and the baseline twins already scored
    (or ``results``, when set)."""
    stages = []
    results = None
    interrupt = False

    def __init__(self, *args, **kwargs):
        self.distill_weights = dict(WEIGHTS)
        self.results_path = os.path.join(kwargs['work_dir'], 'results.json')
        if _FakePipeline.results is not None:
            self.results = dict(_FakePipeline.results)
            return
        self.results = {'teacher': {'AP': 0.40, 'weights': 'teacher/model_final'}}
        for seed in (0, 1):
            self.results.update(_result('baseline', 'twin', seed, 0.45))

    def stage(self, name, fn):
        if self.interrupt:
            raise KeyboardInterrupt
        self.stages.append(name)

    def train_teacher(self):
        pass


def _main(monkeypatch, tmp_path, *argv):
    import ppdet.pipeline.main_job as main_job
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(main_job, 'Pipeline', _FakePipeline)
    _FakePipeline.stages = []
    monkeypatch.setattr(_FakePipeline, 'results', _FakePipeline.results)
    monkeypatch.setattr(_FakePipeline, 'interrupt', _FakePipeline.interrupt)
    (tmp_path / 'data' / 'coco').mkdir(parents=True, exist_ok=True)
    for name in ('b', 'r'):
        (tmp_path / (name + '.pdparams')).write_text('')
    monkeypatch.setattr(sys, 'argv', ['distill_quality.py', '--work_dir', str(tmp_path / 'w'),
                                      '--dataset_dir', str(tmp_path / 'data'),
                                      '--baseline_weights', str(tmp_path / 'b'),
                                      '--r578_student', str(tmp_path / 'r')] + list(argv))
    return dq.main()


def test_results_go_to_the_results_flag_and_the_stop_names_real_flags(monkeypatch, tmp_path,
                                                                       capsys):
    committed = os.path.join(ROOT, dq.RESULTS + '.md')
    before = open(committed).read() if os.path.isfile(committed) else None
    out = str(tmp_path / 'res' / 'dq')
    with pytest.raises(SystemExit) as e:
        _main(monkeypatch, tmp_path, '--results', out)
    assert 'does not beat the baseline twin' in str(e.value)
    assert '--teacher_epochs' not in str(e.value) and '--teacher_config' in str(e.value)
    assert '**Stopped:**' in open(out + '.md').read() and os.path.isfile(out + '.json')
    assert 'results: %s.json and %s.md' % (out, out) in capsys.readouterr().out
    assert (open(committed).read() if os.path.isfile(committed) else None) == before
    _main(monkeypatch, tmp_path, '--results', out, '--only', 'twins')
    assert _FakePipeline.stages == ['twin_baseline_0', 'twin_baseline_1', 'twin_r578_0',
                                    'twin_r578_1']
    assert 'results: %s.json' % out in capsys.readouterr().out


def test_inputs_and_outputs_are_checked_before_any_work(monkeypatch, tmp_path):
    (tmp_path / 'a_file').write_text('')
    bad = {('--results', str(tmp_path / 'a_file' / 'dq')): '--results: .* is a file',
           ('--work_dir', str(tmp_path / 'a_file')): '--work_dir: .* is a file',
           ('--r578_student', str(tmp_path / 'gone')): r'--r578_student: .*gone not found$',
           ('--teacher_weights', str(tmp_path / 'gone')): '--teacher_weights: .* not found',
           ('--dataset_dir', str(tmp_path)): 'has no coco/ folder',
           ('--baseline_weights', dq.BASELINE_WEIGHTS):
               'not found; run make demo first .* or give --baseline_weights'}
    for argv, says in bad.items():
        if argv[1] == dq.BASELINE_WEIGHTS and os.path.isfile(
                os.path.join(ROOT, dq.BASELINE_WEIGHTS + '.pdparams')):
            continue                                     # make demo has run here
        with pytest.raises(ValueError, match=says):
            _main(monkeypatch, tmp_path, *argv)
        assert _FakePipeline.stages == [] and not os.path.exists(str(tmp_path / 'w'))
    # --only twins --students r578 does not need the baseline; the full run does (its twins
    # decide whether the teacher is good enough)
    _main(monkeypatch, tmp_path, '--only', 'twins', '--students', 'r578', '--baseline_weights',
          str(tmp_path / 'gone'), '--results', str(tmp_path / 'dq'))
    with pytest.raises(ValueError, match='--baseline_weights'):
        _main(monkeypatch, tmp_path, '--students', 'r578', '--baseline_weights',
              str(tmp_path / 'gone'), '--results', str(tmp_path / 'dq'))


def test_a_work_dir_of_other_settings_is_refused_before_training(monkeypatch, tmp_path):
    """A reused --work_dir skipped its finished runs ("already done") and reported their AP
    under another --finetune_epochs or --baseline_weights."""
    (tmp_path / 'b2.pdparams').write_text('')
    first = ['--only', 'twins', '--students', 'baseline', '--seeds', '0', '--finetune_epochs',
             '1', '-o', 'max_iters_per_epoch=2', '--results', str(tmp_path / 'dq')]
    _main(monkeypatch, tmp_path, *first)
    assert _FakePipeline.stages == ['twin_baseline_0']
    for change, key in ((['--finetune_epochs', '3'], 'finetune_epochs'),
                        (['--baseline_weights', str(tmp_path / 'b2')], 'baseline_weights'),
                        (['-o', 'max_iters_per_epoch=3'], 'overrides')):
        with pytest.raises(ValueError, match='%s=.*give another --work_dir' % key):
            _main(monkeypatch, tmp_path, *(first + change))
        assert _FakePipeline.stages == []
    # the same settings in another results file: refused there too (its runs would be kept)
    with pytest.raises(ValueError, match='finetune_epochs=.*give another --results'):
        _main(monkeypatch, tmp_path, *(first[:-1] + [str(tmp_path / 'dq')] + [
            '--work_dir', str(tmp_path / 'w2'), '--finetune_epochs', '3']))
    # more seeds and students are more runs of the same settings
    _main(monkeypatch, tmp_path, *(first + ['--seeds', '0', '1', '--students', 'baseline,r578']))
    assert _FakePipeline.stages == ['twin_baseline_0', 'twin_baseline_1', 'twin_r578_0',
                                    'twin_r578_1']


def test_a_partial_only_keeps_the_other_parts_of_the_results(monkeypatch, tmp_path):
    """--only teacher wiped the students of the results file and wrote `| student | seed |  |`
    with empty rows; --only twins dropped the teacher's AP."""
    import json
    out = str(tmp_path / 'dq')
    _main(monkeypatch, tmp_path, '--only', 'twins', '--results', out)
    _FakePipeline.results = {'teacher': {'AP': 0.5, 'weights': 't/model_final'}}
    _main(monkeypatch, tmp_path, '--only', 'teacher', '--results', out)
    res = json.load(open(out + '.json'))
    assert res['teacher_AP'] == 50.0 and res['seeds'] == [0, 1]
    assert res['students']['baseline']['per_seed'] == {'0': {'twin': 45.0}, '1': {'twin': 45.0}}
    md = open(out + '.md').read()
    assert '| student | seed | twin |' in md and '| baseline | 1 | 45.0 |' in md
    assert '|  |' not in md
    # twins alone (a second process): the teacher part stays, a new seed is added
    _FakePipeline.results = _result('baseline', 'twin', 2, 0.42)
    _main(monkeypatch, tmp_path, '--only', 'twins', '--students', 'baseline', '--seeds', '2',
          '--results', out)
    res = json.load(open(out + '.json'))
    assert res['teacher_AP'] == 50.0 and res['seeds'] == [0, 1, 2]
    assert res['students']['baseline']['mean'] == {'twin': 44.0}
    # no student run at all: no empty table
    _FakePipeline.results = {'teacher': {'AP': 0.5, 'weights': 't/model_final'}}
    _main(monkeypatch, tmp_path, '--only', 'teacher', '--results', str(tmp_path / 'new'),
          '--work_dir', str(tmp_path / 'w3'))
    md = open(str(tmp_path / 'new.md')).read()
    assert '| student |' not in md and 'No student has been fine-tuned yet' in md


def test_bad_seeds_are_refused_before_any_work(monkeypatch, tmp_path):
    """--seeds -1 started the teacher's training; with --only twins it failed later with
    numpy's "Seed must be between 0 and 2**32 - 1", naming no flag."""
    for seeds in (['-1'], ['0', str(2 ** 32)]):
        with pytest.raises(ValueError, match=r'--seeds must be in \[0, 4294967295\], got '):
            _main(monkeypatch, tmp_path, '--seeds', *seeds, '--results', str(tmp_path / 'dq'))
        assert _FakePipeline.stages == [] and not os.path.exists(str(tmp_path / 'w'))


def test_ctrl_c_says_to_run_the_same_command_again(monkeypatch, tmp_path, capsys):
    """The training's hint "resume with -r DIR/latest" named a flag this script lacks."""
    from ppdet.utils.cli import run_main
    _FakePipeline.interrupt = True
    with pytest.raises(SystemExit) as e:
        run_main(lambda: _main(monkeypatch, tmp_path, '--results', str(tmp_path / 'dq')))
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert 'run the same command again' in err and 'takes no -r' in err
    assert 'python benchmarks/distill_quality.py --work_dir' in err


def test_help_names_every_flag_once(monkeypatch, capsys):
    """--work_dir, --teacher_config, --students, --seeds, --finetune_epochs had no help line;
    --baseline_weights said "(default: make demo's) (default: output/...)"."""
    import re
    monkeypatch.setattr(sys, 'argv', ['distill_quality.py', '--help'])
    with pytest.raises(SystemExit):
        dq.main()
    text = ' '.join(capsys.readouterr().out.split())
    for flag in ('--work_dir', '--teacher_config', '--students', '--seeds',
                 '--finetune_epochs', '--baseline_weights', '--r578_student'):
        said = re.search(r'%s [A-Z0-9_]+(?: \[[A-Z0-9_ .]+\])? (.*?)\(default' % flag, text)
        assert said and said.group(1).strip(), flag
    assert not re.search(r'\(default: [^)]*\) \(default', text)
