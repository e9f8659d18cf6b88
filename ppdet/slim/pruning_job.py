"""What ``slim/sensitive/sensitive.py`` and ``slim/prune/prune.py`` do, as library calls.

Both work on the one :class:`~ppdet.engine.Trainer`: pruning is a compression step
applied to its model before the normal fine-tuning loop.
"""
import os

from ppdet.slim.flops_target import ratios_for_target_flops
from ppdet.slim.prune import (PrunePlan, PruneStep, format_prunable, list_prunable,
                              prunable_params, resolve_names, split_flag)
from ppdet.slim.sensitivity import (DEFAULT_RATIOS, PADDLESLIM_RATIOS, check_finished,
                                    check_made_for, check_sensitivities_file,
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


def print_params(cfg, out=print):
    """``prune.py -P``: every prunable conv with its shape and share of the FLOPs."""
    from ppdet.engine import Trainer
    model = Trainer(cfg, mode='eval').model
    rows = list_prunable(model, config_input_size(cfg))
    if not rows:
        out('%s declares no prunable convs (see its prunable_params(): every conv feeds a '
            'residual add, a depthwise group or a fixed-width output), so it cannot be '
            'channel-pruned' % type(model).__name__)
        return
    out(format_prunable(rows))


def check_sensitivity_args(sensitivities_file=None, eval_images=None):
    """Refuse, before the model is built, a sensitivities file that is a directory and an
    image count below one."""
    check_sensitivities_file(sensitivities_file)
    if eval_images is not None and int(eval_images) < 1:
        raise ValueError('--eval_images must be >= 1 (got %s): the number of eval images each '
                         'probe scores; leave it out to score all of them' % eval_images)


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
    check_sensitivity_args(sensitivities_file, eval_images)
    trainer = _trainer_with_weights(cfg, weights or cfg.get('weights'), 'eval')
    model = trainer.model
    names = _param_names(model, pruned_params)
    evaluator = SubsetEvaluator(trainer, max_images=eval_images, cache_backbone=cache_backbone,
                                param_names=names, metric=metric)
    settings = dict(evaluator.settings(), weights=os.path.abspath(str(weights))
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


def build_plan(model, cfg, pruned_params=None, pruned_ratios=None, criterion='l1_norm',
               target_flops=None, sensitivities_file=None, max_loss=None, max_ratio=None,
               round_channels=0):
    """A PrunePlan from the seed's flags, or from a sensitivities file and a FLOPs target
    (no loss above ``max_loss``, no ratio above ``max_ratio``); ``round_channels`` rounds the
    kept channels of each pruned conv down to a multiple (see :class:`PrunePlan`)."""
    size = config_input_size(cfg)
    check_plan_flags(pruned_params, pruned_ratios, target_flops, sensitivities_file, max_loss,
                     max_ratio)
    if target_flops is not None:
        if not sensitivities_file or not os.path.isfile(sensitivities_file):
            raise ValueError('--target_flops needs a sensitivities file (-s FILE) made by '
                             'slim/sensitive/sensitive.py; not found: %s' % sensitivities_file)
        # made for this model, and not by an interrupted analysis
        check_finished(sensitivities_file, check_made_for(sensitivities_file, model))
        sens = load_sensitivities(sensitivities_file)
        ratios = ratios_for_target_flops(sens, model, float(target_flops), input_size=size,
                                         criterion=criterion, max_ratios=max_ratio,
                                         max_loss=max_loss)
        return PrunePlan(ratios, criterion, size, round_channels)
    return PrunePlan.from_flags(model, pruned_params, pruned_ratios, criterion, input_size=size,
                                round_channels=round_channels)


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
