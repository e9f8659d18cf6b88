"""benchmarks/sensitivity_speed.py on a tiny model."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import sensitivity_speed  # noqa: E402

CONFIG = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_r18_builtin.yml')


def test_sensitivity_speed_writes_ratio_ranking_and_machine(tiny_config, tmp_path):
    """The benchmark runs PaddleSlim's FilterPruner.sensitive and the fast mode on one model
    (a tiny YOLOv3 trained a few epochs and scored on its training images with every box
    kept, so its recall is not zero) and writes the ratio, the ranking agreement and the
    machine."""
    from ppdet.core import load_config
    from ppdet.engine import Trainer
    opts = ['YOLOBox.conf_thresh=0.0', 'MultiClassNMS.score_threshold=0.0',
            'EvalDataset.image_dir=train',
            'EvalDataset.anno_path=annotations/instances_train.json']
    cfg = load_config(tiny_config, overrides=['epoch=6', 'LearningRate.base_lr=0.005'] + opts)
    trainer = Trainer(cfg, mode='train')
    trainer.save_dir = str(tmp_path / 'w')
    trainer.train(validate=False)
    weights = str(tmp_path / 'w' / 'model_final')
    out = str(tmp_path / 'res')
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks', 'sensitivity_speed.py'),
           '-c', tiny_config, '--ratios', '0.3,0.6', '--eval_images', '2', '--out_dir', out,
           '--pruned_params', 'yolo_block.0.0.0.conv.weights,yolo_block.1.2.conv.weights,'
           'yolo_block.2.tip.conv.weights',
           '--metric', 'AR100',
           '-o', 'weights=%s' % weights] + opts
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    # PaddleSlim's loop says where it is: the unpruned model, then 3 parameters x 9 ratios
    assert "PaddleSlim's loop: evaluation 28 of 28 done" in proc.stdout
    summary = json.load(open(os.path.join(out, 'sensitivity_speed.json')))
    # speedup comes from the unrounded times
    assert summary['speedup'] == pytest.approx(summary['paddleslim_s'] / summary['fast_s'],
                                               rel=0.05)
    assert summary['ratios_fast'] == [0.3, 0.6] and summary['cpu']
    assert summary['_settings']['ratios'] == [0.3, 0.6]      # the run's settings, recorded
    assert -1 <= summary['fast_spearman'] <= 1
    fast = json.load(open(os.path.join(out, 'sensitivity_fast.json')))
    slim = json.load(open(os.path.join(out, 'sensitivity_paddleslim.json')))
    assert set(fast['sensitivities']) == set(slim['sensitivities']) and len(fast[
        'sensitivities']) == 3
    # PaddleSlim's loop probes all of 0.1 ... 0.9 for each parameter, under our names
    assert all(len(t) == 9 for t in slim['sensitivities'].values())
    assert all(n.startswith('yolo_block.') for n in slim['sensitivities'])
    md = open(os.path.join(out, 'sensitivity_speed.md')).read()
    assert md.startswith('Measured on ') and 'FilterPruner.sensitive' in md
    from ppdet.benchmark.cpu import cpu_flags
    assert 'CPU flags: `%s`' % cpu_flags()['flags'] in md
    assert summary['command'].startswith('python benchmarks/sensitivity_speed.py -c ')
    assert 'Command: `%s`' % summary['command'] in md
    # PaddleSlim's status pickle (deleted before its loop: nothing resumes from it) was left
    # in --out_dir, an untracked file in benchmarks/results with the default one
    assert sorted(os.listdir(out)) == ['sensitivity_fast.json', 'sensitivity_paddleslim.json',
                                       'sensitivity_speed.json', 'sensitivity_speed.md']
    _interrupted_run_leaves_the_set(cmd, out, tmp_path)


def _interrupted_run_leaves_the_set(cmd, out, tmp_path):
    """A run stopped after PaddleSlim's loop (Ctrl-C in the fast mode's) had rewritten
    sensitivity_paddleslim.json and deleted sensitivity_fast.json, while sensitivity_speed.md
    still described the earlier run; the files are now written together at the end."""
    import signal
    before = {n: open(os.path.join(out, n), 'rb').read() for n in os.listdir(out)}
    tmp = tmp_path / 'tmpdir'
    tmp.mkdir()
    # --with_full: a run of other settings, let through over the earlier set
    proc = subprocess.Popen(cmd + ['--with_full', '--overwrite'], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=dict(os.environ, TMPDIR=str(tmp)),
                            # a suite started in the background ignores SIGINT: not this child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b''
    while b"PaddleSlim's loop: evaluation 28 of 28" not in seen or \
            b'sensitivity:' not in seen.rsplit(b'28 of 28', 1)[-1]:   # the fast mode's bar
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, seen[-3000:].decode()
        seen += chunk
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, (seen + rest)[-3000:].decode()
    after = {n: open(os.path.join(out, n), 'rb').read() for n in os.listdir(out)}
    assert after == before
    assert os.listdir(str(tmp)) == []       # its temporary files went with it


@pytest.mark.parametrize('argv, match', [
    (['--pruned_params', 'yolo_block.0.0.0.conv.weights'],
     r'--pruned_params: 1 parameter given \(yolo_block.0.0.0.conv.weights\); .*Spearman.* '
     'give two or more'),
    (['--pruned_params', 'a,a,'], r'--pruned_params: 1 parameter given \(a\)'),
    (['--eval_images', '0'], '--eval_images must be >= 1, got 0'),
    (['--max_loss', '0'], r'--max_loss must be in \(0, 1\], got 0.0'),
    (['--max_loss', '1.5'], r'--max_loss must be in \(0, 1\], got 1.5'),
    (['--max_loss', 'nan'], r'--max_loss must be in \(0, 1\], got nan'),
    (['--ratios', '0.1,x'], "--ratios: 'x' is not a number"),
    (['--ratios', '0.1,1.2,0'], r'--ratios: 1.2, 0 outside \(0, 1\)'),
])
def test_bad_flags_stop_before_any_work_or_deletion(argv, match, tmp_path):
    """A bad flag used to be caught after PaddleSlim's whole loop, once the fast mode had
    deleted the earlier sensitivity_fast.json (a committed result with the default
    --out_dir); a single --pruned_params failed after both loops ("spearman needs at least
    two parameters"), the sensitivity json files rewritten."""
    out = tmp_path / 'res'
    out.mkdir()
    (out / 'sensitivity_fast.json').write_text('{}')
    with pytest.raises(ValueError, match=match):
        sensitivity_speed.main(['-c', CONFIG, '--out_dir', str(out)] + argv)
    assert os.listdir(str(out)) == ['sensitivity_fast.json']
    # and a missing --out_dir is not made by a run that fails its checks
    with pytest.raises(ValueError, match=match):
        sensitivity_speed.main(['-c', CONFIG, '--out_dir', str(tmp_path / 'new')] + argv)
    assert not (tmp_path / 'new').exists()


def test_out_dir_that_is_a_file_is_refused_first(tmp_path):
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match='--out_dir: .* is a file'):
        sensitivity_speed.main(['-c', CONFIG, '--out_dir', str(tmp_path / 'f')])


