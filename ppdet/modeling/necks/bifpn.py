"""BiFPN (Tan et al. 2020, "EfficientDet: Scalable and Efficient Object Detection", Sec. 3
and Fig. 2d), the neck of the seed's "EfficientDet-D0" rows.

Inputs: the backbone maps at strides 8/16/32 (C3-C5).  Each is projected to
``out_channel`` by a 1x1 conv + norm; P6 = 1x1 conv + norm on C5 then a 3x3 stride-2 max
pool, P7 = max pool of P6 (EfficientDet's resampling; ``num_outs`` = 5).  Then
``num_repeats`` BiFPN layers, each a top-down pass followed by a bottom-up pass over the
levels with *fast normalized fusion*: a node's inputs x_i are summed with learnable
weights w_i >= 0 (a ReLU keeps them so) as ``sum(w_i x_i) / (sum(w_i) + 1e-4)``, then
swish and a 3x3 depthwise-separable conv + norm.  Top-down nodes fuse a level with the
nearest-upsampled node above; bottom-up nodes fuse the input level, its top-down node
(levels strictly between top and bottom) and the max-pooled (3x3, stride 2) output below.
D0: ``out_channel=64``, ``num_repeats=3``, input 512 (D1: 88 / 4 / 640, D2: 112 / 5 / 768).

``norm_type``: any of :func:`ppdet.modeling.norms.build_norm`'s (EfficientDet uses BN,
momentum 0.99 in TF terms).  The seed's
"BIFPN normal: swish" row is ``norm_type: null`` here.

EfficientDet's first BiFPN layer projects C4 and C5 twice (separate 1x1 convs for the
top-down and the bottom-up node); here each input level has one projection.

Sub-layers: ``inputs.{i}`` (1x1 projections, i = 0 for P3), ``p6_conv``,
``layers.{r}.td_convs.{i}`` / ``bu_convs.{i}`` and the fusion weights ``td_w.{i}`` /
``bu_w.{i}``.
"""
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.ops import build_if_given, built_for

from .neck_blocks import ConvBlock, SeparableConv, check_norm_type

__all__ = ['BiFPN', 'BiFPNLayer']

EPS = 1e-4


def _resize_to(x, ref):
    if x.shape[2:] == ref.shape[2:]:
        return x
    return F.interpolate(x, size=ref.shape[2:], mode='nearest')


def _down_to(x, ref):
    """3x3 stride-2 max pool ("same" padding); cropped / resized if sizes still disagree."""
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    return _resize_to(x, ref)


class BiFPNLayer(nn.Layer):
    """One top-down + bottom-up pass over ``num_levels`` maps of ``channels`` channels."""

    def __init__(self, channels, num_levels, norm_type=None):
        super().__init__()
        n = num_levels
        self.num_levels = n
        # top-down nodes for levels n-2 .. 0 (two inputs); bottom-up for 1 .. n-1
        self.td_convs = nn.LayerList([SeparableConv(channels, channels, norm_type=norm_type)
                                      for _ in range(n - 1)])
        self.bu_convs = nn.LayerList([SeparableConv(channels, channels, norm_type=norm_type)
                                      for _ in range(n - 1)])
        self.td_w = nn.ParameterList([self._weights(2) for _ in range(n - 1)])
        self.bu_w = nn.ParameterList([self._weights(3 if 0 < i < n - 1 else 2)
                                      for i in range(1, n)])

    def _weights(self, k):
        return self.create_parameter([k], default_initializer=nn.initializer.Constant(1.))

    @staticmethod
    def _fuse(w, xs):
        w = F.relu(w)
        total = w.sum() + EPS
        out = xs[0] * (w[0] / total)
        for i in range(1, len(xs)):
            out = out + xs[i] * (w[i] / total)
        return F.swish(out)

    def forward(self, feats):
        n = self.num_levels
        td = [None] * n
        td[n - 1] = feats[n - 1]
        for j, i in enumerate(range(n - 2, -1, -1)):  # top-down
            td[i] = self.td_convs[j](self._fuse(self.td_w[j], [
                feats[i], _resize_to(td[i + 1], feats[i])]))
        outs = [td[0]]
        for j, i in enumerate(range(1, n)):  # bottom-up
            down = _down_to(outs[-1], feats[i])
            xs = [feats[i], td[i], down] if i < n - 1 else [feats[i], down]
            outs.append(self.bu_convs[j](self._fuse(self.bu_w[j], xs)))
        return outs


@register
class BiFPN(nn.Layer):
    """EfficientDet's BiFPN neck: ``num_outs`` maps of ``out_channel`` at strides 8..128."""

    def __init__(self, in_channels=None, out_channel=64, num_outs=5, norm_type='bn',
                 num_repeats=3):
        super().__init__()
        check_norm_type(norm_type)  # fail early on an unsupported norm
        if int(num_outs) < 3 or int(num_repeats) < 1:
            raise ValueError('BiFPN needs num_outs >= 3 and num_repeats >= 1, got %r, %r' % (
                num_outs, num_repeats))
        self.out_channel, self.num_outs = int(out_channel), int(num_outs)
        self.norm_type, self.num_repeats = norm_type, int(num_repeats)
        self.out_channels = None
        build_if_given(self, in_channels)

    def build_layers(self, in_channels):
        """Create the sub-layers for backbone widths ``in_channels`` (stride 8 first)."""
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        if len(in_channels) > self.num_outs:
            raise ValueError('BiFPN: %d input maps but num_outs=%d' % (
                len(in_channels), self.num_outs))
        self.in_channels = in_channels
        c, nt = self.out_channel, self.norm_type
        self.inputs = nn.LayerList([ConvBlock(ch, c, 1, norm_type=nt) for ch in in_channels])
        self.p6_conv = ConvBlock(in_channels[-1], c, 1, norm_type=nt) \
            if self.num_outs > len(in_channels) else None
        self.layers = nn.LayerList([BiFPNLayer(c, self.num_outs, nt)
                                    for _ in range(self.num_repeats)])
        self.out_channels = [c] * self.num_outs
        self.out_strides = [8 * 2 ** i for i in range(self.num_outs)]

    def forward(self, feats):
        n_in = len(self.in_channels)
        levels = [conv(f) for conv, f in zip(self.inputs[:n_in], feats[:n_in])]
        if self.p6_conv is not None:  # P6 = pool(1x1(C5)), P7.. = pool(previous)
            x = self.p6_conv(feats[n_in - 1])
            for _ in range(self.num_outs - n_in):
                x = F.max_pool2d(x, 3, stride=2, padding=1)
                levels.append(x)
        for layer in self.layers:
            levels = layer(levels)
        return levels

