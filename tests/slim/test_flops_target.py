"""Ratios for a FLOPs target on the tiny detector: sensitivity-derived and uniform plans."""
import numpy as np
import pytest

from ppdet.slim.flops_target import (FlopsProbe, _curve, _loss_at, flops_cut,
                                     ratios_for_target_flops, uniform_ratio_for_target_flops)
from ppdet.slim.prune import PrunePlan, kept_channels, prune
from ppdet.utils.model_stats import count_flops

SIZE = 32  # TinyDet's test input (tests/slim/conftest.py)
PROBES = (0.1, 0.3, 0.5, 0.7, 0.9)


def smooth_sensitivities(model):
    # distinct curves: later layers hurt less
    names = list(model.prunable_params())
    return {n: {r: round(r * r * (1 + i % 3) / (1 + i), 4) for r in PROBES}
            for i, n in enumerate(names)}


def flat_sensitivities(model):
    # no loss at all up to 0.5 for every conv: one threshold moves every conv at once
    return {n: {0.1: 0.0, 0.3: 0.0, 0.5: 0.0, 0.7: 0.2 + 0.01 * i, 0.9: 0.6}
            for i, n in enumerate(model.prunable_params())}


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def real_cut(make_det, ratios):
    base = count_flops(make_det(), SIZE)
    pruned, _ = prune(make_det(), PrunePlan(ratios, 'l1_norm', SIZE))
    return 1 - count_flops(pruned, SIZE) / base


def one_filter_bound(model):
    """The most FLOPs one filter of any prunable conv takes (its own MACs and the next
    layers' input channel): the search's stated tolerance above the target."""
    return max(flops_cut(model, {n: 1.0 / int(p.shape[0])}, SIZE)
               for n, p in model.prunable_params().items())


@pytest.mark.parametrize('table', [smooth_sensitivities, flat_sensitivities])
@pytest.mark.parametrize('target', [0.1, 0.3, 0.5])
def test_reaches_target_within_one_filter(tiny_det, make_det, table, target):
    sens = table(tiny_det)
    ratios = ratios_for_target_flops(sens, tiny_det, target, input_size=SIZE)
    assert shapes(tiny_det) == shapes(make_det())  # searched without changing the model
    assert list(ratios) == list(sens)
    cut = real_cut(make_det, ratios)
    assert cut == pytest.approx(flops_cut(tiny_det, ratios, SIZE))
    assert target <= cut <= target + one_filter_bound(tiny_det), (cut, ratios)
    # every ratio is a whole number of filters: what prune() removes
    for n, p in tiny_det.prunable_params().items():
        c = int(p.shape[0])
        assert (c - kept_channels(c, ratios[n])) == pytest.approx(ratios[n] * c)


def test_flat_curves_are_not_cut_all_at_once(tiny_det):
    # at the first loss above 0 every conv would jump to 0.5 (more than 30% of the FLOPs);
    # the search gives filters one at a time instead, so some convs stay below 0.5
    ratios = ratios_for_target_flops(flat_sensitivities(tiny_det), tiny_det, 0.3,
                                     input_size=SIZE)
    assert min(ratios.values()) < 0.5 and max(ratios.values()) <= 0.5


@pytest.mark.parametrize('table', [smooth_sensitivities, flat_sensitivities])
def test_ratios_grow_with_the_target(tiny_det, table):
    sens = table(tiny_det)
    previous = None
    probe = FlopsProbe(tiny_det, SIZE)
    for target in np.arange(0.05, 0.56, 0.05):
        ratios = ratios_for_target_flops(sens, tiny_det, float(target), probe=probe)
        if previous is not None:
            assert all(ratios[n] >= previous[n] for n in ratios), (target, ratios, previous)
        previous = ratios


def test_respects_max_ratios_and_max_loss(tiny_det, make_det):
    sens = smooth_sensitivities(tiny_det)
    free = ratios_for_target_flops(sens, tiny_det, 0.4, input_size=SIZE)
    assert free['tip1.conv.weights'] > 0.3
    # one limit for every conv, and a tighter one for a single conv
    capped = ratios_for_target_flops(sens, tiny_det, 0.4, input_size=SIZE, max_ratios=0.6)
    assert max(capped.values()) <= 0.6
    capped = ratios_for_target_flops(sens, tiny_det, 0.4, input_size=SIZE,
                                     max_ratios={'tip1.conv.weights': 0.3})
    assert capped['tip1.conv.weights'] <= 0.3
    assert real_cut(make_det, capped) >= 0.4  # the others took up the slack
    # no conv pruned past the loss allowed
    limited = ratios_for_target_flops(sens, tiny_det, 0.3, input_size=SIZE, max_loss=0.05)
    for n, r in limited.items():
        assert _loss_at(_curve(sens[n]), r) <= 0.05 + 1e-9, (n, r)
    with pytest.raises(ValueError, match=r'cannot remove 50.0% of the FLOPs: with every loss '
                                         r'<= max_loss 0.01 the plan removes only'):
        ratios_for_target_flops(sens, tiny_det, 0.5, input_size=SIZE, max_loss=0.01)
    with pytest.raises(ValueError, match=r"max_ratios names 'stem.conv.weights', which has no "
                                         r"sensitivity curve"):
        ratios_for_target_flops({'tip1.conv.weights': sens['tip1.conv.weights']}, tiny_det,
                                0.05, input_size=SIZE, max_ratios={'stem.conv.weights': 0.5})


