"""Small pieces shared by the BiFPN, TwoWayFPN and PConvFPN necks: a conv (+ norm +
activation) block, a depthwise-separable conv, the P6/P7 levels.

``norm_type`` is any of :data:`ppdet.modeling.norms.NORM_TYPES` (None, 'bn', 'frozen_bn',
'sync_bn', 'gn', 'evonorm_s0'), built by :func:`ppdet.modeling.norms.build_norm` as in the
FPN and the heads; without a norm the conv keeps its bias.  EvoNorm-S0 is its own
activation: a block with it skips its ``act``.
"""
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.modeling.norms import build_norm, norm_includes_act

__all__ = ['ConvBlock', 'SeparableConv', 'ExtraLevels', 'check_norm_type']


def check_norm_type(norm_type):
    """Fail at construction on an unknown ``norm_type`` (build_norm names the valid ones)."""
    build_norm(norm_type, 1)


def _act(name, x):
    if name is None:
        return x
    if name == 'relu':
        return F.relu(x)
    if name == 'swish':
        return F.swish(x)
    raise ValueError('unknown activation %r (use relu, swish or None)' % (name,))


class ConvBlock(nn.Layer):
    """conv -> norm (``build_norm``) -> activation (none after EvoNorm-S0, which is one);
    the conv has a bias only without a norm."""

    def __init__(self, ch_in, ch_out, kernel=3, stride=1, norm_type=None, act=None, groups=1):
        super().__init__()
        self.norm = build_norm(norm_type, ch_out)
        self.conv = nn.Conv2D(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2,
                              groups=groups, bias_attr=None if self.norm is None else False)
        self.act = None if norm_includes_act(norm_type) else act

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return _act(self.act, x)


class SeparableConv(nn.Layer):
    """3x3 depthwise conv (no bias) + 1x1 pointwise conv -> norm -> activation."""

    def __init__(self, ch_in, ch_out, stride=1, norm_type=None, act=None):
        super().__init__()
        self.depthwise = nn.Conv2D(ch_in, ch_in, 3, stride=stride, padding=1, groups=ch_in,
                                   bias_attr=False)
        self.pointwise = ConvBlock(ch_in, ch_out, 1, norm_type=norm_type, act=act)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class ExtraLevels(nn.Layer):
    """P6 = stride-2 3x3 conv on the coarsest map, P7.. = ReLU + stride-2 3x3 conv on the
    previous one (RetinaNet's extra levels, Lin et al. 2017)."""

    def __init__(self, ch_in, ch_out, count, norm_type=None):
        super().__init__()
        self.convs = nn.LayerList([ConvBlock(ch_in if j == 0 else ch_out, ch_out, 3, 2,
                                             norm_type) for j in range(count)])

    def forward(self, x):
        outs = []
        for j, conv in enumerate(self.convs):
            x = conv(x if j == 0 else F.relu(x))
            outs.append(x)
        return outs
