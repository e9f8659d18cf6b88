"""benchmarks/full_size_latency.py's command line: --grid picks configs and sizes (or the
other families' grid), a typo names the close config, a bad strategy, runtime, count, pause,
--out_dir or a --stage time without a build stops it before any work; the profile sections
render from a result; the result files record the command."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import full_size_latency  # noqa: E402


def test_grid_pairs_and_typos():
    assert full_size_latency.parse_grid('yolov3_r34:608, yolov3_mobilenet_v1:320') == (
        ('yolov3_r34', 608), ('yolov3_mobilenet_v1', 320))
    # ValueErrors, as every other flag's: run_main prints "error: ..." and exits 2
    with pytest.raises(ValueError, match="did you mean yolov3_r34"):
        full_size_latency.parse_grid('yolov3_r43:608')
    with pytest.raises(ValueError, match='needs an input size'):
        full_size_latency.parse_grid('yolov3_r34')
    families = full_size_latency.parse_grid('families')
    assert ('retinanet_r50_fpn', 800) in families and ('blazeface', 640) in families
    assert full_size_latency.parse_grid('fcos_r50_fpn:512') == (('fcos_r50_fpn', 512),)


def test_default_strategies_per_family():
    grid = (('yolov3_r34', 608), ('retinanet_r50_fpn', 800))
    got = full_size_latency.strategies_for(grid)
    assert 'r578' in got['yolov3_r34'] and 'r578' not in got['retinanet_r50_fpn']
    assert got['retinanet_r50_fpn'] == ['baseline', 'uniform_p40', 'uniform_p40@32']
    assert full_size_latency.strategies_for(grid[:1], 'baseline,r578') == {
        'yolov3_r34': ['baseline', 'r578']}
    # a YOLOv3 preset with another family: refused (it was skipped at the build, and the
    # timing then said nothing was built)
    with pytest.raises(ValueError, match='r578 is a YOLOv3 preset .*for retinanet_r50_fpn'):
        full_size_latency.strategies_for(grid, 'baseline,r578')
    with pytest.raises(ValueError, match="unknown strategy 'r587'"):
        full_size_latency.strategies_for(grid, 'baseline,r587')


@pytest.mark.parametrize('argv, match', [
    (['--threads', '1,0'], 'each thread count must be 1 or more'),
    (['--runtimes', 'paddle,onnxx'], "--runtimes: unknown 'onnxx'; did you mean 'onnx'"),
    (['--runtimes', 'trt_int8'], 'CPU runtimes only'),
    (['--int8_outputs', 'r587'], "unknown strategy 'r587'"),
    (['--strategies', 'r578@x'], "unknown strategy 'r578@x'"),
    (['--threads', 'a'], "--threads: 'a' is not an integer"),
    (['--rounds=-3'], '--rounds must be >= 1, got -3'),     # was a numpy IndexError
    (['--rounds', '0'], '--rounds must be >= 1, got 0'),    # was the default without a word
    (['--op_profile', '--profile_passes', '0'], '--profile_passes must be >= 1, got 0'),
    (['--stage', 'build', '--candidates=-5'], '--candidates must be >= 0, got -5'),
    (['--pause_s=-1'], '--pause_s must be >= 0, got -1'),
    (['--grid', 'yolov3_r43:608'], "--grid: unknown config 'yolov3_r43'"),
    (['--stage', 'time'], r'--stage time: nothing built in --work_dir .*none .*run --stage '
                          r'build \(or all\) first with the same --work_dir'),
    (['--stage', 'lite'], r'--stage lite: nothing built'),
])
def test_bad_arguments_stop_before_any_work(argv, match, tmp_path):
    # a work_dir that does not exist: nothing was built or read when the error comes
    with pytest.raises(ValueError, match=match):
        full_size_latency.main(['--quick', '--work_dir', str(tmp_path / 'none')] + argv)
    assert not (tmp_path / 'none').exists()


def test_out_dir_that_is_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match='--out_dir: .* is a file'):
        full_size_latency.main(['--quick', '--work_dir', str(tmp_path / 'none'), '--out_dir',
                                str(tmp_path / 'f' / 'results')])
    assert not (tmp_path / 'none').exists()


def test_help_has_the_whole_first_paragraph():
    description = ' '.join(full_size_latency.build_parser().description.split())
    assert description.startswith('The full-size latency table') and description.endswith(
        '/ int8 / pruned + int8.')


def test_result_files_record_the_command(tmp_path, monkeypatch):
    from ppdet.benchmark import full_size
    from ppdet.utils.fileio import write_json
    work = tmp_path / 'work'
    write_json(str(work / 'manifest.json'), {'rows': {'m': {
        'config': 'yolov3_mobilenet_v1', 'input_size': 320, 'strategy': 'baseline'}}})
    monkeypatch.setattr(full_size, 'time_rows', lambda manifest, *a, **kw: {
        'settings': {'threads': [1]}, 'rows': sorted(manifest['rows'])})
    monkeypatch.setattr(full_size, 'format_table', lambda result, note='':
                        '# Full-size latency\n\nCPU: x  \nDate: y\n')
    out = tmp_path / 'out'
    argv = ['--quick', '--stage', 'time', '--grid', 'yolov3_mobilenet_v1:320', '--strategies',
            'baseline', '--runtimes', 'paddle', '--work_dir', str(work), '--out_dir', str(out)]
    full_size_latency.main(argv)
    command = 'python benchmarks/full_size_latency.py ' + ' '.join(argv)
    res = json.load(open(str(out / 'full_size_latency_quick.json')))
    assert res['command'] == command and res['rows'] == ['m']
    assert res['_settings'] == {'grid': ['yolov3_mobilenet_v1:320'], 'runtimes': ['paddle'],
                                'strategies': {'yolov3_mobilenet_v1': ['baseline']},
                                'threads': [1]}
    full_size_latency.main(argv)       # the same run again: its own results are rewritten
    assert open(str(out / 'full_size_latency_quick.md')).read() == (
        '# Full-size latency\n\nCommand: `%s`\n\nCPU: x  \nDate: y\n' % command)


def test_profile_sections_render_from_the_result():
    assert full_size_latency.profile_sections({'settings': {'threads': [1]}}) == ''
    summary = {'total_ms': 2.0, 'fp32_share': 0.5, 'rows': [
        {'primitive': 'convolution', 'dtype': 'f32', 'impl': 'brgconv', 'count': 1, 'ms': 1.0,
         'share': 0.5}]}
    ceiling = {'base_ms': 10.0, 'pruned_ms': 5.0, 'measured': 2.0, 'untouched_convs': 1,
               'untouched_base_ms': 2.0, 'untouched_macs': 2e6, 'pruned_convs': 1,
               'pruned_base_ms': 8.0, 'macs_before': 8e6, 'pruned_pruned_ms': 3.0,
               'pruned_expected_ms': 2.0, 'mac_ratio': 0.25, 'ceiling_onednn': 2.5,
               'measured_end_to_end': 1.9, 'untouched_pruned_ms': 1.5,
               'untouched_kinds': {'1x1': {'convs': 1, 'ms': 1.5, 'macs': 3e6}},
               'fastest_conv': 'mb1_ic8oc8', 'fastest_conv_rate': 4.0}
    md = full_size_latency.profile_sections({
        'settings': {'threads': [1], 'profile_passes': 5}, 'onednn': {'m_int8': summary},
        'pruning_ceiling': {'m_r578': ceiling}, 'ort': {'m': dict(summary, run_ms=2.5)},
        'onednn_bf16': {'m': summary}})
    assert 'fastest of 5 passes, 1 thread' in md and '### m_int8: 2.00 ms in oneDNN' in md
    assert '## oneDNN primitives of the fp32 models run in bf16' in md
    assert '### m, bf16: 2.00 ms in oneDNN primitives' in md
    assert '### m, onnxruntime int8 (pass 2.50 ms): 2.00 ms in onnxruntime kernels' in md
    assert '| m_r578 | 10.0 -> 5.0 (2.00x) | 1: 2.0, 1.0 | 1: 8.0, 1.0 -> 3.0 (2.0) | 25.0% | ' \
           '2.50x | 1.90x |' in md
    # the pruned model's untouched time by kind: 3e6 MACs in 1.5 ms = 2 GMAC/s, half of 4
    assert '| m_r578 | 1.5 of 5.0 | 1x1 1, 1.5 ms, 2.0 (50%) | 4.0 (`mb1_ic8oc8`) |' in md
    assert 'Conv kernels by kind' not in md                 # no onnx runtime timed
    from ppdet.benchmark.runtime_kernels import compare_runtimes
    conv = {'primitive': 'convolution', 'ms': 6.0,
            'shape': 'mb1_ic8oc8_ih8oh8kh1sh1dh0ph0_iw8ow8kw1sw1dw0pw0'}
    kernels = compare_runtimes({'paddle': ([conv], [dict(conv, ms=2.0)])},
                               {'paddle': (8.0, 3.0)})
    md = full_size_latency.profile_sections({
        'settings': {'threads': [1], 'profile_passes': 5}, 'onednn': {'m_int8': summary},
        'pruning_ceiling': {'m_r578': ceiling}, 'runtime_kernels': {'m_r578': kernels}})
    assert '## Conv kernels by kind, Paddle oneDNN against onnxruntime (fp32)' in md
    assert '| m_r578 | Paddle oneDNN fp32 | 6.0 -> 2.0 (3.00x) | 1x1 6.0 -> 2.0 | 2.67x | ' \
           '2.0 / 1.0 | 0.0 ms for 3x |' in md


def test_op_profile_section_renders_alone():
    from ppdet.benchmark.op_profile import split_pass
    profile = split_pass([{'op': 'fused_conv2d', 'ms': 3.0}, {'op': 'yolo_box', 'ms': 1.0}], 0.5)
    md = full_size_latency.profile_sections({
        'settings': {'threads': [1], 'profile_passes': 5}, 'op_profile': {'m_int8': profile}})
    assert "each op's fastest of 5 passes, 1 thread" in md and 'oneDNN' not in md
    assert '| m_int8 | 4.50 | - | 0.00 (0.0%) | 3.00 (66.7%) | 0.00 (0.0%) | 1.00 (22.2%) | ' \
           '0.50 (11.1%) | yolo_box 1.00 |' in md
    assert 'a lower bound that no pass reached' in md


def test_the_table_is_drawn_beside_it(tmp_path, monkeypatch):
    """The time stage writes its chart (.png) beside the .md: here on the committed AMX run's
    result, as time_rows returned it (the timing itself is tested in tests/benchmark)."""
    from ppdet.benchmark import full_size
    from ppdet.utils.fileio import read_json, write_json
    work = tmp_path / 'work'
    write_json(str(work / 'manifest.json'), {'rows': {'m': {
        'config': 'yolov3_mobilenet_v1', 'input_size': 320, 'strategy': 'baseline'}}})
    result = read_json(os.path.join(
        ROOT, 'benchmarks/results/amx_cpu/quick_1206_run2/full_size_latency_quick.json'))
    monkeypatch.setattr(full_size, 'time_rows', lambda manifest, *a, **kw: dict(
        result, settings=dict(result['settings'], threads=[1])))
    monkeypatch.setattr(full_size, 'format_table', lambda result, note='': '# t\n\nCPU: x\n')
    out = tmp_path / 'out'
    full_size_latency.main(['--quick', '--stage', 'time', '--grid', 'yolov3_mobilenet_v1:320',
                            '--strategies', 'baseline', '--runtimes', 'paddle', '--work_dir',
                            str(work), '--out_dir', str(out)])
    png = out / 'full_size_latency_quick.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10000
    md = (out / 'full_size_latency_quick.md').read_text()
    assert md.endswith('\n![speed-ups over fp32](full_size_latency_quick.png)\n')
