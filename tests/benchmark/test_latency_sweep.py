"""Benchmark report library: rows of results.json, the latency sweep over rows x runtimes,
the int8 agreement check, compression.md / ap_vs_latency.png / latency.json, and the
architecture table against the seed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ppdet.deploy import report
from ppdet.utils.fileio import read_json, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
FAST = dict(warmup=1, repeats=3, pause_s=0.005, lite_repeats=1)


def _row(model_dir, ap, gflops, size=128, **kw):
    row = {'GFLOPs': gflops, 'size_MB': 1.0 + gflops, 'AP': ap, 'AP50': ap + 0.2,
           'input_size': size}
    if model_dir:
        row['inference_dir'] = model_dir
    row.update(kw)
    return row


@pytest.fixture
def results_file(tmp_path, yolov3_model_dir, tiny_model_dir):
    """A pipeline-style results.json: two exported rows and one that was not exported."""
    results = {'rows': ['baseline', 'r578', 'r578_pruned'], '_done': ['data'],
               'baseline': _row(yolov3_model_dir, 0.30, 0.10),
               'r578': _row(tiny_model_dir, 0.25, 0.02, size=64),
               'r578_pruned': _row(None, 0.10, 0.02)}
    path = str(tmp_path / 'work' / 'results.json')
    write_json(path, results)
    return path


def test_table_rows_follows_rows_and_falls_back_without_it():
    a = {'AP': 0.1}
    res = {'rows': ['r578', 'baseline', 'missing'], 'baseline': a, 'r578': a, 'sensity': a}
    assert [n for n, _ in report.table_rows(res)] == ['r578', 'baseline']
    old = {'r578': a, 'extra': a, 'baseline': a, 'sensity': a, 'time_train_s': 3.0,
           'baseline_weights': 'w', 'sensitivity': {'file': 'f'}}
    assert [n for n, _ in report.table_rows(old)] == ['baseline', 'sensity', 'r578', 'extra']


def test_ratios_on_a_tiny_model(tiny_model_dir, images):
    rows = [('baseline', _row(tiny_model_dir, 0.3, 0.1)),
            ('copy', _row(tiny_model_dir, 0.3, 0.1))]
    lat = report.latency_sweep(rows, images[:2], runtimes=('paddle_fp32', 'onnx_fp32'), **FAST)
    base_ms = lat['rows']['baseline']['runtimes']['paddle_fp32']['median_ms']
    assert lat['baseline'] == {'row': 'baseline', 'runtime': 'paddle_fp32', 'median_ms': base_ms}
    assert lat['rows']['baseline']['runtimes']['paddle_fp32']['ratio'] == 1.0
    for name in ('baseline', 'copy'):
        for rt, cell in lat['rows'][name]['runtimes'].items():
            assert cell['ratio'] == pytest.approx(base_ms / cell['median_ms']) and cell['ratio'] > 0
            # ONNX of the same model finds the same boxes; the reference has no agreement
            assert (cell['agreement'] is None) == (rt == 'paddle_fp32')
    onnx = lat['rows']['copy']['runtimes']['onnx_fp32']['agreement']
    assert onnx['images'] == 2 and onnx['matched_fraction'] == 1.0


@pytest.mark.slow
def test_report_end_to_end(results_file, images, tmp_path):
    results = read_json(results_file)
    lat = report.latency_sweep(report.table_rows(results), images[:2], **FAST)
    out = str(tmp_path / 'report')
    paths = report.write_compression_report(results, lat, out)

    with open(paths['md']) as f:
        md = f.read()
    lines = md.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith('| model | GFLOPs'))
    table = lines[start:lines.index('', start)]       # the main table, up to its blank line
    head = table[0]
    for label in ('Paddle fp32 (oneDNN)', 'Paddle int8 (oneDNN)', 'onnxruntime fp32',
                  'onnxruntime int8 (QDQ)', 'AP50', 'GFLOPs'):
        assert label in head
    rows = {l.split(' | ')[0][2:]: l for l in table[2:]}
    assert '(1.00x)' in rows['baseline'].split(' | ')[6]          # Paddle fp32 of baseline
    assert 'x)' in rows['r578'] and 'match' in rows['r578']       # ratio + agreement
    assert '(-80.00%)' in rows['r578'] and '(-5.00)' in rows['r578']
    assert 'not exported' in rows['r578_pruned']
    assert 'trt_fp16' in md and 'arm_benchmark.py' in md and 'not measured' in md
    assert "Seed reference (the seed's numbers, not ours)" in md and '748.404' in md
    lite = lat['rows']['baseline']['runtimes'].get('lite_x86')
    if lite:                                      # the chroot is there: the check ran
        assert 'not a phone number' in md and lite['agreement']['images'] == 2
    else:
        assert 'lite_x86' in lat['rows']['baseline']['skipped']

    with open(paths['png'], 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    from PIL import Image
    with Image.open(paths['png']) as im:
        im.verify()

    saved = read_json(paths['json'])
    assert saved['settings']['repeats'] == 3 and saved['settings']['batch_size'] == 1
    assert saved['baseline']['row'] == 'baseline' and saved['baseline']['median_ms'] > 0
    assert saved['row_order'] == ['baseline', 'r578', 'r578_pruned']
    # the saved file (sorted keys) renders the same report: order comes from row_order
    assert report.format_compression_report(results, saved) == md
    assert saved['rows']['r578_pruned'] == {'exported': False, 'runtimes': {}, 'skipped': {}}
    cell = saved['rows']['r578']['runtimes']['onnx_int8']
    assert set(cell) >= {'median_ms', 'p90_ms', 'ratio', 'agreement'}
    assert set(cell['agreement']) >= {'matched', 'n_ref', 'matched_fraction', 'agrees'}


@pytest.mark.slow
def test_quantized_row_runs_int8_checked_against_its_float_graph(yolov3_model_dir, images,
                                                                 photo, tmp_path):
    from ppdet.slim.quant import quantize_post
    int8_dir = quantize_post(yolov3_model_dir, images + [photo[::-1]], str(tmp_path / 'q'),
                             algo='abs_max', batch_nums=4)
    rows = [('baseline', _row(yolov3_model_dir, 0.3, 0.1)),
            ('post_abs_max', _row(int8_dir, 0.28, 0.1))]
    assert report.is_quantized(rows[1][1]) and not report.is_quantized(rows[0][1])
    lat = report.latency_sweep(rows, images[:2], runtimes=('paddle_fp32', 'paddle_int8'), **FAST)
    q = lat['rows']['post_abs_max']
    assert q['quantized'] and q['reference'] == 'paddle_float_reference'
    assert list(q['runtimes']) == ['paddle_int8']      # never timed as fp32
    assert q['runtimes']['paddle_int8']['median_ms'] > 0
    assert q['runtimes']['paddle_int8']['agreement']['n_ref'] > 0
    assert list(lat['rows']['baseline']['runtimes']) == ['paddle_fp32']
    md = report.format_compression_report({'rows': ['baseline', 'post_abs_max'],
                                           'baseline': rows[0][1],
                                           'post_abs_max': rows[1][1]}, lat)
    assert 'match' in [l for l in md.splitlines() if l.startswith('| post_abs_max')][0]


def test_unknown_runtime_and_no_images(tiny_model_dir):
    rows = [('baseline', _row(tiny_model_dir, 0.3, 0.1))]
    with pytest.raises(ValueError, match="unknown runtime.*tensorrt"):
        report.latency_sweep(rows, [np.zeros((8, 8, 3), 'uint8')], runtimes=('tensorrt',))
    with pytest.raises(ValueError, match='at least one eval image'):
        report.latency_sweep(rows, [])


def test_architecture_table_mobilenet_v1_matches_the_seed():
    rows = report.architecture_stats(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'),
                                     strategies=('baseline', 'r578'), sizes=(320,))
    base, r578 = rows
    assert abs(base['gflops'] - 5.72) <= 0.05 * 5.72
    assert abs(r578['gflops'] - 1.74) <= 0.05 * 1.74
    assert abs(base['size_mb_blocks'] - 94.60) <= 0.05 * 94.60
    assert base['gflops_all'] == base['gflops']          # no deformable convs
    table = report.format_architecture_table(rows)
    assert '| yolov3_mobilenet_v1 | baseline | 320 | 5.72 | 5.72 |' in table
    assert '-69.64% / -69.58%' in table                  # our cut / the seed's


@pytest.mark.slow
def test_compression_table_script_on_an_existing_work_dir(results_file, tiny_dataset, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('_tests_root_conftest',
                                                  os.path.join(ROOT, 'tests', 'conftest.py'))
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    config = root_conftest.write_tiny_config(tmp_path, tiny_dataset)
    out = str(tmp_path / 'results')
    cmd = [sys.executable, os.path.join(ROOT, 'benchmarks', 'compression_table.py'),
           '-c', config, '--work_dir', os.path.dirname(results_file),
           '--dataset_dir', tiny_dataset, '--skip_pipeline', '--repeats', '2', '--warmup', '1',
           '--check_images', '2', '--calib_images', '2',
           '--runtimes', 'paddle_fp32,onnx_fp32', '--out_dir', out]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name in ('compression.md', 'ap_vs_latency.png', 'latency.json'):
        assert os.path.isfile(os.path.join(out, name))
    lat = json.load(open(os.path.join(out, 'latency.json')))
    assert lat['settings']['check_images'] == 2 and 'compression_table.py' in lat['command']
    assert set(lat['rows']['r578']['runtimes']) == {'paddle_fp32', 'onnx_fp32'}

    bad = subprocess.run(cmd[:-4] + ['--runtimes', 'tensorrt', '--out_dir', out], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "unknown --runtimes ['tensorrt']" in bad.stdout


def test_a_runtime_that_cannot_run_is_listed_with_its_reason(tiny_model_dir, images, tmp_path):
    rows = [('baseline', _row(tiny_model_dir, 0.3, 0.1))]
    lat = report.latency_sweep(rows, images[:1], runtimes=('paddle_fp32', 'lite_x86'),
                               lite_env=str(tmp_path / 'no-lite-env'), **FAST)
    r = lat['rows']['baseline']
    assert list(r['runtimes']) == ['paddle_fp32'] and 'make lite-env' in r['skipped']['lite_x86']
    md = report.format_compression_report({'rows': ['baseline'], 'baseline': rows[0][1]}, lat)
    assert '| baseline | not run: LiteEnvMissing' in md


def test_int8_isa_names_vnni_or_its_absence():
    from ppdet.deploy.report import int8_isa
    assert int8_isa({'avx', 'avx2', 'fma'}) == 'AVX2, no VNNI'
    assert int8_isa({'avx2', 'avx512f', 'avx512_vnni', 'amx_int8'}) == \
        'AVX2, AVX-512, AVX512-VNNI, AMX-INT8'
    assert int8_isa(set()) == 'no VNNI'
