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

__all__ = ['YOLOv3FPN', 'YoloDetBlock', 'LevelMemo', 'SEED_NAMES']

# seed (PaddleDetection 1.x) conv suffix -> sub-layer path inside a yolo_block
SEED_NAMES = collections.OrderedDict([
    ('0.0', 'conv_module.conv0'), ('0.1', 'conv_module.conv1'),
    ('1.0', 'conv_module.conv2'), ('1.1', 'conv_module.conv3'),
    ('2', 'conv_module.route'), ('tip', 'tip'),
])


class LevelMemo(object):
    """One batch's neck level outputs, kept between sensitivity probes.

    A probe prunes one conv; the levels before the first level it changes compute what
    the unpruned model computed, so they are read from here instead of rerun.  The caller
    sets ``first_changed`` before each pass (the number of levels when nothing changed).
    Valid while the neck's weights change only by pruning, as in sensitivity analysis.
    """

    def __init__(self):
        self.levels = {}
        self.first_changed = 0


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
        """-> the tips, stride 32 first.  ``memo`` (a :class:`LevelMemo`, sensitivity
        analysis only): levels below ``memo.first_changed`` are read from it (or computed
        and kept there): their layers and inputs are the unpruned model's."""
        feats = feats[::-1]
        outs = []
        route = None
        for i, feat in enumerate(feats):
            if memo is not None and i < memo.first_changed and i in memo.levels:
                route, tip = memo.levels[i]
                outs.append(tip)
                continue
            if i > 0:
                feat = paddle.concat([route, feat], axis=1)
            route, tip = self.yolo_blocks[i](feat)
            outs.append(tip)
            if i < len(feats) - 1:
                route = F.interpolate(self.routes[i](route), scale_factor=2., mode='nearest')
            if memo is not None and i < memo.first_changed:
                memo.levels[i] = (route, tip)
        return outs

    def level_of(self, name):
        """The level (0 = stride 32) whose output a parameter (a name inside the neck, e.g.
        ``yolo_block.1.tip.conv.weight``) shapes; later levels depend on it too."""
        parts = name.split('.')
        if parts[0] in ('yolo_block', 'yolo_transition'):
            return int(parts[1])
        raise ValueError('%r is not a parameter of a YOLOv3FPN level' % name)

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
