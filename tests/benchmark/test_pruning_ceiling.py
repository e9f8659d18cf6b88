"""ppdet/benchmark/pruning_ceiling.py: the best speed-up a pruning plan can give (Amdahl)."""
import pytest

from ppdet.benchmark.pruning_ceiling import (conv_kind, conv_macs, format_ceilings,
                                            format_untouched, pruning_ceiling)


def _conv(problem, ms):
    return {'primitive': 'convolution', 'impl': 'brgconv', 'dtype': 'f32', 'shape': problem,
            'ms': ms}


DW = 'g32mb1_ic32oc32_ih304oh304kh3sh1dh0ph1_iw304ow304kw3sw1dw0pw1'
HEAD = 'mb1_ic512oc1024_ih19oh19kh3sh1dh0ph1_iw19ow19kw3sw1dw0pw1'
HEAD_CUT = 'mb1_ic512oc256_ih19oh19kh3sh1dh0ph1_iw19ow19kw3sw1dw0pw1'
REORDER = {'primitive': 'reorder', 'impl': 'jit:uni', 'dtype': 'f32', 'shape': '1x3x8x8',
           'ms': 1.0}


def test_conv_macs_reads_the_problem_descriptor():
    assert conv_macs(DW) == 32 * 304 * 304 * 9                   # depthwise: / groups
    assert conv_macs(HEAD) == 512 * 1024 * 19 * 19 * 9
    assert conv_macs('mb1_ic3oc32_ih608oh304kh3sh2dh0ph1_iw608ow304kw3sw2dw0pw1') == \
        3 * 32 * 304 * 304 * 9                                   # strided: output size
    assert conv_macs('mb2_ic64oc128_ih152oh152kh1sh1dh0ph0_iw152ow152kw1sw1dw0pw0') == \
        2 * 64 * 128 * 152 * 152
    with pytest.raises(ValueError, match='not a convolution'):
        conv_macs('1x3x8x8')


def test_ceiling_keeps_the_untouched_layers_time():
    base = [_conv(DW, 10.0), REORDER, _conv(HEAD, 40.0)]
    pruned = [_conv(DW, 11.0), dict(REORDER, ms=0.5), _conv(HEAD_CUT, 12.0)]
    c = pruning_ceiling(base, pruned)
    assert (c['untouched_convs'], c['pruned_convs']) == (1, 1)
    assert c['mac_ratio'] == 0.25 and c['pruned_expected_ms'] == 10.0
    assert (c['untouched_base_ms'], c['untouched_pruned_ms']) == (10.0, 11.0)
    assert (c['other_base_ms'], c['other_pruned_ms']) == (1.0, 0.5)
    assert c['base_ms'] == 51.0 and c['pruned_ms'] == 23.5
    # the head shrinks 4x at the baseline's rate: 40 -> 10 ms, the rest stays
    assert c['ceiling_onednn'] == pytest.approx(51.0 / 21.0)
    assert c['ceiling_onednn'] < 40.0 / 10.0                     # under the MAC ratio
    md = format_ceilings([('m_r578', dict(c, measured_end_to_end=1.8))])
    assert '| m_r578 | 51.0 -> 23.5 (2.17x) |' in md and '| 2.43x | 1.80x |' in md


def test_ceiling_refuses_another_architecture():
    with pytest.raises(ValueError, match='not the same architecture'):
        pruning_ceiling([_conv(DW, 1.0), _conv(HEAD, 1.0)], [_conv(DW, 1.0)])


def test_conv_kind():
    assert conv_kind(DW) == 'depthwise'
    assert conv_kind('g4mb1_ic32oc32_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1') == 'grouped'
    assert conv_kind(HEAD) == 'kxk'
    assert conv_kind('mb1_ic512oc512_ih38oh38kh1sh1dh0ph0_iw38ow38kw1sw1dw0pw0') == '1x1'
    assert conv_kind('mb1_ic512oc512_ih38oh38kh1sh1dh0ph0_iw38ow38kw3sw1dw0pw1') == 'kxk'


def test_untouched_time_by_kind_against_the_fastest_conv():
    pw = 'mb1_ic512oc512_ih38oh38kh1sh1dh0ph0_iw38ow38kw1sw1dw0pw0'
    base = [_conv(DW, 2.0), _conv(pw, 8.0), _conv(HEAD, 30.0)]
    pruned = [_conv(DW, 2.5), _conv(pw, 7.0), _conv(HEAD_CUT, 8.0)]
    c = pruning_ceiling(base, pruned)
    kinds = c['untouched_kinds']
    assert list(kinds) == ['1x1', 'depthwise']                  # the head is not untouched
    assert kinds['1x1'] == {'convs': 1, 'ms': 7.0, 'macs': conv_macs(pw)}
    assert kinds['depthwise']['ms'] == 2.5
    # the fastest per MAC in the baseline: the head (1.70 GMAC in 30 ms = 56.6 GMAC/s)
    assert c['fastest_conv'] == HEAD
    assert c['fastest_conv_rate'] == pytest.approx(conv_macs(HEAD) / 30.0 / 1e6)
    md = format_untouched([('m_r578', c), ('old_row', {'untouched_pruned_ms': 1.0})])
    assert 'old_row' not in md                                  # a result from before
    assert '| m_r578 | 9.5 of 17.5 |' in md
    rate = conv_macs(pw) / 7.0 / 1e6                             # 54.1 GMAC/s, 96% of 56.6
    assert '1x1 1, 7.0 ms, %.1f (%.0f%%)' % (rate, 100 * rate / c['fastest_conv_rate']) in md
    assert '| %.1f (`%s`) |' % (c['fastest_conv_rate'], HEAD) in md
