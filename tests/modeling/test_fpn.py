"""FPN (ppdet/modeling/necks/fpn.py): levels, strides, P6 from C5 or P5, odd map sizes, norms,
the declared prunable convs."""
import paddle
import pytest

from ppdet.modeling.necks.fpn import FPN

C = [16, 32, 64]   # backbone widths at strides 8 / 16 / 32


def _feats(h=100, w=167):
    # an 800 x 1333 input: C3..C5 are 100x167, 50x84, 25x42 (not exact halves)
    return [paddle.randn([1, c, -(-h // 2 ** i), -(-w // 2 ** i)]) for i, c in enumerate(C)]


@pytest.mark.parametrize('source, p6_in', [('c5', 64), ('p5', 8)])
def test_five_levels_from_c5_or_p5(source, p6_in):
    fpn = FPN(in_channels=C, out_channel=8, num_outs=5, extra_source=source)
    outs = fpn(_feats())
    assert [o.shape[2:] for o in outs] == [[100, 167], [50, 84], [25, 42], [13, 21], [7, 11]]
    assert fpn.out_channels == [8] * 5 and fpn.out_strides == [8, 16, 32, 64, 128]
    assert fpn.extra_convs[0].conv.weight.shape == [8, p6_in, 3, 3]
    assert fpn.extra_convs[1].conv.weight.shape == [8, 8, 3, 3]


def test_three_levels_and_late_build():
    fpn = FPN(out_channel=8, num_outs=3)      # the architecture builds it later
    fpn.build_layers(C)
    assert len(fpn.extra_convs) == 0 and len(fpn(_feats(32, 32))) == 3
    with pytest.raises(ValueError, match='built for in_channels'):
        fpn.build_layers([16, 32, 128])


@pytest.mark.parametrize('norm', [None, 'bn', 'gn', 'evonorm_s0'])
def test_norms_and_declared_prunable_convs(norm):
    fpn = FPN(in_channels=C, out_channel=16, norm_type=norm, norm_groups=4)
    outs = fpn(_feats(32, 32))
    sum(o.mean() for o in outs).backward()
    assert (fpn.fpn_convs[0].conv.bias is None) == (norm is not None)
    declared = list(fpn.prunable_convs())
    assert declared == ([] if norm in ('gn', 'evonorm_s0') else
                        ['lateral_convs.0.conv', 'fpn_convs.0.conv'])


def test_bad_extra_source():
    with pytest.raises(ValueError, match="extra_source must be one of .*'c4'"):
        FPN(extra_source='c4')
