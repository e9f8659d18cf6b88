"""FPN (Lin et al. 2017) with the RetinaNet / FCOS extra levels: P3-P5 from C3-C5 by 1x1
lateral convs, a nearest-neighbour top-down path and 3x3 output convs, then P6 by a
stride-2 3x3 conv (on C5, ``extra_source='c5'``, RetinaNet; or on P5, ``'p5'``, FCOS) and
P7 by ReLU + a stride-2 3x3 conv on P6.

``norm_type`` (None, 'bn', 'gn', 'sync_bn', 'evonorm_s0', see :mod:`ppdet.modeling.norms`)
puts a norm after every conv (the seed's "FPN-BN"); the convs then have no bias.

Neck interface shared with BiFPN / TwoWayFPN / PConv: ``in_channels`` (backbone widths at
strides 8/16/32) is filled in by the architecture (``build_layers``), ``forward(feats)``
returns ``num_outs`` maps at strides 8, 16, ... and ``out_channels`` / ``out_strides``
describe them.  Sub-layers: ``lateral_convs.{i}``, ``fpn_convs.{i}`` (i = 0 for P3),
``extra_convs.{j}`` (j = 0 for P6), each a :class:`~ppdet.modeling.norms.ConvNorm`.
"""
import collections

import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.initializer import KaimingUniform

from ppdet.core.workspace import register
from ppdet.modeling.norms import UNPRUNABLE_NORMS, ConvNorm, norm_blocks_pruning
from ppdet.modeling.ops import build_if_given, built_for

__all__ = ['FPN']


@register
class FPN(nn.Layer):
    EXTRA_SOURCES = ('c5', 'p5')

    def __init__(self, in_channels=None, out_channel=256, num_outs=5, norm_type=None,
                 extra_source='c5', relu_before_extra=True, norm_groups=32):
        super().__init__()
        if extra_source not in self.EXTRA_SOURCES:
            raise ValueError('FPN.extra_source must be one of %s, got %r' % (
                self.EXTRA_SOURCES, extra_source))
        if int(num_outs) < 1:
            raise ValueError('FPN.num_outs must be >= 1, got %r' % (num_outs,))
        self.out_channel, self.num_outs = int(out_channel), int(num_outs)
        self.norm_type, self.norm_groups = norm_type, int(norm_groups)
        self.extra_source, self.relu_before_extra = extra_source, bool(relu_before_extra)
        build_if_given(self, in_channels)

    def _conv(self, ch_in, kernel, stride=1):
        # He-uniform with a=1, as Detectron's c2_xavier_fill for FPN convs
        return ConvNorm(ch_in, self.out_channel, kernel, stride, norm_type=self.norm_type,
                        groups=self.norm_groups, weight_init=KaimingUniform(negative_slope=1.))

    def build_layers(self, in_channels):
        """Create the sub-layers for backbone widths ``in_channels`` (stride 8 first)."""
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        self.in_channels = in_channels
        n_in = min(len(in_channels), self.num_outs)
        self.lateral_convs = nn.LayerList([self._conv(c, 1) for c in in_channels[:n_in]])
        self.fpn_convs = nn.LayerList([self._conv(self.out_channel, 3) for _ in range(n_in)])
        extra = []
        for j in range(self.num_outs - n_in):
            src = in_channels[-1] if j == 0 and self.extra_source == 'c5' else self.out_channel
            extra.append(self._conv(src, 3, stride=2))
        self.extra_convs = nn.LayerList(extra)
        self.out_channels = [self.out_channel] * self.num_outs
        self.out_strides = [8 * 2 ** i for i in range(self.num_outs)]

    def prunable_convs(self):
        """{name: Conv2D} whose filters may be pruned, one per channel group.

        The laterals are summed along the top-down path, so they share one width
        (``lateral_convs.0`` stands for all of them); every output conv feeds the head's
        convs, which are shared across levels, so the outputs share one width too
        (``fpn_convs.0``: pruning it prunes every level's output and extra conv alike).
        Convs before GroupNorm / EvoNorm-S0 are left out (PaddleSlim cannot prune them).
        """
        out = collections.OrderedDict()
        for name, block in (('lateral_convs.0', self.lateral_convs[0]),
                            ('fpn_convs.0', self.fpn_convs[0])):
            if not isinstance(block.norm, UNPRUNABLE_NORMS):
                out[name + '.conv'] = block.conv
        return out

    def unprunable_convs(self, prefix=''):
        """{prefix + name: why} of the convs :meth:`prunable_convs` leaves out (``prefix``:
        where the model keeps the neck, e.g. ``'neck.'``)."""
        out = collections.OrderedDict()
        tied = {'lateral_convs': 'the laterals are summed along the top-down path, so they '
                                 'share one width',
                'fpn_convs': 'every level\'s output feeds the head convs shared by the '
                             'levels, so the outputs share one width',
                'extra_convs': 'every level\'s output feeds the head convs shared by the '
                               'levels, so the outputs share one width'}
        for group, why in tied.items():
            for i, block in enumerate(getattr(self, group)):
                name = '%s%s.%d.conv.weight' % (prefix, group, i)
                if isinstance(block.norm, UNPRUNABLE_NORMS):
                    out[name] = norm_blocks_pruning(block.norm)
                elif i or group == 'extra_convs':      # not the one prunable_convs names
                    lead = 'lateral_convs' if group == 'lateral_convs' else 'fpn_convs'
                    out[name] = 'it is pruned with %s%s.0.conv.weight (%s): name that one' % (
                        prefix, lead, why)
        return out

    def forward(self, feats):
        n_in = len(self.lateral_convs)
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, feats[:n_in])]
        for i in range(n_in - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        for j, conv in enumerate(self.extra_convs):
            if j == 0:
                x = feats[n_in - 1] if self.extra_source == 'c5' else outs[-1]
            else:
                x = F.relu(outs[-1]) if self.relu_before_extra else outs[-1]
            outs.append(conv(x))
        return outs
