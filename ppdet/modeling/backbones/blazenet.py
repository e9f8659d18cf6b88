"""BlazeNet, the backbone of BlazeFace (Bazarevsky et al. 2019) as PaddleDetection 1.x
builds it (the seed's BlazeFace, BlazeFace-Lite and BlazeFace-NAS at 640).

Two feature maps come out: stride 8 and stride 16 (``with_extra_blocks``; without it
only the stride-16 one).

* ``conv1``: 3x3 stride-2 conv with ``blaze_filters[0][0]`` filters.
* single BlazeBlocks from ``blaze_filters``: ``[in, out]`` or ``[in, out, stride]``;
  depthwise 5x5 (or two depthwise 3x3 when ``use_5x5kernel`` is false) on ``in``
  channels, 1x1 to ``out`` (no activation), added to the input (stride 2: a 2x2 max
  pool and a 1x1 conv on the shortcut), ReLU.
* double BlazeBlocks from ``double_blaze_filters``: ``[in, mid, out]`` or
  ``[in, mid, out, stride]``; the single block's path to ``mid`` (with ReLU), a second
  5x5 conv on ``mid`` and a 1x1 to ``out``.  The stride-8 output is the input of the
  last stride-2 double block.
* ``lite_edition`` (BlazeFace-Lite): a fixed stack of 3x3 depthwise + 1x1 blocks
  (conv1 5x5 with 24 filters; widths 24 ... 88 at stride 8 and 96 at stride 16); the
  shortcut gets a 1x1 conv wherever the width changes.

PaddleDetection 1.x quirk kept on purpose (it is in the seed's models and their FLOPs):
with ``use_5x5kernel`` the *second* 5x5 conv of a double block has no ``groups`` -- it is
a dense ``mid x mid x 5 x 5`` conv, not a depthwise one (``dense_second_5x5``, default
true; set it false for a depthwise one as in PaddleDetection 2.x).

Sub-layer names follow 1.x's parameter names (``blaze_0``, ``double_blaze_3``; inside a
block ``dw1`` (``dw1_1``/``dw1_2``), ``sep1``, ``dw2`` (``dw2_1``/``dw2_2``), ``sep2``,
``shortcut``; Lite blocks ``conv2`` ... ``conv17`` with ``dw``, ``sep``, ``shortcut``);
:meth:`BlazeNet.seed_param_names` maps 1.x names such as ``double_blaze_01_sep_weights``
onto them.
"""
import collections

import paddle.nn as nn

from ppdet.core.workspace import register
from ppdet.modeling.ops import ConvBNLayer, ResidualAdd

__all__ = ['BlazeNet', 'BlazeBlock', 'BlazeLiteBlock']

BLAZE_FILTERS = [[24, 24], [24, 24], [24, 48, 2], [48, 48], [48, 48]]
DOUBLE_BLAZE_FILTERS = [[48, 24, 96, 2], [96, 24, 96], [96, 24, 96],
                        [96, 24, 96, 2], [96, 24, 96], [96, 24, 96]]


def _conv(c_in, c_out, k, stride=1, groups=1, act='relu'):
    return ConvBNLayer(c_in, c_out, k, stride=stride, groups=groups, padding=(k - 1) // 2,
                       act=act, norm_decay=None)


def _dw_path(c, stride, use_5x5kernel, prefix, block, dense=False):
    """5x5 (or two 3x3) convs on ``c`` channels, registered on ``block``; returns them."""
    groups = 1 if dense else c
    if use_5x5kernel:
        layers = [(prefix, _conv(c, c, 5, stride, groups))]
    else:
        layers = [(prefix + '_1', _conv(c, c, 3, 1, c)), (prefix + '_2', _conv(c, c, 3, stride, c))]
    return [block.add_sublayer(n, l) for n, l in layers]


