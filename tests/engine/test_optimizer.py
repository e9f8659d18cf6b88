"""LR schedules and optimizers come from the registry; their values at known steps."""
import math
import re

import paddle
import pytest

from ppdet.core.workspace import ConfigError, register
from ppdet.engine.optimizer import LRSchedule, build_lr, build_optimizer


def _lrs(lr, n):
    out = []
    for _ in range(n):
        out.append(lr() if callable(lr) else lr)
        if isinstance(lr, paddle.optimizer.lr.LRScheduler):
            lr.step()
    return out


def test_piecewise_with_warmup_values():
    cfg = {'LearningRate': {'base_lr': 0.1, 'schedulers': [
        {'name': 'PiecewiseDecay', 'gamma': 0.1, 'milestones': [2, 3]},
        {'name': 'LinearWarmup', 'start_factor': 0.0, 'steps': 4}]}}
    got = _lrs(build_lr(cfg, steps_per_epoch=5, epochs=4), 20)
    # Paddle's LinearWarmup starts the wrapped decay after the ramp (as in PaddleDetection),
    # so the milestones at steps 10 and 15 take effect 4 steps later
    assert got[:4] == pytest.approx([0.0, 0.025, 0.05, 0.075])
    assert got[4:14] == pytest.approx([0.1] * 10)
    assert got[14:19] == pytest.approx([0.01] * 5)
    assert got[19] == pytest.approx(0.001)


def test_cosine_ends_at_min_ratio():
    cfg = {'LearningRate': {'base_lr': 0.2, 'schedulers': [
        {'name': 'CosineDecay', 'min_lr_ratio': 0.1}]}}
    got = _lrs(build_lr(cfg, steps_per_epoch=10, epochs=2), 21)
    assert got[0] == pytest.approx(0.2)
    assert got[10] == pytest.approx(0.02 + 0.18 * (1 + math.cos(math.pi / 2)) / 2)
    assert got[20] == pytest.approx(0.02)


def test_cosine_after_a_warmup_still_ends_at_min_ratio():
    """The ramp's steps come off the cosine: it used to span every step but start after the
    ramp, so a short run ended far above its minimum (60 steps, 40 of ramp: at 0.75)."""
    cfg = {'LearningRate': {'base_lr': 0.2, 'schedulers': [
        {'name': 'CosineDecay', 'min_lr_ratio': 0.1},
        {'name': 'LinearWarmup', 'start_factor': 0.0, 'steps': 4}]}}
    got = _lrs(build_lr(cfg, steps_per_epoch=10, epochs=2), 21)
    assert got[:4] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert got[4] == pytest.approx(0.2)
    assert got[12] == pytest.approx(0.02 + 0.18 * (1 + math.cos(math.pi / 2)) / 2)
    assert got[20] == pytest.approx(0.02)


def test_optimizer_types_and_unknown_names():
    params = paddle.nn.Linear(2, 2).parameters()
    l2 = {'type': 'L2', 'factor': 1e-4}
    for kind, cls in (('Momentum', paddle.optimizer.Momentum), ('SGD', paddle.optimizer.SGD),
                      ('Adam', paddle.optimizer.Adam)):
        opt = build_optimizer({'OptimizerBuilder': {'optimizer': {'type': kind},
                                                    'regularizer': l2}}, params, 0.1)
        assert type(opt) is cls
    opt = build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'AdamW',
                                                              'weight_decay': 0.05}}}, params, 0.1)
    assert type(opt) is paddle.optimizer.AdamW
    with pytest.raises(ConfigError, match='AdamW decays the weights itself'):
        build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'AdamW'},
                                              'regularizer': l2}}, params, 0.1)
    with pytest.raises(ConfigError, match="unknown optimizer type 'Momentun'; did you mean "
                                          "'Momentum'"):
        build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'Momentun'}}}, params, 0.1)
    with pytest.raises(ConfigError, match="unknown argument 'momentun' for Momentum"):
        build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'Momentum',
                                                            'momentun': 0.9}}}, params, 0.1)
    with pytest.raises(ConfigError, match="unknown LearningRate scheduler 'CosineDecy'; did "
                                          "you mean 'CosineDecay'"):
        build_lr({'LearningRate': {'base_lr': 0.1, 'schedulers': [{'name': 'CosineDecy'}]}},
                 10, 1)
    # a registered class that is not a schedule is not accepted as one
    with pytest.raises(ConfigError, match="unknown LearningRate scheduler 'Momentum'"):
        build_lr({'LearningRate': {'base_lr': 0.1, 'schedulers': [{'name': 'Momentum'}]}}, 10, 1)


