"""MobileNetV3 and EfficientNet backbones: maps, widths and strides, backward, registry, and
their size against the published classifier numbers."""
import paddle
import pytest
import yaml

from ppdet.core.workspace import create
from ppdet.modeling.backbones import EfficientNet, MobileNetV3
from ppdet.utils.model_stats import count_conv_macs


def _shapes(outs):
    return [list(o.shape) for o in outs]


def _weights(net):
    """Learnable parameters (Paddle also lists BN running statistics as parameters)."""
    return sum(int(p.size) for n, p in net.named_parameters()
               if not n.endswith(('_mean', '_variance')))


def test_mobilenet_v3_large_maps():
    net = MobileNetV3('large')
    assert net.out_channels == [40, 112, 160] and net.out_strides == [8, 16, 32]
    outs = net(paddle.rand([2, 3, 64, 96]))
    assert _shapes(outs) == [[2, 40, 8, 12], [2, 112, 4, 6], [2, 160, 2, 3]]
    outs[-1].mean().backward()
    assert net.conv1.conv.weight.grad is not None
    keys = net.state_dict().keys()
    assert 'blocks.3.mid_se.conv1.weight' in keys and 'blocks.1.mid_se.conv1.weight' not in keys
    assert 'blocks.0.expand_conv.conv.weight' not in keys  # expansion 16 = input 16


def test_mobilenet_v3_small_scale_and_selection():
    net = MobileNetV3('small', scale=0.5, return_idx=[0, 1, 2, 3], with_last_conv=True)
    # widths x0.5 rounded to multiples of 8 (never 10% below): 16->8, 24->16, 48->24, 96->48
    assert net.out_channels == [8, 16, 24, 288] and net.out_strides == [4, 8, 16, 32]
    net.eval()
    outs = net(paddle.zeros([1, 3, 64, 64]))
    assert _shapes(outs) == [[1, 8, 16, 16], [1, 16, 8, 8], [1, 24, 4, 4], [1, 288, 2, 2]]
    frozen = MobileNetV3('large', freeze_at=0)  # stem and the stride-2/4 blocks (0-2)
    assert frozen.conv1.conv.weight.stop_gradient and frozen.blocks[2].linear_conv.conv.weight \
        .stop_gradient and not frozen.blocks[3].linear_conv.conv.weight.stop_gradient
    with pytest.raises(ValueError, match='return_idx'):
        MobileNetV3('small', return_idx=[2, 4])
    with pytest.raises(ValueError, match='model_name'):
        MobileNetV3('medium')


def test_efficientnet_b0_maps_and_variants():
    net = EfficientNet('b0')
    assert net.out_channels == [40, 112, 320] and net.out_strides == [8, 16, 32]
    assert len(net.blocks) == 16  # 1 + 2 + 2 + 3 + 3 + 4 + 1
    outs = net(paddle.rand([1, 3, 64, 64]))
    assert _shapes(outs) == [[1, 40, 8, 8], [1, 112, 4, 4], [1, 320, 2, 2]]
    outs[0].mean().backward()
    assert net.conv_stem.conv.weight.grad is not None
    assert net.blocks[15].project_conv.conv.weight.grad is None  # after the last used map
    b3 = EfficientNet('b3')  # width 1.2, depth 1.4: 40->48, 112->136, 320->384
    assert b3.out_channels == [48, 136, 384] and len(b3.blocks) == 26


def test_registry_from_yaml():
    cfg = yaml.safe_load("""
MobileNetV3: {model_name: small, scale: 0.75, return_idx: [1, 2, 3]}
EfficientNet: {variant: b0, return_idx: [2, 3], with_head_conv: true}
""")
    mb = create('MobileNetV3', cfg)
    assert mb.out_channels == [24, 40, 72] and mb.out_strides == [8, 16, 32]
    eff = create('EfficientNet', cfg)
    assert eff.out_channels == [112, 1280] and eff.out_strides == [16, 32]


# Published: MobileNetV3 paper Table 3 (Large 1.0: 219M MAdds, 5.4M params; Small 1.0: 56M,
# 2.5M), EfficientNet paper Table 2 (B0: 0.39B FLOPs = multiply-adds, 5.3M params); the
# exact parameter counts are those of the reference ImageNet models (torchvision's
# model cards: 5,483,032 / 2,542,856 / 5,288,548).  Here: the backbone with its last 1x1
# conv plus the classifier the papers count (pool, [FC 960->1280 / 576->1024 with
# hard-swish,] FC -> 1000), counted with learnable weights only; MACs of every conv at
# 224x224 plus the FCs (BN, activations, pooling, the SE products not counted).
@pytest.mark.parametrize('name, build, fcs, params, macs', [
    ('large', lambda: MobileNetV3('large', with_last_conv=True), [(960, 1280), (1280, 1000)],
     5483032, 219e6),
    ('small', lambda: MobileNetV3('small', with_last_conv=True), [(576, 1024), (1024, 1000)],
     2542856, 56e6),
    ('b0', lambda: EfficientNet('b0', with_head_conv=True), [(1280, 1000)], 5288548, 0.39e9),
])
def test_size_against_published(name, build, fcs, params, macs):
    net = build()
    assert net.out_strides[-1] == 32
    fc_params = sum(a * b + b for a, b in fcs)
    assert _weights(net) + fc_params == params
    counted = count_conv_macs(net, 224)['conv'] + sum(a * b for a, b in fcs)
    assert abs(counted / macs - 1) < 0.02, (name, counted)
