"""benchmarks/int8_weight_bits.py: the probe alone writes its table (with the CPU's flags);
a model directory without an exported model is refused with the fix, before any work."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import int8_weight_bits  # noqa: E402


def test_probe_table(tmp_path):
    out = str(tmp_path / 'bits')
    int8_weight_bits.main(['--work_dir', str(tmp_path / 'work'), '--results', out])
    from ppdet.utils.fileio import read_json
    res = read_json(out + '.json')
    assert [(p['input'], p['batch_norm']) for p in res['probe']] == [
        ('s8', False), ('s8', True), ('u8', False), ('u8', True)]
    assert res['rows'] == {} and res['cpu_flags']
    md = open(out + '.md').read()
    assert 'CPU flags: `' in md and md.count('| s8 |') == 2 and md.count('| u8 |') == 2


def test_model_dir_without_a_model_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        int8_weight_bits.main(['--model_dir', str(tmp_path), '--results', str(tmp_path / 'r')])
    assert 'export one with tools/export_model.py' in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / 'r.json'))


def test_full_size_dir_without_a_build_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        int8_weight_bits.main(['--full_size_dir', str(tmp_path), '--results',
                               str(tmp_path / 'r')])
    assert 'full_size_latency.py --quick --stage build' in capsys.readouterr().err


def test_full_size_rows_must_be_int8_rows(tmp_path):
    manifest = {'rows': {'m_320_baseline': {'int8': False, 'dir': 'x', 'parent': None},
                         'm_320_baseline_int8': {'int8': True, 'dir': 'y',
                                                 'parent': 'm_320_baseline'}}}
    with pytest.raises(ValueError, match='not int8 rows of the build: m_320_baseline .*'
                                         'it has m_320_baseline_int8'):
        int8_weight_bits.full_size_rows(manifest, ['m_320_baseline'], str(tmp_path))


def test_a_row_typo_and_bad_counts_are_refused_before_the_probe(tmp_path):
    """A --full_size_rows typo surfaced only after the probe and the model rows; counts of
    0 had messages naming no flag; a file as --work_dir failed inside the probe."""
    import json
    build = tmp_path / 'build'
    build.mkdir()
    (build / 'manifest.json').write_text(json.dumps({'rows': {'m_320_r578_int8': {}}}))
    work = str(tmp_path / 'work')
    for argv, match in [
            (['--full_size_dir', str(build), '--full_size_rows', 'm_320_r587_int8'],
             "--full_size_rows: unknown 'm_320_r587_int8'; did you mean 'm_320_r578_int8'"),
            (['--layer_images', '0'], '--layer_images must be >= 1, got 0'),
            (['--calib_images', '-3'], '--calib_images must be >= 1'),
            (['--threads', '0'], '--threads must be >= 1')]:
        with pytest.raises(ValueError, match=match):
            int8_weight_bits.main(['--work_dir', work, '--results', str(tmp_path / 'r')] +
                                  argv)
    afile = tmp_path / 'afile'
    afile.write_text('x')
    with pytest.raises(ValueError, match='--work_dir: %s is a file' % afile):
        int8_weight_bits.main(['--work_dir', str(afile), '--results', str(tmp_path / 'r')])
    with pytest.raises(ValueError, match='--results: .*afile is a file'):
        int8_weight_bits.main(['--work_dir', work, '--results', str(afile / 'r')])
    assert not os.path.exists(work) and not os.path.exists(str(tmp_path / 'r.json'))


def test_nothing_compared_is_not_an_agreement():
    assert int8_weight_bits._agreement({'agreement': 100.0, 'matched': 0, 'compared': 0}) == \
        'nothing compared'
    assert int8_weight_bits._agreement({'agreement': 96.5, 'matched': 193, 'compared': 200}) \
        == '96.5% (193/200)'
