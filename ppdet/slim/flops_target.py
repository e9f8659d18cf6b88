"""Pruning ratios that remove a given share of the conv FLOPs.

* :func:`ratios_for_target_flops`: one ratio per parameter, read off its sensitivity
  curve (the sensitivity-derived plan, ``prune.py --target_flops``).
* :func:`uniform_ratio_for_target_flops`: one ratio for every named conv (the baseline a
  sensitivity-derived plan must beat).
* :func:`flops_cut`: the share of the conv FLOPs a ``{name: ratio}`` plan removes.

FLOPs are the conv multiply-accumulates (the seed's convention); every candidate plan
is measured by really pruning the model with PaddleSlim (so coupled BN, next-layer
inputs and depthwise groups shrink too) and restoring it, so the model is left as it
was.  A plan removes ``int(round(C * ratio))`` of a conv's C filters
(:func:`ppdet.slim.prune.kept_channels`): the search works on those filter counts and
returns ratios ``removed / C`` that give exactly them.

Tracing PaddleSlim's pruner takes seconds (3-9 s for the built-in YOLOv3), far more than a
search's prune-and-count steps: a caller making several plans for one model builds one
:class:`FlopsProbe` and passes it as ``probe=`` to every function here.
"""
import collections

from ppdet.slim.prune import (conv_macs, conv_output_pixels, kept_channels, make_pruner,
                              prunable_params, quiet_paddleslim, resolve_names)
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['ratios_for_target_flops', 'uniform_ratio_for_target_flops', 'flops_cut',
           'FlopsProbe']

THRESHOLD_STEPS = 60  # bisection steps on the loss threshold (2**-60 of its range)


class FlopsProbe(object):
    """The share of conv FLOPs that removing given filter counts takes from ``model``.

    ``cut({name: filters removed})`` prunes (PaddleSlim, traced once), counts and
    restores; results are cached by the counts.  Valid while the model keeps the shapes it
    had when the probe was made (checked on every use).
    """

    def __init__(self, model, input_size=None, criterion='l1_norm'):
        self.model = model
        self.params = prunable_params(model)
        self.channels = {n: int(p.shape[0]) for n, p in self.params.items()}
        self.pixels = conv_output_pixels(model, input_size)
        self.base = float(sum(conv_macs(self.pixels).values()))
        self.pruner = make_pruner(model, criterion, input_size)
        self._cache = {}

    def check(self, model):
        """Raise ValueError unless ``model`` is this probe's model, unpruned since."""
        if model is not self.model:
            raise ValueError('the FlopsProbe was made for another model: make one with '
                             'FlopsProbe(model, input_size) for this model')
        now = {n: int(p.shape[0]) for n, p in prunable_params(model).items()}
        if now != self.channels:
            raise ValueError('the model was pruned after its FlopsProbe was made: make a new '
                             'FlopsProbe for the pruned model')
        return self

    def ratio(self, name, removed):
        return removed / float(self.channels[name])

    def removed(self, name, ratio):
        return self.channels[name] - kept_channels(self.channels[name], ratio)

    def cut(self, removed):
        key = tuple(sorted((n, int(k)) for n, k in removed.items() if k > 0))
        if key not in self._cache:
            self._cache[key] = self._measure(dict(key))
        return self._cache[key]

    def _measure(self, removed):
        if not removed:
            return 0.0
        todo = {self.params[n].name: self.ratio(n, k) for n, k in removed.items()}
        with quiet_paddleslim():
            plan = self.pruner.prune_vars(todo, axis=0)
        try:
            got = {n: self.channels[n] - int(self.params[n].shape[0]) for n in removed}
            if got != removed:  # a ratio k/C that rounds to another k would be a bug here
                raise RuntimeError('PaddleSlim removed %s filters, asked for %s' % (got, removed))
            return (self.base - sum(conv_macs(self.pixels).values())) / self.base
        finally:
            plan.restore(self.model)


def _probe(model, input_size, criterion, probe):
    """``probe`` checked against ``model``, or a new one."""
    if probe is None:
        return FlopsProbe(model, input_size, criterion)
    return probe.check(model)


def flops_cut(model, ratios, input_size=None, criterion='l1_norm', probe=None):
    """Share of the conv FLOPs removed by pruning ``{name: ratio}`` (model left unchanged);
    ``probe``: a :class:`FlopsProbe` of ``model`` to reuse (then ``input_size`` and
    ``criterion`` are the probe's)."""
    probe = _probe(model, input_size, criterion, probe)
    names = resolve_names(model, list(ratios))
    return probe.cut({n: probe.removed(n, float(r)) for n, r in zip(names, ratios.values())})


