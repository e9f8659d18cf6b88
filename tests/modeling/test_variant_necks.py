"""BiFPN, TwoWayFPN and PConvFPN: the shared neck interface (P3-P7 maps, out_channels,
out_strides), hand-checked fusion and pyramid convolution, backward, YAML builds, and
EfficientDet-D0's size against the published numbers."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest
import yaml

from ppdet.core.workspace import create
from ppdet.modeling.backbones import EfficientNet
from ppdet.modeling.necks import BiFPN, PConvFPN, TwoWayFPN
from ppdet.modeling.necks.bifpn import BiFPNLayer
from ppdet.modeling.necks.neck_blocks import SeparableConv
from ppdet.modeling.necks.pconv import PConv
from ppdet.utils.model_stats import count_conv_macs

WIDTHS = [40, 112, 320]  # EfficientNet-B0 / MobileNetV3-ish stride-8/16/32 widths


def feats(size=128, widths=WIDTHS, batch=2, grad=False):
    out = []
    for i, c in enumerate(widths):
        s = size // (8 * 2 ** i)
        x = paddle.rand([batch, c, s, s])
        x.stop_gradient = not grad
        out.append(x)
    return out


def check_pyramid(neck, outs, channel, size=128, batch=2):
    assert neck.out_channels == [channel] * 5
    assert neck.out_strides == [8, 16, 32, 64, 128]
    assert [list(o.shape) for o in outs] == [[batch, channel, -(-size // s), -(-size // s)]
                                            for s in neck.out_strides]


@pytest.mark.parametrize('make', [
    lambda: BiFPN(WIDTHS, out_channel=24, num_repeats=2),
    lambda: BiFPN(WIDTHS, out_channel=24, norm_type=None, num_repeats=1),
    lambda: TwoWayFPN(WIDTHS, out_channel=24),
    lambda: TwoWayFPN(WIDTHS, out_channel=24, norm_type='bn', mode='sequential'),
    lambda: TwoWayFPN(WIDTHS, out_channel=24, separable=True),
    lambda: PConvFPN(WIDTHS, out_channel=24, num_stacks=2, fpn=TwoWayFPN(out_channel=16)),
    lambda: PConvFPN(WIDTHS, out_channel=24, num_stacks=1, ibn=True,
                     fpn=BiFPN(out_channel=16, num_repeats=1)),
], ids=['bifpn', 'bifpn_nonorm', 'twoway', 'twoway_seq_bn', 'twoway_sep', 'pconv',
        'pconv_ibn_bifpn'])
def test_interface_shapes_and_backward(make):
    neck = make()
    outs = neck(feats())
    check_pyramid(neck, outs, 24)
    sum(o.mean() for o in outs).backward()
    grads = [p for p in neck.parameters() if not p.stop_gradient]
    assert all(p.grad is not None for p in grads)


def test_build_layers_later_and_mismatch():
    neck = TwoWayFPN(out_channel=8)
    assert neck.out_channels is None
    neck.build_layers(WIDTHS)
    neck.build_layers(WIDTHS)  # same widths again: a no-op
    with pytest.raises(ValueError, match='built for in_channels'):
        neck.build_layers([24, 40, 112])
    with pytest.raises(ValueError, match="norm_type 'groupnorm' unknown"):
        BiFPN(norm_type='groupnorm')


def test_fast_normalized_fusion_by_hand():
    a, b = paddle.full([1, 1, 2, 2], 2.), paddle.full([1, 1, 2, 2], 6.)
    w = paddle.to_tensor([1., 3.])
    fused = BiFPNLayer._fuse(w, [a, b]).numpy()
    v = (1 * 2 + 3 * 6) / (4 + 1e-4)
    np.testing.assert_allclose(fused, v / (1 + np.exp(-v)), rtol=1e-5)  # swish
    # negative weights count as zero (ReLU): only b is left
    fused = BiFPNLayer._fuse(paddle.to_tensor([-5., 2.]), [a, b]).numpy()
    v = 2 * 6 / (2 + 1e-4)
    np.testing.assert_allclose(fused, v / (1 + np.exp(-v)), rtol=1e-5)


def _set(conv, centre):
    """A 1-channel 3x3 conv with only its centre tap (= ``centre``), no bias."""
    w = np.zeros([1, 1, 3, 3], np.float32)
    w[0, 0, 1, 1] = centre
    conv.weight.set_value(w)
    if conv.bias is not None:
        conv.bias.set_value(np.zeros([1], np.float32))


def test_pyramid_convolution_by_hand():
    pc = PConv(1, 1, num_levels=3)
    _set(pc.convs[0], 1.)   # finer level: stride-2 centre tap picks x[::2, ::2]
    _set(pc.convs[1], 2.)   # same level: 2 * x
    _set(pc.convs[2], 10.)  # coarser: 10 * x, then bilinear up-sampling
    x0 = paddle.arange(16, dtype='float32').reshape([1, 1, 4, 4])
    x1 = paddle.to_tensor([[[[1., -2.], [3., -40.]]]])
    x2 = paddle.to_tensor([[[[0.5]]]])
    y0, y1, y2 = [o.numpy()[0, 0] for o in pc([x0, x1, x2])]
    # level 1 = relu(2 x1 + x0[::2, ::2] + up(10 x2)); up of a 1x1 map is a constant
    expect1 = np.maximum(2 * x1.numpy()[0, 0] + x0.numpy()[0, 0, ::2, ::2] + 5., 0)
    np.testing.assert_allclose(y1, expect1)
    assert (y1 == [[2 + 0 + 5, -4 + 2 + 5], [6 + 8 + 5, 0]]).all()  # -80 + 10 + 5 -> ReLU 0
    # level 2 (coarsest): no coarser term; level 0 (finest): no finer term
    np.testing.assert_allclose(y2, [[max(0., 2 * 0.5 + 1.)]])
    up = paddle.nn.functional.interpolate(10 * x1, size=[4, 4], mode='bilinear').numpy()[0, 0]
    np.testing.assert_allclose(y0, np.maximum(2 * x0.numpy()[0, 0] + up, 0), rtol=1e-6)


def test_integrated_bn_shares_statistics_over_levels():
    paddle.seed(0)
    pc = PConv(4, 4, num_levels=3, ibn=True)
    pc.train()
    # positive weights: the levels' offsets (+3 per level) reach the conv outputs' means
    # (random ones can sum to ~0 and hide them: the check below was flaky)
    conv = pc.convs[1]
    conv.weight.set_value(np.abs(conv.weight.numpy()) + 0.05)
    xs = [paddle.rand([2, 4, s, s]) + 3 * i for i, s in enumerate((8, 4, 2))]
    # the BN sits before the ReLU: read its output through the block's norm directly
    ys = [pc.convs[1](x) for x in xs]
    normed = pc._integrated_bn(ys)
    allv = np.concatenate([n.numpy().reshape(2, 4, -1) for n in normed], axis=2)
    np.testing.assert_allclose(allv.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(allv.var(axis=(0, 2)), 1, atol=1e-2)
    # each level alone is not centred: the statistics are the pyramid's, not the level's
    assert abs(float(normed[2].numpy().mean()) - float(normed[0].numpy().mean())) > 0.1
    with pytest.raises(ValueError, match='ibn replaces norm_type'):
        PConv(4, 4, 3, norm_type='bn', ibn=True)


def _grad_from_c3_to_p5(neck):
    fs = feats(64, grad=True, batch=1)
    neck.eval()
    outs = neck(fs)
    outs[2].sum().backward()
    return float(np.abs(fs[0].grad.numpy()).sum())


def test_two_way_paths_reach_the_top():
    """The bottom-up path is what makes P5 see C3 (an FPN's P5 does not)."""
    assert _grad_from_c3_to_p5(TwoWayFPN(WIDTHS, 8)) > 0
    assert _grad_from_c3_to_p5(TwoWayFPN(WIDTHS, 8, mode='sequential')) > 0
    assert _grad_from_c3_to_p5(BiFPN(WIDTHS, 8, num_repeats=1)) > 0


@pytest.mark.parametrize('norm', ['gn', 'evonorm_s0', 'sync_bn'])
def test_every_norm_of_build_norm(norm):
    """The necks take their norms from ppdet.modeling.norms.build_norm, as FPN and the heads
    do; EvoNorm-S0 is its own activation, so no ReLU / swish follows it."""
    from ppdet.modeling.norms import EvoNormS0
    kinds = {'gn': nn.GroupNorm, 'evonorm_s0': EvoNormS0, 'sync_bn': nn.BatchNorm2D}  # CPU
    for neck in (BiFPN(WIDTHS, out_channel=16, norm_type=norm, num_repeats=1),
                 TwoWayFPN(WIDTHS, out_channel=16, norm_type=norm, mode='sequential'),
                 PConvFPN(WIDTHS, out_channel=16, num_stacks=1, norm_type=norm,
                          fpn=TwoWayFPN(out_channel=16, norm_type=norm))):
        norms = [l for l in neck.sublayers() if isinstance(l, kinds[norm])]
        assert norms, type(neck).__name__
        outs = neck(feats(64, grad=True))
        check_pyramid(neck, outs, 16, size=64)
        sum(o.mean() for o in outs).backward()
        assert all(p.grad is not None for l in norms for p in l.parameters() if p.trainable)
    from ppdet.modeling.necks.neck_blocks import ConvBlock
    assert ConvBlock(4, 4, norm_type=norm, act='swish').act == (
        None if norm == 'evonorm_s0' else 'swish')


def test_builds_from_yaml():
    cfg = yaml.safe_load("""
BiFPN: {out_channel: 16, num_repeats: 2}
TwoWayFPN: {out_channel: 16, mode: sequential, norm_type: bn}
PConvFPN: {out_channel: 16, num_stacks: 2, ibn: true, fpn: TwoWayFPN}
""")
    for name in ('BiFPN', 'TwoWayFPN', 'PConvFPN'):
        neck = create(name, cfg)
        neck.build_layers(WIDTHS)  # what an architecture does with backbone.out_channels
        check_pyramid(neck, neck(feats(64)), 16, size=64)
    pc = create('PConvFPN', cfg)
    assert isinstance(pc.fpn, TwoWayFPN) and pc.fpn.mode == 'sequential'
    cfg['PConvFPN']['fpn'] = {'name': 'BiFPN', 'out_channel': 8, 'num_outs': 4}
    with pytest.raises(ValueError, match='num_outs=5 but the wrapped BiFPN gives 4'):
        create('PConvFPN', cfg).build_layers(WIDTHS)


class _D0Head(nn.Layer):
    """EfficientDet-D0's class / box net for the count only: 3 separable convs of 64 with
    swish, then a separable conv predictor (9 anchors x 90 classes, or x 4)."""

    def __init__(self, out, c=64, depth=3):
        super().__init__()
        self.convs = nn.LayerList([SeparableConv(c, c, norm_type='bn', act='swish')
                                   for _ in range(depth)])
        self.pred = SeparableConv(c, out)

    def forward(self, x):
        for conv in self.convs:
            x = conv(x)
        return self.pred(x)


class _D0(nn.Layer):
    def __init__(self):
        super().__init__()
        self.backbone = EfficientNet('b0')
        self.neck = BiFPN(self.backbone.out_channels, out_channel=64, num_repeats=3)
        self.cls, self.box = _D0Head(9 * 90), _D0Head(9 * 4)

    def forward(self, x):
        levels = self.neck(self.backbone(x))
        return [self.cls(p) for p in levels] + [self.box(p) for p in levels]


def test_efficientdet_d0_size_against_published():
    """EfficientDet paper, Table 2: D0 (512) has 3.9M parameters and 2.5B FLOPs
    (multiply-adds).  Counted here: learnable weights (BN shared over levels in the head,
    where EfficientDet keeps one BN per level: +3.8K) and conv MACs at 512."""
    d0 = _D0()
    weights = sum(int(p.size) for n, p in d0.named_parameters()
                  if not n.endswith(('_mean', '_variance')))
    assert abs(weights / 3.9e6 - 1) < 0.03, weights
    macs = count_conv_macs(d0, 512)['conv']
    assert abs(macs / 2.5e9 - 1) < 0.03, macs
