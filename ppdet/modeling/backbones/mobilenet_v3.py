"""MobileNetV3 large / small (Howard et al. 2019, "Searching for MobileNetV3", Tables 1-2)
as a detection backbone, the seed's "MobileNetV3" RetinaNet row.

Each block is an inverted residual: 1x1 expand (skipped when the expansion equals the
input width), kxk depthwise, optional squeeze-excite (squeeze width = expansion / 4
rounded to 8, ReLU then hard-sigmoid), 1x1 linear projection, identity shortcut when the
stride is 1 and the widths agree.  Activations are ReLU or hard-swish per block as in the
paper's tables; the stem is a 3x3 stride-2 conv with 16 channels and hard-swish.

``scale`` multiplies every width (rounded to a multiple of 8, PaddleDetection's and the
reference code's rule).  ``return_idx`` picks stage ends by index into strides
[4, 8, 16, 32], as ResNet's: the default [1, 2, 3] returns the stride-8/16/32 maps, i.e.
the outputs of the last 40 / 112 / 160-wide blocks (large) or 24 / 48 / 96 (small).
``with_last_conv`` appends the classifier's 1x1 conv (960 / 576 channels, BN, hard-swish)
to the stride-32 output, as PaddleDetection's detection configs of MobileNetV3 do for
their last map.

Sub-layers: ``conv1`` (stem), ``blocks.{i}.{expand_conv,bottleneck_conv,mid_se,linear_conv}``,
``last_conv``; each conv is a :class:`~.mobile_blocks.ConvBNAct` (``.conv``, ``.bn``).
"""
import paddle.nn as nn

from ppdet.core.workspace import register

from .mobile_blocks import ConvBNAct, SqueezeExcite, make_divisible, stage_ends

__all__ = ['MobileNetV3', 'MOBILENET_V3_CFG']

# (kernel, expansion, out, squeeze-excite, activation, stride) per block; paper Tables 1, 2
MOBILENET_V3_CFG = {
    'large': dict(last_conv=960, blocks=[
        (3, 16, 16, False, 'relu', 1),
        (3, 64, 24, False, 'relu', 2),
        (3, 72, 24, False, 'relu', 1),
        (5, 72, 40, True, 'relu', 2),
        (5, 120, 40, True, 'relu', 1),
        (5, 120, 40, True, 'relu', 1),
        (3, 240, 80, False, 'hardswish', 2),
        (3, 200, 80, False, 'hardswish', 1),
        (3, 184, 80, False, 'hardswish', 1),
        (3, 184, 80, False, 'hardswish', 1),
        (3, 480, 112, True, 'hardswish', 1),
        (3, 672, 112, True, 'hardswish', 1),
        (5, 672, 160, True, 'hardswish', 2),
        (5, 960, 160, True, 'hardswish', 1),
        (5, 960, 160, True, 'hardswish', 1)]),
    'small': dict(last_conv=576, blocks=[
        (3, 16, 16, True, 'relu', 2),
        (3, 72, 24, False, 'relu', 2),
        (3, 88, 24, False, 'relu', 1),
        (5, 96, 40, True, 'hardswish', 2),
        (5, 240, 40, True, 'hardswish', 1),
        (5, 240, 40, True, 'hardswish', 1),
        (5, 120, 48, True, 'hardswish', 1),
        (5, 144, 48, True, 'hardswish', 1),
        (5, 288, 96, True, 'hardswish', 2),
        (5, 576, 96, True, 'hardswish', 1),
        (5, 576, 96, True, 'hardswish', 1)]),
}


class InvertedResidual(nn.Layer):
    def __init__(self, ch_in, ch_mid, ch_out, kernel, stride, use_se, act, **kw):
        super().__init__()
        self.expand_conv = ConvBNAct(ch_in, ch_mid, 1, act=act, **kw) if ch_mid != ch_in \
            else None
        self.bottleneck_conv = ConvBNAct(ch_mid, ch_mid, kernel, stride, groups=ch_mid, act=act,
                                         **kw)
        self.mid_se = SqueezeExcite(ch_mid, make_divisible(ch_mid // 4)) if use_se else None
        self.linear_conv = ConvBNAct(ch_mid, ch_out, 1, act=None, **kw)
        self.shortcut = stride == 1 and ch_in == ch_out

    def forward(self, x):
        y = self.expand_conv(x) if self.expand_conv is not None else x
        y = self.bottleneck_conv(y)
        if self.mid_se is not None:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.shortcut else y


@register
class MobileNetV3(nn.Layer):
    """MobileNetV3 backbone; ``out_channels`` / ``out_strides`` describe the returned maps."""
    __shared__ = ['norm_type']

    def __init__(self, model_name='large', scale=1.0, return_idx=(1, 2, 3),
                 with_last_conv=False, norm_decay=0., freeze_norm=False, freeze_at=-1,
                 norm_type='bn'):
        super().__init__()
        if model_name not in MOBILENET_V3_CFG:
            raise ValueError('MobileNetV3: model_name %r unknown (use large or small)' % (
                model_name,))
        if norm_type not in ('bn', 'sync_bn'):
            raise ValueError('MobileNetV3: norm_type %r not supported (use bn)' % norm_type)
        if not 0 < float(scale) <= 4:
            raise ValueError('MobileNetV3: scale must be in (0, 4], got %r' % (scale,))
        cfg = MOBILENET_V3_CFG[model_name]
        kw = dict(norm_decay=norm_decay, freeze_norm=freeze_norm)
        ch = make_divisible(16 * scale)
        self.conv1 = ConvBNAct(3, ch, 3, 2, act='hardswish', **kw)
        self.blocks = nn.LayerList()
        strides, widths, stride = [], [], 2
        for k, exp, c, se, act, s in cfg['blocks']:
            c_mid, c_out = make_divisible(scale * exp), make_divisible(scale * c)
            self.blocks.append(InvertedResidual(ch, c_mid, c_out, k, s, se, act, **kw))
            ch, stride = c_out, stride * s
            strides.append(stride)
            widths.append(ch)
        self.return_idx, self.block_ends = stage_ends(strides, return_idx, 'MobileNetV3')
        self.out_channels = [widths[j] for j in self.block_ends]
        self.out_strides = [strides[j] for j in self.block_ends]
        self.last_conv = None
        if with_last_conv:
            if self.out_strides[-1] != 32:
                raise ValueError('MobileNetV3: with_last_conv needs the stride-32 map in '
                                 'return_idx (index 3)')
            c_last = make_divisible(scale * cfg['last_conv'])
            self.last_conv = ConvBNAct(ch, c_last, 1, act='hardswish', **kw)
            self.out_channels[-1] = c_last
        if freeze_at >= 0:  # freeze the stem and the blocks up to stage freeze_at's end
            last = max(j for j, st in enumerate(strides) if st <= 4 * 2 ** freeze_at)
            for layer in [self.conv1] + list(self.blocks)[:last + 1]:
                for p in layer.parameters():
                    p.stop_gradient = True

    def forward(self, x):
        x = self.conv1(x)
        outs = []
        for j, block in enumerate(self.blocks[:self.block_ends[-1] + 1]):
            x = block(x)
            if j in self.block_ends:
                outs.append(x)
        if self.last_conv is not None:
            outs[-1] = self.last_conv(outs[-1])
        return outs
