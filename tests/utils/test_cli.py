"""ppdet/utils/cli.py: check_choices refuses a comma-list flag's unknown item, naming the close
ones; the benchmark scripts use it before any work."""
import os
import subprocess
import sys

import pytest

from ppdet.utils.cli import check_choices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_check_choices_names_the_close_ones():
    check_choices('--algos', ['abs_max', 'KL'], ['abs_max', 'avg', 'hist', 'KL'])
    with pytest.raises(ValueError, match=r"--algos: unknown 'histt'; did you mean 'hist'\? "
                                         r"\(choose from abs_max, avg, hist, KL\)"):
        check_choices('--algos', ['abs_max', 'histt'], ['abs_max', 'avg', 'hist', 'KL'])
    with pytest.raises(ValueError, match=r"unknown 'zzz' \(choose from a, b\)"):
        check_choices('--x', ['zzz'], {'a': 1, 'b': 2})


@pytest.mark.parametrize('script, argv, match', [
    ('ptq_quality.py', ['--algos', 'abs_max,histt'], "--algos: unknown 'histt'; did you mean 'hist'"),
    ('ptq_quality.py', ['--variants', 'defualt'], "--variants: unknown 'defualt'; did you mean"),
    ('int8_weight_bits.py', ['--algos', 'abs_max,hst'], "--algos: unknown 'hst'; did you mean"),
    ('distill_quality.py', ['--students', 'baseline,r587'], "--students: unknown 'r587'"),
    ('architecture_table.py', ['--strategies', 'r578,sensty'], "--strategies: unknown 'sensty'"),
])
def test_benchmark_scripts_refuse_a_typo_before_any_work(script, argv, match, tmp_path):
    """Each of these used to find the typo only after minutes of work (an fp32 eval, a model
    built) or fail on a KeyError; each writes its results under --out_dir / --results /
    --work_dir, none of which may appear."""
    out = str(tmp_path / 'out')
    where = {'ptq_quality.py': ['--dataset_dir', out, '--model_dir', out, '--results', out,
                                '--work_dir', out],
             'int8_weight_bits.py': ['--work_dir', out, '--results', out],
             'distill_quality.py': ['--work_dir', out],
             'architecture_table.py': ['--out_dir', out]}[script]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', script)] + where +
                          argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr
    assert not os.path.exists(out) and not os.path.exists(out + '.json')


@pytest.mark.parametrize('error', [FileExistsError(17, 'File exists', '/x/f'),
                                   NotADirectoryError(20, 'Not a directory', '/x/f/g'),
                                   IsADirectoryError(21, 'Is a directory', '/x/d'),
                                   PermissionError(13, 'Permission denied', '/x/p')])
