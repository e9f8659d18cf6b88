"""ResNet backbones (depth 18/34/50/101, variants 'b' and 'd', optional DCNv2).

Variant 'd' (ResNet-vd) has a deep stem (three 3x3 convs) and an average-pool
+ 1x1 conv shortcut in down-sampling blocks; the stride sits on the 3x3 conv.
``dcn_v2_stages`` (stage indices 0..3 for res2..res5, PaddleDetection 2.x
convention) turn the 3x3 convs of those stages into modulated deformable
convs (``paddle.vision.ops.DeformConv2D`` with offsets and a sigmoid mask from
a plain conv, ``conv_offset``).  ``return_idx`` picks the returned stages:
``[1, 2, 3]`` gives strides 8/16/32.

State-dict layout (PaddleDetection 2.x names)::

    conv1.conv1_1.conv.weight, conv1.conv1_1.norm.{weight,bias,_mean,_variance}   (vd stem)
    conv1.conv1.conv.weight                                                      (b stem)
    res2.res2a.branch2a.conv.weight, res2.res2a.short.conv.weight, ...
    res3.res3a.short.conv.conv.weight          (vd: short = [pool, conv])
    res5.res5a.branch2b.conv_offset.{weight,bias}, res5.res5a.branch2b.conv.weight  (DCN)
"""
from numbers import Integral

import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant
from paddle.vision.ops import DeformConv2D

from ppdet.core.workspace import register
from ppdet.modeling.ops import ResidualAdd, norm_attrs

__all__ = ['ResNet']

_DEPTHS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
           152: [3, 8, 36, 3]}
# 'a': the bottleneck's stride on its first 1x1 conv; 'b': on the 3x3; 'c': 'b' with the deep
# stem; 'd': 'c' with the average-pool shortcut.  Any other letter used to build 'b'.
VARIANTS = ('a', 'b', 'c', 'd')


class ConvNormLayer(nn.Layer):
    """conv (or DCNv2) + BN + optional ReLU, named like PaddleDetection 2.x."""

    def __init__(self, ch_in, ch_out, filter_size, stride=1, act=None, lr=1.0,
                 norm_decay=0., freeze_norm=False, dcn_v2=False):
        super().__init__()
        pad = (filter_size - 1) // 2
        self.dcn_v2 = dcn_v2
        if dcn_v2:
            self.offset_channel = 2 * filter_size ** 2
            self.conv_offset = nn.Conv2D(
                ch_in, 3 * filter_size ** 2, filter_size, stride=stride, padding=pad,
                weight_attr=ParamAttr(initializer=Constant(0.)),
                bias_attr=ParamAttr(initializer=Constant(0.)))
            self.conv = DeformConv2D(ch_in, ch_out, filter_size, stride=stride, padding=pad,
                                     weight_attr=ParamAttr(learning_rate=lr), bias_attr=False)
        else:
            self.conv = nn.Conv2D(ch_in, ch_out, filter_size, stride=stride, padding=pad,
                                  weight_attr=ParamAttr(learning_rate=lr), bias_attr=False)
        norm_lr = 0. if freeze_norm else lr
        w_attr, b_attr = norm_attrs(norm_decay, lr=norm_lr, trainable=not freeze_norm)
        self.norm = nn.BatchNorm2D(ch_out, weight_attr=w_attr, bias_attr=b_attr,
                                   use_global_stats=True if freeze_norm else None)
        self.act = act

    def forward(self, x):
        if self.dcn_v2:
            offset_mask = self.conv_offset(x)
            offset = offset_mask[:, :self.offset_channel]
            mask = F.sigmoid(offset_mask[:, self.offset_channel:])
            x = self.conv(x, offset, mask=mask)
        else:
            x = self.conv(x)
        x = self.norm(x)
        return F.relu(x) if self.act == 'relu' else x


def _shortcut(ch_in, ch_out, stride, variant, **kw):
    if variant == 'd' and stride == 2:
        short = nn.Sequential()
        short.add_sublayer('pool', nn.AvgPool2D(2, stride=2, padding=0, ceil_mode=True))
        short.add_sublayer('conv', ConvNormLayer(ch_in, ch_out, 1, 1, **kw))
        return short
    return ConvNormLayer(ch_in, ch_out, 1, stride, **kw)


class BasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, ch_in, ch_out, stride, shortcut, variant='b', dcn_v2=False, **kw):
        super().__init__()
        self.shortcut = shortcut
        if not shortcut:
            self.short = _shortcut(ch_in, ch_out, stride, variant, **kw)
        self.branch2a = ConvNormLayer(ch_in, ch_out, 3, stride, act='relu', **kw)
        self.branch2b = ConvNormLayer(ch_out, ch_out, 3, 1, dcn_v2=dcn_v2, **kw)
        self.add = ResidualAdd()

    def forward(self, x):
        out = self.branch2b(self.branch2a(x))
        short = x if self.shortcut else self.short(x)
        return self.add(out, short)