def test_probe_lines_print_each_evaluation_and_keep_their_time_apart(capsys):
    lines = sensitivity_speed.ProbeLines('loop')
    lines.evaluator, lines.total = (lambda model: 0.5), 3
    assert [lines(None) for _ in range(2)] == [0.5, 0.5]
    out = capsys.readouterr().out.splitlines()
    assert [o.rsplit(',', 1)[0] for o in out] == ['loop: evaluation 1 of 3 done',
                                                  'loop: evaluation 2 of 3 done']
    assert 0 <= lines.spent < 1


class _Started(Exception):
    """run_loops reached: the check let the run through (its loops take minutes)."""


def _summary_writer(monkeypatch):
    """The loops and their report stubbed: main writes the summary it would write (with the
    record) and nothing else."""
    from ppdet.utils.fileio import write_json
    monkeypatch.setattr(sensitivity_speed, 'run_loops', lambda cfg, args, ratios, tmp: {})
    monkeypatch.setattr(sensitivity_speed, 'report',
                        lambda args, cfg, ratios, runs, command: ({'speedup': 1.0}, 'md'))
    monkeypatch.setattr(sensitivity_speed, 'write_outputs', lambda out_dir, tmp, runs, summary,
                        md: write_json(os.path.join(out_dir, 'sensitivity_speed.json'), summary))


