"""What ``slim/sensitive/sensitive.py`` and ``slim/prune/prune.py`` do, as library calls.

Both work on the one :class:`~ppdet.engine.Trainer`: pruning is a compression step
applied to its model before the normal fine-tuning loop.
"""
import os

import numpy as np

from ppdet.slim.flops_target import FlopsProbe, ratios_for_target_flops
from ppdet.slim.prune import (PrunePlan, PruneStep, format_prunable, format_unprunable,
                              list_prunable, normalize_criterion, prunable_params,
                              resolve_names, split_flag)
from ppdet.slim.sensitivity import (DEFAULT_RATIOS, PADDLESLIM_RATIOS, check_criterion,
                                    check_finished, check_made_for, check_sensitivities_file,
                                    normalize_weights_path,
                                    get_ratios_by_loss, load_sensitivities,
                                    paddleslim_sensitivity, plot_sensitivities, sensitivity)
from ppdet.slim.subset_eval import SubsetEvaluator
from ppdet.utils.logger import setup_logger
from ppdet.utils.model_stats import config_input_size, model_summary

logger = setup_logger(__name__)


def _trainer_with_weights(cfg, weights, mode):
    from ppdet.engine import Trainer
    trainer = Trainer(cfg, mode=mode)
    if weights:
        trainer.load_weights(weights)
    return trainer


def print_params(cfg, out=print, cut_ratio=0.5):
    """``prune.py -P``: every prunable conv with its shape, its own share of the conv FLOPs
    and the share that pruning it alone by ``cut_ratio`` removes (measured by pruning and
    restoring it: coupled convs count, so this is what a plan of that conv removes)."""
    from ppdet.engine import Trainer
    model = Trainer(cfg, mode='eval').model
    size = config_input_size(cfg)
    rows = list_prunable(model, size)
    if not rows:
        out(_no_prunable_convs(model))
        return
    probe = FlopsProbe(model, size)
    cuts = {r.name: probe.cut({r.name: probe.removed(r.name, cut_ratio)}) for r in rows}
    out(format_prunable(rows, cuts, cut_ratio))
    why_not = format_unprunable(getattr(model, 'unprunable_reasons', dict)())
    if why_not:
        out(why_not)


def check_sensitivity_args(sensitivities_file=None, eval_images=None, ratios=None,
                           max_loss=None, plot_file=None, weights=None):
    """Refuse, before the model is built, a sensitivities file that is a directory, sits
    under a file or is not one this analysis resumes (a corrupt or foreign file), a plot
    path that cannot be written, an image count below one, ratios outside (0, 1), a
    ``max_loss`` <= 0 and weights of a quantization-aware checkpoint."""
    from ppdet.utils.fileio import check_output_file
    check_sensitivities_file(sensitivities_file)
    check_output_file(sensitivities_file, '-s/--sensitivities_file')
    if sensitivities_file and os.path.isfile(str(sensitivities_file)):
        load_sensitivities(sensitivities_file, with_state=True)  # readable, and of ours
    check_output_file(plot_file, '--plot')
    if eval_images is not None and int(eval_images) < 1:
        raise ValueError('--eval_images must be >= 1 (got %s): the number of eval images each '
                         'probe scores; leave it out to score all of them' % eval_images)
    if ratios is not None:
        bad = [r for r in ratios if not 0 < float(r) < 1]
        if bad or not list(ratios):
            raise ValueError('-r/--pruned_ratios %s: every ratio to probe must be in (0, 1), '
                             'e.g. -r 0.1,0.2,0.3 (got %s)' % (
                                 ','.join('%g' % float(r) for r in ratios) or '(none)',
                                 ', '.join('%g' % float(r) for r in bad) or 'none'))
    if max_loss is not None and not float(max_loss) > 0:
        raise ValueError('--max_loss must be > 0 (got %g): the relative metric drop at which a '
                         'curve stops, e.g. 0.3' % float(max_loss))
    if weights:
        from ppdet.utils.checkpoint import read_meta
        check_not_quantized(read_meta(weights), weights, 'weights')


def _no_prunable_convs(model):
    return ('%s declares no prunable convs (see its prunable_params(): every conv feeds a '
            'residual add, a depthwise group or a fixed-width output), so it cannot be '
            'channel-pruned' % type(model).__name__)


def _param_names(model, pruned_params):
    """The user-facing names of ``pruned_params`` (comma list or list; default: every
    prunable conv), each checked as prune.py checks them (unknown ones name the close ones)."""
    names = split_flag(pruned_params) if pruned_params else list(prunable_params(model))
    return resolve_names(model, names)


