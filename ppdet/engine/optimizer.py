"""Learning-rate schedules and optimizers from the ``LearningRate`` / ``OptimizerBuilder``
sections, every piece a registered component (as in PaddleDetection 2.x).

``LearningRate.schedulers`` lists ``{name: <registered schedule>, ...args}``: one decay
(``PiecewiseDecay``, ``CosineDecay``) and optionally a ``LinearWarmup`` around it.
Milestones and cosine lengths are in epochs (PaddleDetection style) and converted to
iterations with the loader's length; warm-up is in iterations (``steps``) or epochs
(``epochs``).  ``OptimizerBuilder.optimizer.type`` names a registered optimizer
(``Momentum``, ``SGD``, ``Adam``, ``AdamW``); a new schedule or optimizer is one more
registered class, nothing else.
"""
import inspect
import math

import paddle

from ppdet.core.config_checks import SECTION_NUMBERS
from ppdet.core.workspace import (ConfigError, checked_number, create, did_you_mean,
                                  get_registered, register)
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['build_lr', 'build_optimizer', 'LRSchedule', 'OptimizerSpec', 'PiecewiseDecay',
           'CosineDecay', 'LinearWarmup', 'Momentum', 'SGD', 'Adam', 'AdamW']


def _kinds(base):
    return sorted(n for n, c in get_registered().items()
                  if isinstance(c, type) and issubclass(c, base) and c is not base)


def _create_kind(base, name, args, what):
    cls = get_registered().get(name)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        names = _kinds(base)
        raise ConfigError('unknown %s %r%s (valid: %s)' % (what, name, did_you_mean(name, names),
                                                           ', '.join(names)))
    return create(name, None, **args)


# -- learning rate ------------------------------------------------------------------
class LRSchedule(object):
    """A decay: ``__call__(base_lr, steps_per_epoch, epochs)`` -> Paddle LR or float; one
    that also takes ``warmup_steps`` is given the ramp before it (Paddle's ``LinearWarmup``
    starts the decay when the ramp ends)."""
    is_warmup = False

    def __call__(self, base_lr, steps_per_epoch, epochs, warmup_steps=0):
        raise NotImplementedError


@register
class PiecewiseDecay(LRSchedule):
    """``base_lr * gamma**i`` after the i-th milestone (epochs)."""

    def __init__(self, gamma=0.1, milestones=()):
        self.gamma = float(gamma)
        self.milestones = list(milestones or [])

    def __call__(self, base_lr, steps_per_epoch, epochs, warmup_steps=0):
        miles = [int(m * steps_per_epoch) for m in self.milestones]
        values = [base_lr * self.gamma ** i for i in range(len(miles) + 1)]
        return paddle.optimizer.lr.PiecewiseDecay(boundaries=miles, values=values)


@register
class CosineDecay(LRSchedule):
    """Cosine from ``base_lr`` to ``base_lr * min_lr_ratio`` over ``max_epochs`` (default:
    the training's epochs), less a warm-up's steps: Paddle's ``LinearWarmup`` starts the
    wrapped schedule when the ramp ends, so a cosine over all the steps stopped short of its
    minimum (a 60-step run with a 40-step ramp ended at 0.75 of the way down)."""

    def __init__(self, max_epochs=None, min_lr_ratio=0.0):
        self.max_epochs = max_epochs
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, base_lr, steps_per_epoch, epochs, warmup_steps=0):
        max_epochs = self.max_epochs if self.max_epochs is not None else epochs
        return paddle.optimizer.lr.CosineAnnealingDecay(
            learning_rate=base_lr,
            T_max=max(1, int(max_epochs * steps_per_epoch) - int(warmup_steps)),
            eta_min=base_lr * self.min_lr_ratio)


@register
class LinearWarmup(LRSchedule):
    """Linear ramp from ``base_lr * start_factor`` over ``steps`` iterations (or ``epochs``)
    before the decay it wraps."""
    is_warmup = True

    def __init__(self, steps=None, epochs=None, start_factor=0.0):
        self.steps, self.epochs, self.start_factor = steps, epochs, float(start_factor)

    def ramp_steps(self, steps_per_epoch):
        if self.steps is not None:
            return int(self.steps)
        return int((1 if self.epochs is None else self.epochs) * steps_per_epoch)

    def wrap(self, lr, base_lr, steps_per_epoch):
        steps = self.ramp_steps(steps_per_epoch)
        if steps <= 0:
            return lr
        return paddle.optimizer.lr.LinearWarmup(learning_rate=lr, warmup_steps=int(steps),
                                                start_lr=base_lr * self.start_factor,
                                                end_lr=base_lr)


def _base_lr(spec):
    """``LearningRate.base_lr`` as a float > 0 (0 trains nothing, and Paddle's warm-up
    fails on it with an AssertionError), or a ConfigError naming it."""
    value = spec.get('base_lr')
    try:
        if isinstance(value, bool):
            raise ValueError
        base_lr = float(value)
    except (TypeError, ValueError):
        base_lr = None
    if base_lr is None or not math.isfinite(base_lr) or base_lr <= 0:
        raise ConfigError('LearningRate.base_lr must be a number > 0, got %r; e.g. '
                          '-o LearningRate.base_lr=0.001' % (value,))
    return base_lr


