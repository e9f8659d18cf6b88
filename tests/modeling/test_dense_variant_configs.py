"""The seed's RetinaNet variants as configs (Stitch, AutoAugment, TwoWayFPN, PConv,
MobileNetV3, EfficientDet-D0): each builds the component it names and runs one forward at a
small input; the depthwise-separable head (EfficientDet's class / box nets) computes what it
says; EfficientDet-D0's conv MACs and weights beside the paper's."""
import os

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from dense_family import ROOT
from ppdet.core.workspace import create, load_config
from ppdet.modeling.heads.dense_tower import DenseTower

RETINA = os.path.join(ROOT, 'configs', 'retinanet')


def _names(transforms):
    return [list(t)[0] for t in transforms]


VARIANTS = {  # config -> check(cfg, model)
    'retinanet_r50_fpn_stitch_1x_coco.yml':
        lambda cfg, m: _names(cfg['TrainReader']['batch_transforms'])[:2] == [
            'Stitch', 'BatchRandomResize'],
    'retinanet_r50_fpn_autoaugment_1x_coco.yml':
        lambda cfg, m: _names(cfg['TrainReader']['sample_transforms']) == [
            'Decode', 'AutoAugment', 'RandomFlip'],
    'retinanet_r50_fpn_twowayfpn_1x_coco.yml':
        lambda cfg, m: type(m.neck).__name__ == 'TwoWayFPN' and m.neck.mode == 'parallel',
    'retinanet_r50_fpn_pconv_1x_coco.yml':
        lambda cfg, m: (type(m.neck).__name__, type(m.neck.fpn).__name__,
                        len(m.neck.stacks), m.head.stacked_convs) == ('PConvFPN', 'FPN', 4, 1),
    'retinanet_mobilenet_v3_fpn_1x_coco.yml':
        lambda cfg, m: type(m.backbone).__name__ == 'MobileNetV3' and
        m.backbone.out_channels == [40, 112, 160],
    'efficientdet_d0_bifpn_coco.yml':
        lambda cfg, m: (type(m.backbone).__name__, type(m.neck).__name__, m.neck.out_channel,
                        m.neck.num_repeats, m.head.separable, m.head.tower_act) ==
        ('EfficientNet', 'BiFPN', 64, 3, True, 'swish'),
}


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_variant_config_builds_and_runs(name):
    cfg = load_config(os.path.join(RETINA, name))
    model = create(cfg['architecture'], cfg)
    assert VARIANTS[name](cfg, model)
    model.eval()
    with paddle.no_grad():
        outs = model(paddle.rand([1, 3, 96, 128]))
    n = len(outs) // 2
    assert n == 5
    for i, (c, b) in enumerate(zip(outs[:n], outs[n:])):
        size = [-(-96 // 2 ** (i + 3)), -(-128 // 2 ** (i + 3))]
        assert list(c.shape) == [1, 9 * 80] + size and list(b.shape) == [1, 36] + size
        assert bool(paddle.isfinite(c).all()) and bool(paddle.isfinite(b).all())


def test_separable_tower_by_hand():
    """Separable: depthwise 3x3 then the 1x1 conv, shared by the levels, then the level's
    BN and swish; the tower's 1x1 convs keep the names convs.{k}."""
    paddle.seed(0)
    t = DenseTower(4, 6, num_convs=2, norm_type='bn', norm_per_level=True, num_levels=2,
                   separable=True, act='swish')
    t.eval()
    x = paddle.rand([1, 4, 5, 5])
    y = x
    for k in range(2):
        y = F.conv2d(y, t.dw_convs[k].weight, padding=1, groups=y.shape[1])
        y = F.conv2d(y, t.convs[k].weight)
        bn = t.norms[k][1]
        y = (y - bn._mean.reshape([1, -1, 1, 1])) / paddle.sqrt(
            bn._variance.reshape([1, -1, 1, 1]) + bn._epsilon) * bn.weight.reshape(
            [1, -1, 1, 1]) + bn.bias.reshape([1, -1, 1, 1])
        y = y * F.sigmoid(y)
    np.testing.assert_allclose(t(x, 1).numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
    assert [list(c.weight.shape) for c in t.convs] == [[6, 4, 1, 1], [6, 6, 1, 1]]
    assert [list(c.weight.shape) for c in t.dw_convs] == [[4, 1, 3, 3], [6, 1, 3, 3]]
    with pytest.raises(ValueError, match="act must be one of"):
        DenseTower(4, 6, act='gelu')


def test_separable_head_trains_and_declares_its_layers():
    cfg = load_config(os.path.join(RETINA, 'efficientdet_d0_bifpn_coco.yml'),
                      ['num_classes=3', 'EfficientNet.width_mult=0.25',
                       'EfficientNet.depth_mult=0.25', 'BiFPN.out_channel=16',
                       'BiFPN.num_repeats=1', 'RetinaHead.feat_channel=16',
                       'RetinaHead.stacked_convs=2'])
    model = create('RetinaNet', cfg)
    assert model.float_only_layers() == ['head.cls_out', 'head.box_out']
    assert list(model.head.cls_out.weight.shape) == [9 * 3, 16, 1, 1]
    assert not [k for k in model.prunable_params() if k.startswith('head.')]  # separable
    outs = model(paddle.rand([2, 3, 128, 128]))
    batch = {'gt_bbox': paddle.to_tensor([[[10., 12., 60., 70.]], [[30., 30., 100., 90.]]]),
             'gt_class': paddle.to_tensor([[[1]], [[2]]], 'int32')}
    loss = model.get_loss(outs, batch)['loss']
    loss.backward()
    assert np.isfinite(float(loss))
    assert model.head.cls_out_dw.weight.grad is not None
    assert model.head.cls_tower.dw_convs[0].weight.grad is not None


def test_efficientdet_d0_config_against_published():
    """EfficientDet paper, Table 2: D0 at 512 has 3.9M parameters and 2.5B FLOPs, counted
    as multiply-adds, with 90 COCO classes.  This config with 90 classes: 2.480e9 conv MACs
    (PaddleSlim's counter, conv2d + depthwise; the seed's convention, GFLOPs = MACs / 2^30
    = 2.31) and 3.85M learnable weights (BN statistics not counted); 2.448e9 with 80."""
    from ppdet.utils.model_stats import count_flops
    path = os.path.join(RETINA, 'efficientdet_d0_bifpn_coco.yml')
    counts = {}
    for classes in (90, 80):
        model = create('RetinaNet', load_config(path, ['num_classes=%d' % classes]))
        macs = count_flops(model, [512, 512], mode='paddleslim')
        weights = sum(int(np.prod(p.shape)) for p in model.parameters())
        counts[classes] = (macs, weights)
    macs, weights = counts[90]
    assert abs(macs / 2.5e9 - 1) < 0.02, macs
    assert abs(weights / 3.9e6 - 1) < 0.02, weights
    assert round(counts[80][0] / 1e6) == 2448
