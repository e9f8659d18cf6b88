import os

import paddle
import pytest

from ppdet.core.workspace import create
from ppdet.modeling.backbones import MobileNetV1, ResNet
from ppdet.modeling.necks import YOLOv3FPN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _shapes(outs):
    return [list(o.shape) for o in outs]


def test_mobilenet_v1_shapes_and_channels():
    net = MobileNetV1(scale=0.25)
    net.eval()
    outs = net(paddle.zeros([2, 3, 64, 96]))
    assert net.out_channels == [64, 128, 256]
    assert net.out_strides == [8, 16, 32]
    assert _shapes(outs) == [[2, 64, 8, 12], [2, 128, 4, 6], [2, 256, 2, 3]]


def test_mobilenet_v1_full_width_and_2x_names():
    net = MobileNetV1(scale=1.0)
    assert net.out_channels == [256, 512, 1024]
    keys = net.state_dict().keys()
    for k in ['conv1._conv.weight', 'conv1._batch_norm._mean',
              'conv2_1._depthwise_conv._conv.weight', 'conv5_6._pointwise_conv._batch_norm.weight',
              'conv6._pointwise_conv._conv.weight']:
        assert k in keys
    assert list(net.state_dict()['conv2_1._depthwise_conv._conv.weight'].shape) == [32, 1, 3, 3]


def test_mobilenet_v1_bad_feature_maps():
    with pytest.raises(ValueError, match='feature_maps'):
        MobileNetV1(feature_maps=[4, 20])


def test_resnet34_shapes():
    net = ResNet(depth=34, variant='b')
    net.eval()
    outs = net(paddle.zeros([1, 3, 64, 64]))
    assert net.out_channels == [128, 256, 512]
    assert _shapes(outs) == [[1, 128, 8, 8], [1, 256, 4, 4], [1, 512, 2, 2]]
    keys = net.state_dict().keys()
    assert 'conv1.conv1.conv.weight' in keys  # 7x7 stem
    assert 'res2.res2a.short.conv.weight' in keys  # first block of a basic-block net
    assert 'res5.res5c.branch2b.norm._variance' in keys


def test_resnet34_width_mult_keeps_depth_and_names():
    thin = ResNet(depth=34, variant='b', width_mult=0.5)
    full = ResNet(depth=34, variant='b')
    assert thin.out_channels == [64, 128, 256]
    outs = thin(paddle.zeros([1, 3, 64, 64]))
    assert _shapes(outs) == [[1, 64, 8, 8], [1, 128, 4, 4], [1, 256, 2, 2]]
    assert thin.state_dict().keys() == full.state_dict().keys()
    n_thin = sum(p.size for p in thin.parameters())
    n_full = sum(p.size for p in full.parameters())
    assert 0.2 < n_thin / n_full < 0.3  # widths halve: about a quarter of the weights
    with pytest.raises(ValueError, match='width_mult'):
        ResNet(depth=34, width_mult=0)


def test_resnet50vd_dcn_shapes_and_backward():
    net = ResNet(depth=50, variant='d', dcn_v2_stages=[3])
    outs = net(paddle.rand([1, 3, 64, 64]))
    assert net.out_channels == [512, 1024, 2048]
    assert _shapes(outs) == [[1, 512, 8, 8], [1, 1024, 4, 4], [1, 2048, 2, 2]]
    keys = net.state_dict().keys()
    assert 'conv1.conv1_3.conv.weight' in keys  # deep stem
    assert 'res3.res3a.short.conv.conv.weight' in keys  # avg-pool shortcut
    assert 'res5.res5a.branch2b.conv_offset.weight' in keys
    assert 'res4.res4a.branch2b.conv_offset.weight' not in keys
    assert isinstance(net.res5.res5a.branch2b.conv, paddle.vision.ops.DeformConv2D)
    outs[-1].mean().backward()
    assert net.res5.res5a.branch2b.conv_offset.weight.grad is not None


def test_neck_shapes_follow_backbone():
    neck = YOLOv3FPN(in_channels=[64, 128, 256], base_channel=64)
    feats = [paddle.zeros([1, c, s, s]) for c, s in [(64, 8), (128, 4), (256, 2)]]
    outs = neck(feats)
    assert neck.out_channels == [128, 64, 32]
    assert _shapes(outs) == [[1, 128, 2, 2], [1, 64, 4, 4], [1, 32, 8, 8]]
    with pytest.raises(ValueError, match='in_channels'):
        neck.build_layers([1, 2, 3])


def test_r34_config_builds_without_widths():
    from ppdet.core.workspace import load_config
    cfg = load_config(os.path.join(ROOT, 'configs', 'yolov3_r34.yml'))
    model = create(cfg['architecture'], cfg)
    model.eval()
    outs = model(paddle.zeros([1, 3, 64, 64]))
    assert _shapes(outs) == [[1, 255, 2, 2], [1, 255, 4, 4], [1, 255, 8, 8]]
    assert model.neck.in_channels == [128, 256, 512]
