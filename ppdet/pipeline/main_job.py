"""The main job: the whole compression pipeline on the built-in dataset, stage by stage.

Each stage writes its outputs under ``work_dir`` and records its numbers in
``results.json`` (atomically), and is skipped when it is already recorded as
done, so an interrupted run continues where it stopped (a training stage also
resumes from its last epoch checkpoint).  ``tools/pipeline.py --fresh`` starts over.
"""
import contextlib
import os
import re
import time

from ppdet.core.workspace import ConfigError, did_you_mean, load_config
from ppdet.slim.quant import PTQ_ALGOS
from ppdet.utils.checkpoint import weights_file
from ppdet.utils.cli import check_range
from ppdet.utils.fileio import check_output_dir, near_files_hint, read_json, update_json
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

PRUNE_PRESETS = ('sensity', 'r578')
# At each preset's FLOPs cut on the built-in model, the preset is compared with a uniform ratio
# over the same convs and with ratios derived from the model's own sensitivities
# (ppdet.slim.flops_target), each fine-tuned on the same schedule once per seed.
PRUNE_PLANS = ('uniform', 'derived', 'preset')
PRUNE_SEEDS = (0, 1)
# Fine-tuning after pruning, for QAT and for distillation: 3 epochs of the 1800-image built-in
# set (336 steps at batch 16), a quarter of the baseline's 12.
FINETUNE_EPOCHS = 3
# QAT's learning rate, and its fp32 twin's (the ``finetuned`` rows: same schedule, no
# quantization, so that aware minus finetuned is what quantization costs)
QAT_LR = 0.0003
# The post-training algorithms the demo runs: every valid one (ppdet.slim.quant.PTQ_ALGOS)
# except 'emd'.
DEMO_PTQ_ALGOS = tuple(a for a in PTQ_ALGOS if a != 'emd')
TEACHER_CONFIG = 'configs/builtin/yolov3_r18x05_builtin_teacher.yml'
# Distillation weights for the built-in pair, below PaddleDetection's COCO values (100 for
# L2, 1000 fine-grained; still the library defaults).  With those, the distillation term was
# ~18x the detection loss and every distilled student lost AP to its undistilled twin: 94% of
# the L2 term is the head's class and objectness logits at background cells (teacher
# objectness < 0.1), which decoding ignores.  L2 at 10 was still 3-5x the detection loss and
# did not beat the twin with the strong teacher; at 2 (0.5-1.2x) it did, for the baseline
# (+2.1) and r578 (+1.2), mean of two seeds (benchmarks/results/distill_quality.md).
# See README, "Distillation".
DISTILL_WEIGHTS = {'l2': 2.0, 'fine_grained': 100.0}


# results.json's record of the settings a work dir was started with (check_settings), each
# under the tools/pipeline.py flag that sets it
SETTINGS_KEY = '_settings'
SETTING_FLAGS = {'model': '--model', 'config': '-c',
                 'config_content': 'the content of -c (with its _BASE_ files): digest',
                 'overrides': '-o',
                 'dataset_dir': '--dataset_dir', 'finetune_epochs': '--finetune_epochs',
                 'sensitivity_images': '--sensitivity_images', 'seeds': '--seeds',
                 'teacher_config': '--teacher_config', 'teacher_epochs': '--teacher_epochs',
                 'teacher_weights': '--teacher_weights'}


def stage_group(name):
    """The group of a stage: ``quant:post_hist`` -> ``quant``, ``prune_r578`` -> ``prune``."""
    return re.split('[:_]', name)[0]


class MissingResult(KeyError):
    """A result an earlier stage records is not in results.json (that stage has not run)."""


class Results(dict):
    """results.json's dict: a missing key raises :class:`MissingResult` (still a KeyError),
    which :meth:`Pipeline.stage` turns into the earlier stages to run first."""

    def __missing__(self, key):
        raise MissingResult(key)


