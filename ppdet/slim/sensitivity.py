"""Sensitivity analysis: how much the metric drops when one conv loses filters.

:func:`sensitivity` prunes each named conv alone at increasing ratios, evaluates,
and restores the exact original weights before the next probe.  The loss is
``(baseline - metric) / baseline`` with ``metric = eval_fn(model)`` (higher is
better, e.g. box AP).

The table is kept in a JSON file, rewritten atomically after every measurement,
so a killed run loses nothing and a rerun resumes where it stopped (the baseline
metric is stored too).  The file records the settings it was made with (the
caller's ``eval_settings``, criterion, input size and a fingerprint of the
prunable weights); resuming with different settings is refused.

Speed-ups: ratios that remove the same number of filters as an already measured
ratio reuse its loss (a ratio removing none has loss 0 without evaluating);
``max_loss`` stops probing a parameter once its loss exceeds it - the larger
ratios of that parameter are then simply absent from the table (they would be
pruned no further by :func:`get_ratios_by_loss` anyway).  Evaluating on a subset
of images is the ``eval_fn``'s business; :func:`spearman` tells how well a fast
run ranks the parameters compared with a full one.
"""
import collections
import copy
import hashlib
import json
import os

from ppdet.slim.prune import (make_pruner, normalize_input_size, split_flag, check_prunable,
                              kept_channels, normalize_criterion, prunable_params,
                              quiet_paddleslim, resolve_names)
from ppdet.utils.fileio import write_json
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['sensitivity', 'paddleslim_sensitivity', 'PADDLESLIM_RATIOS', 'load_sensitivities',
           'check_made_for', 'warn_other_weights', 'check_finished', 'check_criterion',
           'check_sensitivities_file', 'get_ratios_by_loss', 'normalize_weights_path',
           'plot_sensitivities', 'ranking_scores', 'spearman', 'DEFAULT_RATIOS']

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
PADDLESLIM_RATIOS = DEFAULT_RATIOS   # FilterPruner.sensitive's fixed 0.1 ... 0.9
FILE_VERSION = 1


def _key(ratio):
    return '%g' % round(float(ratio), 6)


def _check_ratios(ratios):
    out = sorted({round(float(r), 6) for r in ratios})
    if not out:
        raise ValueError('no ratios to probe: give e.g. ratios=(0.1, 0.2, ..., 0.9)')
    bad = [r for r in out if not 0 < r < 1]
    if bad:
        raise ValueError('sensitivity ratios %s are outside (0, 1); probe e.g. 0.1 ... 0.9' % bad)
    return out


def _prunable_shapes(model):
    return collections.OrderedDict((name, [int(s) for s in p.shape])
                                   for name, p in prunable_params(model).items())


def _fingerprint(model):
    """Shapes and a hash of the prunable weights: a file made on other weights is refused."""
    h = hashlib.sha1()
    for name, p in prunable_params(model).items():
        h.update(name.encode())
        h.update(p.numpy().tobytes())
    return {'architecture': type(model).__name__, 'prunable_shapes': _prunable_shapes(model),
            'weights_sha1': h.hexdigest()}


def warn_other_weights(path, model, state=None):
    """Say so when the sensitivities file was measured on other weights than ``model``'s
    (allowed: the same architecture prunes alike, but the plan is those weights')."""
    state = load_sensitivities(path, with_state=True) if state is None else state
    made = (state.get('settings') or {}).get('model') or {}
    recorded = made.get('prunable_shapes')
    if made.get('weights_sha1') and recorded is not None and \
            _jsonable(recorded) == _jsonable(_prunable_shapes(model)) and \
            made['weights_sha1'] != _fingerprint(model)['weights_sha1']:
        logger.warning('sensitivities file %s was measured on other weights (%s) than the ones '
                       'pruned here: its losses are those weights\'; for the plan these weights '
                       'call for, make one with -o weights=<these> -s NEW.json', path,
                       ((state.get('settings') or {}).get('eval') or {}).get('weights') or
                       'recorded by content only')