def run_sensitivity(cfg, weights=None, pruned_params=None, ratios=DEFAULT_RATIOS,
                    sensitivities_file='sensitivities.json', eval_images=None, max_loss=None,
                    plot_file=None, criterion='l1_norm', cache_backbone=True, progress=True,
                    metric=None):
    """Sensitivity of each parameter; resumable through ``sensitivities_file``."""
    weights = weights or cfg.get('weights')
    check_sensitivity_args(sensitivities_file, eval_images, ratios, max_loss, plot_file,
                           weights)
    trainer = _trainer_with_weights(cfg, None, 'eval')
    names = _param_names(trainer.model, pruned_params)  # before the weights load
    if not names:  # it wrote an empty table and a blank plot, which prune.py then refused
        raise ValueError(_no_prunable_convs(trainer.model) + ': there is nothing to analyse')
    if weights:
        trainer.load_weights(weights)
    model = trainer.model
    evaluator = SubsetEvaluator(trainer, max_images=eval_images, cache_backbone=cache_backbone,
                                param_names=names, metric=metric)
    settings = dict(evaluator.settings(), weights=normalize_weights_path(weights)
                    if weights else None)
    sens = sensitivity(model, names, evaluator, ratios=ratios,
                       sensitivities_file=sensitivities_file, max_loss=max_loss,
                       progress=progress, criterion=criterion,
                       input_size=config_input_size(cfg), eval_settings=settings)
    if plot_file:
        plot_sensitivities(sens, plot_file)
        logger.info('sensitivity curves written to %s', plot_file)
    if max_loss is not None:
        ratios_ok = get_ratios_by_loss(sens, max_loss)
        logger.info('ratios keeping the loss under %g: %s', max_loss,
                    ','.join('%g' % r for r in ratios_ok.values()))
    return sens


def run_paddleslim_sensitivity(cfg, weights=None, pruned_params=None, status_file=None,
                               criterion='l1_norm', metric=None, eval_images=None,
                               wrap_evaluator=None):
    """PaddleSlim's ``FilterPruner.sensitive`` on the config's model, scored by the same
    evaluator as :func:`run_sensitivity` (eval images loaded once, no backbone reuse).

    ``wrap_evaluator(evaluator, evaluations)``: the caller's wrapper of the evaluator (e.g.
    a progress line per evaluation: PaddleSlim's loop says nothing for minutes), called once
    the model and the parameters have loaded, with how many evaluations the loop runs (the
    unpruned model, then one per parameter and ratio)."""
    check_sensitivity_args(None, eval_images)
    trainer = _trainer_with_weights(cfg, weights or cfg.get('weights'), 'eval')
    model = trainer.model
    names = _param_names(model, pruned_params)
    evaluator = SubsetEvaluator(trainer, max_images=eval_images, cache_backbone=False,
                                param_names=names, metric=metric)
    if wrap_evaluator is not None:
        evaluator = wrap_evaluator(evaluator, 1 + len(names) * len(PADDLESLIM_RATIOS))
    return paddleslim_sensitivity(model, names, evaluator, status_file, criterion=criterion,
                                  input_size=config_input_size(cfg))


def check_plan_flags(pruned_params=None, pruned_ratios=None, target_flops=None,
                     sensitivities_file=None, max_loss=None, max_ratio=None):
    """Refuse flags the chosen way of pruning would ignore: ``--target_flops`` takes its
    ratios from the sensitivities file, so ``--pruned_ratios`` / ``--pruned_params`` would
    be dropped without a word; ``-s`` / ``--max_loss`` / ``--max_ratio`` only serve it."""
    if target_flops is not None:
        given = [f for f, v in (('--pruned_ratios', pruned_ratios),
                                ('--pruned_params', pruned_params)) if v not in (None, '')]
        if given:
            raise ValueError('--target_flops takes its ratios from the sensitivities file (-s), '
                             'so %s would be ignored: drop %s, or drop --target_flops to prune '
                             'by the given ratios' % (' and '.join(given), ' and '.join(given)))
    else:
        given = [f for f, v in (('-s', sensitivities_file), ('--max_loss', max_loss),
                                ('--max_ratio', max_ratio)) if v is not None]
        if given:
            raise ValueError('%s only serve%s --target_flops, which is not given: add '
                             '--target_flops F (the share of FLOPs to remove) or drop %s'
                             % (' and '.join(given), '' if len(given) > 1 else 's',
                                ' and '.join(given)))