def test_a_registered_schedule_plugs_in():
    @register
    class HalvingDecay(LRSchedule):
        def __init__(self, every=1):
            self.every = every

        def __call__(self, base_lr, steps_per_epoch, epochs):
            return paddle.optimizer.lr.StepDecay(base_lr, self.every * steps_per_epoch, 0.5)

    cfg = {'LearningRate': {'base_lr': 1.0, 'schedulers': [{'name': 'HalvingDecay'}]}}
    assert _lrs(build_lr(cfg, steps_per_epoch=2, epochs=3), 6) == [1, 1, .5, .5, .25, .25]


def _one_step(clip):
    """w after one SGD step (lr 0.1) on w**2 from w=1, built by build_optimizer."""
    w = paddle.create_parameter([1], 'float32',
                                default_initializer=paddle.nn.initializer.Constant(1.0))
    opt = build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'SGD'},
                                                'clip_grad_by_norm': clip}}, [w], 0.1)
    (w * w).sum().backward()
    opt.step()
    return float(w)


def test_clip_grad_by_norm_must_be_positive():
    """Paddle's ClipGradByGlobalNorm(-1) flips the gradient: w went 1 -> 1.1, uphill, with
    no word; 'abc' failed with "could not convert string to float" naming no key."""
    assert _one_step(10.0) == pytest.approx(0.8)
    assert _one_step('1e1') == pytest.approx(0.8)        # YAML 1.1 reads 1e1 as a string
    assert _one_step(1.0) == pytest.approx(0.9)          # the gradient 2 clipped to 1
    assert _one_step(None) == pytest.approx(0.8)         # null: no clipping
    for bad in (-1, 0, 'abc', float('nan'), True):
        with pytest.raises(ConfigError, match=r"^OptimizerBuilder.clip_grad_by_norm must be a "
                                              r"number > 0, or null for no clipping; got %s "
                                              r"\(e.g. -o OptimizerBuilder.clip_grad_by_norm="
                                              r"10.0\)$" % re.escape(repr(bad))):
            _one_step(bad)


def test_regularizer_factor_must_be_a_number_not_below_zero():
    params = paddle.nn.Linear(2, 2).parameters()

    def build(factor):
        reg = {'type': 'L2', 'factor': factor}
        return build_optimizer({'OptimizerBuilder': {'optimizer': {'type': 'SGD'},
                                                     'regularizer': reg}}, params, 0.1)
    assert build(0.0001).regularization._coeff == pytest.approx(0.0001)
    assert build('1e-4').regularization._coeff == pytest.approx(0.0001)
    assert build(0).regularization._coeff == 0
    for bad in (-0.0001, 'abc', None):
        with pytest.raises(ConfigError, match=r"^OptimizerBuilder.regularizer.factor must be a "
                                              r"number >= 0; got %s" % re.escape(repr(bad))):
            build(bad)


def test_a_warmup_longer_than_the_run_is_said(ppdet_log):
    """A 40-step ramp over a 4-step run never reached base_lr, without a word (an audit)."""
    cfg = {'LearningRate': {'base_lr': 0.002, 'schedulers': [
        {'name': 'CosineDecay'}, {'name': 'LinearWarmup', 'start_factor': 0.1, 'steps': 40}]}}
    got = _lrs(build_lr(cfg, steps_per_epoch=2, epochs=2), 4)
    assert ('LinearWarmup ramps over 40 steps but the run trains 4: the learning rate never '
            'reaches base_lr 0.002 (it ends at %.3g)' % got[-1]) in ppdet_log.text
    ppdet_log.messages.clear()
    build_lr(cfg, steps_per_epoch=20, epochs=3)         # 60 steps: the ramp ends in time
    assert 'LinearWarmup ramps' not in ppdet_log.text
