"""ppdet/benchmark/order_check.py (benchmarks/order_effect.py) on a thin BlazeFace group: the
rows timed back to back, interleaved and in a process of their own, and the op profile."""
import os

import pytest

from ppdet.benchmark.full_size import build_rows
from ppdet.benchmark.order_check import format_order_check, order_check, resolve_targets
from ppdet.data.sample_photos import face_photos

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_640.yml')
SIZE = 96


def test_resolve_targets_names_the_close_rows():
    names = ['face_96_baseline', 'face_96_baseline_int8']
    assert resolve_targets(names, ['baseline_int8', 'face_96_baseline'], 'face', 96) == [
        'face_96_baseline_int8', 'face_96_baseline']
    with pytest.raises(ValueError, match="no row 'baseline_in8'.*did you mean baseline_int8"):
        resolve_targets(names, ['baseline_in8'], 'face', 96)


def test_order_check_on_a_built_group(tmp_path):
    image = face_photos()['astronaut']
    manifest = build_rows(str(tmp_path), [image], grid=(('face', SIZE),),
                          strategies=('baseline',), candidates=40, unfused=(),
                          configs={'face': CONFIG}, onnx=False, progress=lambda m: None)
    with pytest.raises(ValueError, match='no built rows for face:128 .built: face:96'):
        order_check(manifest, 'face', 128, ['baseline_int8'])
    with pytest.raises(ValueError, match=r"--targets \['face_96_baseline_int8', "
                                         r"'face_96_baseline'\] have no Paddle configuration"):
        order_check(manifest, 'face', SIZE, ['baseline_int8'], runtimes=('onnx',))
    said = []
    res = order_check(manifest, 'face', SIZE, ['baseline_int8'], blocks=2, rounds=2,
                      back_to_back=3, warmup=1, profile_passes=2, progress=said.append)
    assert res['anchor'] == 'face_96_baseline'                 # added to the targets
    assert list(res['rows']) == ['face_96_baseline_int8', 'face_96_baseline']
    assert res['settings']['configurations'] == ['face_96_baseline/paddle',
                                                 'face_96_baseline_int8/paddle']
    int8 = res['rows']['face_96_baseline_int8']
    assert int8['back_to_back']['count'] == 6 and int8['interleaved']['count'] == 4
    assert int8['ratio'] == pytest.approx(int8['interleaved']['p50_ms'] /
                                          int8['back_to_back']['p50_ms'])
    base = res['rows']['face_96_baseline']
    assert base['speedup_in_group'] == 1.0 and 'own_process' not in base
    own = int8['own_process']                                  # timed in a child process
    assert own['median_ms'] > 0 and own['speedup'] == pytest.approx(
        own['anchor_median_ms'] / own['median_ms'])
    prof = int8['op_profile']
    assert prof['ops_fastest_sum_ms'] <= prof['whole_pass_ms']['fastest'] + 1e-6
    assert any('in a process of their own' in m for m in said)
    md = format_order_check(res)
    assert '| face_96_baseline | ' in md and '(the baseline)' in md
    assert '%.2fx |' % own['speedup'] in md and res['cpu']['flags'] in md
    assert res['settings']['pause_s'] == 0.05 and 'A sleep of 0.05 s before each run.' in md
    warm = format_order_check(dict(res, settings=dict(res['settings'], pause_s=0.0)))
    assert 'No sleep between runs: back to back' in warm and 'A sleep of' not in warm
