"""ppdet/benchmark/op_profile.py: a Paddle profiler trace -> where one pass goes."""
import pytest

from ppdet.benchmark.op_profile import (format_op_profiles, op_profile, parse_trace, split_pass,
                                        whole_passes)


def _event(cat, name, ts, dur):
    return {'cat': cat, 'name': '%s[%.3f us]' % (name, dur), 'ts': ts, 'dur': dur, 'ph': 'X'}


def _trace():
    ops = [('cast', 10), ('fused_conv2d', 100), ('nearest_interp_v2', 5),
           ('fused_conv2d', 50), ('yolo_box', 20), ('multiclass_nms3', 15)]
    events = []
    for start in (0, 1000):
        events.append(_event('ProfileStep', 'ProfileStep#%d' % (start // 1000), start, 250))
        t = start + 10
        for name, dur in ops:
            events.append(_event('Operator', name, t, dur))
            events.append(_event('OperatorInner', 'compute', t, dur - 1))
            t += dur
    events.append(_event('ProfileStep', 'ProfileStep#2', 2000, 0.5))   # stop()'s empty step
    return {'traceEvents': events}


def test_parse_trace_groups_ops_by_pass_in_order():
    passes = parse_trace(_trace())
    assert len(passes) == 2
    assert passes[0]['pass_ms'] == 0.25
    assert [o['op'] for o in passes[1]['ops']] == [
        'cast', 'fused_conv2d', 'nearest_interp_v2', 'fused_conv2d', 'yolo_box', 'multiclass_nms3']
    assert passes[1]['ops'][1]['ms'] == 0.1


def test_split_pass_by_position():
    ops = parse_trace(_trace())[0]['ops']
    p = split_pass(ops, outside_ms=0.05, top=2)
    assert p['parts_ms'] == pytest.approx({'before_convs': 0.01, 'convs': 0.15,
                                           'other_network': 0.005, 'after_convs': 0.035,
                                           'outside_ops': 0.05})
    assert p['pass_ms'] == pytest.approx(0.25) and p['convs_count'] == 2
    assert sum(p['shares'].values()) == pytest.approx(1.0)
    assert [k for k, _ in p['top_other_ops']] == ['yolo_box', 'multiclass_nms3']
    assert p['after_convs_ops'] == ['yolo_box', 'multiclass_nms3']
    assert [op for op, _ in p['after_convs_each']] == ['yolo_box', 'multiclass_nms3']
    assert sum(ms for _, ms in p['after_convs_each']) == pytest.approx(0.035)
    md = format_op_profiles({'m': p})
    assert '| m | 0.25 | - | 0.01 (4.0%) | 0.15 (60.0%) | 0.01 (2.0%) | 0.04 (14.0%) | 0.05 (20.0%) ' \
           '| yolo_box 0.02, multiclass_nms3 0.01 |' in md
    p['whole_pass_ms'] = whole_passes([0.31, 0.25, 0.4, 0.27])
    assert p['whole_pass_ms'] == {'fastest': 0.25, 'median': pytest.approx(0.29), 'passes': 4}
    assert '| m | 0.25 | 0.25 / 0.29 | 0.01 (4.0%)' in format_op_profiles({'m': p})
    assert whole_passes([3.0, 1.0, 2.0])['median'] == 2.0
    # a graph without convolutions: everything is 'before' (nothing is called a conv)
    assert split_pass([{'op': 'relu', 'ms': 1.0}], 0.0)['parts_ms']['before_convs'] == 1.0


def test_profile_of_a_real_export(yolov3_model_dir):
    p = op_profile(yolov3_model_dir, passes=2, warmup=1)
    assert p['convs_count'] >= 10 and p['ops'] > p['convs_count']
    assert p['parts_ms']['convs'] > 0 and p['parts_ms']['after_convs'] > 0
    assert p['pass_ms'] == pytest.approx(sum(p['parts_ms'].values()))
    # each op at its fastest: the sum is no slower than any pass that really ran
    whole = p['whole_pass_ms']
    assert whole['passes'] == 2 and p['pass_ms'] <= whole['fastest'] + 1e-6
    assert whole['fastest'] <= whole['median']
    assert {'yolo_box', 'multiclass_nms3'} <= set(p['after_convs_ops'])