def test_run_main_makes_a_wrong_path_one_line(error, capsys):
    """A path of the wrong kind found late (os.makedirs on a file, open() on a folder) was a
    traceback; it is one line naming the path, exit 2."""
    from ppdet.utils.cli import run_main

    def main():
        raise error
    with pytest.raises(SystemExit) as e:
        run_main(main)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: [Errno') and error.filename in err and 'Traceback' not in err


def test_run_main_keeps_other_os_errors_loud():
    from ppdet.utils.cli import run_main

    def main():
        raise ConnectionError('a bug or an environment problem: keep its traceback')
    with pytest.raises(ConnectionError):
        run_main(main)


def test_parse_numbers_names_the_flag():
    from ppdet.utils.cli import parse_numbers
    assert parse_numbers('--sizes', '608,416,') == [608, 416]
    assert parse_numbers('--ratios', '0.1, 0.5', float) == [0.1, 0.5]
    with pytest.raises(ValueError, match=r"--sizes: 'abc' is not an integer \(give comma"):
        parse_numbers('--sizes', '608,abc')
    with pytest.raises(ValueError, match=r"--ratios: 'x' is not a number"):
        parse_numbers('--ratios', '0.1,x', float)
    with pytest.raises(ValueError, match='--sizes: no value given'):
        parse_numbers('--sizes', ',')


@pytest.mark.parametrize('argv, match', [
    (['--sizes', '608,abc'], "--sizes: 'abc' is not an integer"),
    (['--sizes', '0'], '--sizes must be >= 32, got 0'),
    (['--sizes', '600'], '--sizes: 600 is not a multiple of 32'),
    (['--prune_size', '0'], '--prune_size must be >= 32'),
    (['--configs', 'yolov3_mobilenet_v1'],
     "config yolov3_mobilenet_v1 not found (run from the repository root); did you mean "
     "'configs/yolov3_mobilenet_v1.yml'"),
])
def test_architecture_table_refuses_bad_sizes_and_configs_first(argv, match, tmp_path):
    """Sizes of 0 or -32 failed inside Paddle after the model was built; --prune_size 0 was
    taken and written as 'Pruned at 0'."""
    out = str(tmp_path / 'out')
    proc = subprocess.run([sys.executable, 'benchmarks/architecture_table.py', '--out_dir',
                           out] + argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr and not os.path.exists(out)


def test_architecture_table_refuses_a_file_as_out_dir_before_counting(tmp_path):
    out = tmp_path / 'afile'
    out.write_text('x')
    proc = subprocess.run([sys.executable, 'benchmarks/architecture_table.py', '--out_dir',
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert '--out_dir: %s is a file' % out in proc.stderr and '[1/' not in proc.stdout


@pytest.mark.parametrize('argv, match', [
    (['--match_fraction', '5'], '--match_fraction must be in [0.0, 1.0], got 5.0'),
    (['--warmup', '-1'], '--warmup must be >= 0, got -1'),
    (['--calib_images', '-2'], '--calib_images must be >= 0, got -2'),
    (['--out_dir', '{afile}'], '--out_dir: {afile} is a file'),
])
def test_compression_table_checks_its_flags_before_the_pipeline(argv, match, tmp_path):
    """--warmup -1 and --match_fraction 5 were taken; --calib_images -2 failed deep in the
    sweep; a file as --out_dir failed after all the timing."""
    afile = tmp_path / 'afile'
    afile.write_text('x')
    work = tmp_path / 'work'
    argv = [a.replace('{afile}', str(afile)) for a in argv]
    proc = subprocess.run([sys.executable, 'benchmarks/compression_table.py', '--skip_pipeline',
                           '--work_dir', str(work)] + argv, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and match.replace('{afile}', str(afile)) in proc.stderr, \
        proc.stderr
    assert not work.exists()


def test_command_line_quotes_for_a_shell(monkeypatch):
    from ppdet.utils.cli import command_line
    assert command_line('benchmarks/x.py', ['--note', 'two words', '--rounds', '3']) == \
        "python benchmarks/x.py --note 'two words' --rounds 3"
    monkeypatch.setattr(sys, 'argv', ['/abs/path/x.py', '--quick'])
    assert command_line('benchmarks/x.py') == 'python benchmarks/x.py --quick'


def test_a_key_set_twice_by_o_is_named_with_the_one_used(tiny_config, ppdet_log):
    from ppdet.utils.cli import ArgsParser, parse_and_load
    argv = ['-c', tiny_config, '-o', 'epoch=3', 'snapshot_epoch=1', '-o', 'epoch=5']
    _, cfg = parse_and_load(ArgsParser(), argv)
    assert cfg['epoch'] == 5
    assert ppdet_log.messages == ['-o sets epoch twice (epoch=3, then epoch=5): the last one is '
                                  'used']
    ppdet_log.messages.clear()
    parse_and_load(ArgsParser(), ['-c', tiny_config, '-o', 'epoch=3', 'epoch=3', 'epoch=3.0'])
    assert not ppdet_log.messages   # the same value twice (as load_config reads it) changes nothing