class BlazeBlock(nn.Layer):
    """Single (``double_channels`` None) or double BlazeBlock (see the module docstring)."""

    def __init__(self, in_channels, out_channels, double_channels=None, stride=1,
                 use_5x5kernel=True, dense_second_5x5=True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError('BlazeBlock stride must be 1 or 2, got %r' % (stride,))
        self.double = double_channels is not None
        self.dw1_path = _dw_path(in_channels, stride, use_5x5kernel, 'dw1', self)
        self.sep1 = _conv(in_channels, out_channels, 1, act='relu' if self.double else None)
        out = out_channels
        if self.double:
            self.dw2_path = _dw_path(out_channels, 1, use_5x5kernel, 'dw2', self,
                                dense=use_5x5kernel and dense_second_5x5)
            self.sep2 = _conv(out_channels, double_channels, 1)
            out = double_channels
        self.stride = stride
        if stride != 1:
            self.pool = nn.MaxPool2D(stride, stride, ceil_mode=True)
            self.shortcut = _conv(in_channels, out, 1)  # 1.x: conv + BN + ReLU
        elif in_channels != out:
            raise ValueError('a stride-1 BlazeBlock adds its input to its output, so its output '
                             'width %d must equal its input width %d; fix blaze_filters / '
                             'double_blaze_filters' % (out, in_channels))
        self.out_channels = out
        self.add = ResidualAdd()

    def forward(self, x):
        y = x
        for conv in self.dw1_path:
            y = conv(y)
        y = self.sep1(y)
        if self.double:
            for conv in self.dw2_path:
                y = conv(y)
            y = self.sep2(y)
        if self.stride != 1:
            x = self.shortcut(self.pool(x))
        return self.add(x, y)


class BlazeLiteBlock(nn.Layer):
    """BlazeFace-Lite block: 3x3 depthwise + 1x1 (both ReLU), shortcut (max pool when
    strided, 1x1 conv when the width changes), add, ReLU."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.dw = _conv(in_channels, in_channels, 3, stride, in_channels)
        self.sep = _conv(in_channels, out_channels, 1)
        self.pool = nn.MaxPool2D(stride, stride, ceil_mode=True) if stride != 1 else None
        self.shortcut = _conv(in_channels, out_channels, 1) if in_channels != out_channels \
            else None
        self.out_channels = out_channels
        self.add = ResidualAdd()

    def forward(self, x):
        y = self.sep(self.dw(x))
        if self.pool is not None:
            x = self.pool(x)
        if self.shortcut is not None:
            x = self.shortcut(x)
        return self.add(x, y)


# BlazeFace-Lite: (name, in, out, stride) after conv1 (5x5, 24 filters, stride 2)
LITE_BLOCKS = ([('conv2', 24, 24, 1), ('conv3', 24, 28, 1), ('conv4', 28, 32, 2),
                ('conv5', 32, 36, 1), ('conv6', 36, 42, 1), ('conv7', 42, 48, 2)] +
               [('conv%d' % (8 + i), 48 + 8 * i, 56 + 8 * i, 1) for i in range(5)] +
               [('conv13', 88, 96, 2)] + [('conv%d' % (14 + i), 96, 96, 1) for i in range(4)])
LITE_STRIDE8_LAST = 'conv12'


def _check_filters(filters, lengths, key):
    for v in filters:
        if not isinstance(v, (list, tuple)) or len(v) not in lengths:
            raise ValueError('%s entries are %s numbers ([in, out(, ...)][, stride]), got %r' % (
                key, ' or '.join(str(n) for n in lengths), v))


@register
class BlazeNet(nn.Layer):
    def __init__(self, blaze_filters=BLAZE_FILTERS, double_blaze_filters=DOUBLE_BLAZE_FILTERS,
                 with_extra_blocks=True, lite_edition=False, use_5x5kernel=True,
                 dense_second_5x5=True):
        super().__init__()
        self.lite_edition = bool(lite_edition)
        self.with_extra_blocks = bool(with_extra_blocks)
        if self.lite_edition:
            self._build_lite()
        else:
            self._build(blaze_filters, double_blaze_filters, bool(use_5x5kernel),
                        bool(dense_second_5x5))
        if not self.with_extra_blocks:
            self.out_channels = self.out_channels[-1:]

    def _build(self, blaze_filters, double_blaze_filters, use_5x5kernel, dense_second_5x5):
        _check_filters(blaze_filters, (2, 3), 'BlazeNet.blaze_filters')
        _check_filters(double_blaze_filters, (3, 4), 'BlazeNet.double_blaze_filters')
        if not any(len(v) == 4 and v[3] != 1 for v in double_blaze_filters):
            raise ValueError('BlazeNet.double_blaze_filters needs a stride-2 block (a 4th entry '
                             '2): the stride-8 output is the input of the last one')
        c = int(blaze_filters[0][0])
        self.conv1 = _conv(3, c, 3, 2)
        self.blocks = []
        specs = [('blaze_%d' % k, v[0], v[1], None, v[2] if len(v) == 3 else 1)
                 for k, v in enumerate(blaze_filters)]
        specs += [('double_blaze_%d' % k, v[0], v[1], v[2], v[3] if len(v) == 4 else 1)
                  for k, v in enumerate(double_blaze_filters)]
        for name, c_in, mid, double, stride in specs:
            if int(c_in) != c:
                raise ValueError('BlazeNet block %s takes %d channels but the layer before it '
                                 'gives %d; its first entry must be %d' % (name, c_in, c, c))
            out = int(mid if double is None else double)
            if int(stride) == 1 and out != c:
                raise ValueError('BlazeNet block %s has stride 1, so its output is added to its '
                                 'input: its output width %d must equal its input width %d'
                                 % (name, out, c))
            block = BlazeBlock(c, int(mid), None if double is None else int(double),
                               int(stride), use_5x5kernel, dense_second_5x5)
            self.blocks.append((name, self.add_sublayer(name, block)))
            c = block.out_channels
        last_down = max(i for i, s in enumerate(specs) if s[3] is not None and s[4] != 1)
        self.stride8_index = last_down - 1
        self.out_channels = [self.blocks[self.stride8_index][1].out_channels, c]

    def _build_lite(self):
        self.conv1 = _conv(3, 24, 5, 2)
        self.blocks = [(n, self.add_sublayer(n, BlazeLiteBlock(a, b, s)))
                       for n, a, b, s in LITE_BLOCKS]
        self.stride8_index = [n for n, _ in self.blocks].index(LITE_STRIDE8_LAST)
        self.out_channels = [88, 96]

    def forward(self, x):
        x = self.conv1(x)
        outs = []
        for i, (_, block) in enumerate(self.blocks):
            x = block(x)
            if i == self.stride8_index and self.with_extra_blocks:
                outs.append(x)
        outs.append(x)
        return outs

    def seed_param_names(self):
        """OrderedDict PaddleDetection 1.x conv parameter name -> sub-layer path (relative
        to the backbone), e.g. ``double_blaze_01_sep_weights`` -> ``double_blaze_0.sep1``."""
        out = collections.OrderedDict(conv1_weights='conv1')
        for name, block in self.blocks:
            for sub, layer in block.named_children():
                if not layer.parameters():      # the pool and the ResidualAdd
                    continue
                if self.lite_edition:
                    seed = 'shortcut' + name if sub == 'shortcut' else '%s_%s' % (name, sub)
                elif sub == 'shortcut':
                    seed = 'shortcut' + name
                else:  # dw1 -> 1_dw, dw2_1 -> 2_dw_1, sep1 -> 1_sep
                    kind, rest = sub[:-len(sub.lstrip('dwsep'))], sub.lstrip('dwsep')
                    seed = name + rest[0] + '_' + kind + rest[1:]
                out[seed + '_weights'] = '%s.%s' % (name, sub)
        return out

    def conv_prune_reasons(self):
        """OrderedDict sub-layer path -> why its filters cannot be pruned on their own, for
        every conv whose output reaches a residual add or a depthwise conv (the convs that
        :meth:`BlazeFace.prunable_params` leaves out)."""
        residual = ('its output is added to the block\'s shortcut (a residual add), so the '
                    'whole residual chain would have to lose the same channels')
        out = collections.OrderedDict(
            conv1='its output is the first block\'s input, added to that block\'s output '
                  '(a residual add), so the whole residual chain would have to lose the '
                  'same channels')
        for name, block in self.blocks:
            for sub, layer in block.named_children():
                conv = getattr(layer, 'conv', None)
                if conv is None:
                    continue
                last = sub in ('sep2', 'shortcut') or (sub in ('sep1', 'sep') and not
                                                       getattr(block, 'double', False))
                if conv._groups > 1:
                    why = ('a depthwise conv: each filter reads one input channel, so it '
                           'loses filters only with the conv before it')
                elif last:
                    why = residual
                elif sub == 'sep1':
                    why = ('it feeds a depthwise conv, whose filters would have to go with '
                           'its channels (a dense second 5x5 conv, dense_second_5x5 with '
                           'use_5x5kernel, makes it prunable)')
                else:
                    continue
                out['%s.%s' % (name, sub)] = why
        return out