def check_made_for(path, model, state=None, compare_weights=True):
    """Refuse a sensitivities file made for another model: the prunable convs' shapes it
    recorded (as a resumed :func:`sensitivity` run compares them) differ from ``model``'s.
    Its weights may differ (pruning reads the losses of the same architecture): with
    ``compare_weights`` (``model`` holds the weights to prune) that is warned about
    (:func:`warn_other_weights`).  A file that records no shapes is used with a warning."""
    state = load_sensitivities(path, with_state=True) if state is None else state
    made = (state.get('settings') or {}).get('model') or {}
    if made.get('architecture') not in (None, type(model).__name__):
        # the built-in RetinaNet and FCOS have the same prunable names and shapes
        raise ValueError(
            'sensitivities file %s was made for a %s model and this one is a %s: its losses do '
            'not tell how this model prunes; make one for this config with '
            'slim/sensitive/sensitive.py -s NEW.json' % (path, made['architecture'],
                                                          type(model).__name__))
    recorded = made.get('prunable_shapes')
    shapes = _jsonable(_prunable_shapes(model))
    if compare_weights:
        warn_other_weights(path, model, state)
    if recorded is None:
        logger.warning('sensitivities file %s records no model shapes, so it cannot be checked '
                       'against this model: make sure it was made for this config', path)
        return state
    diff = _differences(_jsonable(recorded), shapes)
    if diff:
        raise ValueError(
            'sensitivities file %s was made for another model: %d of the prunable convs it '
            'recorded differ from this model\'s (%s%s), so its losses do not tell how this model '
            'prunes; make one for this config with slim/sensitive/sensitive.py -s NEW.json'
            % (path, len(diff), '; '.join(diff[:3]), '; ...' if len(diff) > 3 else ''))
    return state


def _jsonable(obj):
    return json.loads(json.dumps(obj, sort_keys=True))


def _differences(old, new, prefix=''):
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _differences(old.get(k), new.get(k), '%s%s.' % (prefix, k))
        return out
    if old != new:
        show = lambda v: (json.dumps(v)[:60] + '...') if len(json.dumps(v)) > 60 else json.dumps(v)
        return ['%s (file: %s, now: %s)' % (prefix[:-1], show(old), show(new))]
    return []


def _is_pickle(path):
    try:
        with open(path, 'rb') as f:
            return f.read(1) == b'\x80'
    except OSError:
        return False


def load_sensitivities(path, with_state=False, for_pruning=False):
    """Read a sensitivities file -> {name: {ratio: loss}} (or the whole state).
    ``for_pruning``: the refusal says how to make one (prune.py reads it; it cannot be
    resumed from there)."""
    make = ('make one with slim/sensitive/sensitive.py -c CONFIG -s %s%s' % (
        path, ' (PaddleSlim\'s pickled sensitivities are not read)' if _is_pickle(path) else ''))
    try:
        with open(path, encoding='utf-8') as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError('cannot read sensitivities file %s (%s); %s' % (
            path, 'a pickle, not JSON' if _is_pickle(path) else e,
            make if for_pruning else 'delete it to start over'))
    if not isinstance(state, dict) or 'sensitivities' not in state:
        raise ValueError('%s is not a sensitivities file written by ppdet (no "sensitivities" '
                         'key); %s' % (path, make if for_pruning else
                                       'give another --sensitivities_file'))
    if with_state:
        return state
    return {name: {float(r): float(l) for r, l in table.items()}
            for name, table in state['sensitivities'].items()}


def check_sensitivities_file(path):
    """Refuse a sensitivities file path that is a directory, before any evaluation (it
    failed when the first result was written)."""
    if path and os.path.isdir(str(path)):
        raise ValueError('sensitivities file %s is a directory; give a file, e.g. -s %s'
                         % (path, os.path.join(str(path), 'sensitivities.json')))


