"""One place that turns a ``norm_type`` string into a normalization layer.

``build_norm(norm_type, channels)`` returns the layer (``None`` for ``norm_type=None``):

* ``'bn'``: ``BatchNorm2D``;  ``'frozen_bn'``: BN on its stored statistics with the affine
  parameters frozen (the usual detection backbone setting);
* ``'sync_bn'``: ``SyncBatchNorm`` (statistics over every device of a data-parallel run).
  Paddle registers its kernel only for GPUs: on a CPU build or a CPU device it falls back to
  ``BatchNorm2D`` with a logged warning.  The state-dict keys are the same, so checkpoints
  move between the two;
* ``'gn'``: ``GroupNorm`` with ``groups`` (32) clipped to the largest divisor of ``channels``;
* ``'evonorm_s0'``: EvoNorm-S0 (Liu et al. 2020, "Evolving Normalization-Activation
  Layers", arXiv:2004.02967): ``x * sigmoid(v * x) / group_std(x) * gamma + beta``.  It
  replaces normalization *and* activation: :func:`norm_includes_act` tells a conv block to
  skip its ReLU.
"""
import paddle
import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import Constant

from ppdet.modeling.ops import norm_attrs
from ppdet.utils.logger import setup_logger

__all__ = ['build_norm', 'norm_includes_act', 'EvoNormS0', 'ConvNorm', 'UNPRUNABLE_NORMS',
           'NORM_TYPES', 'group_count', 'norm_blocks_pruning']

NORM_TYPES = (None, 'bn', 'frozen_bn', 'sync_bn', 'gn', 'evonorm_s0')
logger = setup_logger(__name__)
_WARNED = set()


def group_count(channels, groups):
    """The largest g <= ``groups`` that divides ``channels`` (GroupNorm needs a divisor)."""
    g = max(1, min(int(groups), int(channels)))
    while channels % g:
        g -= 1
    return g


class EvoNormS0(nn.Layer):
    """EvoNorm-S0: ``x * sigmoid(v x) / sqrt(var_group(x) + eps) * gamma + beta``.

    The variance is over each group of channels and the spatial axes of one sample (no
    batch statistics, so it behaves the same at batch 1 and 64 and in train and eval).
    Parameter names ``weight`` / ``bias`` (gamma / beta) and ``v``, all of shape [1, C, 1, 1].
    """

    def __init__(self, channels, groups=32, eps=1e-5, norm_decay=0.):
        super().__init__()
        self.channels = int(channels)
        self.groups = group_count(self.channels, groups)
        self.eps = float(eps)
        w_attr, b_attr = norm_attrs(norm_decay)
        shape = [1, self.channels, 1, 1]
        self.weight = self.create_parameter(shape, attr=w_attr,
                                            default_initializer=Constant(1.))
        self.bias = self.create_parameter(shape, attr=b_attr, is_bias=True,
                                          default_initializer=Constant(0.))
        self.v = self.create_parameter(shape, attr=ParamAttr(initializer=Constant(1.)))

    def group_std(self, x):
        n, c, h, w = x.shape
        g = x.reshape([0, self.groups, -1])  # 0: keep the batch size (dynamic at export)
        var = paddle.var(g, axis=2, unbiased=False, keepdim=True)
        std = paddle.sqrt(var + self.eps)
        return paddle.expand(std, [g.shape[0], self.groups, c // self.groups]).reshape(
            [0, c, 1, 1])

    def forward(self, x):
        return x * paddle.nn.functional.sigmoid(self.v * x) / self.group_std(x) * self.weight \
            + self.bias


# norms PaddleSlim 2.6's pruner cannot shrink with the conv before them (its dependency
# graph has no rule for group_norm; removed channels would also change the group sizes)
UNPRUNABLE_NORMS = (nn.GroupNorm, EvoNormS0)


def norm_blocks_pruning(norm):
    """Why a conv before ``norm`` (one of UNPRUNABLE_NORMS) cannot be pruned."""
    name = type(norm).__name__
    return ('it feeds %s %s, which PaddleSlim 2.6 cannot prune with it (its channel dependency '
            'graph has no rule for group_norm); with norm_type bn (or none) the conv is '
            'prunable' % ('an' if name[0] in 'AEIOU' else 'a', name))


def _frozen_bn(channels, norm_decay):
    w_attr, b_attr = norm_attrs(norm_decay, lr=0., trainable=False)
    return nn.BatchNorm2D(channels, weight_attr=w_attr, bias_attr=b_attr, use_global_stats=True)


def _sync_bn(channels, norm_decay):
    w_attr, b_attr = norm_attrs(norm_decay)
    place = paddle.get_device()
    if paddle.is_compiled_with_cuda() and place.startswith('gpu'):
        return nn.SyncBatchNorm(channels, weight_attr=w_attr, bias_attr=b_attr)
    if place not in _WARNED:  # once per device, not once per layer
        _WARNED.add(place)
        logger.warning('norm_type sync_bn needs GPUs (Paddle has no CPU sync_batch_norm kernel); '
                       'device %s: using BatchNorm2D, which has the same parameters', place)
    return nn.BatchNorm2D(channels, weight_attr=w_attr, bias_attr=b_attr)


def build_norm(norm_type, channels, groups=32, norm_decay=0., eps=1e-5):
    """The normalization layer for ``norm_type`` (see the module docstring), or None."""
    if norm_type is None or norm_type == 'none':
        return None
    channels = int(channels)
    if norm_type == 'bn':
        w_attr, b_attr = norm_attrs(norm_decay)
        return nn.BatchNorm2D(channels, weight_attr=w_attr, bias_attr=b_attr)
    if norm_type == 'frozen_bn':
        return _frozen_bn(channels, norm_decay)
    if norm_type == 'sync_bn':
        return _sync_bn(channels, norm_decay)
    if norm_type == 'gn':
        w_attr, b_attr = norm_attrs(norm_decay)
        return nn.GroupNorm(group_count(channels, groups), channels, epsilon=eps,
                            weight_attr=w_attr, bias_attr=b_attr)
    if norm_type == 'evonorm_s0':
        return EvoNormS0(channels, groups=groups, eps=eps, norm_decay=norm_decay)
    raise ValueError('norm_type %r unknown; use one of %s' % (
        norm_type, ', '.join(repr(t) for t in NORM_TYPES)))


def norm_includes_act(norm_type):
    """True when the norm layer is also the activation (EvoNorm-S0): skip the ReLU after it."""
    return norm_type == 'evonorm_s0'


class ConvNorm(nn.Layer):
    """conv -> optional norm -> optional ReLU (``act='relu'``); EvoNorm-S0 is its own
    activation.  The conv has a bias only without a norm.  Sub-layers ``conv``, ``norm``."""

    def __init__(self, ch_in, ch_out, kernel=3, stride=1, norm_type=None, act=None, groups=32,
                 norm_decay=0., weight_init=None):
        super().__init__()
        attr = ParamAttr(initializer=weight_init) if weight_init is not None else None
        self.conv = nn.Conv2D(int(ch_in), int(ch_out), kernel, stride=stride,
                              padding=(kernel - 1) // 2, weight_attr=attr,
                              bias_attr=None if norm_type is None else False)
        self.norm = build_norm(norm_type, ch_out, groups=groups, norm_decay=norm_decay)
        self.act = None if norm_includes_act(norm_type) else act

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return paddle.nn.functional.relu(x) if self.act == 'relu' else x
