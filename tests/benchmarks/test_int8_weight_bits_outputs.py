"""benchmarks/int8_weight_bits.py on a results file of an earlier run, and its outputs and
inputs checked before the probe."""
import json
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from benchmarks import int8_weight_bits  # noqa: E402

COMMITTED = os.path.join(ROOT, 'benchmarks', 'results', 'avx2_cpu', 'int8_weight_bits')


def test_a_run_without_model_dir_keeps_the_model_rows(tmp_path):
    """A --full_size_dir (or probe-only) run deleted the model rows of the results file: they
    were kept only when --model_dir matched, and here it was None."""
    out = str(tmp_path / 'iwb')
    for ext in ('.json', '.md'):
        shutil.copy(COMMITTED + ext, out + ext)
    old = json.load(open(out + '.json'))
    from ppdet.benchmark.cpu import cpu_description
    old['cpu'] = cpu_description()      # as if measured here (another CPU's is refused)
    json.dump(old, open(out + '.json', 'w'))
    int8_weight_bits.main(['--work_dir', str(tmp_path / 'work'), '--results', out])
    res = json.load(open(out + '.json'))
    for key in ('rows', 'model_dir', 'dataset_dir', 'calib_images', 'layer_images', 'fp32_AP',
                'full_size', 'full_size_command'):
        assert res[key] == old[key], key
    assert res['command'] != old['command']           # the probe is this run's
    md = open(out + '.md').read()
    assert '## Model: `output/avx2_ptq/inference/baseline` (fp32 deployed AP 36.86)' in md
    assert md.count('| abs_max |') == 1 and 'model rows from: `python benchmarks/' in md
    assert '## Full-size rows' in md


def test_rows_of_another_cpu_are_refused_before_the_probe(tmp_path):
    """Kept rows were shown under this run's CPU header, though what the int8 kernels do
    with the weights is the CPU's (the committed file is the AVX2 machine's)."""
    out = str(tmp_path / 'iwb')
    for ext in ('.json', '.md'):
        shutil.copy(COMMITTED + ext, out + ext)
    old = json.load(open(out + '.json'))
    old['cpu'] = 'another CPU'
    json.dump(old, open(out + '.json', 'w'))
    before = open(out + '.json').read()
    work = tmp_path / 'work'
    with pytest.raises(ValueError, match='holds rows measured on another CPU .*another CPU; '
                                         'this one: .*give another --results'):
        int8_weight_bits.main(['--work_dir', str(work), '--results', out])
    assert open(out + '.json').read() == before and not work.exists()


def test_kept_model_section_by_model_dir():
    old = {'rows': {'hist': {}}, 'model_dir': 'm', 'fp32_AP': 30.0, 'probe': []}
    keep = int8_weight_bits.kept_model_section
    assert keep(old, None) == {'rows': {'hist': {}}, 'model_dir': 'm', 'fp32_AP': 30.0}
    assert keep(old, 'm') == {'rows': {'hist': {}}}
    assert keep(old, 'other') == {'rows': {}}
    assert keep({}, None) == {'rows': {}}


def test_md_and_dataset_dir_are_checked_before_the_probe(tmp_path):
    """--results X with X.md a directory failed after the probe with [Errno 21], the json
    written and the md not; a missing --dataset_dir was found after the probe too."""
    (tmp_path / 'X.md').mkdir()
    work = str(tmp_path / 'work')
    with pytest.raises(ValueError, match='--results: .*X.md is a directory'):
        int8_weight_bits.main(['--work_dir', work, '--results', str(tmp_path / 'X')])
    model = tmp_path / 'model'
    model.mkdir()
    (model / 'model.pdmodel').write_text('')
    with pytest.raises(ValueError, match='--dataset_dir: .*gone not found$'):
        int8_weight_bits.main(['--work_dir', work, '--results', str(tmp_path / 'r'),
                               '--model_dir', str(model), '--dataset_dir',
                               str(tmp_path / 'gone')])
    assert sorted(os.listdir(str(tmp_path))) == ['X.md', 'model']


def test_every_flag_has_help():
    """--dataset_dir, --work_dir, --calib_images and --threads had no help line."""
    for action in int8_weight_bits.build_parser()._actions:
        assert action.help, action.option_strings
