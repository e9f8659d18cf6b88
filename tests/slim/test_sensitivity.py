"""Sensitivity analysis: resumable file, exact restore, early stop, settings check, plot."""
import json

import numpy as np
import paddle
import pytest

from ppdet.slim.sensitivity import (get_ratios_by_loss, load_sensitivities, plot_sensitivities,
                                    ranking_scores, sensitivity, spearman)

SIZE = 32
NAMES = ['stem.conv.weights', 'route.conv.weights', 'tip1.conv.weights']
RATIOS = (0.25, 0.5, 0.75)


class OutputMatch(object):
    """Deterministic 'metric' in (0, 1]: 1 for the reference outputs, less the more they move.

    ``stop_after``: raise KeyboardInterrupt on that call (simulates a killed run).
    """

    def __init__(self, model, stop_after=None):
        self.x = paddle.to_tensor(np.random.RandomState(7).randn(2, 3, SIZE, SIZE)
                                  .astype('float32'))
        self.ref = self.run(model)
        self.calls = 0
        self.stop_after = stop_after

    def run(self, model):
        with paddle.no_grad():
            return [o.numpy() for o in model(self.x)]

    def __call__(self, model):
        self.calls += 1
        if self.stop_after is not None and self.calls == self.stop_after:
            raise KeyboardInterrupt
        diff = np.mean([np.abs(a - b).mean() for a, b in zip(self.run(model), self.ref)])
        return 1.0 / (1.0 + 10 * diff)


def state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_same_state(model, before):
    now = state(model)
    assert sorted(now) == sorted(before)
    for k in before:
        np.testing.assert_array_equal(now[k], before[k], err_msg=k)


def run(model, path, eval_fn, **kw):
    kw.setdefault('ratios', RATIOS)
    return sensitivity(model, NAMES, eval_fn, sensitivities_file=str(path) if path else None,
                       progress=False, input_size=SIZE, **kw)


def test_interrupted_run_resumes_to_the_same_table(make_det, tmp_path):
    full = run(make_det(), tmp_path / 'full.json', OutputMatch(make_det()))
    assert list(full) == NAMES and all(list(t) == list(RATIOS) for t in full.values())
    assert all(full[n][0.75] >= full[n][0.25] > 0 for n in NAMES)

    model = make_det()
    before = state(model)
    path = tmp_path / 'sens.json'
    with pytest.raises(KeyboardInterrupt):
        run(model, path, OutputMatch(model, stop_after=6))  # baseline + 4 probes, then killed
    assert_same_state(model, before)  # restored even when the evaluation was interrupted
    saved = json.loads(path.read_text())
    assert saved['baseline'] == pytest.approx(1.0)
    assert sum(len(t) for t in saved['sensitivities'].values()) == 4
    assert saved['finished'] is False     # pruning refuses it until the analysis is finished

    resumed_eval = OutputMatch(model)
    resumed = run(model, path, resumed_eval)
    assert resumed_eval.calls == len(NAMES) * len(RATIOS) - 4  # no baseline, no repeats
    assert resumed == full
    assert load_sensitivities(str(path)) == {n: dict(t) for n, t in full.items()}
    assert json.loads(path.read_text())['finished'] is True
    assert_same_state(model, before)


def test_model_is_exactly_the_original_after_analysis(make_det):
    model = make_det()
    before = state(model)
    groups = model.dw.conv._groups
    run(model, None, OutputMatch(model), ratios=(0.5,))
    sensitivity(model, ['c1.conv.weights'], OutputMatch(model), ratios=(0.5,), progress=False,
                input_size=SIZE)  # c1 feeds a depthwise conv: its groups change and come back
    assert_same_state(model, before)
    assert model.dw.conv._groups == groups
    assert not [k for k in model.state_dict() if k.endswith('_backup')]