# the flag behind each recorded setting, named in a refused resume
_SETTING_FLAGS = collections.OrderedDict([
    ('eval.weights', '-o weights'), ('eval.max_images', '--eval_images'),
    ('eval.metric', '--metric'), ('criterion', '--prune_criterion'),
    ('input_size', 'the config\'s input size'),
    ('model.weights_sha1', 'the weights\' content'),
    ('model.prunable_shapes', 'the model (config)')])


def normalize_weights_path(path):
    """One spelling of a weights file: absolute, with ``.pdparams`` (``W`` and
    ``W.pdparams`` name the same file)."""
    if not path:
        return path
    path = str(path)
    return os.path.abspath(path if path.endswith('.pdparams') else path + '.pdparams')


def _same_weights(old, new):
    """``new`` settings with the weights path of ``old`` when both name the same weights:
    the same file spelled otherwise, or a copy with the same content hash."""
    old_w = ((old or {}).get('eval') or {}).get('weights')
    new_w = ((new or {}).get('eval') or {}).get('weights')
    if not old_w or not new_w or old_w == new_w:
        return new
    same = normalize_weights_path(old_w) == normalize_weights_path(new_w)
    sha = lambda st: ((st or {}).get('model') or {}).get('weights_sha1')
    if not same and not (sha(old) and sha(old) == sha(new)):
        return new
    if not same:
        logger.info('weights %s have the content of %s, which the sensitivities were made '
                    'with: resuming', new_w, old_w)
    new = copy.deepcopy(new)
    new['eval']['weights'] = old_w
    return new


def _flag_of(line):
    for key, flag in _SETTING_FLAGS.items():
        if line.startswith(key):
            return '%s: %s' % (flag, line)
    return line


def _open_state(path, settings):
    if path and os.path.isfile(path):
        state = load_sensitivities(path, with_state=True)
        diff = _differences(state.get('settings'), _same_weights(state.get('settings'),
                                                                 settings))
        empty = not any((state.get('sensitivities') or {}).values()) and not (
            state.get('baseline') or 0) > 0
        if diff and empty:   # a run that measured nothing (refused, or stopped at once)
            logger.info('sensitivities file %s holds no measurement (made with other '
                        'settings): starting it over with this run\'s', path)
        elif diff:
            raise ValueError(
                'sensitivities file %s was made with different settings, so its losses do not '
                'compare with this run (%d differ):\n  %s\nrerun with the settings it was made '
                'with, use another sensitivities file (-s), or delete it to start over'
                % (path, len(diff), '\n  '.join(_flag_of(d) for d in diff)))
        else:
            logger.info('resuming sensitivities from %s (baseline %s)', path,
                        state.get('baseline'))
            return state
    return {'version': FILE_VERSION, 'settings': settings, 'baseline': None,
            'sensitivities': {}}


_ZERO_BASELINE = ('the unpruned model scores %r, so a relative loss is undefined: check the '
                  'weights (a trained model? -o weights=) and the evaluation data, or score '
                  'another value of the metric (--metric AP50)')
# a probe that "improves" the metric by more than this share of the baseline: noise of a
# baseline too weak to rank the convs by (an audit: AP 0.003 after 1 epoch, losses -3.4..-4.9)
GAIN_NOISE = 0.5


def _warn_gains(tables, names, baseline):
    gains = [(n, r, l) for n in names for r, l in tables.get(n, {}).items() if l < -GAIN_NOISE]
    if gains:
        n, r, l = min(gains, key=lambda g: g[2])
        logger.warning('%d probe(s) score over %d%% above the unpruned model (e.g. %s at %s: '
                       'loss %.3f; baseline %.4g): the baseline is too weak for its relative '
                       'losses to rank the convs; train the model further, evaluate on more '
                       'images (--eval_images) or use --metric AP50', len(gains),
                       100 * GAIN_NOISE, n, r, l, baseline)


