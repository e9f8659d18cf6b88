"""benchmarks/order_effect.py's command line: a group without a size, a work dir not built,
a count that leaves no samples, a bad thread count, runtime or --out_dir, all before any
timing; the result files record the command."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import order_effect  # noqa: E402


def test_bad_group_and_missing_build_name_the_fix(tmp_path):
    # ValueErrors: run_main prints "error: ..." and exits 2 (SystemExit printed the bare
    # text and exited 1)
    with pytest.raises(ValueError, match="--group: 'yolov3_mobilenet_v1' needs an input size"):
        order_effect.main(['--group', 'yolov3_mobilenet_v1', '--work_dir', str(tmp_path)])
    with pytest.raises(ValueError, match=r'--work_dir: .*none/manifest.json not found: build '
                                         r'the rows first .*--stage build --grid '
                                         r'yolov3_mobilenet_v1:608 --work_dir'):
        order_effect.main(['--work_dir', str(tmp_path / 'none')])


def test_zero_blocks_fail_before_loading_anything(tmp_path):
    from ppdet.utils.fileio import write_json
    write_json(str(tmp_path / 'manifest.json'), {'rows': {}})
    with pytest.raises(ValueError, match='--blocks must be at least 1, got 0'):
        order_effect.main(['--work_dir', str(tmp_path), '--blocks', '0'])


@pytest.mark.parametrize('argv, match', [
    (['--threads', '0'], '--threads must be >= 1, got 0'),
    (['--runtimes', 'paddle,onnx_int9'], "--runtimes: unknown 'onnx_int9'; did you mean "
                                         "'onnx_int8'"),
    (['--profile_passes=-1'], '--profile_passes must be >= 0, got -1'),
    (['--pause_s=-0.1'], '--pause_s must be >= 0, got -0.1'),
])
def test_bad_flags_stop_before_reading_the_build(argv, match, tmp_path):
    # no manifest in --work_dir: the flag's error comes first, before anything is read
    with pytest.raises(ValueError, match=match):
        order_effect.main(['--work_dir', str(tmp_path / 'none'), '--out_dir',
                           str(tmp_path / 'out')] + argv)
    assert os.listdir(str(tmp_path)) == []


def test_out_dir_that_is_a_file_is_refused_before_timing(tmp_path):
    from ppdet.utils.fileio import write_json
    write_json(str(tmp_path / 'manifest.json'), {'rows': {}})
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match='--out_dir: .* is a file'):
        order_effect.main(['--work_dir', str(tmp_path), '--out_dir', str(tmp_path / 'f')])


def test_help_has_the_whole_first_paragraph_and_every_flag():
    p = order_effect.build_parser()
    description = ' '.join(p.description.split())
    assert description.startswith('Does the full-size table')
    assert description.endswith('against the whole passes).')
    assert all(a.help for a in p._actions)


def test_result_files_record_the_command(tmp_path, monkeypatch):
    from ppdet.benchmark import order_check
    from ppdet.utils.fileio import write_json
    write_json(str(tmp_path / 'manifest.json'), {'rows': {}})
    monkeypatch.setattr(order_check, 'order_check', lambda *a, **kw: {'rows': {}})
    monkeypatch.setattr(order_check, 'format_order_check',
                        lambda result: '# Order effect\n\nCPU: x  \nDate: y\n')
    out = tmp_path / 'res'
    order_effect.main(['--work_dir', str(tmp_path), '--group', 'm:320', '--out_dir', str(out)])
    command = 'python benchmarks/order_effect.py --work_dir %s --group m:320 --out_dir %s' % (
        tmp_path, out)
    assert json.load(open(str(out / 'order_effect_m_320.json')))['command'] == command
    assert open(str(out / 'order_effect_m_320.md')).read() == (
        '# Order effect\n\nCommand: `%s`\n\nCPU: x  \nDate: y\n' % command)


def test_results_go_outside_the_committed_ones_by_default():
    """A run of other targets replaced the committed order_effect_CONFIG_SIZE files."""
    p = order_effect.build_parser()
    assert p.parse_args([]).out_dir == 'output/order_effect'