def build_lr(cfg, steps_per_epoch, epochs):
    spec = cfg.get('LearningRate') or {'base_lr': 0.001, 'schedulers': []}
    base_lr = _base_lr(spec)
    decay, warmup = None, None
    for entry in spec.get('schedulers', []) or []:
        entry = dict(entry)
        sched = _create_kind(LRSchedule, entry.pop('name', None), entry,
                             'LearningRate scheduler')
        if sched.is_warmup:
            warmup = sched
        else:
            decay = sched
    if decay is None:
        lr = base_lr
    else:
        # the ramp's length, to a decay that takes it (a plugin's may not)
        kw = {}
        if warmup is not None and 'warmup_steps' in inspect.signature(decay.__call__).parameters:
            kw['warmup_steps'] = max(0, warmup.ramp_steps(steps_per_epoch))
        lr = decay(base_lr, steps_per_epoch, epochs, **kw)
    if warmup is not None:
        _say_long_warmup(warmup.ramp_steps(steps_per_epoch), steps_per_epoch * int(epochs),
                         base_lr, warmup.start_factor)
        return warmup.wrap(lr, base_lr, steps_per_epoch)
    return lr


def _say_long_warmup(ramp, total, base_lr, start_factor):
    """A warm-up longer than the run never reaches base_lr (an audit: a 40-step ramp over a
    4-step run ended at lr 0.00057 of 0.002): say so once, with the LR it ends at."""
    if total <= 0 or ramp < total:
        return
    last = base_lr * (start_factor + (1 - start_factor) * (total - 1) / float(ramp))
    logger.warning('LinearWarmup ramps over %d steps but the run trains %d: the learning rate '
                   'never reaches base_lr %g (it ends at %.3g); shorten the warm-up (steps / '
                   'epochs of LinearWarmup in LearningRate.schedulers) or train longer',
                   ramp, total, base_lr, last)


# -- optimizers ---------------------------------------------------------------------
class OptimizerSpec(object):
    """A registered optimizer: ``build(lr, params, weight_decay, grad_clip)``."""
    paddle_cls = None

    def kwargs(self):
        return {}

    def build(self, lr, params, weight_decay, grad_clip):
        return self.paddle_cls(learning_rate=lr, parameters=params, weight_decay=weight_decay,
                               grad_clip=grad_clip, **self.kwargs())


@register
class Momentum(OptimizerSpec):
    paddle_cls = paddle.optimizer.Momentum

    def __init__(self, momentum=0.9, use_nesterov=False):
        self.momentum, self.use_nesterov = float(momentum), bool(use_nesterov)

    def kwargs(self):
        return {'momentum': self.momentum, 'use_nesterov': self.use_nesterov}


@register
class SGD(OptimizerSpec):
    paddle_cls = paddle.optimizer.SGD


@register
class RMSProp(OptimizerSpec):
    """PaddleDetection's BlazeFace optimizer (fluid ``RMSPropOptimizer`` defaults)."""
    paddle_cls = paddle.optimizer.RMSProp

    def __init__(self, rho=0.95, epsilon=1e-6, momentum=0.0, centered=False):
        self.rho, self.epsilon = float(rho), float(epsilon)
        self.momentum, self.centered = float(momentum), bool(centered)

    def kwargs(self):
        return {'rho': self.rho, 'epsilon': self.epsilon, 'momentum': self.momentum,
                'centered': self.centered}


@register
class Adam(OptimizerSpec):
    paddle_cls = paddle.optimizer.Adam

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def kwargs(self):
        return {'beta1': self.beta1, 'beta2': self.beta2, 'epsilon': self.epsilon}


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (its own ``weight_decay``, not a regularizer)."""
    paddle_cls = paddle.optimizer.AdamW

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01):
        super().__init__(beta1, beta2, epsilon)
        self.weight_decay = float(weight_decay)

    def build(self, lr, params, weight_decay, grad_clip):
        if weight_decay is not None:
            raise ConfigError('AdamW decays the weights itself: set OptimizerBuilder.optimizer.'
                              'weight_decay and drop OptimizerBuilder.regularizer')
        return self.paddle_cls(learning_rate=lr, parameters=params,
                               weight_decay=self.weight_decay, grad_clip=grad_clip,
                               **self.kwargs())


def _setting(value, *path):
    """``value`` of ``OptimizerBuilder.<path>``, checked as the config loader checks it
    (:data:`~ppdet.core.config_checks.SECTION_NUMBERS`): a config made in code is checked too."""
    key = ('OptimizerBuilder',) + path
    low, above, null, example = SECTION_NUMBERS[key]
    return checked_number('.'.join(key), value, low, above, null, example)


def build_optimizer(cfg, params, lr):
    spec = cfg.get('OptimizerBuilder') or {}
    opt = dict(spec.get('optimizer') or {'type': 'Momentum', 'momentum': 0.9})
    builder = _create_kind(OptimizerSpec, opt.pop('type', 'Momentum'), opt, 'optimizer type')
    reg = spec.get('regularizer')
    weight_decay = None
    if reg:
        if reg.get('type', 'L2') != 'L2':
            raise ValueError('only L2 regularizer is supported, got %r' % reg.get('type'))
        weight_decay = paddle.regularizer.L2Decay(
            _setting(reg.get('factor', 0.0), 'regularizer', 'factor'))
    # a negative max_norm flips the gradient (ClipGradByGlobalNorm scales by max_norm /
    # max(norm, max_norm)): -1 trained uphill
    clip = _setting(spec.get('clip_grad_by_norm'), 'clip_grad_by_norm')
    grad_clip = paddle.nn.ClipGradByGlobalNorm(clip) if clip is not None else None
    params = [p for p in params if not p.stop_gradient]
    return builder.build(lr, params, weight_decay, grad_clip)