def _shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def sensitivity(model, param_names, eval_fn, ratios=DEFAULT_RATIOS, sensitivities_file=None,
                max_loss=None, progress=True, criterion='l1_norm', input_size=None,
                eval_settings=None):
    """Measure ``{name: {ratio: loss}}`` for each conv in ``param_names``.

    ``param_names``: names from ``model.prunable_params()`` (list or comma-separated;
    None = all).  ``eval_fn(model) -> float``, higher is better.  ``eval_settings``: a
    JSON-able dict describing the evaluation (dataset, image subset, weights...);
    stored in the file and compared on resume.  The model is left exactly as it was.
    """
    check_sensitivities_file(sensitivities_file)
    names = resolve_names(model, split_flag(param_names) if param_names else
                          list(prunable_params(model)))
    ratios = _check_ratios(ratios)
    if max_loss is not None and not max_loss > 0:
        raise ValueError('max_loss %r must be > 0 (e.g. 0.3 stops at a 30%% metric drop)'
                         % max_loss)
    settings = _jsonable({'criterion': normalize_criterion(criterion),
                          'input_size': normalize_input_size(input_size),
                          'eval': eval_settings or {}, 'model': _fingerprint(model)})
    state = _open_state(sensitivities_file, settings)

    def save():
        if sensitivities_file:
            write_json(sensitivities_file, state)

    params = prunable_params(model)
    pruner = make_pruner(model, criterion, input_size)
    check_prunable(pruner, {params[n].name: n for n in names})
    original = _shapes(model)
    tables = state['sensitivities']
    todo = sum(1 for n in names for r in ratios if _key(r) not in tables.get(n, {}))
    # 'pending': the parameters some run asked for and did not finish; the file is finished
    # when none is left, so a -p subset run cannot mark another run's interrupted ones done
    pending = _pending(state, params)
    pending.update(n for n in names if any(_key(r) not in tables.get(n, {}) for r in ratios))
    if todo or pending != set(state.get('pending') or []):
        # marked unfinished until the loop ends: an interrupted file is not a complete one
        state['pending'] = _ordered(pending, params)
        state['finished'] = not pending
        save()
    if state['baseline'] is None:
        baseline = float(eval_fn(model))
        if not baseline > 0:    # not written: the file must not hold it for the next run
            raise ValueError(_ZERO_BASELINE % baseline)
        state['baseline'] = baseline
        save()
    baseline = state['baseline']
    if not baseline > 0:
        raise ValueError(_ZERO_BASELINE % baseline)

    bar = _progress(todo, progress)
    try:
        for name in names:
            table = tables.setdefault(name, {})
            channels = int(params[name].shape[0])
            bar.set_postfix_str(name, refresh=False)
            for i, ratio in enumerate(ratios):
                key = _key(ratio)
                if key not in table:
                    table[key] = _measure(model, pruner, params[name].name, ratio, channels,
                                          table, eval_fn, baseline, original)
                    save()
                    bar.update(1)
                if max_loss is not None and table[key] > max_loss:
                    skipped = sum(1 for r in ratios[i + 1:] if _key(r) not in table)
                    bar.total -= skipped
                    bar.refresh()
                    break
            if name in pending:
                pending.discard(name)
                state['pending'] = _ordered(pending, params)
                state['finished'] = not pending
                save()
    finally:
        bar.close()
    if pending:
        logger.warning('%s: %d parameter(s) an earlier run asked for are not finished (%s%s): '
                       'run sensitive.py without -p (or -p with them) to finish the file; '
                       'prune.py refuses it until then', sensitivities_file, len(pending),
                       ', '.join(sorted(pending)[:3]), ', ...' if len(pending) > 3 else '')
    elif not state.get('finished', True):
        state['finished'] = True
        save()
    _warn_gains(tables, names, baseline)
    return collections.OrderedDict(
        (n, collections.OrderedDict(sorted((float(r), l) for r, l in tables[n].items())))
        for n in names)