def test_out_dir_holding_a_run_of_other_settings_is_refused_before_any_loop(tmp_path,
                                                                          monkeypatch):
    """The default --out_dir is the committed one: a quick --eval_images 10 run replaced
    its tables, exit 0; --overwrite replaces them; the summary records the settings."""
    out = tmp_path / 'res'
    out.mkdir()
    argv = ['-c', CONFIG, '--out_dir', str(out), '--ratios', '0.3,0.6', '-o', 'weights=W']
    _summary_writer(monkeypatch)
    sensitivity_speed.main(argv)
    recorded = json.load(open(str(out / 'sensitivity_speed.json')))['_settings']
    assert recorded == {'config': os.path.relpath(CONFIG), 'weights': 'W', 'overrides': [],
                        'eval_images': 40, 'max_loss': 0.5, 'ratios': [0.3, 0.6],
                        'pruned_params': None, 'metric': None, 'with_full': False}
    before = {n: (out / n).read_text() for n in os.listdir(str(out))}

    def started(*a):
        raise _Started()
    monkeypatch.setattr(sensitivity_speed, 'run_loops', started)
    with pytest.raises(ValueError, match=r'^--out_dir: .*sensitivity_speed.json holds the results '
                                         r'of another run \(eval_images=40; this run: '
                                         r'eval_images=10\): they would be overwritten; give '
                                         r'another --out_dir \(or --overwrite'):
        sensitivity_speed.main(argv + ['--eval_images', '10'])
    with pytest.raises(ValueError, match=r"\(weights=W, with_full=False; this run: weights=V, "
                                         r"with_full=True\)"):
        sensitivity_speed.main(argv + ['--with_full', '-o', 'weights=V'])
    assert {n: (out / n).read_text() for n in os.listdir(str(out))} == before
    with pytest.raises(_Started):
        sensitivity_speed.main(argv + ['--eval_images', '10', '--overwrite'])
    with pytest.raises(_Started):
        sensitivity_speed.main(argv)                       # the same run: rewritten


@pytest.mark.parametrize('name, argv', [
    ('sensitivity_speed.json', ['-o', 'weights=output/pipeline/baseline/model_final']),
    ('sensitivity_vs_paddleslim/sensitivity_speed.json', [
        '-o', 'weights=output/issue19/pipe/baseline/model_final', '--pruned_params',
        ','.join('yolo_block.%d.%s.conv.weights' % (i, u) for i in range(3)
                 for u in ('0.0', '1.1', 'tip'))]),
])
def test_committed_summaries_from_before_the_record_are_compared_on_what_they_say(
        name, argv, monkeypatch):
    """The committed summaries have no record: config, weights, the fast mode's flags, the
    parameters (and --with_full beside PaddleSlim's loop) are read from them; the flags they
    were made with pass, others are refused."""
    from ppdet.utils.cli import parse_and_load
    from ppdet.utils.settings_record import check_results_overwrite
    monkeypatch.chdir(ROOT)
    path = os.path.join(ROOT, 'benchmarks', 'results', name)

    def check(extra):
        args, cfg = parse_and_load(sensitivity_speed.build_parser(),
                                   ['-c', 'configs/builtin/yolov3_r18_builtin.yml'] + argv +
                                   extra)
        check_results_overwrite(path, sensitivity_speed.run_settings(
            args, cfg, sensitivity_speed.parse_ratios(args.ratios)),
            recorded=sensitivity_speed.recorded_settings)
    check([])
    with pytest.raises(ValueError, match=r'\(max_loss=0.5; this run: max_loss=0.9\)'):
        check(['--max_loss', '0.9'])
    with pytest.raises(ValueError, match=r'\(ratios=\[0.1, .*0.9\]; this run: ratios=\[0.5\]'):
        check(['--ratios', '0.5'])
