"""YOLOv3 FPN neck: one detection block per level plus transitions, as in PaddleDetection 1.x.

Level i (i=0 at stride 32) runs a ``yolo_block`` on the backbone map (for
i>0 concatenated after the up-sampled transition of level i-1)::

    conv0 1x1 C -> conv1 3x3 2C -> conv2 1x1 C -> conv3 3x3 2C -> route 1x1 C -> tip 3x3 2C

with C = 512, 256, 128 (``base_channel`` / 2**i).  The tip goes to the head; the
route goes through ``yolo_transition.i`` (1x1 to C/2), nearest up-sampling x2
and ``concat([transition, backbone_map])``.  Every conv is conv+BN+LeakyReLU(0.1).

State-dict layout (PaddleDetection 2.x names)::

    yolo_block.{i}.conv_module.{conv0,conv1,conv2,conv3,route}.conv.weight
    yolo_block.{i}.conv_module.conv0.batch_norm.{weight,bias,_mean,_variance}
    yolo_block.{i}.tip.conv.weight
    yolo_transition.{i}.conv.weight

The seed (1.x) names its convs ``yolo_block.{i}.{0.0,0.1,1.0,1.1,2,tip}``;
:data:`SEED_NAMES` maps them onto the 2.x sub-layer names.

``in_channels`` (backbone widths, stride 8 first) is filled in by the
architecture from the backbone's ``out_channels``; give it only when using the
neck alone.
"""
import collections

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.ops import ConvBNLayer, build_if_given, built_for

__all__ = ['YOLOv3FPN', 'YoloDetBlock', 'NeckMemo', 'SEED_NAMES']

# seed (PaddleDetection 1.x) conv suffix -> sub-layer path inside a yolo_block
SEED_NAMES = collections.OrderedDict([
    ('0.0', 'conv_module.conv0'), ('0.1', 'conv_module.conv1'),
    ('1.0', 'conv_module.conv2'), ('1.1', 'conv_module.conv3'),
    ('2', 'conv_module.route'), ('tip', 'tip'),
])


class NeckMemo(object):
    """One batch's neck unit outputs, kept between sensitivity probes.

    A probe prunes one conv: the units (each conv of a block, its tip, the transition)
    whose layers are unchanged and whose input is the unpruned model's compute what the
    unpruned model computed, so they are read from here instead of rerun: the levels
    before the pruned one, the convs before it in its block, and - pruning a tip, which
    feeds only the head - every other unit.  The caller sets ``changed`` (unit names, see
    ``YOLOv3FPN.unit_of``) before each pass.  Valid while the neck's weights change only
    by pruning, as in sensitivity analysis.
    """

    def __init__(self):
        self.outputs = {}
        self.changed = set()

    def run(self, unit, layer, inputs, clean):
        """``layer(inputs())`` for ``unit``, or its kept output -> (output, clean): clean
        when the unit is unchanged and its input was clean (the unpruned model's value)."""
        clean = clean and unit not in self.changed
        if clean and unit in self.outputs:
            return self.outputs[unit], True
        out = layer(inputs())
        if clean:
            self.outputs[unit] = out
        return out, clean


class YoloDetBlock(nn.Layer):
    def __init__(self, ch_in, channel, norm_decay=0., freeze_norm=False):
        super().__init__()
        if channel % 2:
            raise ValueError('YoloDetBlock: channel %d must be even' % channel)
        kw = dict(norm_decay=norm_decay, freeze_norm=freeze_norm)
        self.conv_module = nn.Sequential()
        spec = [('conv0', ch_in, channel, 1), ('conv1', channel, channel * 2, 3),
                ('conv2', channel * 2, channel, 1), ('conv3', channel, channel * 2, 3),
                ('route', channel * 2, channel, 1)]
        for name, c_in, c_out, k in spec:
            self.conv_module.add_sublayer(name, ConvBNLayer(c_in, c_out, k, **kw))
        self.tip = ConvBNLayer(channel, channel * 2, 3, **kw)

    def forward(self, x):
        route = self.conv_module(x)
        return route, self.tip(route)