def build_plan(model, cfg, pruned_params=None, pruned_ratios=None, criterion=None,
               target_flops=None, sensitivities_file=None, max_loss=None, max_ratio=None,
               round_channels=0, weights_loaded=True):
    """A PrunePlan from the seed's flags, or from a sensitivities file and a FLOPs target
    (no loss above ``max_loss``, no ratio above ``max_ratio``); ``round_channels`` rounds the
    kept channels of each pruned conv down to a multiple (see :class:`PrunePlan`).
    ``criterion`` None: the sensitivities file's (with ``target_flops``), else l1_norm.  A
    preset on a model without the seed's YOLOv3 convs, a sensitivities file that cannot be
    planned from and a plan that removes no filter are refused (see
    :func:`check_sensitivities_for_pruning`, :func:`check_removes_filters`).
    ``weights_loaded`` False: ``model`` does not hold the weights to prune yet, so whether
    the file was measured on them is for the caller to ask once they are loaded
    (:func:`~ppdet.slim.sensitivity.warn_other_weights`)."""
    size = config_input_size(cfg)
    check_plan_flags(pruned_params, pruned_ratios, target_flops, sensitivities_file, max_loss,
                     max_ratio)
    if target_flops is not None:
        given = criterion
        state, criterion = check_sensitivities_for_pruning(sensitivities_file, criterion, model,
                                                           compare_weights=weights_loaded)
        if given is None and (state.get('settings') or {}).get('criterion'):
            logger.info('pruning by %s, the criterion %s was measured with', criterion,
                        sensitivities_file)
        sens = {name: {float(r): float(l) for r, l in table.items()}
                for name, table in state['sensitivities'].items()}
        ratios = ratios_for_target_flops(sens, model, float(target_flops), input_size=size,
                                         criterion=criterion, max_ratios=max_ratio,
                                         max_loss=max_loss)
        plan = PrunePlan(ratios, criterion, size, round_channels or 0)
    else:
        plan = PrunePlan.from_flags(model, pruned_params, pruned_ratios, criterion or 'l1_norm',
                                    input_size=size, round_channels=round_channels or 0)
        check_removes_filters(model, plan)  # a FLOPs target leaves the least useful at 0
    return plan


def check_sensitivities_for_pruning(path, criterion=None, model=None, compare_weights=True):
    """``prune.py --target_flops -s FILE``: a readable sensitivities file (else: how to make
    one), made for ``model`` (when given), finished for every parameter it holds, and
    measured with the criterion the plan prunes by.  -> ``(state, criterion)``: ``criterion``
    None takes the file's."""
    if not path or not os.path.isfile(path):
        raise ValueError('--target_flops needs a sensitivities file (-s FILE) made by '
                         'slim/sensitive/sensitive.py -c CONFIG -o weights=W -s FILE%s' % (
                             '; not found: %s' % path if path else ': none was given'))
    state = load_sensitivities(path, with_state=True, for_pruning=True)
    if model is not None:  # made for this model, and not by an interrupted analysis
        check_made_for(path, model, state, compare_weights)
    check_finished(path, state)
    return state, check_criterion(path, state, criterion)


def prune_trainer(trainer, plan):
    """Apply ``plan`` as a compression step on ``trainer``; returns before/after stats."""
    size = plan.input_size or config_input_size(trainer.cfg)
    before = model_summary(trainer.model, size)
    trainer.apply_step(PruneStep(plan))
    after = model_summary(trainer.model, size)
    logger.info('FLOPs %.3f -> %.3f GFLOPs (-%.2f%%), size %.2f -> %.2f MB (-%.2f%%)',
                before['GFLOPs'], after['GFLOPs'],
                100 * (1 - after['GFLOPs'] / before['GFLOPs']),
                before['size_MB'], after['size_MB'],
                100 * (1 - after['size_MB'] / before['size_MB']))
    return before, after


# -- what a checkpoint already is ------------------------------------------------------
def _steps_of(meta, kind):
    return [s for s in (meta or {}).get('steps') or [] if s.get('kind') == kind]


def describe_plan(record):
    """A recorded prune step's plan in words: ``18 convs at 0.5-0.8 (l1_norm)``."""
    plan = (record or {}).get('plan') or {}
    ratios = [float(r) for r in plan.get('pruned_ratios') or []]
    if not ratios:
        return 'an empty plan'
    lo, hi = min(ratios), max(ratios)
    return '%d conv%s at %s (%s%s)' % (
        len(ratios), '' if len(ratios) == 1 else 's',
        '%g' % lo if lo == hi else '%g-%g' % (lo, hi), plan.get('criterion', 'l1_norm'),
        ', round_channels %d' % plan['round_channels'] if plan.get('round_channels') else '')


