"""MobileNetV1 backbone (width multiplier ``scale``) returning chosen stage outputs.

State-dict layout (PaddleDetection 2.x ``MobileNet`` names, so released
weights load by name)::

    conv1._conv.weight, conv1._batch_norm.{weight,bias,_mean,_variance}
    conv2_1._depthwise_conv._conv.weight, conv2_1._pointwise_conv._batch_norm.weight, ...
    blocks: conv2_1 conv2_2 conv3_1 conv3_2 conv4_1 conv4_2 conv5_1..conv5_6 conv6

``feature_maps`` counts depthwise-separable blocks from 1 (PaddleDetection 2.x
convention): the default ``[4, 6, 13]`` returns the outputs of conv3_2
(stride 8, 256*scale channels), conv4_2 (stride 16, 512*scale) and conv6
(stride 32, 1024*scale).
"""
from numbers import Integral

import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import KaimingNormal
from paddle.regularizer import L2Decay

from ppdet.core.workspace import register
from ppdet.modeling.ops import norm_attrs

__all__ = ['MobileNetV1']

# (name, out_channels of the depthwise 3x3, out_channels of the 1x1, stride)
_BLOCKS = [('conv2_1', 32, 64, 1), ('conv2_2', 64, 128, 2),
           ('conv3_1', 128, 128, 1), ('conv3_2', 128, 256, 2),
           ('conv4_1', 256, 256, 1), ('conv4_2', 256, 512, 2)] + \
          [('conv5_%d' % i, 512, 512, 1) for i in range(1, 6)] + \
          [('conv5_6', 512, 1024, 2), ('conv6', 1024, 1024, 1)]


class _ConvBN(nn.Layer):
    def __init__(self, ch_in, ch_out, kernel, stride, groups=1, conv_lr=1.,
                 conv_decay=None, norm_decay=0.):
        super().__init__()
        w_kw = dict(learning_rate=conv_lr, initializer=KaimingNormal())
        if conv_decay is not None:
            w_kw['regularizer'] = L2Decay(float(conv_decay))
        self._conv = nn.Conv2D(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2,
                               groups=groups, weight_attr=ParamAttr(**w_kw), bias_attr=False)
        w_attr, b_attr = norm_attrs(norm_decay)
        self._batch_norm = nn.BatchNorm2D(ch_out, weight_attr=w_attr, bias_attr=b_attr)

    def forward(self, x):
        return F.relu(self._batch_norm(self._conv(x)))


class _DepthwiseSeparable(nn.Layer):
    def __init__(self, ch_in, ch_dw, ch_out, stride, **kw):
        super().__init__()
        self._depthwise_conv = _ConvBN(ch_in, ch_dw, 3, stride, groups=ch_dw, **kw)
        self._pointwise_conv = _ConvBN(ch_dw, ch_out, 1, 1, **kw)

    def forward(self, x):
        return self._pointwise_conv(self._depthwise_conv(x))


@register
class MobileNetV1(nn.Layer):
    """MobileNetV1; ``out_channels`` lists the widths of the returned maps."""
    __shared__ = ['norm_type']

    def __init__(self, scale=1.0, feature_maps=(4, 6, 13), conv_decay=None, norm_decay=0.,
                 conv_learning_rate=1.0, norm_type='bn'):
        super().__init__()
        if norm_type not in ('bn', 'sync_bn'):
            raise ValueError('MobileNetV1: norm_type %r not supported (use bn)' % norm_type)
        if isinstance(feature_maps, Integral):
            feature_maps = [feature_maps]
        self.feature_maps = [int(f) for f in feature_maps]
        bad = [f for f in self.feature_maps if not 1 <= f <= len(_BLOCKS)]
        if bad:
            raise ValueError('MobileNetV1: feature_maps %s out of range 1..%d' % (
                bad, len(_BLOCKS)))
        kw = dict(conv_lr=conv_learning_rate, conv_decay=conv_decay, norm_decay=norm_decay)
        ch = int(32 * scale)
        self.conv1 = _ConvBN(3, ch, 3, 2, **kw)
        self.blocks = []
        self.out_channels, self.out_strides = [], []
        stride = 2
        for idx, (name, c_dw, c_out, s) in enumerate(_BLOCKS, start=1):
            c_dw, c_out = int(c_dw * scale), int(c_out * scale)
            block = _DepthwiseSeparable(ch, c_dw, c_out, s, **kw)
            self.blocks.append(self.add_sublayer(name, block))
            ch, stride = c_out, stride * s
            if idx in self.feature_maps:
                self.out_channels.append(ch)
                self.out_strides.append(stride)

    def forward(self, x):
        outs = []
        x = self.conv1(x)
        for idx, block in enumerate(self.blocks):
            x = block(x)
            if idx + 1 in self.feature_maps:  # feature_maps count blocks from 1
                outs.append(x)
        return outs
