"""PConv, pyramid convolution (Wang et al. 2020, "Scale-Equalizing Pyramid Convolution for
Object Detection", CVPR, Sec. 3.1-3.3), the seed's "PConv" RetinaNet row.

A pyramid convolution is a 3-D convolution over (level, y, x) with kernel size 3 along the
level axis, i.e. three 2-D kernels: for level l,

    y_l = w_{+1} *_{s2} x_{l-1}  +  w_0 * x_l  +  up(w_{-1} * x_{l+1})

where x_{l-1} is the finer neighbour (a stride-2 3x3 conv brings it to level l's size),
x_{l+1} the coarser one (3x3 conv, then bilinear up-sampling to level l's size); the
finest and coarsest levels have only two terms.  ``num_stacks`` such blocks are stacked
(the paper: 4), each followed by ReLU; with ``ibn`` ("integrated BN") each block's sum is
normalised by one BatchNorm whose statistics are gathered over all levels together
(the levels are flattened and concatenated along the spatial axis).  The paper's SEPC
additionally makes the kernels of higher levels deformable; that part is not here.

PConv runs on FPN outputs (all levels the same width), so it is a neck on top of another
neck: :class:`PConvFPN` wraps an FPN built from the config (``fpn: FPN``, or any neck with
the same interface: TwoWayFPN, BiFPN) and passes its ``build_layers(in_channels)`` on.
PConvFPN's ``out_channel`` is the pyramid convs' width (the first block maps the inner
neck's width to it); ``num_outs`` must equal the inner neck's.  ``norm_type`` (any of
:func:`ppdet.modeling.norms.build_norm`'s; EvoNorm-S0 then replaces the ReLU) puts a
per-level norm after every block; ``ibn`` one BN shared over the levels instead.

Sub-layers: ``fpn`` (the wrapped neck), ``stacks.{k}.convs.{0,1,2}`` (finer / same /
coarser kernels), ``stacks.{k}.norms.{l}`` or ``stacks.{k}.ibn``.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import create, register
from ppdet.modeling.ops import built_for

from ppdet.modeling.norms import build_norm, norm_includes_act

from .neck_blocks import check_norm_type

__all__ = ['PConv', 'PConvFPN']


class PConv(nn.Layer):
    """One pyramid convolution block over ``num_levels`` maps: the three kernels, summed,
    then norm (per level, or integrated over all levels with ``ibn``) and ReLU."""

    def __init__(self, ch_in, ch_out, num_levels, norm_type=None, ibn=False):
        super().__init__()
        if ibn and norm_type is not None:
            raise ValueError('PConv: ibn replaces norm_type; give one of them')
        use_bias = norm_type is None and not ibn
        bias = None if use_bias else False
        self.convs = nn.LayerList([
            nn.Conv2D(ch_in, ch_out, 3, stride=2, padding=1, bias_attr=bias),  # finer level
            nn.Conv2D(ch_in, ch_out, 3, padding=1, bias_attr=bias),            # same level
            nn.Conv2D(ch_in, ch_out, 3, padding=1, bias_attr=bias)])           # coarser level
        self.norms = nn.LayerList([build_norm(norm_type, ch_out) for _ in range(num_levels)]) \
            if norm_type is not None else None
        self.ibn = nn.BatchNorm1D(ch_out) if ibn else None
        self.num_levels = num_levels
        self.relu = not norm_includes_act(norm_type)

    def _integrated_bn(self, outs):
        n, c = outs[0].shape[:2]
        flat = [o.reshape([n, c, -1]) for o in outs]
        sizes = [f.shape[2] for f in flat]
        normed = paddle.split(self.ibn(paddle.concat(flat, axis=2)), sizes, axis=2)
        return [x.reshape(o.shape) for x, o in zip(normed, outs)]

    def forward(self, feats):
        outs = []
        last = len(feats) - 1
        for lv, x in enumerate(feats):
            y = self.convs[1](x)
            if lv > 0:
                finer = self.convs[0](feats[lv - 1])
                if finer.shape[2:] != y.shape[2:]:  # odd sizes: align to this level
                    finer = F.interpolate(finer, size=y.shape[2:], mode='bilinear')
                y = y + finer
            if lv < last:
                y = y + F.interpolate(self.convs[2](feats[lv + 1]), size=y.shape[2:],
                                      mode='bilinear')
            outs.append(y)
        if self.ibn is not None:
            outs = self._integrated_bn(outs)
        elif self.norms is not None:
            outs = [norm(o) for norm, o in zip(self.norms, outs)]
        return [F.relu(o) for o in outs] if self.relu else outs


@register
class PConvFPN(nn.Layer):
    """``num_stacks`` pyramid convolutions on the outputs of the wrapped neck ``fpn``."""
    __inject__ = ['fpn']

    def __init__(self, in_channels=None, out_channel=256, num_outs=5, norm_type=None,
                 fpn='FPN', num_stacks=4, ibn=False):
        super().__init__()
        check_norm_type(norm_type)
        if int(num_stacks) < 1:
            raise ValueError('PConvFPN.num_stacks must be >= 1, got %r' % (num_stacks,))
        if isinstance(fpn, (str, dict)):  # built directly, not through create()
            fpn = create(fpn) if isinstance(fpn, str) else create(
                fpn['name'], None, **{k: v for k, v in fpn.items() if k != 'name'})
        self.fpn = fpn
        self.out_channel, self.num_outs = int(out_channel), int(num_outs)
        self.norm_type, self.num_stacks, self.ibn = norm_type, int(num_stacks), bool(ibn)
        self.in_channels = None
        self.out_channels = None
        if in_channels is not None:
            self.build_layers(in_channels)
        elif getattr(fpn, 'out_channels', None) is not None:  # inner neck already built
            self._build_stacks()

    def build_layers(self, in_channels):
        """Build the wrapped neck for backbone widths ``in_channels``, then the stacks."""
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        self.fpn.build_layers(in_channels)
        self.in_channels = in_channels
        self._build_stacks()

    def _build_stacks(self):
        widths = [int(c) for c in self.fpn.out_channels]
        if len(set(widths)) != 1:
            raise ValueError('PConvFPN: the wrapped neck gives unequal widths %s; pyramid '
                             'convolution needs one width at every level' % widths)
        if len(widths) != self.num_outs:
            raise ValueError('PConvFPN.num_outs=%d but the wrapped %s gives %d levels; set '
                             'both to the same value' % (self.num_outs, type(self.fpn).__name__,
                                                         len(widths)))
        self.stacks = nn.LayerList([
            PConv(widths[0] if k == 0 else self.out_channel, self.out_channel, self.num_outs,
                  None if self.ibn else self.norm_type, self.ibn)
            for k in range(self.num_stacks)])
        self.out_channels = [self.out_channel] * self.num_outs
        self.out_strides = list(self.fpn.out_strides)

    def forward(self, feats):
        x = self.fpn(feats)
        for stack in self.stacks:
            x = stack(x)
        return x