def test_refuses_to_resume_with_other_settings(make_det, tmp_path):
    path = tmp_path / 'sens.json'
    model = make_det()
    run(model, path, OutputMatch(model), ratios=(0.5,), eval_settings={'images': 8})
    with pytest.raises(ValueError, match=r'different settings(.|\n)*eval.images \(file: 8, '
                                         r'now: 16\)(.|\n)*delete it to start over'):
        run(model, path, OutputMatch(model), ratios=(0.5,), eval_settings={'images': 16})
    with pytest.raises(ValueError, match='criterion'):
        run(model, path, OutputMatch(model), ratios=(0.5,), eval_settings={'images': 8},
            criterion='fpgm')
    other = make_det(seed=5)  # other weights: the fingerprint differs
    with pytest.raises(ValueError, match='model.weights_sha1'):
        run(other, path, OutputMatch(other), ratios=(0.5,), eval_settings={'images': 8})
    path.write_text('{"half": ')
    with pytest.raises(ValueError, match='cannot read sensitivities file'):
        run(model, path, OutputMatch(model))


def test_early_stop_and_reused_probes(make_det):
    model = make_det()
    ev = OutputMatch(model)
    # stem has 8 filters: 0.05 removes none (loss 0, no eval); 0.1 and 0.15 both remove one
    sens = sensitivity(model, ['stem.conv.weights'], ev, ratios=(0.05, 0.1, 0.15),
                       progress=False, input_size=SIZE)
    assert ev.calls == 2  # baseline + one real probe
    t = sens['stem.conv.weights']
    assert t[0.05] == 0.0 and t[0.1] == t[0.15] > 0

    ev = OutputMatch(model)
    full = run(model, None, OutputMatch(model))
    limit = full['tip1.conv.weights'][0.25] / 2  # tip1 stops at its first ratio
    stopped = run(model, None, ev, max_loss=limit)
    for name in NAMES:
        table, expect = stopped[name], full[name]
        over = [r for r in RATIOS if expect[r] > limit]
        kept = RATIOS[:RATIOS.index(over[0]) + 1] if over else RATIOS
        assert list(table) == list(kept)
        assert table == {r: expect[r] for r in kept}
    assert list(stopped['tip1.conv.weights']) == [0.25]
    ratios = get_ratios_by_loss(stopped, limit)
    assert ratios['tip1.conv.weights'] == 0.0
    assert all(max(l for r, l in stopped[n].items() if r <= ratios[n]) <= limit
               for n in NAMES if ratios[n] > 0)


def test_get_ratios_by_loss_uses_the_monotone_prefix():
    sens = {'a': {0.1: 0.01, 0.2: 0.5, 0.3: 0.02}, 'b': {0.1: 0.01, 0.2: 0.03}, 'c': {0.1: 0.9}}
    assert get_ratios_by_loss(sens, 0.05) == {'a': 0.1, 'b': 0.2, 'c': 0.0}


def test_bad_arguments(make_det):
    model = make_det()
    with pytest.raises(ValueError, match=r"unknown parameter 'tip1.conv.weight"):
        sensitivity(model, 'tip1.conv.weightz', OutputMatch(model), progress=False)
    with pytest.raises(ValueError, match=r'outside \(0, 1\)'):
        sensitivity(model, NAMES, OutputMatch(model), ratios=(0.5, 1.0), progress=False)
    with pytest.raises(ValueError, match='scores 0.0'):
        sensitivity(model, NAMES, lambda m: 0.0, ratios=(0.5,), progress=False, input_size=SIZE)


def test_plot_is_a_png(tmp_path):
    sens = {'a': {0.1: 0.01, 0.5: 0.2}, 'b': {0.1: 0.05, 0.3: 0.4}}
    path = plot_sensitivities(sens, str(tmp_path / 'plots' / 'sens.png'))
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000


def test_spearman_rankings():
    full = {'a': {0.1: 0.01, 0.2: 0.02, 0.3: 0.5}, 'b': {0.1: 0.1, 0.2: 0.3, 0.3: 0.6},
            'c': {0.1: 0.0, 0.2: 0.01, 0.3: 0.02}}
    fast = {'a': {0.1: 0.02, 0.2: 0.03}, 'b': {0.1: 0.2, 0.2: 0.5}, 'c': {0.1: 0.0, 0.2: 0.0}}
    assert spearman(full, fast) == pytest.approx(1.0)  # scored on the ratios both probed
    assert ranking_scores(full)['a'] == pytest.approx(0.53 / 3)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman({'a': 1, 'b': 2, 'c': 3}, {'a': 1, 'b': 3, 'c': 2}) == pytest.approx(0.5)
    with pytest.raises(ValueError, match='at least two'):
        spearman({'a': 1}, {'a': 2})