class Pipeline(object):
    # where the data generator puts the COCO layout under dataset_dir, and the config
    # sections that read it
    dataset_subdir = 'coco'
    data_sections = ('TrainDataset', 'EvalDataset', 'TestDataset')
    # the pruned rows' fine-tuning seeds when none are given (tools/pipeline.py --seeds)
    default_prune_seeds = PRUNE_SEEDS
    # the family jobs distil from their trained baseline: no teacher config or weights
    teacher_is_baseline = False

    def __init__(self, config, work_dir='output/pipeline', dataset_dir='dataset/builtin',
                 overrides=None, finetune_epochs=FINETUNE_EPOCHS, sensitivity_images=40,
                 dataset_kwargs=None, sensitivity_metric=None, calib_images=16,
                 teacher_config=TEACHER_CONFIG, teacher_epochs=None, stages=None,
                 distill_weights=None, prune_seeds=None, teacher_weights=None):
        # None: the config's own schedule; 0 used to mean that too, without a word
        check_range('finetune_epochs (--finetune_epochs)', finetune_epochs, 1,
                    hint='the epochs of each fine-tuning run: pruned rows, QAT, distillation')
        check_range('sensitivity_images (--sensitivity_images)', sensitivity_images, 1,
                    hint='eval images per sensitivity probe')
        # None: the teacher config's schedule (0 would have meant that too, without a word)
        check_range('teacher_epochs (--teacher_epochs)', teacher_epochs, 1,
                    hint="the teacher's training epochs")
        self.config = config
        self.overrides = list(overrides or [])
        self.work_dir = work_dir
        self.dataset_dir = dataset_dir
        self.finetune_epochs = finetune_epochs
        self.sensitivity_images = sensitivity_images
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.sensitivity_metric = sensitivity_metric
        self.calib_images = calib_images
        self.teacher_config = teacher_config
        self.teacher_epochs = teacher_epochs  # None: the teacher config's own schedule
        # a teacher trained outside the job (benchmarks/distill_quality.py --only teacher):
        # scored, not trained
        self.teacher_weights = teacher_weights
        self.distill_weights = dict(DISTILL_WEIGHTS, **(distill_weights or {}))
        self.prune_seeds = _checked_seeds(self.default_prune_seeds if prune_seeds is None
                                          else prune_seeds)
        self.only = set(stages) if stages else None  # run just these stage groups
        self._dry_names = None  # [(name, by_default)] while stage_names() walks run()
        self._running = None    # the stage now running: recorded with each table row
        self.results_path = os.path.join(work_dir, 'results.json')
        self.results = Results(read_json(self.results_path)
                               if os.path.isfile(self.results_path) else {})

    # -- helpers -----------------------------------------------------------------
    def cfg(self, extra=(), config=None):
        cfg = load_config(config or self.config, overrides=self.overrides + list(extra))
        cfg['save_dir'] = self.work_dir
        for section in self.data_sections:
            # the built-in dataset's layout, wherever it was generated
                cfg[section]['dataset_dir'] = os.path.join(self.dataset_dir, self.dataset_subdir)
        return cfg

    def record(self, key, value):
        # re-read under a lock: stage groups may run at once in separate processes
        # (e.g. --stages quant and --stages distill), each adding its own keys
        self.results = Results(update_json(self.results_path,
                                           lambda r: r.__setitem__(key, value)))

    def append(self, key, item):
        """Add ``item`` to the list ``key`` once (``_done``, ``rows``)."""
        def add(r):
            if item not in r.setdefault(key, []):
                r[key].append(item)
        self.results = Results(update_json(self.results_path, add))

    def path(self, *parts):
        return os.path.join(self.work_dir, *parts)

    def stage_names(self, by_default_only=False):
        """Every stage ``run()`` goes through, in order (a dry pass: nothing runs);
        ``by_default_only``: without the measurements run only when named."""
        self._dry_names = []
        try:
            self.run()
            return [n for n, by_default in self._dry_names if by_default or not by_default_only]
        finally:
            self._dry_names = None

    def in_run_order(self, results):
        """``results`` with its table ``rows`` in the order the stages run, whatever order
        they finished in (stage groups run at once in separate processes append their rows
        as they finish); rows without a recorded stage (an older results.json) keep theirs,
        after the others."""
        order = {n: i for i, n in enumerate(self.stage_names())}
        rows = list(results.get('rows', []))
        rank = {r: order.get((results.get(r) or {}).get('stage'), len(order)) for r in rows}
        out = Results(results)
        out['rows'] = sorted(rows, key=lambda r: rank[r])   # stable: ties keep their order
        return out

    def stage_groups(self):
        """The stage groups of this job, in run order."""
        return list(dict.fromkeys(stage_group(n) for n in self.stage_names()))

    def check_stages(self):
        """Raise ValueError naming each ``stages`` entry that is neither a stage nor a
        group of this job (with the close ones), before anything runs."""
        if self.only is None:
            return
        names = self.stage_names()
        groups = sorted({stage_group(n) for n in names})
        known = set(names) | set(groups)
        for want in sorted(self.only - known):
            raise ValueError('unknown stage %r%s; this job has the groups %s and the stages %s'
                             % (want, did_you_mean(want, sorted(known)), ', '.join(groups),
                                ', '.join(names)))

    def check_inputs(self):
        """Refuse, before anything is deleted or run, what would fail in a later stage:
        ``stages`` entries, every config the job loads with the overrides, the work and
        dataset dirs and the cached teacher (one-line ValueErrors naming the flags)."""
        self.check_stages()
        for flag, path in self.configs():
            _check_config(flag, path, lambda p: self.cfg(config=p))
        check_output_dir(self.work_dir, '--work_dir')
        if self.selected('data') and not self.done('data'):
            check_output_dir(self.dataset_dir, '--dataset_dir')
        elif not os.path.isdir(self.dataset_dir):
            raise ValueError('--dataset_dir: %s not found; run the data stage first (--stages '
                             'data, or the whole job) or give the dataset\'s directory'
                             % self.dataset_dir)
        if self.teacher_weights and not os.path.isfile(weights_file(self.teacher_weights)):
            raise ValueError('--teacher_weights: %s not found (give a trained teacher\'s '
                             '.pdparams file or its prefix)' % weights_file(self.teacher_weights))

    def check_fresh(self):
        """``--fresh`` deletes the work dir: refuse one that is not empty and holds no
        results.json of a job (a folder given to --work_dir by mistake)."""
        if os.path.isdir(self.work_dir) and os.listdir(self.work_dir) and \
                not os.path.isfile(self.results_path):
            names = sorted(os.listdir(self.work_dir))
            raise ValueError('--fresh: %s holds no pipeline results (no results.json; it holds '
                             '%s%s): refusing to delete it; give a work dir of this job or a new '
                             'or empty --work_dir' % (self.work_dir, ', '.join(names[:5]),
                                                      ', ...' if len(names) > 5 else ''))

    def configs(self):
        """``[(flag, config)]``: every config the job loads (each with the overrides)."""
        out = [('-c', self.config)]
        if not self.teacher_is_baseline:
            out.append(('--teacher_config', self.teacher_config))
        return out

    def settings(self, model=None):
        """What this job's results depend on, by ``SETTING_FLAGS`` key (``model``: the
        ``--model`` that made the job)."""
        out = {'model': model, 'config': _norm(self.config),
               'config_content': config_digest(self.cfg()) if os.path.isfile(self.config)
               else None, 'overrides': self.overrides,
               'dataset_dir': _norm(self.dataset_dir), 'finetune_epochs': self.finetune_epochs,
               'sensitivity_images': self.sensitivity_images, 'seeds': self.prune_seeds}
        if not self.teacher_is_baseline:
            out.update(teacher_config=_norm(self.teacher_config),
                       teacher_epochs=self.teacher_epochs,
                       teacher_weights=_norm(self.teacher_weights))
        return out

    def check_settings(self, model=None):
        """Record this job's settings in results.json when the work dir is started, and
        refuse a work dir started with other ones: its done stages would be skipped and
        their results reported as this job's.  More seeds may be added after the first.
        A results.json from before the record is taken as made with these, with a warning."""
        now = self.settings(model)

        def check(results):
            old = results.get(SETTINGS_KEY)
            if old is None:
                if results.get('_done'):
                    logger.warning('%s has no record of the settings it was made with (made '
                                   'before they were recorded): taken as made with this '
                                   "run's (%s); other settings are refused from now on",
                                   self.results_path, settings_text(now))
                results[SETTINGS_KEY] = now
                return
            diff = differing_settings(old, now)
            if diff and self._holds_no_output(results):
                # a run refused before its first stage (e.g. --stages quant on a new work
                # dir): nothing of it would be reported as this run's
                logger.info('%s was started with other settings (%s) but holds no stage\'s '
                            'output: taken with this run\'s', self.work_dir,
                            settings_text(old, diff))
                results[SETTINGS_KEY] = now
                return
            if diff:
                raise ValueError(
                    '--work_dir %s was started with other settings: %s (this run: %s); its done '
                    "stages would be skipped and their results reported as this run's: add "
                    '--fresh to start over there, or give another --work_dir%s' % (
                        self.work_dir, settings_text(old, diff), settings_text(now, diff),
                        '; or keep its first seed (it names the rows; more seeds may follow '
                        'it): --seeds %s ...' % old['seeds'][0] if 'seeds' in diff and
                        old.get('seeds') else ''))
            old['seeds'] += [s for s in now['seeds'] if s not in old['seeds']]
        self.results = Results(update_json(self.results_path, check))

    def _holds_no_output(self, results):
        """No stage is done and the work dir holds nothing but results.json (and its lock)."""
        own = {os.path.basename(self.results_path), os.path.basename(self.results_path) +
               '.lock'}
        return not results.get('_done') and not set(os.listdir(self.work_dir)) - own

    def selected(self, name, by_default=True):
        """Whether ``--stages`` (``only``) lets stage ``name`` run: it takes groups
        (``distill``) or single stages (``distill:teacher``); ``by_default=False``: a
        measurement outside the job, run only when named (not its group)."""
        if self.only is not None and not ({name, stage_group(name)} & self.only):
            return False
        return by_default or (self.only is not None and name in self.only)

    def done(self, name):
        return name in self.results.get('_done', [])

    def stage(self, name, fn, by_default=True):
        """Run stage ``name`` (``fn()``) unless ``--stages`` leaves it out or it is done.
        ``by_default=False``: a measurement outside the job, run only when ``--stages``
        names it (not its group).  A result of an earlier stage that is missing is a
        ValueError naming the stages to run first."""
        if self._dry_names is not None:
            self._dry_names.append((name, by_default))
            return
        if not self.selected(name, by_default):
            return
        if self.done(name):
            logger.info('[%s] already done (see %s); skipping', name, self.results_path)
            return
        logger.info('[%s] starting', name)
        tic = time.time()
        self._running = name
        try:
            fn()
        except MissingResult as e:
            raise ValueError(self._missing_text(name, e.args[0])) from None
        finally:
            self._running = None
        self.record('time_%s_s' % name, round(time.time() - tic, 1))
        self.append('_done', name)
        logger.info('[%s] done in %.1f s', name, time.time() - tic)

    def _missing_text(self, name, key):
        """Why stage ``name`` cannot run: ``key`` is missing, and the earlier stages not
        done (their groups: the ``--stages`` to run first)."""
        names = self.stage_names(by_default_only=True)
        earlier = names[:names.index(name)] if name in names else names
        todo = [n for n in earlier if not self.done(n)]
        what = 'stage %s needs %r from an earlier stage, and %s does not have it' % (
            name, key, self.results_path)
        if not todo:
            return what + ' (though every stage before it is done): start over with --fresh'
        groups = list(dict.fromkeys(stage_group(n) for n in todo))
        return '%s; not done yet: %s: run them first (--stages %s), or the whole job ' \
               '(no --stages)' % (what, ', '.join(todo), ' '.join(groups))

    def train(self, name, cfg, prepare=None, rewrap=None):
        """Train with the one Trainer into ``work_dir/name``; resumes an interrupted run.

        ``prepare(trainer)`` applies compression steps / loads weights before training.
        ``rewrap(trainer, latest)``: on a resume, what the checkpoint cannot bring back (a
        distillation's teacher: the file holds the student alone), before the resume.
        """
        from ppdet.engine import Trainer
        trainer = Trainer(cfg, mode='train')
        trainer.save_dir = self.path(name)
        latest = os.path.join(trainer.save_dir, 'latest.pdparams')
        if os.path.isfile(latest):
            if rewrap is not None:
                rewrap(trainer, latest)
            trainer.resume(latest)  # restores any compression structure from the file
        elif prepare is not None:
            prepare(trainer)
        trainer.train(validate=False)
        weights = os.path.join(trainer.save_dir, 'model_final')
        self.record('%s_weights' % name, weights)
        return weights

    def evaluate(self, name, weights, cfg=None, extra=None, table_row=True):
        """Record AP, GFLOPs and size of a checkpoint under ``name``; a table row is also
        exported (NMS inside) and listed in ``results['rows']``."""
        from ppdet.engine import Trainer
        from ppdet.utils.model_stats import config_input_size, model_summary
        cfg = cfg or self.cfg()
        trainer = Trainer(cfg, mode='eval')
        trainer.load_weights(weights)
        with contextlib.redirect_stdout(open(os.devnull, 'w')):
            res = trainer.evaluate(output_eval=self.path(name))
        size = config_input_size(cfg)
        # AP: the metric's primary value (COCO AP on the built-in set, Easy on a face set);
        # every named value of the metric is kept beside it
        row = dict(model_summary(trainer.model, size), input_size=size[0], weights=weights)
        row.update(_values(res))
        if table_row:
            row['inference_dir'] = self.export(name, trainer)
        row.update(extra or {})
        self._record_row(name, row, table_row)
        logger.info('%s: %s GFLOPs %.4f size %.2f MB', name, _values_text(res), row['GFLOPs'],
                    row['size_MB'])
        return row

    def _record_row(self, name, row, table_row=True):
        """Record ``row`` under ``name``; a table row also gets the stage that made it (the
        report's order, :meth:`in_run_order`) and is listed in ``results['rows']``."""
        if table_row:
            row['stage'] = self._running
        self.record(name, row)
        if table_row:
            self.append('rows', name)

    def export(self, name, trainer):
        """Export ``trainer``'s model (NMS inside) to work_dir/inference/name."""
        from ppdet.data import build_dataset
        from ppdet.engine.export import export_model
        out = self.path('inference', name)
        export_model(trainer.model, trainer.cfg, out,
                     build_dataset(trainer.cfg, 'TestDataset').label_list(), meta=trainer.meta())
        return out

    # -- stages: detection core --------------------------------------------------
    def gen_data(self):
        from ppdet.data.synthetic import generate_dataset
        generate_dataset(self.dataset_dir, **self.dataset_kwargs)

    def train_baseline(self):
        self.train('baseline', self.cfg())

    def eval_baseline(self):
        self.evaluate('baseline', self.results['baseline_weights'])

    def infer_one(self):
        from ppdet.engine import Trainer
        cfg = self.cfg()
        image = _first_val_image(cfg)
        trainer = Trainer(cfg, mode='test')
        trainer.load_weights(self.results['baseline_weights'])
        res = trainer.predict([image], output_dir=self.path('infer'))
        self.record('infer_image', self.path('infer', os.path.basename(image)))
        self.record('infer_detections', int((res[0]['bbox'][:, 1] >= 0.5).sum()))

    # -- stages: pruning -----------------------------------------------------------
    def sensitivity(self):
        from ppdet.slim.pruning_job import run_sensitivity
        from ppdet.slim.sensitivity import get_ratios_by_loss
        sens_file = self.path('sensitivity', 'sensitivities.json')
        sens = run_sensitivity(self.cfg(), weights=self.results['baseline_weights'],
                               sensitivities_file=sens_file,
                               eval_images=self.sensitivity_images, max_loss=0.5,
                               metric=self.sensitivity_metric,
                               plot_file=self.path('sensitivity', 'sensitivities.png'))
        self.record('sensitivity', {'file': sens_file,
                                    'plot': self.path('sensitivity', 'sensitivities.png'),
                                    'ratios_at_loss_0.1': get_ratios_by_loss(sens, 0.1)})

    def _plan_search(self):
        """``(model, probe, sensitivities)`` for the plan searches: the config's model (FLOPs
        do not depend on the weights) with one traced pruner for every plan."""
        from ppdet.engine import Trainer
        from ppdet.slim.flops_target import FlopsProbe
        from ppdet.slim.sensitivity import load_sensitivities
        from ppdet.utils.model_stats import config_input_size
        cfg = self.cfg()
        model = Trainer(cfg, mode='eval').model
        if not list(model.prunable_params()):
            raise ValueError('%s declares no prunable convs: nothing to prune' % self.config)
        return (model, FlopsProbe(model, config_input_size(cfg)),
                load_sensitivities(self.results['sensitivity']['file']))

    @staticmethod
    def _searched_plans(model, probe, sens, names, cut):
        """``{'uniform': ..., 'derived': ...}`` at FLOPs ``cut``: one ratio over ``names``
        and ratios from the sensitivities (``error`` where they cannot reach the cut)."""
        from ppdet.slim.flops_target import (flops_cut, ratios_for_target_flops,
                                             uniform_ratio_for_target_flops)
        ratio, uniform_cut = uniform_ratio_for_target_flops(model, names, cut, probe=probe)
        entry = {'uniform': dict(ratios={n: ratio for n in names}, cut=uniform_cut)}
        try:
            derived = ratios_for_target_flops(sens, model, cut, probe=probe)
            entry['derived'] = dict(ratios=derived, cut=flops_cut(model, derived, probe=probe))
        except ValueError as e:  # an unreachable cut: the table says why
            entry['derived'] = dict(error=str(e))
        logger.info('at -%.2f%% FLOPs: uniform ratio %.4f (-%.2f%%), derived %s', 100 * cut,
                    ratio, 100 * uniform_cut, entry['derived'].get('error') or ', '.join(
                        '%.3f' % r for r in entry['derived']['ratios'].values()))
        return entry

    def prune_plans(self):
        """The plans compared at each preset's FLOPs cut: the preset, one uniform ratio over
        its convs and ratios from the sensitivities, both searched for the preset's cut."""
        from ppdet.slim.flops_target import flops_cut
        from ppdet.slim.presets import preset_ratios
        model, probe, sens = self._plan_search()
        plans = {}
        for preset in PRUNE_PRESETS:
            ratios = preset_ratios(preset)
            cut = flops_cut(model, ratios, probe=probe)
            logger.info('the %s preset removes %.2f%% of the FLOPs', preset, 100 * cut)
            plans[preset] = dict(self._searched_plans(model, probe, sens, list(ratios), cut),
                                 target_cut=cut, preset=dict(ratios=ratios, cut=cut))
        self.record('prune_plans', plans)

    def prune_plans_at_ratio(self, ratio, target_name):
        """Uniform and sensitivity-derived ratios at the FLOPs cut of removing ``ratio`` of
        every prunable conv's filters, recorded as ``results['prune_plans'][target_name]``
        (the shape :meth:`prune_and_finetune` reads with ``preset=target_name``); returns
        the entry.  The derived plan records ``error`` where the sensitivities cannot reach
        the cut."""
        from ppdet.slim.flops_target import flops_cut
        model, probe, sens = self._plan_search()
        names = list(model.prunable_params())
        cut = flops_cut(model, {n: ratio for n in names}, probe=probe)
        logger.info('prune target %s: -%.2f%% FLOPs (%.0f%% of every prunable conv)',
                    target_name, 100 * cut, 100 * ratio)
        entry = dict(self._searched_plans(model, probe, sens, names, cut),
                     target_cut=cut, ratio_of_every_conv=ratio)
        plans = dict(self.results.get('prune_plans') or {})
        plans[target_name] = entry
        self.record('prune_plans', plans)
        return entry

    def prune_row_name(self, preset, plan, seed):
        name = preset if plan == 'preset' else '%s_%s' % (plan, preset)
        return name if seed == self.prune_seeds[0] else '%s_seed%d' % (name, seed)

    def _pruned(self, preset, plan):
        """The plan's pruned checkpoint (made once, shared by the seeds) and its AP row."""
        from ppdet.engine import Trainer
        from ppdet.slim.prune import PrunePlan
        from ppdet.slim.pruning_job import prune_trainer
        from ppdet.utils.model_stats import config_input_size
        first = self.prune_row_name(preset, plan, self.prune_seeds[0])
        path = self.path('prune_%s' % first, 'pruned_no_finetune')
        if '%s_pruned' % first in self.results and os.path.isfile(path + '.pdparams'):
            return path, self.results['%s_pruned' % first]
        cfg = self.cfg()
        trainer = Trainer(cfg, mode='eval')
        trainer.load_weights(self.results['baseline_weights'])
        ratios = self.results['prune_plans'][preset][plan]['ratios']
        prune_trainer(trainer, PrunePlan(ratios, 'l1_norm', config_input_size(cfg)))
        trainer.save(path)
        # AP right after pruning, before any fine-tuning
        return path, self.evaluate('%s_pruned' % first, path, cfg, table_row=False)

    def prune_and_finetune(self, preset, plan='preset', seed=None):
        """Prune the baseline by ``plan`` at ``preset``'s cut and fine-tune with ``seed``
        (every plan and seed on the same schedule)."""
        seed = self.prune_seeds[0] if seed is None else seed
        name = self.prune_row_name(preset, plan, seed)
        info = self.results['prune_plans'][preset][plan]
        if 'error' in info:
            logger.warning('[%s] no plan: %s', name, info['error'])
            return
        pruned, after_prune = self._pruned(preset, plan)
        cfg = self._finetune_cfg(['seed=%d' % seed])
        weights = self.train('prune_%s' % name, cfg, lambda t: t.load_weights(pruned))
        # the first seed's rows are exported (table, latency); the others only scored
        self.evaluate(name, weights, cfg, table_row=seed == self.prune_seeds[0], extra={
            'AP_after_prune': after_prune['AP'], 'AP50_after_prune': after_prune.get('AP50'),
            'plan': plan, 'cut_of': preset, 'seed': seed, 'flops_cut': info['cut']})

    def prune_latency(self, repeats=30):
        """CPU latency of the baseline and of each plan's first-seed row: Paddle Inference
        fp32, 1 thread, batch 1, the rows timed interleaved in one process (median)."""
        from ppdet.benchmark.latency_sweep import latency_sweep
        from ppdet.deploy import decode_image
        names = ['baseline'] + [self.prune_row_name(p, k, self.prune_seeds[0])
                                for p in PRUNE_PRESETS for k in PRUNE_PLANS]
        rows = [(n, self.results[n]) for n in names if 'inference_dir' in self.results.get(n, {})]
        image = decode_image(_first_val_image(self.cfg()))
        out = latency_sweep(rows, [image], runtimes=('paddle_fp32',), threads=1,
                            repeats=repeats)
        self.record('prune_latency', {
            'settings': out['settings'],
            'median_ms': {n: r['runtimes']['paddle_fp32'].get('median_ms')
                          for n, r in out['rows'].items() if 'paddle_fp32' in r['runtimes']}})

    def latency_rows(self, runtimes, repeats=20, names=None, key='latency'):
        """CPU latency of the exported rows (``names``; default every row in
        ``results['rows']``) on ``runtimes`` (ppdet.benchmark.latency_sweep: 1 thread,
        batch 1, interleaved, median; each row at its own input size), recorded under
        ``key``: ``median_ms`` {row: {runtime: ms}}, each runtime's detection ``agreement``
        with the row's Paddle fp32 (or simulated) model, and the runtimes ``unavailable``
        on this machine / ``failed`` on a row, each with its reason.  Returns the record."""
        from ppdet.benchmark.latency_sweep import latency_sweep
        from ppdet.deploy import decode_image
        names = self.results.get('rows', []) if names is None else names
        rows = [(n, self.results[n]) for n in names
                if 'inference_dir' in self.results.get(n, {})]
        image = decode_image(_first_val_image(self.cfg()))
        out = latency_sweep(rows, [image], runtimes=tuple(runtimes), threads=1,
                            repeats=repeats)
        record = {
            'settings': out['settings'],
            'median_ms': {n: {rt: v.get('median_ms') for rt, v in r['runtimes'].items()}
                          for n, r in out['rows'].items()},
            'agreement': {n: {rt: (v.get('agreement') or {}).get('matched_fraction')
                              for rt, v in r['runtimes'].items()}
                          for n, r in out['rows'].items()},
            'unavailable': {n: r.get('unavailable') for n, r in out['rows'].items()
                            if r.get('unavailable')},
            'failed': {n: r.get('failed') for n, r in out['rows'].items() if r.get('failed')}}
        self.record(key, record)
        return record

    # -- stages: quantization -----------------------------------------------------
    def _finetune_cfg(self, extra=(), config=None):
        epochs = [] if self.finetune_epochs is None else ['epoch=%d' % self.finetune_epochs]
        return self.cfg(epochs + list(extra), config=config)

    def _deployed_ap(self, name, cfg=None):
        """AP of row ``name``'s exported model through Paddle Inference (int8 kernels for
        a quantized model): what a deployed model really scores.  A quantized row also gets
        its simulated values (``*_simulated``: the fake-quant graph in float, what PaddleSlim
        and QAT optimised) and the detection agreement between the two (``agreement_vs_
        simulated``: matched fraction, ppdet.deploy.compare.detection_agreement)."""
        from ppdet.deploy.infer_cfg import load_infer_cfg
        from ppdet.engine.infer_eval import evaluate_exported
        row = dict(self.results[name])
        cfg = cfg or self.cfg()
        model_dir = row['inference_dir']
        if not load_infer_cfg(model_dir).get('quantized'):
            res = evaluate_exported(cfg, model_dir)
            row.update({k + '_deployed': v for k, v in _values(res).items()})
        else:
            simulated, deployed = [], []
            sim = evaluate_exported(cfg, model_dir, simulate=True, outputs=simulated)
            dep = evaluate_exported(cfg, model_dir, outputs=deployed)
            row.update(int8_values(sim, dep, simulated, deployed))
        self.record(name, row)
        return row

    def post_quant(self, source, algo, keep_worst=0, name=None, cfg=None,
                   residual_adds=False):
        """Post-training int8 of ``source``'s exported model, judged by its deployed AP;
        ``keep_worst=K`` keeps the K layers with the worst int8 error in fp32 (the per-layer
        report decides which).  ``name`` / ``cfg``: the row's name and the source's config
        (default: derived from source and algo / the pipeline's config).  ``residual_adds``:
        the adds oneDNN cannot fold into a conv are quantized too
        (:mod:`ppdet.slim.residual_adds`)."""
        from ppdet.slim.quant import calibration_images, quantize_post_with_report
        if name is None:
            name = 'post_%s' % algo if source == 'baseline' else '%s_post' % source
            if keep_worst:
                name += '_keep%d' % keep_worst
        cfg = cfg or self.cfg()
        out = self.path('inference', name)
        calib = calibration_images(cfg, self.calib_images)
        _, reports = quantize_post_with_report(
            self.results[source]['inference_dir'], calib, out,
            keep_worst=keep_worst, algo=algo, batch_nums=self.calib_images,
            calibration_source='TrainDataset', quantize_residual_adds=residual_adds)
        src = self.results[source]
        self.record(name, {'GFLOPs': src['GFLOPs'], 'size_MB': src['size_MB'],
                           'input_size': src['input_size'], 'inference_dir': out,
                           'quantized': 'post_%s' % algo, 'parent': source,
                           'calibration_source': 'TrainDataset',
                           'quantize_residual_adds': bool(residual_adds),
                           'kept_fp32': reports.get('kept_fp32', []),
                           'worst_layers': [(r['layer'], r['isolated']['snr_db'])
                                            for r in reports['first'][:5]]})
        row = self._deployed_ap(name, cfg)
        row.update(_deployed_as_scored(row))
        self._record_row(name, row)

    def finetuned(self, source='baseline', config=None, lr=QAT_LR):
        """The fp32 twin of ``aware``: ``source`` fine-tuned on the QAT schedule and LR
        without quantization (row ``finetuned`` / ``<source>_finetuned``)."""
        name = qat_twin_name(source)
        cfg = self._finetune_cfg(['LearningRate.base_lr=%g' % lr], config=config)
        base = self.results[source]['weights']
        weights = self.train(name, cfg, lambda t: t.load_weights(base))
        self.evaluate(name, weights, cfg, extra={'parent': source, 'twin_of': 'aware'})

    def aware(self, source, config=None, lr=QAT_LR, residual_adds=False, int8_head=False):
        """Quantization-aware fine-tuning of ``source``'s checkpoint (pruned ones too);
        ``config``: the source's config (default: the pipeline's).  Its fp32 twin is
        :meth:`finetuned` on the same schedule and LR.  ``residual_adds``: the residual adds
        oneDNN cannot fold into a conv are quantized too (row ``<name>_adds``);
        ``int8_head``: the output convs the architecture declares float-only too (row
        ``<name>_int8_head``)."""
        from ppdet.slim.qat import QATStep
        name = 'aware' if source == 'baseline' else '%s_aware' % source
        suffix = ('_adds' if residual_adds else '') + ('_int8_head' if int8_head else '')
        name += suffix
        cfg = self._finetune_cfg(['LearningRate.base_lr=%g' % lr], config=config)
        src_weights = self.results[source]['weights']

        def prepare(t):
            t.load_weights(src_weights)  # restores a pruned structure from the file
            t.apply_step(QATStep.from_config(t.cfg, not_quant_pattern=[] if int8_head else None,
                                             quantize_residual_adds=residual_adds or None))
        weights = self.train('qat_%s%s' % (source, suffix), cfg, prepare)
        self.evaluate(name, weights, cfg, extra={'quantized': 'aware', 'parent': source,
                                                 'twin': qat_twin_name(source),
                                                 'quantize_residual_adds': bool(residual_adds),
                                                 'int8_head': bool(int8_head)})
        row = self._deployed_ap(name, cfg)
        # fake-quant wrappers hide the convs from the FLOPs hooks; int8 does not change the
        # conv MACs, and the size column stays the fp32 parameter size for every row
        src = self.results[source]
        # AP_dygraph: the QAT model in dygraph (fake-quant layers), before export
        row.update(AP_dygraph=row['AP'], GFLOPs=src['GFLOPs'], size_MB=src['size_MB'])
        row.update(_deployed_as_scored(row))
        self.record(name, row)

    # -- stages: distillation ------------------------------------------------------
    def train_teacher(self):
        extra = ['epoch=%d' % self.teacher_epochs] if self.teacher_epochs else []
        cfg = self.cfg(extra, config=self.teacher_config)
        if self.teacher_weights:
            logger.info('teacher: the cached %s (not trained here)', self.teacher_weights)
            self.evaluate('teacher', self.teacher_weights, cfg, extra={'cached': True})
            return
        self.evaluate('teacher', self.train('teacher', cfg), cfg)

    def alone(self, name='student_alone', source='baseline', config=None):
        """The undistilled twin of l2/fine-grained distillation: ``source`` (a row; default
        the baseline) fine-tuned with the same schedule and no teacher (so the teacher's
        effect is what differs); ``config``: the source's config (default: the pipeline's)."""
        cfg = self._finetune_cfg(config=config)
        base = self.results[source]['weights']
        weights = self.train(name, cfg, lambda t: t.load_weights(base))
        self.evaluate(name, weights, cfg, extra={'parent': source})

    def distill(self, name, loss, student=None, config=None, teacher=None, weight=None,
                twin='student_alone'):
        """Fine-tune ``student`` (a checkpoint; default: the trained baseline; ``config``: its
        config, default the pipeline's) with the teacher (``teacher``: its weights, default
        ``results['teacher']``'s, built from ``teacher_config``), on the same fine-tuning
        schedule as its undistilled twin ``twin`` (a row: ``student_alone`` for the baseline,
        ``r578`` for the pruned checkpoint; recorded for the results table's comparison).
        ``weight``: the loss weight (default ``distill_weights[loss]``)."""
        from ppdet.slim.distill import DistillStep
        extra = ['use_fine_grained_loss=true'] if loss == 'fine_grained' else []
        cfg = self._finetune_cfg(extra, config=config)
        teacher = teacher or self.results['teacher']['weights']
        student = student or self.results['baseline_weights']
        weight = self.distill_weights[loss] if weight is None else weight

        def prepare(t, start=student):
            t.load_weights(start)  # a pruned checkpoint brings its plan along
            # the teacher again on a resume (its record in the file is replaced)
            t.steps = [s for s in t.steps if s.get('kind') != DistillStep.kind]
            t.apply_step(DistillStep(self.teacher_config, teacher, loss=loss, weight=weight,
                                     student_cfg=t.cfg))
        # resumed, an interrupted distillation trained on without its teacher
        weights = self.train('distill_%s' % name, cfg, prepare, rewrap=prepare)
        self.evaluate(name, weights, cfg, extra={'distill': loss, 'distill_weight': weight,
                                                 'teacher': teacher, 'twin': twin})

    def run_opening_stages(self, *extra):
        """The stages every family's job opens with: data, train, eval (+ export), infer,
        then ``extra`` ``(name, fn)`` stages (e.g. the face job's MediaPipe import), the
        sensitivities and the prune plans."""
        self.stage('data', self.gen_data)
        self.stage('train', self.train_baseline)
        self.stage('eval', self.eval_baseline)
        self.stage('infer', self.infer_one)
        for name, fn in extra:
            self.stage(name, fn)
        self.stage('sensitivity', self.sensitivity)
        self.stage('prune_plans', self.prune_plans)

    def run_ratio_prune_stages(self, target, plans):
        """Each of ``plans`` at the ``target`` FLOPs cut (see :meth:`prune_plans_at_ratio`),
        fine-tuned once per seed (the first seed's rows are the exported ones), then their
        unpruned twin and the baseline's deployed AP (the reference of the int8 rows that
        follow)."""
        for seed in self.prune_seeds:
            for plan in plans:
                self.stage('prune_%s' % self.prune_row_name(target, plan, seed),
                           lambda k=plan, s=seed: self.prune_and_finetune(target, k, s))
        # the pruned rows' twin: the baseline fine-tuned on their schedule, unpruned
        self.stage('prune_alone', self.alone)
        self.stage('quant:baseline_deployed', lambda: self._deployed_ap('baseline'))

    def run(self):
        self.run_opening_stages()
        for seed in self.prune_seeds:
            for preset in PRUNE_PRESETS:
                for plan in PRUNE_PLANS:
                    self.stage('prune_%s' % self.prune_row_name(preset, plan, seed),
                               lambda p=preset, k=plan, s=seed: self.prune_and_finetune(p, k, s))
        self.stage('prune_latency', self.prune_latency)
        self.stage('quant:baseline_deployed', lambda: self._deployed_ap('baseline'))
        for algo in DEMO_PTQ_ALGOS:
            self.stage('quant:post_%s' % algo, lambda a=algo: self.post_quant('baseline', a))
        self.stage('quant:post_keep_worst',
                   lambda: self.post_quant('baseline', 'abs_max', keep_worst=3))
        self.stage('quant:r578_post', lambda: self.post_quant('r578', 'hist'))
        self.stage('quant:finetuned', lambda: self.finetuned('baseline'))
        self.stage('quant:aware', lambda: self.aware('baseline'))
        self.stage('quant:r578_finetuned', lambda: self.finetuned('r578'))
        self.stage('quant:r578_aware', lambda: self.aware('r578'))
        self.stage('distill:teacher', self.train_teacher)
        self.stage('distill:alone', self.alone)
        self.stage('distill:l2', lambda: self.distill('l2_distill', 'l2'))
        self.stage('distill:fine_grained', lambda: self.distill('fine_grained_distill',
                                                               'fine_grained'))
        self.stage('distill:r578', lambda: self.distill(
            'r578_distill', 'l2', student=self.path('prune_r578', 'pruned_no_finetune'),
            twin='r578'))
        return self.results


