"""Blocks shared by the mobile backbones (MobileNetV3, EfficientNet): conv + BN + activation,
squeeze-and-excitation, the width rounding rule, and picking the stage outputs."""
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.modeling.ops import norm_attrs

__all__ = ['make_divisible', 'ConvBNAct', 'SqueezeExcite', 'activation', 'stage_ends',
           'STAGE_STRIDES']

# the strides return_idx indexes (as ResNet's: [1, 2, 3] -> strides 8, 16, 32)
STAGE_STRIDES = (4, 8, 16, 32)


def make_divisible(value, divisor=8, min_value=None):
    """Round a width to a multiple of ``divisor``, never more than 10% below ``value``
    (the rule of the MobileNet / EfficientNet reference code)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2.) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def activation(name, x):
    if name is None:
        return x
    if name == 'relu':
        return F.relu(x)
    if name == 'hardswish':
        return F.hardswish(x)
    if name == 'swish':
        return F.swish(x)
    raise ValueError('unknown activation %r (use relu, hardswish, swish or None)' % name)


class ConvBNAct(nn.Layer):
    """conv (no bias) + BatchNorm2D (``freeze_norm``: running statistics, frozen affine)
    + activation.  Sub-layers ``conv`` and ``bn``."""

    def __init__(self, ch_in, ch_out, kernel, stride=1, groups=1, act='relu',
                 norm_decay=0., freeze_norm=False):
        super().__init__()
        self.conv = nn.Conv2D(ch_in, ch_out, kernel, stride=stride, padding=(kernel - 1) // 2,
                              groups=groups, bias_attr=False)
        w_attr, b_attr = norm_attrs(norm_decay, lr=0. if freeze_norm else 1.,
                                    trainable=not freeze_norm)
        self.bn = nn.BatchNorm2D(ch_out, weight_attr=w_attr, bias_attr=b_attr,
                                 use_global_stats=True if freeze_norm else None)
        self.act = act

    def forward(self, x):
        return activation(self.act, self.bn(self.conv(x)))


class SqueezeExcite(nn.Layer):
    """x * gate(conv2(act(conv1(mean_hw(x))))); the 1x1 convs have biases."""

    def __init__(self, channels, squeeze, act='relu', gate='hardsigmoid'):
        super().__init__()
        self.conv1 = nn.Conv2D(channels, squeeze, 1)
        self.conv2 = nn.Conv2D(squeeze, channels, 1)
        self.act, self.gate = act, gate

    def forward(self, x):
        s = activation(self.act, self.conv1(F.adaptive_avg_pool2d(x, 1)))
        s = self.conv2(s)
        s = F.hardsigmoid(s) if self.gate == 'hardsigmoid' else F.sigmoid(s)
        return x * s


def stage_ends(strides, return_idx, name):
    """Indices of the blocks that end the stride-4/8/16/32 stages picked by ``return_idx``
    (``strides``: each block's output stride, in order)."""
    return_idx = [int(i) for i in ([return_idx] if isinstance(return_idx, int) else return_idx)]
    bad = [i for i in return_idx if not 0 <= i < len(STAGE_STRIDES)]
    if bad or not return_idx or return_idx != sorted(set(return_idx)):
        raise ValueError('%s: return_idx %s must be increasing indices into the strides %s '
                         '(e.g. [1, 2, 3] for strides 8, 16, 32)' % (
                             name, return_idx, list(STAGE_STRIDES)))
    ends = []
    for i in return_idx:
        s = STAGE_STRIDES[i]
        ends.append(max(j for j, st in enumerate(strides) if st == s))
    return return_idx, ends