class BottleNeck(nn.Layer):
    expansion = 4

    def __init__(self, ch_in, ch_out, stride, shortcut, variant='b', dcn_v2=False, **kw):
        super().__init__()
        s1, s2 = (stride, 1) if variant == 'a' else (1, stride)
        self.shortcut = shortcut
        if not shortcut:
            self.short = _shortcut(ch_in, ch_out * 4, stride, variant, **kw)
        self.branch2a = ConvNormLayer(ch_in, ch_out, 1, s1, act='relu', **kw)
        self.branch2b = ConvNormLayer(ch_out, ch_out, 3, s2, act='relu', dcn_v2=dcn_v2, **kw)
        self.branch2c = ConvNormLayer(ch_out, ch_out * 4, 1, 1, **kw)
        self.add = ResidualAdd()

    def forward(self, x):
        out = self.branch2c(self.branch2b(self.branch2a(x)))
        short = x if self.shortcut else self.short(x)
        return self.add(out, short)


def _block_name(depth, stage_num, count, i):
    # PaddleDetection's NameAdapter: res4b1, res4b2... for deep nets, else letters
    if depth >= 101 and stage_num == 4:
        return 'res4a' if i == 0 else 'res4b%d' % i
    if depth >= 152 and stage_num == 3:
        return 'res3a' if i == 0 else 'res3b%d' % i
    return 'res%d%s' % (stage_num, chr(ord('a') + i))


@register
class ResNet(nn.Layer):
    """ResNet; ``out_channels`` / ``out_strides`` describe the returned maps."""
    __shared__ = ['norm_type']

    def __init__(self, depth=50, variant='b', ch_in=64, return_idx=(1, 2, 3),
                 dcn_v2_stages=(-1,), freeze_at=-1, freeze_norm=False, norm_decay=0.,
                 norm_type='bn', lr_mult_list=(1.0, 1.0, 1.0, 1.0), num_stages=4, width_mult=1.0):
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError('ResNet: depth %r not supported (use one of %s)' % (
                depth, sorted(_DEPTHS)))
        if variant not in VARIANTS:
            raise ValueError('ResNet: variant %r not supported (use one of %s)' % (
                variant, ', '.join(repr(v) for v in VARIANTS)))
        if norm_type not in ('bn', 'sync_bn'):
            raise ValueError('ResNet: norm_type %r not supported (use bn)' % norm_type)
        return_idx = [return_idx] if isinstance(return_idx, Integral) else list(return_idx)
        if isinstance(dcn_v2_stages, Integral):
            dcn_v2_stages = [dcn_v2_stages]
        dcn_v2_stages = list(dcn_v2_stages)
        if max(return_idx) >= num_stages:
            raise ValueError('ResNet: return_idx %s must be < num_stages=%d' % (
                return_idx, num_stages))
        if not 0 < float(width_mult) <= 4:
            raise ValueError('ResNet: width_mult must be in (0, 4], got %r' % (width_mult,))
        self.return_idx = return_idx
        # width_mult < 1 makes a thin ResNet of the same depth (e.g. a teacher cheap enough
        # to train on CPU); 1.0 is the standard network and its released weights
        ch_in = max(8, int(round(ch_in * width_mult)))
        self.depth, self.variant = depth, variant
        kw = dict(norm_decay=norm_decay, freeze_norm=freeze_norm)

        if variant in ('c', 'd'):
            stem = [(3, ch_in // 2, 2, 'conv1_1'), (ch_in // 2, ch_in // 2, 1, 'conv1_2'),
                    (ch_in // 2, ch_in, 1, 'conv1_3')]
            k = 3
        else:
            stem = [(3, ch_in, 2, 'conv1')]
            k = 7
        self.conv1 = nn.Sequential()
        for c_in, c_out, s, name in stem:
            self.conv1.add_sublayer(name, ConvNormLayer(c_in, c_out, k, s, act='relu', **kw))

        block = BottleNeck if depth >= 50 else BasicBlock
        widths = [max(8, int(round(w * width_mult))) for w in (64, 128, 256, 512)]
        self.res_layers = []
        ch = ch_in
        all_channels = []
        for i in range(num_stages):
            stage_num = i + 2
            stage = nn.Sequential()
            for j in range(_DEPTHS[depth][i]):
                stage.add_sublayer(_block_name(depth, stage_num, _DEPTHS[depth][i], j), block(
                    ch, widths[i], stride=2 if j == 0 and i > 0 else 1, shortcut=j > 0,
                    variant=variant, dcn_v2=i in dcn_v2_stages, lr=lr_mult_list[i], **kw))
                ch = widths[i] * block.expansion
            self.res_layers.append(self.add_sublayer('res%d' % stage_num, stage))
            all_channels.append(ch)
        self.out_channels = [all_channels[i] for i in return_idx]
        self.out_strides = [4 * 2 ** i for i in return_idx]

        if freeze_at >= 0:
            frozen = [self.conv1] + self.res_layers[:freeze_at + 1]
            for layer in frozen:
                for p in layer.parameters():
                    p.stop_gradient = True

    def forward(self, x):
        x = self.conv1(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        outs = []
        for idx, stage in enumerate(self.res_layers[:max(self.return_idx) + 1]):
            x = stage(x)
            if idx in self.return_idx:
                outs.append(x)
        return outs
