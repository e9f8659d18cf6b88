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
    """Main's view of the pipeline, with the teacher and the baseline twins already scored."""
    stages = []

    def __init__(self, *args, **kwargs):
        self.distill_weights = dict(WEIGHTS)
        self.results = {'teacher': {'AP': 0.40, 'weights': 'teacher/model_final'}}
        for seed in (0, 1):
            self.results.update(_result('baseline', 'twin', seed, 0.45))

    def stage(self, name, fn):
        self.stages.append(name)

    def train_teacher(self):
        pass


def _main(monkeypatch, tmp_path, *argv):
    import ppdet.pipeline.main_job as main_job
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(main_job, 'Pipeline', _FakePipeline)
    _FakePipeline.stages = []
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
