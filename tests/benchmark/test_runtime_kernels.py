"""ppdet/benchmark/runtime_kernels.py: two runtimes' conv kernels by kind, and the time
around them a target speed-up leaves."""
import pytest

from ppdet.benchmark.runtime_kernels import (compare_runtimes, conv_ms_by_kind,
                                             format_runtime_kernels, ort_conv_kind, rest_budget)
from ppdet.benchmark.onednn_ops import profile_records
from ppdet.benchmark.onnx_ops import ort_records


def _dnn(problem, ms):
    return {'primitive': 'convolution', 'shape': problem, 'ms': ms}


def _ort(x, w, ms, op='Conv'):
    return {'primitive': op, 'shape': 'node', 'inputs': [x, w, [w[0]]], 'ms': ms}


def test_onnxruntime_conv_kinds_from_input_shapes():
    assert ort_conv_kind([[1, 512, 38, 38], [512, 1, 3, 3]]) == 'depthwise'
    assert ort_conv_kind([[1, 64, 38, 38], [64, 16, 3, 3]]) == 'grouped'
    assert ort_conv_kind([[1, 256, 19, 19], [512, 256, 3, 3]]) == 'kxk'
    assert ort_conv_kind([[1, 3, 608, 608], [32, 3, 3, 3]]) == 'kxk'
    assert ort_conv_kind([[1, 512, 38, 38], [64, 512, 1, 1]]) == '1x1'
    # NCHWc pads 26 input channels to 32: still one group
    assert ort_conv_kind([[1, 32, 76, 76], [32, 26, 3, 3]]) == 'kxk'
    with pytest.raises(ValueError, match='not a convolution node'):
        ort_conv_kind([[1, 8]])


def test_conv_time_by_kind_reads_both_runtimes():
    records = [_dnn('g32mb1_ic32oc32_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1', 1.0),
               _dnn('mb1_ic32oc64_ih8oh8kh1sh1dh0ph0_iw8ow8kw1sw1dw0pw0', 2.0),
               {'primitive': 'reorder', 'shape': '1x3x8x8', 'ms': 5.0},
               _ort([1, 64, 8, 8], [64, 1, 3, 3], 0.5, 'FusedConv'),
               _ort([1, 64, 8, 8], [128, 64, 3, 3], 4.0),
               {'primitive': 'Slice', 'shape': 's', 'inputs': [[1, 8]], 'ms': 9.0}]
    kinds = conv_ms_by_kind(records)
    assert list(kinds) == ['depthwise', '1x1', 'kxk', 'all']          # no grouped conv here
    assert kinds['depthwise'] == {'convs': 2, 'ms': 1.5}
    assert kinds['all'] == {'convs': 4, 'ms': 7.5}                    # reorder, Slice left out


def test_rest_budget():
    # run 7's oneDNN conv sums at 608: 393.4 -> 126.4 ms; 3x needs at most 7.1 ms around them
    assert rest_budget(393.4, 126.4, 3.0) == pytest.approx(7.1)
    assert rest_budget(393.4, 140.0, 3.0) is None                     # the convs alone miss


def test_compare_and_format():
    base = [_dnn('mb1_ic32oc64_ih8oh8kh1sh1dh0ph0_iw8ow8kw1sw1dw0pw0', 10.0),
            _dnn('mb1_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1', 50.0)]
    pruned = [dict(base[0]), _dnn('mb1_ic64oc16_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1', 10.0)]
    c = compare_runtimes({'paddle': (base, pruned)}, {'paddle': (66.0, 23.0)})
    p = c['paddle']
    assert p['conv_speedup'] == 3.0 and p['end_to_end'] == pytest.approx(66.0 / 23.0)
    assert p['rest_ms'] == (6.0, 3.0) and p['budget_ms'] == 0.0
    md = format_runtime_kernels([('m_r578', c)], {'paddle': 'Paddle oneDNN fp32'})
    assert '| m_r578 | Paddle oneDNN fp32 | 60.0 -> 20.0 (3.00x) | 1x1 10.0 -> 10.0; kxk ' \
           '50.0 -> 10.0 | 2.87x | 6.0 / 3.0 | 0.0 ms for 3x |' in md
    none = compare_runtimes({'onnx': (base, pruned)}, None, target=4.0)
    assert 'none: the convs alone miss 4x' in format_runtime_kernels([('m', none)])


def test_both_runtimes_see_the_same_convs(tiny_model_dir, photo):
    """The same export profiled on Paddle oneDNN and onnxruntime: each runtime's convs,
    grouped by kind from its own records (oneDNN problem strings, onnxruntime input
    shapes), count alike."""
    dnn = conv_ms_by_kind(profile_records(tiny_model_dir, passes=2))
    ort = conv_ms_by_kind(ort_records(tiny_model_dir, threads=1, warmup=1, passes=2,
                                      image=photo)[0])
    assert {k: v['convs'] for k, v in dnn.items()} == {k: v['convs'] for k, v in ort.items()}
    assert dnn['all']['convs'] >= 3 and dnn['all']['ms'] > 0 and ort['all']['ms'] > 0
