"""The conv tower of a dense head (RetinaNet, FCOS): ``num_convs`` 3x3 convs shared by every
pyramid level, each followed by a norm and ReLU.

``norm_per_level`` keeps one norm per level after each shared conv (the seed's "Head-BN":
the levels' feature statistics differ, so sharing the conv but not the BN statistics is
what makes BN in a shared head work); otherwise one norm serves every level.  ``norm_type``
as :func:`ppdet.modeling.norms.build_norm` (None: conv with bias, no norm).  Sub-layers:
``convs.{k}`` and ``norms.{k}.{level}`` (level 0 only when shared).
"""
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal

from ppdet.modeling.norms import build_norm, norm_includes_act

__all__ = ['DenseTower']


class DenseTower(nn.Layer):
    def __init__(self, ch_in, channels, num_convs=4, norm_type=None, norm_per_level=False,
                 num_levels=5, norm_groups=32, init_std=0.01):
        super().__init__()
        self.norm_per_level = bool(norm_per_level)
        self.relu = not norm_includes_act(norm_type)
        self.convs = nn.LayerList()
        self.norms = nn.LayerList()
        for k in range(int(num_convs)):
            self.convs.append(nn.Conv2D(
                ch_in if k == 0 else channels, channels, 3, padding=1,
                weight_attr=ParamAttr(initializer=Normal(0., init_std)),
                bias_attr=ParamAttr(initializer=Constant(0.)) if norm_type is None else False))
            if norm_type is not None:
                n = int(num_levels) if self.norm_per_level else 1
                self.norms.append(nn.LayerList([build_norm(norm_type, channels, norm_groups)
                                                for _ in range(n)]))

    def _per_level_norm(self, norm, x):
        # Paddle Inference's conv_bn_fuse_pass folds a BN into the weights of the conv before
        # it, once per conv op: with one conv shared by several levels, each level's BN would
        # be folded into the same weights (exported outputs went wrong by up to 0.9 in
        # score).  A reshape between them keeps the pattern from matching; it costs nothing,
        # and PaddleSlim still finds the BNs when it prunes the conv.
        h, w = x.shape[2], x.shape[3]
        return norm(x.reshape([0, 0, -1, 1])).reshape([0, 0, h, w])

    def forward(self, x, level):
        for k, conv in enumerate(self.convs):
            x = conv(x)
            if len(self.norms) and self.norm_per_level:
                x = self._per_level_norm(self.norms[k][level], x)
            elif len(self.norms):
                x = self.norms[k][0](x)
            if self.relu:
                x = F.relu(x)
        return x
