"""The conv tower of a dense head (RetinaNet, FCOS): ``num_convs`` 3x3 convs shared by every
pyramid level, each followed by a norm and ReLU.

``norm_per_level`` keeps one norm per level after each shared conv (the seed's "Head-BN":
the levels' feature statistics differ, so sharing the conv but not the BN statistics is
what makes BN in a shared head work); otherwise one norm serves every level.  ``norm_type``
as :func:`ppdet.modeling.norms.build_norm` (None: conv with bias, no norm).  Sub-layers:
``convs.{k}`` and ``norms.{k}.{level}`` (level 0 only when shared).

``separable=True`` makes each 3x3 conv depthwise-separable, as EfficientDet's class / box
nets (Tan et al. 2020, Sec. 3.3): a 3x3 depthwise conv ``dw_convs.{k}`` (no bias) then the
1x1 ``convs.{k}``, both shared by the levels.  ``act``: 'relu' (RetinaNet, FCOS) or
'swish' (EfficientDet); none after EvoNorm-S0, which is its own activation.
"""
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal

from ppdet.modeling.norms import build_norm, norm_includes_act

__all__ = ['DenseTower', 'ACTS']

ACTS = ('relu', 'swish')


class DenseTower(nn.Layer):
    def __init__(self, ch_in, channels, num_convs=4, norm_type=None, norm_per_level=False,
                 num_levels=5, norm_groups=32, init_std=0.01, separable=False, act='relu'):
        super().__init__()
        if act not in ACTS:
            raise ValueError('DenseTower act must be one of %s, got %r' % (ACTS, act))
        self.norm_per_level = bool(norm_per_level)
        self.act = None if norm_includes_act(norm_type) else act
        self.separable = bool(separable)
        self.convs = nn.LayerList()
        self.dw_convs = nn.LayerList()
        self.norms = nn.LayerList()
        for k in range(int(num_convs)):
            c_in = ch_in if k == 0 else channels
            if self.separable:
                self.dw_convs.append(nn.Conv2D(
                    c_in, c_in, 3, padding=1, groups=c_in, bias_attr=False,
                    weight_attr=ParamAttr(initializer=Normal(0., init_std))))
            self.convs.append(nn.Conv2D(
                c_in, channels, 1 if self.separable else 3, padding=0 if self.separable else 1,
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
            if self.separable:
                x = self.dw_convs[k](x)
            x = conv(x)
            if len(self.norms) and self.norm_per_level:
                x = self._per_level_norm(self.norms[k][level], x)
            elif len(self.norms):
                x = self.norms[k][0](x)
            if self.act is not None:
                x = F.relu(x) if self.act == 'relu' else F.swish(x)
        return x