def _check_target(target):
    target = float(target)
    if not 0 < target < 1:
        raise ValueError('target FLOPs fraction %r must be in (0, 1), e.g. 0.3 removes 30%% '
                         'of the FLOPs' % target)
    return target


# -- sensitivity-derived ratios -------------------------------------------------------
def _curve(losses):
    """Sorted [(ratio, loss)] starting at (0, 0), losses made non-decreasing."""
    pts = sorted((float(r), float(l)) for r, l in losses.items())
    out, worst = [(0.0, 0.0)], 0.0
    for r, l in pts:
        if r <= 0:
            continue
        worst = max(worst, l)
        out.append((r, worst))
    return out


def _ratio_at_loss(curve, loss):
    """Largest ratio whose (monotone) loss stays <= ``loss``, interpolated between probes;
    never beyond the largest probed ratio."""
    for i in range(len(curve) - 1, -1, -1):
        r0, l0 = curve[i]
        if l0 <= loss:
            if i == len(curve) - 1:
                return r0
            r1, l1 = curve[i + 1]
            return r0 + (loss - l0) * (r1 - r0) / (l1 - l0)
    return 0.0


def _limits(model, names, max_ratios):
    """{name: largest ratio allowed}: ``max_ratios`` is one limit for all or {name: limit}."""
    if max_ratios is None:
        return {n: 1.0 for n in names}
    if not isinstance(max_ratios, dict):
        max_ratios = {n: max_ratios for n in names}
    out = {n: 1.0 for n in names}
    for key, limit in zip(resolve_names(model, list(max_ratios)), max_ratios.values()):
        if key not in out:
            raise ValueError('max_ratios names %r, which has no sensitivity curve; give limits '
                             'only for the searched parameters' % key)
        if not 0 <= float(limit) <= 1:
            raise ValueError('max ratio %r for %r is outside [0, 1]' % (limit, key))
        out[key] = float(limit)
    return out


def ratios_for_target_flops(sensitivities, model, target_flops_fraction, input_size=None,
                            criterion='l1_norm', max_ratios=None, max_loss=None, probe=None):
    """``{name: ratio}`` from ``sensitivities`` (``{name: {ratio: loss}}``) removing
    ``target_flops_fraction`` of the conv FLOPs at the least loss.

    Each parameter is pruned to the ratio at which its (monotone, interpolated) loss curve
    reaches one common loss threshold, capped by its largest probed ratio and by
    ``max_ratios`` (``{name: limit}`` or one limit for all); the threshold never exceeds
    ``max_loss``.  The threshold is bisected to the point where the cut crosses the target;
    the parameters whose filter count changes there (several at once on a flat curve) then
    get filters one at a time, the least sensitive first, until the target is reached.

    Guarantees: ``target <= cut <= target + one filter``, i.e. the cut exceeds the target by
    at most what removing the last single filter removed; every ratio is non-decreasing in the target; no ratio exceeds
    its limit; every parameter's loss at its ratio is <= the final threshold <= ``max_loss``.
    An unreachable target raises ``ValueError`` naming the largest reachable cut.
    ``probe``: a :class:`FlopsProbe` of ``model`` to reuse (see :func:`flops_cut`).
    """
    target = _check_target(target_flops_fraction)
    if not sensitivities:
        raise ValueError('the sensitivities table is empty: run the sensitivity analysis first')
    if max_loss is not None and not max_loss > 0:
        raise ValueError('max_loss %r must be > 0 (e.g. 0.3 allows a 30%% metric drop per '
                         'parameter)' % max_loss)
    names = resolve_names(model, list(sensitivities))
    curves = collections.OrderedDict((n, _curve(sensitivities[k]))
                                     for n, k in zip(names, sensitivities))
    limits = _limits(model, names, max_ratios)
    probe = _probe(model, input_size, criterion, probe)

    def counts(threshold):
        # rounded down, so that no ratio passes its limit or the threshold's loss
        return {n: min(probe.channels[n] - 1, int(probe.channels[n] *
                                                  min(_ratio_at_loss(c, threshold), limits[n])
                                                  + 1e-9))
                for n, c in curves.items()}

    top = max(c[-1][1] for c in curves.values())
    t_max = top if max_loss is None else min(top, float(max_loss))
    reach = probe.cut(counts(t_max))
    if reach < target:
        bound = ('every loss <= max_loss %g' % max_loss if max_loss is not None and max_loss < top
                 else 'every parameter at its largest probed ratio')
        if max_ratios is not None:
            bound += ' (within --max_ratio)'
        raise ValueError('cannot remove %.1f%% of the FLOPs: with %s the plan removes only '
                         '%.1f%%; raise --max_loss, probe larger ratios, analyse more parameters, '
                         'raise --max_ratio or lower the target' % (100 * target, bound,
                                                                   100 * reach))
    lo_counts = {n: 0 for n in names}
    if probe.cut(counts(0.0)) >= target:
        hi, hi_counts = 0.0, counts(0.0)
    else:
        lo, hi, lo_counts, hi_counts = 0.0, t_max, counts(0.0), counts(t_max)
        for _ in range(THRESHOLD_STEPS):
            mid = (lo + hi) / 2
            c = counts(mid)
            if probe.cut(c) >= target:
                hi, hi_counts = mid, c
            else:
                lo, lo_counts = mid, c
    removed = _fill(probe, curves, lo_counts, hi_counts, target)
    logger.info('ratios for %.1f%% FLOPs: loss threshold %.4g removes %.2f%%', 100 * target,
                hi, 100 * probe.cut(removed))
    return collections.OrderedDict((n, round(probe.ratio(n, removed[n]), 6)) for n in names)