def _ordered(names, params):
    order = {n: i for i, n in enumerate(params)}
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


def _pending(state, params):
    """The parameters an earlier run of the file asked for and did not finish.  A file
    marked unfinished before the list was recorded: every prunable parameter of ``params``
    (only a run over all of them finishes it)."""
    if 'pending' in state:
        return set(state['pending'] or [])
    if state.get('finished', True) is False:
        return set(params)
    return set()


def check_criterion(path, state, criterion=None):
    """The criterion to plan with from a sensitivities file: the one it was measured with
    (``criterion`` None: taken from the file); another one given is refused (the losses tell
    how the file's criterion prunes, not this one's)."""
    made = ((state or {}).get('settings') or {}).get('criterion')
    if criterion is None:
        return made or 'l1_norm'
    criterion = normalize_criterion(criterion)
    if made and normalize_criterion(made) != criterion:
        raise ValueError('sensitivities file %s was measured with --prune_criterion %s, but '
                         'this run prunes by %s: its losses tell how %s prunes; give '
                         '--prune_criterion %s (or leave it out), or make a file with '
                         'sensitive.py --prune_criterion %s' % (path, made, criterion, made,
                                                                 made, criterion))
    return criterion


def check_finished(path, state=None):
    """Refuse a sensitivities file whose analysis was interrupted (``finished: false``, or
    parameters still ``pending``: a later ``-p`` subset run does not finish the others), or
    that holds a parameter without a single probe: its missing parameters would be left
    unpruned without a word.  Files from before the marker carry none and are taken as they
    are."""
    state = load_sensitivities(path, with_state=True) if state is None else state
    tables = state.get('sensitivities') or {}
    pending = list(state.get('pending') or [])
    empty = [n for n, t in tables.items() if not t]
    if state.get('finished', True) is False or pending or empty:
        left = pending or empty
        raise ValueError('sensitivities file %s is from an analysis that did not finish (%d '
                         'parameter(s), %d probes so far%s): run the same slim/sensitive/'
                         'sensitive.py command again to finish it (without -p, or with -p '
                         'naming those), then prune'
                         % (path, len(tables), sum(len(t) for t in tables.values()),
                            '; not finished: %d, e.g. %s' % (len(left), ', '.join(left[:3]))
                            if left else ''))
    return state


def paddleslim_sensitivity(model, param_names, eval_fn, status_file, criterion='l1_norm',
                           input_size=None):
    """PaddleSlim's own loop, as its users run it: ``FilterPruner.sensitive`` (dygraph).

    Every parameter x every ratio of :data:`PADDLESLIM_RATIOS` is pruned, evaluated with
    ``eval_fn(model)`` and restored; no reuse, no early stop.  ``status_file``: PaddleSlim's
    pickle (deleted first, so the run is complete).  -> {name: {ratio: loss}} with the
    model's user-facing names; PaddleSlim's loss is (base - m) / (base + 1e-3).
    """
    names = resolve_names(model, split_flag(param_names) if param_names else
                          list(prunable_params(model)))
    params = prunable_params(model)
    by_var = {params[n].name: n for n in names}
    if status_file and os.path.exists(status_file):
        os.remove(status_file)
    pruner = make_pruner(model, criterion, input_size)
    check_prunable(pruner, by_var)
    with quiet_paddleslim():
        sens = pruner.sensitive(eval_func=lambda: eval_fn(model), sen_file=status_file,
                                target_vars=list(by_var), skip_vars=[])
    return collections.OrderedDict(
        (by_var[v], collections.OrderedDict(sorted((float(r), float(l))
                                                   for r, l in sens[v].items())))
        for v in by_var if v in sens)


