"""benchmarks/full_size_plot.py: LABEL=FILE pairs checked with a fix in the error, and a chart
of two CPUs' committed tables written."""
import importlib.util
import json
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
AMX = 'benchmarks/results/amx_cpu/quick_1206_run2/full_size_latency_quick.json'
AVX2 = 'benchmarks/results/avx2_cpu/yolov3_quick_run3/full_size_latency_quick.json'


def _script():
    spec = importlib.util.spec_from_file_location(
        'full_size_plot_script', os.path.join(ROOT, 'benchmarks', 'full_size_plot.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pairs_are_checked(tmp_path):
    read_runs = _script().read_runs
    with pytest.raises(ValueError, match="'AMX': give LABEL=FILE"):
        read_runs(['AMX'])
    with pytest.raises(FileNotFoundError, match='nope.json \\(of AMX\\): no such results file'):
        read_runs(['AMX=%s' % (tmp_path / 'nope.json')])
    other = tmp_path / 'order_effect.json'
    other.write_text(json.dumps({'rows': []}))
    with pytest.raises(ValueError, match='is not a full_size_latency.py results file'):
        read_runs(['AMX=%s' % other])


def test_two_cpus_in_one_chart(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = str(tmp_path / 'speedups.png')
    _script().main(['AMX=' + AMX, 'AVX2=' + AVX2, '--out', out])
    text = capsys.readouterr().out
    assert 'yolov3_mobilenet_v1 at 608, speed-up over fp32:' in text
    line = [x for x in text.splitlines() if x.strip().startswith('r578@32 + int8 ')][-1]
    assert line.split()[-5:] == ['AMX', '8.32x', '|', 'AVX2', '4.96x']
    assert os.path.getsize(out) > 10000 and text.rstrip().endswith('wrote %s' % out)


def test_an_unknown_runtime_names_the_close_one(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match="did you mean 'paddle_bf16'"):
        _script().main(['AMX=' + AMX, '--runtimes', 'paddle,paddle_bf6', '--out',
                        str(tmp_path / 'x.png')])
    assert not os.path.exists(str(tmp_path / 'x.png'))


def test_an_out_folder_is_refused_with_a_file_in_it(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match='--out: %s is a folder; give the chart\'s file, e.g. '
                                         '%s' % (tmp_path, tmp_path / 'full_size_speedups.png')):
        _script().main(['AMX=' + AMX, '--out', str(tmp_path)])
    assert os.listdir(str(tmp_path)) == []