def _checked_seeds(seeds):
    """``--seeds`` as ints: at least one, each a valid random seed, none twice."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError('prune_seeds is empty: give at least one seed (e.g. --seeds 0 1)')
    for s in seeds:
        check_range('prune_seeds (--seeds)', s, 0, 2 ** 32 - 1,
                    hint='the fine-tuning seeds of the pruned rows')
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError('prune_seeds (--seeds): %s given twice; give each seed once'
                         % ', '.join(map(str, twice)))
    return seeds


def _check_config(flag, path, load):
    """Refuse config ``path`` (given by ``flag``) when it is missing, naming the close
    ones beside it, or when ``load(path)`` (with the job's overrides) refuses it."""
    if not os.path.isfile(path):
        raise ValueError('%s: config file not found: %s%s' % (
            flag, path, near_files_hint(path, ('.yml', '.yaml'))))
    try:
        load(path)
    except ConfigError as e:
        raise ConfigError('%s %s: %s' % (flag, path, e)) from None


def _norm(path):
    return None if path is None else os.path.normpath(path)


def differing_settings(old, now, keys=None):
    """The ``SETTING_FLAGS`` keys (``keys``: only these) whose recorded value ``old`` and
    this run's ``now`` differ (more seeds after the same first one do not)."""
    diff = [k for k in SETTING_FLAGS if (k in old or k in now) and
            (keys is None or k in keys) and not _same_setting(k, old.get(k), now.get(k))]
    if 'config' in diff or 'overrides' in diff:   # another -c or -o: their content differs
        diff = [k for k in diff if k != 'config_content']
    return diff


def _same_setting(key, old, new):
    if key == 'seeds':   # more seeds may be added; the first names the rows
        return bool(old) and bool(new) and old[0] == new[0]
    if key == 'config_content' and (old is None or new is None):  # not recorded (yet)
        return True
    if key == 'overrides':   # the same -o in another order is the same config
        return _override_map(old) == _override_map(new)
    return old == new


def config_digest(cfg):
    """12 hex digits of the loaded config's content (its _BASE_ files and -o applied; not
    its comments or layout): a config edited after the work dir was started had its done
    stages reported as the edited config's."""
    import hashlib
    import json
    text = json.dumps({k: v for k, v in cfg.items() if not str(k).startswith('_')},
                      sort_keys=True, default=str)
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]


