"""Learning-rate schedules and optimizers from the ``LearningRate`` / ``OptimizerBuilder`` sections.

Milestones and cosine lengths are given in epochs (PaddleDetection style) and
converted to iterations with the loader's length; warm-up is in iterations
(``steps``) or epochs (``epochs``).
"""
import paddle

_VALID_SCHEDULERS = ('PiecewiseDecay', 'CosineDecay', 'LinearWarmup')
_VALID_OPTIMIZERS = ('Momentum', 'SGD', 'Adam', 'AdamW')


def build_lr(cfg, steps_per_epoch, epochs):
    spec = cfg.get('LearningRate') or {'base_lr': 0.001, 'schedulers': []}
    base_lr = float(spec['base_lr'])
    sched, warmup = None, None
    for s in spec.get('schedulers', []) or []:
        s = dict(s)
        name = s.pop('name', None)
        if name not in _VALID_SCHEDULERS:
            raise ValueError('unknown LearningRate scheduler %r (valid: %s)' % (
                name, ', '.join(_VALID_SCHEDULERS)))
        if name == 'PiecewiseDecay':
            gamma = s.get('gamma', 0.1)
            miles = [int(m * steps_per_epoch) for m in s.get('milestones', [])]
            values = [base_lr * gamma ** i for i in range(len(miles) + 1)]
            sched = paddle.optimizer.lr.PiecewiseDecay(boundaries=miles, values=values)
        elif name == 'CosineDecay':
            max_epochs = s.get('max_epochs', epochs)
            sched = paddle.optimizer.lr.CosineAnnealingDecay(
                learning_rate=base_lr, T_max=max(1, int(max_epochs * steps_per_epoch)),
                eta_min=base_lr * s.get('min_lr_ratio', 0.0))
        else:
            warmup = s
    lr = sched if sched is not None else base_lr
    if warmup is not None:
        steps = warmup.get('steps')
        if steps is None:
            steps = int(warmup.get('epochs', 1) * steps_per_epoch)
        if steps > 0:
            lr = paddle.optimizer.lr.LinearWarmup(
                learning_rate=lr, warmup_steps=int(steps),
                start_lr=base_lr * warmup.get('start_factor', 0.0), end_lr=base_lr)
    return lr


def build_optimizer(cfg, params, lr):
    spec = cfg.get('OptimizerBuilder') or {}
    opt = dict(spec.get('optimizer') or {'type': 'Momentum', 'momentum': 0.9})
    kind = opt.pop('type', 'Momentum')
    if kind not in _VALID_OPTIMIZERS:
        raise ValueError('unknown optimizer type %r (valid: %s)' % (kind, ', '.join(_VALID_OPTIMIZERS)))
    reg = spec.get('regularizer')
    weight_decay = None
    if reg:
        if reg.get('type', 'L2') != 'L2':
            raise ValueError('only L2 regularizer is supported, got %r' % reg.get('type'))
        weight_decay = paddle.regularizer.L2Decay(float(reg.get('factor', 0.0)))
    clip = spec.get('clip_grad_by_norm')
    grad_clip = paddle.nn.ClipGradByGlobalNorm(clip) if clip else None
    params = [p for p in params if not p.stop_gradient]
    if kind == 'Momentum':
        return paddle.optimizer.Momentum(learning_rate=lr, parameters=params,
                                         weight_decay=weight_decay, grad_clip=grad_clip, **opt)
    if kind == 'SGD':
        return paddle.optimizer.SGD(learning_rate=lr, parameters=params,
                                    weight_decay=weight_decay, grad_clip=grad_clip, **opt)
    cls = paddle.optimizer.Adam if kind == 'Adam' else paddle.optimizer.AdamW
    return cls(learning_rate=lr, parameters=params, weight_decay=weight_decay,
               grad_clip=grad_clip, **opt)