def _parent_hint(meta, what, kind):
    """Where to start instead: the nearest checkpoint up the record's ``parent`` chain
    without a ``kind`` step (the direct parent of a pruned-then-distilled checkpoint is
    the pruned one, which was named as 'unpruned')."""
    from ppdet.utils.checkpoint import read_meta
    parent, seen = (meta or {}).get('parent'), set()
    while parent and parent not in seen:
        seen.add(parent)
        try:
            above = read_meta(parent)
        except (OSError, ValueError):   # moved or unreadable: name it, as recorded
            break
        if not _steps_of(above, kind):
            return 'its %s %s %s' % (what, 'ancestor' if len(seen) > 1 else 'parent', parent)
        parent = above.get('parent')
    return 'the %s weights it was made from' % what


def check_not_quantized(meta, path, flag):
    """Refuse a quantization-aware checkpoint (its record holds a ``quant`` step): its
    convs are fake-quant wrappers, not the float convs pruning and sensitivity work on."""
    if _steps_of(meta, 'quant'):
        raise ValueError('%s %s is a quantization-aware checkpoint (its record holds a quant '
                         'step made by slim/quantization/train.py): prune/analyse %s instead, '
                         'then quantize the pruned model' % (flag, path, _parent_hint(meta, 'float', 'quant')))


def check_prune_start(path, flag='pretrain_weights', state=None):
    """The weights a new pruning run starts from: not a QAT checkpoint, and not already
    pruned (pruning them again compounds the plans: a FLOPs target made on the unpruned model
    is missed).  ``state``: the file as :func:`~ppdet.utils.checkpoint.read_state` read it
    (else it is read).  Returns the checkpoint's record ({} for plain weights)."""
    from ppdet.utils.checkpoint import meta_of, read_state
    meta = meta_of(read_state(path) if state is None else state)
    check_not_quantized(meta, path, flag)
    pruned = _steps_of(meta, 'prune')
    if pruned:
        raise ValueError('%s %s is already pruned by %s%s; start from %s, or -r it to resume '
                         'its fine-tuning (pruning it again would compound the plans)'
                         % (flag, path, ' then '.join(describe_plan(p) for p in pruned),
                            ' (%d prune steps)' % len(pruned) if len(pruned) > 1 else '',
                            _parent_hint(meta, 'unpruned', 'prune')))
    return meta


def check_resume_checkpoint(path, epochs=None):
    """``prune.py -r``: the checkpoint of a pruning run (a prune step in its record, no quant
    step); ``epochs``: the config's, named when nothing would be left to train either.
    Returns its record."""
    from ppdet.utils.checkpoint import read_meta
    meta = read_meta(path)
    check_not_quantized(meta, path, '-r')
    if not _steps_of(meta, 'prune'):
        saved = meta.get('epoch')
        also = (' (it was also saved after epoch %d and the config trains %d epoch(s), so '
                'nothing is left to train either)' % (int(saved), int(epochs))
                if saved is not None and epochs is not None and int(saved) >= int(epochs)
                else '')
        raise ValueError('-r %s: this checkpoint was not pruned (its record holds no prune '
                         'step)%s; -r resumes a pruning run; to prune this checkpoint use '
                         '-o pretrain_weights=%s with --pruned_ratios or --target_flops'
                         % (path, also, path))
    return meta