def _override_map(items):
    """``['a=1', 'b=2']`` as {key: value}, read as load_config reads them (``epoch=1`` is
    ``epoch=1.0``) and the last of a repeated key winning: order does not matter otherwise."""
    from ppdet.core.workspace import parse_override
    return dict(parse_override(str(item)) for item in items or [])


def settings_text(settings, keys=None):
    """``--model fcos -c X -o epoch=1``: ``settings`` (``keys`` of them) as flags."""
    out = []
    for key in keys or [k for k in SETTING_FLAGS if k in settings]:
        flag, value = SETTING_FLAGS[key], settings.get(key)
        if value is None or value == []:
            out.append('no %s' % flag)
        else:
            out.append('%s %s' % (flag, ' '.join(map(str, value))
                                  if isinstance(value, list) else value))
    return ', '.join(out)


def format_seed_spread(results, target, plans, label='AP'):
    """The plans at ``target``'s cut over their fine-tuning seeds (the family tables list the
    first seed's rows): the rows' ``AP`` (``label``) mean (min-max) per plan; '' with one
    seed."""
    from ppdet.pipeline.results_table import _spread, pruning_rows
    lines = []
    for plan in plans:
        rows = pruning_rows(results, target, plan)
        if len(rows) > 1:
            lines.append('- %s_%s, seeds %s: %s %s' % (
                plan, target, ','.join(str(r['seed']) for r in rows), label,
                _spread([r['AP'] for r in rows])))
    return '\n'.join(['Pruned rows over the seeds (after fine-tuning: mean (min-max))']
                     + lines) if lines else ''


