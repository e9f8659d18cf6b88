"""compression.md / ap_vs_latency.png / latency.json from results.json and the latency sweep,
and benchmarks/compression_table.py, which writes them (and fails loudly)."""
import json
import os
import subprocess
import sys

import pytest

from ppdet.benchmark.compression_report import (failure_summary, format_compression_report,
                                                write_compression_report)
from ppdet.benchmark.latency_sweep import latency_sweep, table_rows
from ppdet.utils.fileio import read_json, write_json
from result_rows import FAST, result_row

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture
def results_file(tmp_path, yolov3_model_dir, tiny_model_dir):
    """A pipeline-style results.json: two exported rows and one that was not exported."""
    results = {'rows': ['baseline', 'r578', 'r578_pruned'], '_done': ['data'],
               'baseline': result_row(yolov3_model_dir, 0.30, 0.10),
               'r578': result_row(tiny_model_dir, 0.25, 0.02, size=64),
               'r578_pruned': result_row(None, 0.10, 0.02)}
    path = str(tmp_path / 'work' / 'results.json')
    write_json(path, results)
    return path


@pytest.mark.slow
def test_report_end_to_end(results_file, images, tmp_path):
    results = read_json(results_file)
    lat = latency_sweep(table_rows(results), images[:2], **FAST)
    out = str(tmp_path / 'report')
    paths = write_compression_report(results, lat, out)

    with open(paths['md']) as f:
        md = f.read()
    lines = md.splitlines()
    # the CPU's whole flags line beside the latencies (the summary names only int8 / bf16's)
    from ppdet.benchmark.cpu import cpu_flags
    assert 'CPU flags: `%s`' % cpu_flags()['flags'] in lines
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
        assert 'lite_x86' in lat['rows']['baseline']['unavailable']

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
    assert format_compression_report(results, saved) == md
    assert saved['rows']['r578_pruned'] == {'exported': False, 'runtimes': {}, 'failed': {},
                                            'unavailable': {}}
    cell = saved['rows']['r578']['runtimes']['onnx_int8']
    assert set(cell) >= {'median_ms', 'p90_ms', 'ratio', 'agreement'}
    assert set(cell['agreement']) >= {'matched', 'n_ref', 'matched_fraction', 'agrees'}


def _latency(rows, runtimes=('paddle_fp32', 'onnx_fp32', 'onnx_int8'), required=()):
    """A latency sweep's output by hand: ``rows`` maps a row name to its runtime cells."""
    return {'settings': {'threads': 1, 'warmup': 1, 'repeats': 3, 'lite_repeats': 1,
                         'batch_size': 1, 'pause_s': 0.0, 'check_images': 2, 'calib_images': 2,
                         'tolerance': {'iou_thresh': 0.5, 'score_thresh': 0.3,
                                       'min_matched_fraction': 0.9},
                         'cpu': 'test CPU', 'cpu_count': 2, 'date': 'today'},
            'runtimes': {rt: rt for rt in runtimes}, 'required': list(required),
            'row_order': list(rows), 'rows': rows,
            'baseline': {'row': 'baseline', 'runtime': 'paddle_fp32', 'median_ms': 10.0}}


def test_a_failed_cell_says_failed_with_its_reason_and_is_summarised():
    results = {'rows': ['baseline', 'r578'], 'baseline': result_row('b', 0.3, 0.1),
               'r578': result_row('r', 0.25, 0.02)}
    ok = {'median_ms': 10.0, 'ratio': 1.0, 'agreement': None}
    lat = _latency({
        'baseline': {'exported': True, 'runtimes': {'paddle_fp32': ok, 'onnx_fp32': ok},
                     'failed': {'onnx_int8': 'RuntimeError: calibration broke'},
                     'unavailable': {}},
        'r578': {'exported': True, 'runtimes': {'paddle_fp32': ok},
                 'failed': {'onnx_fp32': 'RuntimeError: bad graph'},
                 'unavailable': {'onnx_int8': 'BackendUnavailable: no onnxruntime'}}})
    md = format_compression_report(results, lat)
    baseline = [l for l in md.splitlines() if l.startswith('| baseline |')][0]
    r578 = [l for l in md.splitlines() if l.startswith('| r578 |')][0]
    assert baseline.endswith('| FAILED: RuntimeError: calibration broke |')
    assert '| FAILED: RuntimeError: bad graph | not available here: BackendUnavailable' in r578
    summary = ('FAILED (2): baseline / onnx_int8: RuntimeError: calibration broke; '
               'r578 / onnx_fp32: RuntimeError: bad graph')
    assert failure_summary(lat) == summary and summary in md
    # the summary and the command stand after a blank line: right under the table, GitHub
    # renders a line as one more row of it
    lat['command'] = 'python benchmarks/compression_table.py'
    lines = format_compression_report(results, lat).splitlines()
    for text in (summary, 'command: `python benchmarks/compression_table.py`'):
        at = lines.index(text)
        assert lines[at - 1] == '', lines[at - 2:at + 1]
    assert '## Not available here' in md and '- r578 / onnx_int8: BackendUnavailable' in md
    # an unavailable runtime the user asked for by name is a failure too
    lat['required'] = ['onnx_int8']
    assert failure_summary(lat).startswith('FAILED (3): ')
    assert 'r578 / onnx_int8: not available here: BackendUnavailable' in failure_summary(lat)