def test_unreachable_and_bad_targets(tiny_det):
    sens = {'tip1.conv.weights': {0.1: 0.01, 0.2: 0.02}}
    with pytest.raises(ValueError, match=r'cannot remove 60.0% of the FLOPs: with every '
                                         r'parameter at its largest probed ratio the plan '
                                         r'removes only'):
        ratios_for_target_flops(sens, tiny_det, 0.6, input_size=SIZE)
    with pytest.raises(ValueError, match='must be in'):
        ratios_for_target_flops(sens, tiny_det, 1.5, input_size=SIZE)
    with pytest.raises(ValueError, match='sensitivities table is empty'):
        ratios_for_target_flops({}, tiny_det, 0.3, input_size=SIZE)
    with pytest.raises(ValueError, match='max_loss 0 must be > 0'):
        ratios_for_target_flops(sens, tiny_det, 0.01, input_size=SIZE, max_loss=0)


def test_uniform_ratio_is_the_closest_one_ratio_plan(tiny_det, make_det):
    names = list(tiny_det.prunable_params())
    for target in (0.2, 0.45):
        ratio, cut = uniform_ratio_for_target_flops(tiny_det, names, target, SIZE)
        assert cut == pytest.approx(real_cut(make_det, {n: ratio for n in names}))
        # no ratio comes closer to the target: a 0.01 grid around the found ratio, a 0.05
        # grid elsewhere (each point is a FLOPs count of the whole model)
        near = np.arange(max(0.0, ratio - 0.05), min(0.95, ratio + 0.05), 0.01)
        probe = FlopsProbe(tiny_det, SIZE)
        grid = [flops_cut(tiny_det, {n: r for n in names}, probe=probe)
                for r in np.concatenate([near, np.arange(0.0, 0.95, 0.05)])]
        assert abs(cut - target) <= min(abs(g - target) for g in grid) + 1e-12
    with pytest.raises(ValueError, match='with one ratio over 1 convs'):
        uniform_ratio_for_target_flops(tiny_det, ['tip1.conv.weights'], 0.9, SIZE)


def test_one_probe_serves_every_search_of_its_model(tiny_det, make_det):
    names = list(tiny_det.prunable_params())
    sens = smooth_sensitivities(tiny_det)
    probe = FlopsProbe(tiny_det, SIZE)
    ratios = {n: 0.5 for n in names}
    assert flops_cut(tiny_det, ratios, probe=probe) == flops_cut(tiny_det, ratios, SIZE)
    assert uniform_ratio_for_target_flops(tiny_det, names, 0.3, probe=probe) == \
        uniform_ratio_for_target_flops(tiny_det, names, 0.3, SIZE)
    assert ratios_for_target_flops(sens, tiny_det, 0.3, probe=probe) == \
        ratios_for_target_flops(sens, tiny_det, 0.3, input_size=SIZE)
    assert shapes(tiny_det) == shapes(make_det())
    # a probe answers for its own model, as it was when the probe was made
    with pytest.raises(ValueError, match='made for another model'):
        flops_cut(make_det(), ratios, probe=probe)
    prune(tiny_det, PrunePlan({names[0]: 0.5}, 'l1_norm', SIZE))
    with pytest.raises(ValueError, match='pruned after its FlopsProbe was made'):
        ratios_for_target_flops(sens, tiny_det, 0.3, probe=probe)


def test_a_shared_conv_counts_every_call():
    """A conv run on several maps (a dense head's tower on every FPN level) costs the MACs of
    every call, as model_summary's GFLOPs count them."""
    import paddle.nn as nn
    import paddle.nn.functional as F
    from ppdet.slim.prune import conv_macs, conv_output_pixels

    class Shared(nn.Layer):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2D(3, 4, 3, padding=1)
            self.tower = nn.Conv2D(4, 4, 3, padding=1)

        def forward(self, x):
            x = self.stem(x)
            return [self.tower(x), self.tower(F.avg_pool2d(x, 2))]

    model = Shared()
    pixels = conv_output_pixels(model, 32)
    assert pixels[id(model.tower.weight)][1] == 32 * 32 + 16 * 16
    assert conv_macs(pixels)[id(model.tower.weight)] == (32 * 32 + 16 * 16) * 4 * 4 * 9