def check_resume_flags(meta, path, model, pruned_params=None, pruned_ratios=None,
                       criterion=None, round_channels=None, target_flops=None,
                       sensitivities_file=None, max_loss=None, max_ratio=None):
    """``prune.py -r`` with pruning flags: the resumed checkpoint's recorded plan is used, so
    flags giving another plan are refused (the same plan passes).  ``--target_flops`` and its
    flags cannot be checked against the record (the plan came from the unpruned model) and
    are refused."""
    record = _steps_of(meta, 'prune')[-1]
    flops = [f for f, v in (('--target_flops', target_flops), ('-s', sensitivities_file),
                            ('--max_loss', max_loss), ('--max_ratio', max_ratio))
             if v is not None]
    if flops:
        raise ValueError('-r %s resumes with the plan recorded in the checkpoint (%s); %s '
                         'would not be used: drop %s' % (path, describe_plan(record),
                                                         ' and '.join(flops), ' and '.join(flops)))
    if pruned_params in (None, '') and pruned_ratios in (None, '') and criterion is None and \
            round_channels is None:
        return
    recorded = PrunePlan.from_dict(record['plan']).resolved(model)
    diff = []
    if pruned_ratios in (None, '') and pruned_params not in (None, ''):
        names = resolve_names(model, split_flag(pruned_params))
        if set(names) != set(recorded.ratios):
            diff.append('--pruned_params names %d conv(s), the checkpoint prunes %d (e.g. %s)'
                        % (len(names), len(recorded.ratios),
                           sorted(set(names) ^ set(recorded.ratios))[0]))
    elif pruned_ratios not in (None, ''):
        given = PrunePlan.from_flags(model, pruned_params, pruned_ratios,
                                     criterion or recorded.criterion, recorded.input_size,
                                     recorded.round_channels if round_channels is None
                                     else round_channels)
        if dict(given.ratios) != dict(recorded.ratios):
            changed = [n for n in list(recorded.ratios) + [g for g in given.ratios
                                                            if g not in recorded.ratios]
                       if given.ratios.get(n) != recorded.ratios.get(n)]
            diff.append('ratios of %d conv%s (e.g. %s: flags %s, checkpoint %s)' % (
                len(changed), '' if len(changed) == 1 else 's', changed[0],
                given.ratios.get(changed[0], 'none'), recorded.ratios.get(changed[0], 'none')))
    if criterion is not None and normalize_criterion(criterion) != recorded.criterion:
        diff.append('--prune_criterion %s (checkpoint: %s)' % (criterion, recorded.criterion))
    if round_channels is not None and int(round_channels) != recorded.round_channels:
        diff.append('--round_channels %s (checkpoint: %d)' % (round_channels,
                                                             recorded.round_channels))
    if diff:
        raise ValueError('-r %s resumes the plan recorded in the checkpoint (%s), but the flags '
                         'give another: %s; drop the pruning flags to resume, or prune its '
                         'unpruned parent with -o pretrain_weights=%s'
                         % (path, describe_plan(record), '; '.join(diff),
                            meta.get('parent') or 'PARENT'))


def check_prunable_weights_loaded(model, path, plan, state=None):
    """Refuse pruning weights that do not hold every conv ``plan`` prunes with its shape:
    the filters would be ranked on random weights (a half-loaded model pruned to AP 0).
    ``state``: the file as :func:`~ppdet.utils.checkpoint.read_state` read it (else it is
    read)."""
    from ppdet.utils.checkpoint import clean_state_dict, read_state
    state = clean_state_dict(read_state(path) if state is None else state)
    params = prunable_params(model)
    keys = {id(p): k for k, p in model.named_parameters()}
    missing, other = [], []
    for name in plan.ratios:
        key = keys[id(params[name])]
        if key not in state:
            missing.append('%s (%s)' % (name, key))
        elif list(np.shape(_as_array(state[key]))) != [int(s) for s in params[name].shape]:
            other.append('%s: model %s, file %s' % (name, list(params[name].shape),
                                                    list(np.shape(_as_array(state[key])))))
    if missing or other:
        parts = []
        if missing:
            parts.append('%d missing (%s%s)' % (len(missing), ', '.join(missing[:3]),
                                                ', ...' if len(missing) > 3 else ''))
        if other:
            parts.append('%d with another shape (%s%s)' % (len(other), other[0],
                                                           '; ...' if len(other) > 1 else ''))
        raise ValueError('pretrain_weights %s do not hold %d of the %d convs the plan prunes: '
                         '%s; their filters would be ranked on random weights: prune weights '
                         'trained with this config (the same architecture, widths and '
                         'num_classes)' % (path, len(missing) + len(other), len(plan.ratios),
                                           '; '.join(parts)))


def _as_array(v):
    return v.numpy() if hasattr(v, 'numpy') else np.asarray(v)


def check_removes_filters(model, plan):
    """Refuse a plan that removes no filter (every ratio 0, or too small for its conv's
    width); warn naming the convs that lose none when others do."""
    params = prunable_params(model)
    idle = []
    for name, ratio in plan.ratios.items():
        channels = int(params[name].shape[0])
        if plan.kept(name, channels) == channels:
            idle.append('%s (ratio %g of %d filters)' % (name, ratio, channels))
    if idle and len(idle) == len(plan.ratios):
        raise ValueError('the plan removes no filter: %s%s; a ratio removes round(C * ratio) '
                         'of a conv\'s C filters, so give ratios of at least 0.5/C'
                         % (', '.join(idle[:3]), ', ...' if len(idle) > 3 else ''))
    if idle:
        logger.warning('%d of the %d pruned convs lose no filter (ratio 0 or too small for '
                       'its width): %s', len(idle), len(plan.ratios), ', '.join(idle))
    return idle
