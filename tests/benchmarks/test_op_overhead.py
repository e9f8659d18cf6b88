"""benchmarks/op_overhead.py: the per-op cost of a conv chain, with the oneDNN primitives'
share from verbose, written with the CPU's flags."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import op_overhead  # noqa: E402


def test_short_chain_measures_op_and_primitive_time(tmp_path):
    out = str(tmp_path / 'res')
    op_overhead.main(['--work_dir', str(tmp_path / 'w'), '--out', out, '--extra', '4',
                      '--rounds', '10'])
    res = json.load(open(out + '.json'))
    assert set(res['pass_us']) == {'1', '5'}
    assert res['pass_us']['5'] > res['pass_us']['1'] > 0
    assert res['per_op_us'] > 0
    # 5 conv layers, their ReLUs fused: at least one primitive per layer in one pass
    assert res['primitives'] >= 5 and res['primitive_us'] > 0
    md = open(out + '.md').read()
    assert 'CPU flags: `' in md and 'us per layer' in md