def test_nothing_failed_means_no_failed_line():
    ok = {'median_ms': 10.0, 'ratio': 1.0, 'agreement': None}
    lat = _latency({'baseline': {'exported': True, 'runtimes': {'paddle_fp32': ok},
                                 'failed': {}, 'unavailable': {}}}, runtimes=('paddle_fp32',))
    md = format_compression_report({'rows': ['baseline'],
                                    'baseline': result_row('b', 0.3, 0.1)}, lat)
    assert failure_summary(lat) == '' and 'FAILED' not in md


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
    assert bad.returncode == 2 and "--runtimes: unknown 'tensorrt'" in bad.stdout

    # Lite asked for by name on a machine without its chroot: a failure, said loudly
    lite = subprocess.run(cmd[:-4] + ['--runtimes', 'paddle_fp32,lite_x86', '--out_dir', out,
                           '--overwrite'],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, LITE_ENV=str(tmp_path / 'no-lite-env')),
                          timeout=300)
    assert lite.returncode == 1, lite.stdout[-3000:]
    assert 'error: FAILED (2): baseline / lite_x86: not available here: LiteEnvMissing' \
        in lite.stdout
    with open(os.path.join(out, 'compression.md')) as f:
        assert 'FAILED (2): baseline / lite_x86' in f.read()


def test_the_arm_command_it_prints_runs_with_arm_benchmarks_flags():
    """The ARM instructions told the board to run arm_benchmark.py --input_size, a flag it
    does not have (the input size comes from the .json convert.py writes beside the .nb)."""
    import os
    import re
    import subprocess
    import sys
    from ppdet.benchmark.compression_report import _not_measured
    ok = {'median_ms': 10.0, 'ratio': 1.0, 'agreement': None}
    md = _not_measured(_latency({'baseline': {
        'exported': True, 'runtimes': {'paddle_fp32': ok}, 'failed': {}, 'unavailable': {}}},
        runtimes=('paddle_fp32',)))
    command = md[md.index('python3 arm_benchmark.py'):].split('```')[0]
    flags = set(re.findall(r'(--\w+)', command))
    assert '--model_file' in flags and 'model_arm.json' in md
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    usage = subprocess.run([sys.executable, os.path.join(root, 'deploy', 'lite',
                                                         'arm_benchmark.py'), '-h'],
                           capture_output=True, text=True, timeout=120).stdout
    assert flags <= set(re.findall(r'(--\w+)', usage)), flags - set(re.findall(r'(--\w+)',
                                                                             usage))


def test_compression_table_refuses_a_work_dir_of_other_settings(tiny_dataset, tmp_path):
    """The table runs the main job in --work_dir: one started by another model (here FCOS,
    through tools/pipeline.py) is refused before any stage, as tools/pipeline.py refuses it,
    instead of its done stages being skipped and reported as the main job's."""
    work = tmp_path / 'w'
    work.mkdir()
    record = {'_done': ['data'], '_settings': {
        'model': 'fcos', 'config': 'configs/builtin/fcos_r18_builtin.yml', 'overrides': [],
        'dataset_dir': tiny_dataset}}
    (work / 'results.json').write_text(json.dumps(record))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'compression_table.py'),
         '--work_dir', str(work), '--dataset_dir', tiny_dataset, '--out_dir',
         str(tmp_path / 'out')], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert 'was started with other settings: --model fcos' in proc.stdout, proc.stdout[-3000:]
    assert '== pipeline' not in proc.stdout and 'Traceback' not in proc.stdout
    assert json.loads((work / 'results.json').read_text()) == record
