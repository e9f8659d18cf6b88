"""EfficientNet B0-B7 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", Table 1 and the compound-scaling coefficients) as a
detection backbone: EfficientDet's (Tan et al. 2020) feature extractor, the seed's
"EfficientDet-D0" row.

B0: a 3x3 stride-2 stem (32 channels), then MBConv stages (expansion, kernel, stride,
width, repeats): (1,3,1,16,1) (6,3,2,24,2) (6,5,2,40,2) (6,3,2,80,3) (6,5,1,112,3)
(6,5,2,192,4) (6,3,1,320,1).  An MBConv block is 1x1 expand (when expansion > 1), kxk
depthwise, squeeze-excite (squeeze width = a quarter of the block's *input* width, swish
then sigmoid), 1x1 linear projection; identity shortcut when stride 1 and widths agree.
Every activation is swish.  Widths scale by ``width_mult`` (rounded to 8, never 10% below),
repeats by ``ceil(depth_mult * r)``; ``variant`` sets both from the paper's B0-B7 table.
Drop-connect is not implemented (a training regulariser; the seed's runs do not mention it).
Padding is symmetric ((k - 1) / 2) rather than TensorFlow's "same".

``return_idx`` indexes strides [4, 8, 16, 32] (as ResNet's): the default [1, 2, 3] gives
the ends of the 40-, 112- and 320-wide stages (B0), EfficientDet's P3-P5 inputs.
``with_head_conv`` appends the classifier's 1x1 conv (1280 * width_mult, BN, swish) to
the stride-32 map.

Sub-layers: ``conv_stem``, ``blocks.{i}`` (blocks numbered through all stages, each with
``expand_conv``, ``depthwise_conv``, ``se``, ``project_conv``), ``conv_head``.
"""
import math

import paddle.nn as nn

from ppdet.core.workspace import register

from .mobile_blocks import ConvBNAct, SqueezeExcite, make_divisible, stage_ends

__all__ = ['EfficientNet', 'EFFICIENTNET_STAGES', 'EFFICIENTNET_VARIANTS']

# (expansion, kernel, stride, out width, repeats): B0, paper Table 1
EFFICIENTNET_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                       (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
# variant: (width_mult, depth_mult, input resolution)
EFFICIENTNET_VARIANTS = {'b0': (1.0, 1.0, 224), 'b1': (1.0, 1.1, 240), 'b2': (1.1, 1.2, 260),
                         'b3': (1.2, 1.4, 300), 'b4': (1.4, 1.8, 380), 'b5': (1.6, 2.2, 456),
                         'b6': (1.8, 2.6, 528), 'b7': (2.0, 3.1, 600)}


class MBConv(nn.Layer):
    def __init__(self, ch_in, ch_out, expansion, kernel, stride, se_ratio=0.25, **kw):
        super().__init__()
        ch_mid = ch_in * expansion
        self.expand_conv = ConvBNAct(ch_in, ch_mid, 1, act='swish', **kw) if expansion != 1 \
            else None
        self.depthwise_conv = ConvBNAct(ch_mid, ch_mid, kernel, stride, groups=ch_mid,
                                        act='swish', **kw)
        self.se = SqueezeExcite(ch_mid, max(1, int(ch_in * se_ratio)), act='swish',
                                gate='sigmoid') if se_ratio else None
        self.project_conv = ConvBNAct(ch_mid, ch_out, 1, act=None, **kw)
        self.shortcut = stride == 1 and ch_in == ch_out

    def forward(self, x):
        y = self.expand_conv(x) if self.expand_conv is not None else x
        y = self.depthwise_conv(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project_conv(y)
        return x + y if self.shortcut else y


@register
class EfficientNet(nn.Layer):
    """EfficientNet backbone; ``out_channels`` / ``out_strides`` describe the returned maps."""
    __shared__ = ['norm_type']

    def __init__(self, variant='b0', width_mult=None, depth_mult=None, return_idx=(1, 2, 3),
                 with_head_conv=False, se_ratio=0.25, norm_decay=0., freeze_norm=False,
                 norm_type='bn'):
        super().__init__()
        if variant not in EFFICIENTNET_VARIANTS:
            raise ValueError('EfficientNet: variant %r unknown (use one of %s)' % (
                variant, ', '.join(EFFICIENTNET_VARIANTS)))
        if norm_type not in ('bn', 'sync_bn'):
            raise ValueError('EfficientNet: norm_type %r not supported (use bn)' % norm_type)
        w, d, _ = EFFICIENTNET_VARIANTS[variant]
        w = float(width_mult) if width_mult is not None else w
        d = float(depth_mult) if depth_mult is not None else d
        kw = dict(norm_decay=norm_decay, freeze_norm=freeze_norm)
        ch = make_divisible(32 * w)
        self.conv_stem = ConvBNAct(3, ch, 3, 2, act='swish', **kw)
        self.blocks = nn.LayerList()
        strides, widths, stride = [], [], 2
        for expansion, k, s, c, r in EFFICIENTNET_STAGES:
            c_out = make_divisible(c * w)
            for i in range(int(math.ceil(d * r))):
                self.blocks.append(MBConv(ch, c_out, expansion, k, s if i == 0 else 1,
                                          se_ratio, **kw))
                ch = c_out
                stride *= s if i == 0 else 1
                strides.append(stride)
                widths.append(ch)
        self.return_idx, self.block_ends = stage_ends(strides, return_idx, 'EfficientNet')
        self.out_channels = [widths[j] for j in self.block_ends]
        self.out_strides = [strides[j] for j in self.block_ends]
        self.conv_head = None
        if with_head_conv:
            if self.out_strides[-1] != 32:
                raise ValueError('EfficientNet: with_head_conv needs the stride-32 map in '
                                 'return_idx (index 3)')
            c_head = make_divisible(1280 * w)
            self.conv_head = ConvBNAct(ch, c_head, 1, act='swish', **kw)
            self.out_channels[-1] = c_head

    def forward(self, x):
        x = self.conv_stem(x)
        outs = []
        for j, block in enumerate(self.blocks[:self.block_ends[-1] + 1]):
            x = block(x)
            if j in self.block_ends:
                outs.append(x)
        if self.conv_head is not None:
            outs[-1] = self.conv_head(outs[-1])
        return outs