def _measure(model, pruner, var_name, ratio, channels, table, eval_fn, baseline, original):
    removed = channels - kept_channels(channels, ratio)
    if removed == 0:
        return 0.0
    for key, loss in table.items():  # same filters removed: same model, same loss
        if channels - kept_channels(channels, float(key)) == removed:
            return loss
    with quiet_paddleslim():
        plan = pruner.prune_var(var_name, 0, ratio)
    try:
        metric = float(eval_fn(model))
    finally:
        plan.restore(model)
        if _shapes(model) != original:
            raise RuntimeError('restoring %s after the probe at ratio %g did not give back the '
                               'original shapes' % (var_name, ratio))
    return (baseline - metric) / baseline


class _NoBar(object):
    total = 0

    def update(self, n=1):
        pass

    def set_postfix_str(self, *args, **kwargs):
        pass

    def refresh(self):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc='sensitivity', unit='eval', dynamic_ncols=True)


def get_ratios_by_loss(sensitivities, max_loss):
    """{name: largest probed ratio up to which every probed loss is <= max_loss} (0.0 if none)."""
    out = collections.OrderedDict()
    for name, table in sensitivities.items():
        best = 0.0
        for ratio, loss in sorted((float(r), float(l)) for r, l in table.items()):
            if loss > max_loss:
                break
            best = ratio
        out[name] = best
    return out


def plot_sensitivities(sensitivities, png_path, title='Pruning sensitivity'):
    """Write a PNG with one loss-vs-ratio curve per parameter; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = ('-', '--', ':')  # the colour cycle has 10 colours: one style per 10 curves
    for i, (name, table) in enumerate(sensitivities.items()):
        pts = sorted((float(r), float(l)) for r, l in table.items())
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', markersize=3,
                    linestyle=styles[(i // 10) % len(styles)], label=name)
    ax.set_xlabel('pruned ratio (share of filters removed)')
    ax.set_ylabel('relative metric loss')
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if sensitivities:
        ax.legend(fontsize=6, ncol=2)
    d = os.path.dirname(os.path.abspath(png_path))
    os.makedirs(d, exist_ok=True)
    tmp = '%s.%d.tmp.png' % (png_path, os.getpid())
    fig.savefig(tmp, format='png')
    os.replace(tmp, png_path)
    return png_path


def ranking_scores(sensitivities, ratios=None):
    """{name: mean loss over ``ratios`` (default: all its probed ratios)}."""
    out = collections.OrderedDict()
    for name, table in sensitivities.items():
        t = {round(float(r), 6): float(l) for r, l in table.items()}
        keys = [round(float(r), 6) for r in ratios] if ratios is not None else list(t)
        keys = [k for k in keys if k in t]
        if keys:
            out[name] = sum(t[k] for k in keys) / len(keys)
    return out


def spearman(a, b):
    """Spearman rank correlation of two rankings.

    ``a``/``b``: equal-length sequences, {name: score} dicts, or sensitivity tables
    {name: {ratio: loss}} (scored by mean loss over the ratios probed in both, so an
    early-stopped fast run compares fairly with a full one).
    """
    from scipy.stats import spearmanr
    if isinstance(a, dict) and isinstance(b, dict):
        names = [n for n in a if n in b]
        nested = names and isinstance(a[names[0]], dict)
        xa, xb = [], []
        for n in names:
            if nested:
                common = sorted({round(float(r), 6) for r in a[n]} &
                                {round(float(r), 6) for r in b[n]})
                if not common:
                    continue
                xa.append(ranking_scores({n: a[n]}, common)[n])
                xb.append(ranking_scores({n: b[n]}, common)[n])
            else:
                xa.append(float(a[n]))
                xb.append(float(b[n]))
    else:
        xa, xb = [float(v) for v in a], [float(v) for v in b]
        if len(xa) != len(xb):
            raise ValueError('spearman: %d scores against %d' % (len(xa), len(xb)))
    if len(xa) < 2:
        raise ValueError('spearman needs at least two parameters scored in both rankings, got '
                         '%d' % len(xa))
    return float(spearmanr(xa, xb).correlation)