@register
class YOLOv3FPN(nn.Layer):
    """YOLOv3 neck; ``out_channels`` are the tip widths (stride 32 first)."""
    __shared__ = ['norm_type']

    def __init__(self, in_channels=None, base_channel=512, norm_decay=0., freeze_norm=False,
                 norm_type='bn'):
        super().__init__()
        if norm_type not in ('bn', 'sync_bn'):
            raise ValueError('YOLOv3FPN: norm_type %r not supported (use bn)' % norm_type)
        self.base_channel = base_channel
        self._kw = dict(norm_decay=norm_decay, freeze_norm=freeze_norm)
        self.out_channels = None
        build_if_given(self, in_channels)

    def build_layers(self, in_channels):
        """Create the sub-layers for backbone widths ``in_channels`` (stride 8 first)."""
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        self.in_channels = in_channels
        self.yolo_blocks, self.routes, self.out_channels = [], [], []
        for i, ch_in in enumerate(in_channels[::-1]):
            channel = self.base_channel // 2 ** i
            if i > 0:
                ch_in += channel  # the up-sampled transition of the level above
            self.yolo_blocks.append(self.add_sublayer(
                'yolo_block.%d' % i, YoloDetBlock(ch_in, channel, **self._kw)))
            self.out_channels.append(channel * 2)
            if i < len(in_channels) - 1:
                self.routes.append(self.add_sublayer(
                    'yolo_transition.%d' % i, ConvBNLayer(channel, channel // 2, 1, **self._kw)))

    def forward(self, feats, memo=None):
        """-> the tips, stride 32 first.  ``memo`` (a :class:`NeckMemo`; sensitivity
        analysis only) reuses the outputs of the units a probe leaves unchanged."""
        if memo is not None:
            return self._forward_with_memo(feats[::-1], memo)
        feats = feats[::-1]
        outs = []
        route = None
        for i, feat in enumerate(feats):
            if i > 0:
                feat = paddle.concat([route, feat], axis=1)
            route, tip = self.yolo_blocks[i](feat)
            outs.append(tip)
            if i < len(feats) - 1:
                route = F.interpolate(self.routes[i](route), scale_factor=2., mode='nearest')
        return outs

    def _forward_with_memo(self, feats, memo):
        """``forward`` unit by unit through ``memo``: same arithmetic, same outputs.  A
        unit's input is computed only when the unit runs (``memo.run`` takes a thunk)."""
        outs = []
        up, up_clean = None, True   # the up-sampled transition of the level above
        for i, feat in enumerate(feats):
            block = self.yolo_blocks[i]
            if i == 0:
                h_fn = lambda f=feat: f  # noqa: E731
            else:
                h_fn = lambda u=up, f=feat: paddle.concat([u, f], axis=1)  # noqa: E731
            clean = up_clean
            for name, layer in block.conv_module.named_children():
                h, clean = memo.run('yolo_block.%d.conv_module.%s' % (i, name), layer, h_fn,
                                    clean)
                h_fn = lambda v=h: v  # noqa: E731
            tip, _ = memo.run('yolo_block.%d.tip' % i, block.tip, h_fn, clean)
            outs.append(tip)
            if i < len(feats) - 1:
                up, up_clean = memo.run(
                    'yolo_transition.%d' % i,
                    lambda r, t=self.routes[i]: F.interpolate(t(r), scale_factor=2.,
                                                              mode='nearest'),
                    h_fn, clean)
        return outs

    def unit_of(self, name):
        """The unit (a :class:`NeckMemo` key: ``yolo_block.1.conv_module.conv2``,
        ``yolo_block.1.tip`` or ``yolo_transition.1``) a parameter name inside the neck
        (e.g. ``yolo_block.1.tip.conv.weight``) belongs to."""
        parts = name.split('.')
        if parts[0] == 'yolo_transition' and len(parts) > 2:
            return '.'.join(parts[:2])
        if parts[0] == 'yolo_block' and len(parts) > 3 and parts[2] == 'tip':
            return '.'.join(parts[:3])
        if parts[0] == 'yolo_block' and len(parts) > 4 and parts[2] == 'conv_module':
            return '.'.join(parts[:4])
        raise ValueError('%r is not a parameter of a YOLOv3FPN unit' % name)

    def seed_conv_layers(self):
        """OrderedDict seed name ('yolo_block.0.0.0') -> the ConvBNLayer, i-major."""
        layers = collections.OrderedDict()
        for i, block in enumerate(self.yolo_blocks):
            for suffix, path in SEED_NAMES.items():
                layer = block
                for part in path.split('.'):
                    layer = layer._sub_layers[part]
                layers['yolo_block.%d.%s' % (i, suffix)] = layer
        return layers
