"""A tiny detector with the pruning contract of ppdet's YOLOv3, for fast slim tests.

``TinyDet(image)`` -> [out_stride8, out_stride4]; ``prunable_params()`` names seven
convs: a stem, a conv feeding a depthwise conv (whose groups shrink too) and a lateral
1x1, a route conv whose output feeds both a 3x3 conv and a 1x1 transition (upsampled
and concatenated), and convs after the concat.  Not prunable: the 1x1 output convs
(with bias; their widths are fixed) and the convs whose output enters the concat
(PaddleSlim 2.6 finds no channel group through ``concat``).
"""
import collections

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

SIZE = 32
OUT_CHANNELS = 12


class ConvBN(nn.Layer):
    def __init__(self, c_in, c_out, k, stride=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2D(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups,
                              bias_attr=False)
        self.bn = nn.BatchNorm2D(c_out)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.1)


class TinyDet(nn.Layer):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3, 8, 3, stride=2)            # stride 2
        self.c1 = ConvBN(8, 16, 3, stride=2)             # stride 4
        self.lateral = ConvBN(16, 16, 1)                 # feeds a concat: not prunable
        self.dw = ConvBN(16, 16, 3, stride=2, groups=16)  # depthwise, stride 8
        self.pw = ConvBN(16, 32, 1)
        self.route = ConvBN(32, 16, 1)
        self.tip0 = ConvBN(16, 32, 3)
        self.out0 = nn.Conv2D(32, OUT_CHANNELS, 1)
        self.transition = ConvBN(16, 8, 1)
        self.fuse = ConvBN(8 + 16, 16, 3)
        self.tip1 = ConvBN(16, 32, 3)
        self.out1 = nn.Conv2D(32, OUT_CHANNELS, 1)

    def forward(self, image):
        c1 = self.c1(self.stem(image))
        shallow = self.lateral(c1)
        route = self.route(self.pw(self.dw(c1)))
        up = F.interpolate(self.transition(route), scale_factor=2., mode='nearest')
        fused = self.fuse(paddle.concat([up, shallow], axis=1))
        return [self.out0(self.tip0(route)), self.out1(self.tip1(fused))]

    def prunable_params(self):
        return collections.OrderedDict(
            ('%s.conv.weights' % n, getattr(self, n).conv.weight)
            for n in ('stem', 'c1', 'pw', 'route', 'tip0', 'fuse', 'tip1'))


def make_tiny_det(seed=0):
    paddle.seed(seed)
    model = TinyDet()
    # distinct BN statistics so a wrong restore or load shows in the outputs
    rng = np.random.RandomState(seed)
    for layer in model.sublayers():
        if isinstance(layer, nn.BatchNorm2D):
            c = layer.weight.shape[0]
            layer._mean.set_value(rng.randn(c).astype('float32') * 0.1)
            layer._variance.set_value(rng.uniform(0.5, 1.5, c).astype('float32'))
    model.eval()
    return model


def tiny_image(seed=0, size=SIZE):
    return paddle.to_tensor(np.random.RandomState(seed).randn(1, 3, size, size)
                            .astype('float32'))


@pytest.fixture
def tiny_det():
    return make_tiny_det()


@pytest.fixture
def make_det():
    """Factory: make_det(seed=0) -> a fresh TinyDet in eval mode."""
    return make_tiny_det


@pytest.fixture
def tiny_det_cls():
    return TinyDet


@pytest.fixture
def image():
    return tiny_image()