def _fill(probe, curves, lo_counts, hi_counts, target):
    """From ``lo_counts`` (cut < target) towards ``hi_counts`` (cut >= target), one
    parameter at a time (least loss at its new ratio first), stopping at the first filter
    count that reaches the target."""
    now = dict(lo_counts)
    if probe.cut(now) >= target:
        return now
    moving = [n for n in curves if hi_counts[n] != lo_counts[n]]
    moving.sort(key=lambda n: (_loss_at(curves[n], probe.ratio(n, hi_counts[n])),
                               list(curves).index(n)))
    for n in moving:
        lo, hi = lo_counts[n], hi_counts[n]
        now[n] = hi
        if probe.cut(now) < target:
            continue
        while hi - lo > 1:  # the fewest filters of n that reach the target
            mid = (lo + hi) // 2
            now[n] = mid
            if probe.cut(now) >= target:
                hi = mid
            else:
                lo = mid
        now[n] = hi
        return now
    return dict(hi_counts)


def _loss_at(curve, ratio):
    for (r0, l0), (r1, l1) in zip(curve, curve[1:]):
        if r0 <= ratio <= r1:
            return l0 + (ratio - r0) * (l1 - l0) / (r1 - r0) if r1 > r0 else l1
    return curve[-1][1]


# -- one ratio for all ----------------------------------------------------------------
def uniform_ratio_for_target_flops(model, names, target_flops_fraction, input_size=None,
                                   criterion='l1_norm', probe=None):
    """``(ratio, cut)``: the one ratio for every conv in ``names`` whose FLOPs cut is
    closest to ``target_flops_fraction`` (the one reaching it on a tie).

    Each conv loses ``int(round(C * ratio))`` filters, so the cut is a step function of the
    ratio with a step wherever some ``C * ratio`` crosses ``k + 0.5``; the candidates are
    the midpoints between consecutive steps (no conv sits on a rounding edge) and the
    monotone cut is bisected over them.  Convs of equal width step together, so the cut
    can miss the target by up to half of one such joint step: ``cut`` says by how much.
    ``probe``: a :class:`FlopsProbe` of ``model`` to reuse (see :func:`flops_cut`).
    """
    target = _check_target(target_flops_fraction)
    names = resolve_names(model, list(names))
    if not names:
        raise ValueError('no parameters for a uniform plan: give the convs to prune')
    probe = _probe(model, input_size, criterion, probe)
    edges = sorted({(k + 0.5) / probe.channels[n] for n in names
                    for k in range(probe.channels[n] - 1)})
    edges = [0.0] + [e for e in edges if e < 1.0] + [1.0]
    candidates = [(a + b) / 2 for a, b in zip(edges, edges[1:])]

    def cut(i):
        return probe.cut({n: probe.removed(n, candidates[i]) for n in names})

    if cut(len(candidates) - 1) < target:
        raise ValueError('cannot remove %.1f%% of the FLOPs with one ratio over %d convs: '
                         'keeping one filter each removes only %.1f%%; prune more convs or '
                         'lower the target' % (100 * target, len(names),
                                               100 * cut(len(candidates) - 1)))
    lo, hi = 0, len(candidates) - 1  # cut(lo) is 0 < target, cut(hi) >= target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cut(mid) >= target:
            hi = mid
        else:
            lo = mid
    best = hi if (cut(hi) - target) <= (target - cut(lo)) else lo
    return candidates[best], cut(best)