def _values(res):
    """An EvalResult's named values plus ``AP`` = its primary value (the tables' key)."""
    out = {k: float(v) for k, v in res.items()}
    out['AP'] = res.primary
    return out


def _values_text(res):
    return ' '.join('%s %.4f' % (k, v) for k, v in res.items())


def qat_twin_name(source):
    """The row of ``source`` fine-tuned like its QAT row but without quantization."""
    return 'finetuned' if source == 'baseline' else '%s_finetuned' % source


def int8_values(simulated, deployed, simulated_outputs, deployed_outputs):
    """A quantized row's values from its two evaluations (EvalResults of the simulated and
    the deployed model) and their per-image outputs: ``<value>_simulated``,
    ``<value>_deployed`` and the agreement of deployed with simulated detections."""
    from ppdet.deploy.compare import detection_agreement
    agree = detection_agreement(simulated_outputs, deployed_outputs)
    out = {k + '_simulated': v for k, v in _values(simulated).items()}
    out.update({k + '_deployed': v for k, v in _values(deployed).items()})
    out.update(agreement_vs_simulated=agree['matched_fraction'],
               agreement_matched=agree['matched'], agreement_compared=agree['compared'])
    return out


def _deployed_as_scored(row):
    """A quantized row is scored by what its deployed (int8) model measures."""
    return {k[:-len('_deployed')]: v for k, v in row.items() if k.endswith('_deployed')}


def _first_val_image(cfg):
    from ppdet.data import build_dataset
    ds = build_dataset(cfg, 'EvalDataset')
    return sorted(ds.get_imid2path().values())[0]
