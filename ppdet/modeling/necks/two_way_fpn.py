"""TwoWayFPN: an FPN with a top-down and a bottom-up aggregation path, the seed's "TWFPN"
RetinaNet row.

Where the name comes from: PaddleDetection has no TwoWayFPN (its ``ppdet/modeling/necks``
holds FPN, PAFPN, PAN, CSP-PAN, BiFPN, HRFPN, YOLOv3FPN, ...; checked 2026-12), and the
seed's config is not public.  The name
matches the "2-way FPN" of EfficientPS (Mohan & Valada 2021, "EfficientPS: Efficient
Panoptic Segmentation", Sec. 3.1), whose public re-implementations register it as
``TWOWAYFPN``: two *parallel* paths over the backbone maps, each with its own 1x1 lateral
convs -- top-down (coarse to fine, nearest up-sampling, as FPN) and bottom-up (fine to
coarse, down-sampling) -- summed level by level, then a 3x3 conv per level.  That is
``mode='parallel'`` (default).  ``mode='sequential'`` is PANet's path aggregation (Liu et
al. 2018): the bottom-up path runs over the *outputs* of the top-down path, each step a
stride-2 3x3 conv of the finer result added to the level, then a 3x3 conv.

Details chosen here: bottom-up down-sampling in parallel mode is a 3x3 stride-2 max pool
(parameter-free, like the interpolation of the EfficientPS re-implementations); output
convs are plain 3x3 (EfficientPS uses depthwise-separable ones with in-place activated BN:
``separable=True``).  P6 / P7 (``num_outs`` 5) are RetinaNet's: a stride-2 3x3 conv on the
stride-32 output, then ReLU + a stride-2 3x3 conv.

Sub-layers: ``td_laterals.{i}``, ``bu_laterals.{i}`` (parallel) or ``bu_convs.{i}``
(sequential), ``out_convs.{i}``, ``extra.convs.{j}``.
"""
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.ops import build_if_given, built_for

from .neck_blocks import ConvBlock, ExtraLevels, SeparableConv, check_norm_type

__all__ = ['TwoWayFPN']


def _up_to(x, ref):
    return F.interpolate(x, size=ref.shape[2:], mode='nearest')


def _down_to(x, ref):
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    if x.shape[2:] != ref.shape[2:]:
        x = F.interpolate(x, size=ref.shape[2:], mode='nearest')
    return x


@register
class TwoWayFPN(nn.Layer):
    MODES = ('parallel', 'sequential')

    def __init__(self, in_channels=None, out_channel=256, num_outs=5, norm_type=None,
                 mode='parallel', separable=False):
        super().__init__()
        check_norm_type(norm_type)
        if mode not in self.MODES:
            raise ValueError('TwoWayFPN.mode must be one of %s, got %r' % (self.MODES, mode))
        self.out_channel, self.num_outs = int(out_channel), int(num_outs)
        self.norm_type, self.mode, self.separable = norm_type, mode, bool(separable)
        self.out_channels = None
        build_if_given(self, in_channels)

    def _out_conv(self, c):
        if self.separable:
            return SeparableConv(c, c, norm_type=self.norm_type)
        return ConvBlock(c, c, 3, norm_type=self.norm_type)

    def build_layers(self, in_channels):
        """Create the sub-layers for backbone widths ``in_channels`` (stride 8 first)."""
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        if len(in_channels) > self.num_outs:
            raise ValueError('TwoWayFPN: %d input maps but num_outs=%d' % (
                len(in_channels), self.num_outs))
        self.in_channels = in_channels
        c, nt, n = self.out_channel, self.norm_type, len(in_channels)
        self.td_laterals = nn.LayerList([ConvBlock(ch, c, 1, norm_type=nt) for ch in in_channels])
        if self.mode == 'parallel':
            self.bu_laterals = nn.LayerList([ConvBlock(ch, c, 1, norm_type=nt)
                                             for ch in in_channels])
        else:
            self.td_convs = nn.LayerList([self._out_conv(c) for _ in range(n)])
            self.bu_convs = nn.LayerList([ConvBlock(c, c, 3, 2, norm_type=nt)
                                          for _ in range(n - 1)])
        self.out_convs = nn.LayerList([self._out_conv(c) for _ in range(n)])
        self.extra = ExtraLevels(c, c, self.num_outs - n, nt)
        self.out_channels = [c] * self.num_outs
        self.out_strides = [8 * 2 ** i for i in range(self.num_outs)]

    def _top_down(self, feats):
        td = [conv(f) for conv, f in zip(self.td_laterals, feats)]
        for i in range(len(td) - 1, 0, -1):
            td[i - 1] = td[i - 1] + _up_to(td[i], td[i - 1])
        return td

    def forward(self, feats):
        n = len(self.in_channels)
        feats = feats[:n]
        td = self._top_down(feats)
        if self.mode == 'parallel':
            bu = [conv(f) for conv, f in zip(self.bu_laterals, feats)]
            for i in range(1, n):
                bu[i] = bu[i] + _down_to(bu[i - 1], bu[i])
            outs = [conv(a + b) for conv, a, b in zip(self.out_convs, td, bu)]
        else:
            p = [conv(x) for conv, x in zip(self.td_convs, td)]
            outs = [self.out_convs[0](p[0])]
            for i in range(1, n):
                down = self.bu_convs[i - 1](outs[-1])
                if down.shape[2:] != p[i].shape[2:]:
                    down = _up_to(down, p[i])
                outs.append(self.out_convs[i](p[i] + down))
        return outs + self.extra(outs[-1])
