"""The one training/evaluation loop.  Compression plugs in as steps and wrappers.

``Trainer`` owns the model, data, optimizer and callbacks.  Compression methods
do not fork it: pruning rewrites the model before training (``apply_step``),
distillation wraps the model (its ``get_loss`` adds the teacher terms), and
quantization-aware training rewrites the model with fake-quant layers.  Every
checkpoint records the applied steps so it can be rebuilt from the file alone.

Training settings read here: ``epoch``, ``snapshot_epoch`` (checkpoints), ``eval_interval``
(epochs between evaluations with ``validate``; default ``snapshot_epoch``), ``use_ema`` /
``ema_decay`` (see :mod:`ppdet.engine.ema`), ``print_flops``, ``max_iters_per_epoch``.
"""
import contextlib
import errno
import json
import os
import random
import time
import warnings

import numpy as np
import paddle
from tqdm import tqdm

from ppdet.core.workspace import ConfigError, create
from ppdet.engine.callbacks import Checkpointer, ComposeCallback, EMAUpdater, LogPrinter
from ppdet.engine.ema import ModelEMA
from ppdet.engine.optimizer import build_lr, build_optimizer
from ppdet.slim.checkpoint_fit import compressed_name, restore_structure
from ppdet.slim.steps import make_record
from ppdet.utils.checkpoint import (capture_rng_state, file_set, first_nonfinite,
                                    load_optimizer, load_rng_state, load_weights, new_save_id,
                                    read_meta, rng_preserved, save_checkpoint, weights_file)
from ppdet.utils.fileio import check_output_dir
from ppdet.utils.image_files import IMAGE_EXTS
from ppdet.utils.interrupts import ctrl_c_deferred
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


def set_device(cfg):
    if cfg.get('use_gpu', False):
        if not paddle.is_compiled_with_cuda():
            raise ValueError('use_gpu=true but this Paddle build has no CUDA support: install '
                             'paddlepaddle-gpu==2.6.2 (see README) or run with -o use_gpu=false')
        paddle.set_device('gpu')
    else:
        paddle.set_device('cpu')


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def unwrap(model):
    return model._layers if isinstance(model, paddle.DataParallel) else model


def deployable(model):
    """The part of a (wrapped) model that is saved, evaluated and exported.

    Training wrappers (e.g. distillation's teacher+student) define ``deployable()``
    returning the student, so checkpoints and exports never carry the teacher.
    """
    net = unwrap(model)
    return net.deployable() if hasattr(net, 'deployable') else net


def check_eval_labels(trained, dataset, weights):
    """The eval set's classes against those the checkpoint was trained with (its record's
    ``labels``): only the count was checked, so an eval json whose category ids put the
    same names in another order scored class k against another class's ground truth
    (audit: AP 0.1156 -> 0.1004, 'circle' 0.0000, no word).  The same names in another
    order are refused; other names are warned about (a relabelled set may be meant)."""
    if not trained:
        return
    try:
        names = list(dataset.label_list())
    except (AttributeError, TypeError):
        return
    if len(names) != len(trained) or names == list(trained):
        return      # another count is refused by the dataset's own check
    moved = ['%d: %s here, %s in training' % (i, a, b)
             for i, (a, b) in enumerate(zip(names, trained)) if a != b]
    moved = '; '.join(moved[:5]) + ('; ...' if len(moved) > 5 else '')
    if sorted(names) == sorted(trained):
        raise ValueError(
            'the eval set lists the classes %s was trained with in another order (%s): its '
            'detections of class k would be scored against another class; give the eval '
            'annotations the training set\'s category ids (training order: %s)' % (
                weights, moved, ', '.join(trained)))
    logger.warning('the eval set\'s class names differ from those %s was trained with (%s): '
                   'each class id is scored as the same class', weights, moved)


def architecture_of(cfg):
    """``cfg['architecture']``, or a ConfigError naming the config file that lacks it."""
    arch = cfg.get('architecture')
    if not arch:
        raise ConfigError('config %s has no architecture: set e.g. "architecture: YOLOv3", or '
                          'inherit a config that has one with _BASE_: [...]'
                          % cfg.get('_config_path', '(given as a dict)'))
    return arch


def build_model(cfg, weights=None, config_flag='-c', pretrain_hint=True):
    """Build ``cfg.architecture``; if ``weights`` is a compressed checkpoint, rebuild its
    compressed structure from the record inside the file before loading the weights, which
    must fit the model completely (see :meth:`Trainer.load_weights`; ``config_flag`` and
    ``pretrain_hint`` as :func:`ppdet.utils.checkpoint.load_weights` takes them)."""
    model = create(architecture_of(cfg), cfg)
    meta = {}
    if weights:
        meta = read_meta(weights)
        _check_meta_fits(cfg, meta, weights)
        _warn_other_model_settings(cfg, meta, weights)
        model = restore_structure(model, cfg, meta, weights, config_flag)
        made = compressed_name(meta, weights)
        load_weights(model, weights, strict=True, model_config=cfg.get('_config_path'),
                     config_flag=config_flag, pretrain_hint=pretrain_hint and not made,
                     described=made)
    return model, meta


class TrainingDiverged(FloatingPointError, ValueError):
    """The loss or the weights became NaN/inf; a ValueError so that the scripts print it in one
    line (:func:`ppdet.utils.cli.run_main`)."""


class CheckpointNotSaved(ValueError):
    """Writing a checkpoint failed (an OSError: a full disk); the message says what is still
    resumable."""


def check_resumable_without_teacher(path, meta=None, script='tools/train.py'):
    """``-r`` of a distillation checkpoint in a script that trains without a teacher (train.py,
    prune.py) went on with no distillation loss while the record kept the teacher: refused,
    naming the distill.py command that resumes it (``meta``: the checkpoint's record)."""
    meta = read_meta(path) if meta is None else meta
    steps = [s for s in meta.get('steps') or [] if s.get('kind') == 'distill']
    if not steps or meta.get('with_teacher') is False:  # a distilled model fine-tuned alone
        return
    rec = steps[-1]
    raise ValueError(
        '-r %s: this checkpoint is a distillation run (teacher %s, weights %s); %s would train '
        'it on without the teacher: resume it with python slim/distillation/distill.py -c %s '
        '-t %s --teacher_pretrained %s -r %s' % (
            path, rec.get('teacher_config'), rec.get('teacher_weights'), script,
            meta.get('config') or 'STUDENT_CONFIG', rec.get('teacher_config'),
            rec.get('teacher_weights'), path))


def _check_meta_fits(cfg, meta, weights):
    if meta.get('num_classes') not in (None, cfg.get('num_classes')):
        raise ValueError('checkpoint %s was trained with num_classes=%s but the config has %s; '
                         'use the config it was made with (%s)' % (
                             weights, meta['num_classes'], cfg.get('num_classes'),
                             meta.get('config', '?')))


def _warn_other_model_settings(cfg, meta, weights):
    """The component settings the checkpoint was trained with by ``-o`` (anchors, decode and
    NMS settings: nothing of them is in the weights) that this config does not give: eval,
    export and infer follow the config, and gave other results without a word."""
    from ppdet.core.workspace import config_value
    differ = []
    for key, value in (meta.get('model_overrides') or {}).items():
        node = config_value(cfg, key)
        if node != value:
            differ.append('%s=%s (this config: %s)' % (key, _brief(value), _brief(node)))
    if differ:
        logger.warning('%s was trained with -o %s; this run follows its config there: give the '
                       'same -o (or put them in the config) for the model it was trained as',
                       weights, '; '.join(differ))


def _warn_unbuilt_overrides(cfg, model):
    """``-o ResNet.depth=18`` on a MobileNetV1 YOLOv3 changed nothing, without a word (as in
    PaddleDetection): say so for an ``-o`` on a component layer the model does not have."""
    import paddle.nn as nn
    from ppdet.core.registry import _REGISTRY
    built = {type(m).__name__ for m in model.sublayers(include_self=True)}
    for item in cfg.get('_overrides') or []:
        section = item.split('=', 1)[0].strip().split('.')[0]
        cls = _REGISTRY.get(section)
        if isinstance(cls, type) and issubclass(cls, nn.Layer) and section not in built:
            logger.warning('-o %s: the model of this config builds no %s (its components: %s), '
                           'so the override changes nothing', item, section,
                           ', '.join(sorted(n for n in built if n in _REGISTRY)))


def _brief(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


class Trainer(object):
    def __init__(self, cfg, mode='train', model=None, steps=None):
        assert mode in ('train', 'eval', 'test'), mode
        self.cfg = cfg
        self.mode = mode
        set_device(cfg)
        set_seed(int(cfg.get('seed', 0)))
        self.model = model if model is not None else create(architecture_of(cfg), cfg)
        if model is None:
            _warn_unbuilt_overrides(cfg, self.model)
        self.model_given = model is not None  # weights of unknown origin: not "random"
        self.steps = list(steps or [])  # compression records applied to self.model
        self.parent = None
        self.start_epoch = 0
        self.loaded_weights = None  # the last file load_weights read
        self.loaded_labels = None   # the class names its record says it was trained on
        self.resumed_from = None
        self.optimizer = None
        self.ema = None  # ModelEMA once training starts with use_ema
        self.is_main_process = paddle.distributed.get_rank() == 0
        name = os.path.splitext(os.path.basename(cfg.get('_config_path', 'model')))[0]
        self.save_dir = os.path.join(cfg.get('save_dir', 'output'), name)
        self.extra_callbacks = []
        self.saved = {}  # absolute prefix -> epoch of every checkpoint this trainer saved
        self._start_warned = False

    # -- weights ----------------------------------------------------------------
    def is_pretrain(self, path):
        """Whether ``path`` is the config's ``pretrain_weights``."""
        pre = self.cfg.get('pretrain_weights')
        return bool(pre) and (os.path.abspath(weights_file(pre)) ==
                              os.path.abspath(weights_file(path)))

    def load_weights(self, path, complete=None):
        """Load weights; a compressed checkpoint's structure is restored first.

        With ``complete`` every tensor of the model must come from the file with its shape
        (weights to evaluate, export or resume: a model that is half random would give a
        metric or an export without a word); otherwise what fits is loaded and the rest is
        named in a warning (fine-tuning from a backbone or another head).  The default:
        lenient for the config's ``pretrain_weights``, complete for anything else
        (``weights``, ``-r``)."""
        if complete is None:
            complete = not self.is_pretrain(path)
        meta = read_meta(path)
        _check_meta_fits(self.cfg, meta, path)
        _warn_other_model_settings(self.cfg, meta, path)
        made = compressed_name(meta, path)
        if meta.get('steps') and not self.steps:
            self.model = restore_structure(self.model, self.cfg, meta, path)
            self.steps = list(meta['steps'])
        # a wrapper (distillation) holds the student; a pruned/QAT checkpoint must fit the
        # structure its record rebuilt completely, even as pretrain_weights: one that does not
        # was made with another config (half loaded, it failed at the first forward)
        load_weights(deployable(self.model), path, strict=complete or bool(made),
                     model_config=self.cfg.get('_config_path'),
                     pretrain_hint=self.mode == 'train' and not made, described=made)
        self.parent = os.path.abspath(str(path))
        self.loaded_weights = path
        self.loaded_labels = meta.get('labels')
        return meta

    def resume(self, path):
        meta = self.load_weights(path, complete=True)
        bad = first_nonfinite(deployable(self.model).state_dict())
        if bad:  # saved by a version that did not check: training had diverged
            raise ValueError('checkpoint %s holds non-finite weights (%s is %s): training had '
                             'diverged when it was saved; resume from an earlier snapshot in %s '
                             'with a lower LearningRate.base_lr (or gradient clipping: '
                             'OptimizerBuilder.clip_grad_by_norm)' % (
                                 path, bad[0], bad[1], os.path.dirname(os.path.abspath(
                                     weights_file(path)))))
        self._ensure_optimizer()
        if meta.get('ema') and self.ema is None:  # it would go on from the average, EMA off
            raise ValueError(
                'checkpoint %s was saved with use_ema (its weights are the average; the raw '
                'training weights are in its .pdema): resume it with -o use_ema=true; to go on '
                'without EMA start a new run from the averaged weights with -o '
                'pretrain_weights=%s (and another -o save_dir=DIR)' % (path, path))
        if self.ema is not None:  # the file holds the average; the raw weights sit beside it
            self.ema.resume(deployable(self.model), path, save_id=meta.get('save_id'),
                            saved_with_ema=meta.get('ema'))
        epoch = load_optimizer(self.optimizer, path, save_id=meta.get('save_id'),
                               saved_with_optimizer=bool(meta.get('save_id')) and
                               meta.get('epoch') is not None, wrapper=unwrap(self.model))
        self.start_epoch = int(epoch if epoch is not None else meta.get('epoch', 0))
        self.parent = meta.get('parent')
        self.resumed_from = path
        if not load_rng_state(path):  # last: building the loaders above may draw numbers
            logger.warning('%s holds no random state (an older checkpoint): the resumed run '
                           'shuffles and augments differently from an uninterrupted one', path)
        logger.info('resumed from %s at epoch %d', path, self.start_epoch)

    def apply_step(self, step):
        """Apply a CompressionStep to the model and remember its record.

        The weights it works on are checked first (:meth:`check_start_weights`): pruning
        chooses its filters here, so random weights are warned about before that (and the
        training is refused)."""
        self.check_start_weights(getattr(step, 'kind', None), refuse=False)
        self.model, record = step.apply(self.model)
        self.steps.append(make_record(step.kind, record))
        return record

    def check_epochs_left(self):
        """Refuse a resumed run with nothing left to train (its checkpoint's epoch >=
        ``epoch``): it would only write the checkpoint again as ``model_final``.  A run's own
        ``latest`` at exactly its last epoch passes: that run stopped before (or while) writing
        ``model_final``, and training it writes ``model_final`` (:meth:`_finishes_latest`)."""
        epochs = int(self.cfg['epoch'])
        if self.start_epoch == epochs and self._finishes_latest():
            return
        if self.start_epoch >= epochs:
            raise ValueError('%s was saved after epoch %d and the config trains %d epoch(s): '
                             'nothing is left to train; raise -o epoch=N (N > %d) to train on '
                             'from it' % (self.resumed_from or 'the checkpoint', self.start_epoch,
                                          epochs, self.start_epoch))

    def starts_from_random_weights(self):
        """True for a training model built here with nothing loaded into it (no
        ``pretrain_weights``, no ``-r``)."""
        return (self.mode == 'train' and not self.model_given and self.loaded_weights is None
                and self.resumed_from is None and not self.start_epoch)

    def check_start_weights(self, kind=None, refuse=True):
        """What a training run starts from, checked by :meth:`apply_step` before a
        compression step ``kind`` (``'prune'``, ``'distill'``, ``'quant'``, ...) changes the
        model (``refuse`` False: warnings only) and again by :meth:`train` (``kind`` None:
        the steps applied so far).

        From random weights (nothing loaded, nothing resumed): pruning is refused (it chooses
        the filters by their weights: random ones choose at random, and the run used to
        replace the baseline's ``model_final`` with that model), any other compression step
        gets a loud warning, and a plain training a warning only where ``-o weights=W``
        names a file that training does not read (not for the config's own
        ``save_dir/model_final``: retraining a baseline from scratch).  Scripts may call it
        before their own work on the weights (e.g. choosing a pruning plan)."""
        if not self.starts_from_random_weights():
            return
        kinds = [kind] if kind else [s.get('kind') for s in self.steps]
        weights = self.cfg.get('weights')
        path = os.path.abspath(weights_file(weights)) if weights else None
        if path and not os.path.isfile(path):
            path = None
        if path is None:
            start = '-o pretrain_weights=W (a trained checkpoint of this model)'
        elif os.path.dirname(path) == os.path.abspath(self.save_dir):
            start = ('-o pretrain_weights=%s save_dir=DIR (another save_dir: this run saves in '
                     '%s)' % (weights, self.save_dir))
        else:
            start = '-o pretrain_weights=%s' % weights
        if 'prune' in kinds:
            msg = ('pruning chooses the filters to keep by their weights, and no weights are '
                   'loaded (no -o pretrain_weights, no -r): it would prune a model with random '
                   'weights; start from the trained model with %s%s' % (
                       start, '' if path is None else
                       ' (-o weights=%s is not read by training)' % weights))
            if refuse:
                raise ValueError(msg)
            if not self._start_warned:
                self._start_warned = True
                logger.warning('THIS RUN PRUNES RANDOM WEIGHTS (its training will be refused): '
                               '%s', msg)
            return
        if self._start_warned:
            return
        compressing = [k for k in kinds if k]
        if compressing:
            self._start_warned = True
            logger.warning('THIS RUN STARTS FROM RANDOM WEIGHTS: %s is applied to a model with '
                           'no weights loaded (no -o pretrain_weights, no -r)%s; to compress a '
                           'trained model start from it with %s', ' + '.join(compressing),
                           '' if path is None else ' (weights=%s is not read by training)'
                           % weights, start)
            return
        if path is None or path == os.path.abspath(
                os.path.join(self.save_dir, 'model_final.pdparams')):
            return
        self._start_warned = True
        logger.warning('weights=%s is not read by training (eval, infer and export read it): '
                       'this run starts from random weights; to start from it use '
                       '-o pretrain_weights=%s', weights, weights)

    def _written_prefixes(self, validate):
        """The checkpoint prefixes (absolute) a :meth:`train` from ``start_epoch`` writes."""
        epochs, snap = int(self.cfg['epoch']), int(self.cfg.get('snapshot_epoch', 1))
        names = ['model_final', 'latest'] + [
            str(e) for e in range(self.start_epoch + 1, epochs + 1)
            if e % snap == 0 or e == epochs]
        if validate:
            names.append('best_model')
        return [os.path.abspath(os.path.join(self.save_dir, n)) for n in names]

    @staticmethod
    def _describe(arch, steps):
        kinds = [s.get('kind', '?') for s in steps or []]
        return '%s%s' % (arch or '?', (' + ' + ' + '.join(kinds)) if kinds else
                         ' without compression')

    def check_no_other_run_overwritten(self, validate=False):
        """Refuse a run that would save over the checkpoints of another model in its
        ``save_dir`` (``<save_dir>/<config name>`` whatever the script): ``prune.py``,
        ``distill.py`` or QAT without ``-o save_dir`` replaced the trained baseline's
        ``model_final`` (and ``latest``, the epoch snapshots) with their own.  Existing
        checkpoints of the same model and plan (same architecture, classes and steps: the
        same command run again, e.g. a baseline retrained from scratch) are replaced with a
        warning; resuming a checkpoint of ``save_dir`` itself writes on purpose.  Called by
        :meth:`train`; a script may call it once its steps are applied, before other work.
        Starting from a checkpoint of ``save_dir`` itself is refused first, by its own message
        (:meth:`check_start_not_overwritten`)."""
        self.check_start_not_overwritten()
        checked = (os.path.abspath(self.save_dir), bool(validate), self.start_epoch,
                   json.dumps(self.steps, sort_keys=True, default=str))
        if getattr(self, '_overwrite_checked', None) == checked:
            return      # prune.py checks before its evaluation, train() again: said once
        own = os.path.abspath(self.save_dir)
        if self.resumed_from and os.path.dirname(
                os.path.abspath(weights_file(self.resumed_from))) == own:
            return
        ours = json.loads(json.dumps({'architecture': architecture_of(self.cfg),
                                      'num_classes': self.cfg.get('num_classes'),
                                      'steps': self.steps}, sort_keys=True))
        same = []
        written = self._written_prefixes(validate)
        for prefix in written:
            path = prefix + '.pdparams'
            if not os.path.isfile(path):
                continue
            try:
                meta = read_meta(path)
            except ValueError:  # unreadable: nothing to compare, it is replaced
                meta = {}
            differs = [k for k in ('architecture', 'num_classes', 'steps')
                       if meta.get(k) is not None and meta[k] != ours[k]]
            if not differs:
                same.append(os.path.basename(prefix))
                continue
            theirs = self._describe(meta.get('architecture'), meta.get('steps'))
            mine = self._describe(ours['architecture'], ours['steps'])
            if theirs == mine:
                mine += ' (another %s)' % ('plan' if differs == ['steps'] else
                                           ', '.join(differs))
            ckpt = os.path.join(self.save_dir, os.path.basename(prefix))
            raise ValueError(
                'save_dir %s holds %s (%s%s), another model than this run saves there (%s): '
                'it would be overwritten; give this run another -o save_dir=DIR' % (
                    self.save_dir, ckpt, theirs,
                    '' if meta.get('epoch') is None else ', epoch %s' % meta['epoch'], mine))
        if same and self.is_main_process:
            logger.warning('%s holds checkpoints of an earlier run of this model (%s): this '
                           'run replaces them', self.save_dir, ', '.join(same))
        kept = self._earlier_checkpoints_kept(written)
        if kept and self.is_main_process:
            # a run without --eval left the earlier run's best_model beside its model_final
            logger.warning('%s also holds %s of an earlier run, which this run does not write%s:'
                           ' they stay, and they are not this run\'s weights (this run\'s are '
                           'latest and model_final)', self.save_dir, ', '.join(kept),
                           ' (best_model is written only with --eval)'
                           if 'best_model' in kept else '')
        self._overwrite_checked = checked

    def _earlier_checkpoints_kept(self, written):
        """Checkpoint names in ``save_dir`` that a fresh run does not replace, less the one it
        started from (the pipeline fine-tunes ``pruned_no_finetune`` in its own folder: this
        run's start, not an earlier run's output)."""
        if not os.path.isdir(self.save_dir):
            return []
        names = {os.path.basename(p) for p in written}
        start = self._start_name_in_save_dir()
        if start:
            names.add(start)
        found = [f[:-len('.pdparams')] for f in os.listdir(self.save_dir)
                 if f.endswith('.pdparams') and not f.startswith('.')]
        return sorted((n for n in found if n not in names),
                      key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))

    def check_start_not_overwritten(self):
        """Refuse a run that would save over the weights it starts from: ``save_dir`` is
        ``<save_dir>/<config name>`` whatever the script, so ``prune.py -c C -o
        pretrain_weights=output/C/model_final`` (or distill / QAT from it) replaced the
        baseline with its pruned copy without a word.  Resuming (``-r``) writes on purpose."""
        if self.resumed_from:
            return
        stem = self._start_name_in_save_dir()
        if stem and (stem in ('model_final', 'latest', 'best_model') or stem.isdigit()):
            raise ValueError(
                'this run saves its checkpoints in %s, where the weights it starts from (%s) '
                'are: they would be overwritten; give another -o save_dir=DIR (the checkpoints '
                'go to DIR/%s)' % (self.save_dir, self.loaded_weights,
                                   os.path.basename(self.save_dir)))

    def _start_name_in_save_dir(self):
        """The checkpoint name (``model_final``, ``pruned_no_finetune``) of the weights this
        run loaded when they lie in its own ``save_dir``, else None."""
        if not self.loaded_weights:
            return None
        start = os.path.abspath(weights_file(self.loaded_weights))
        if os.path.dirname(start) != os.path.abspath(self.save_dir):
            return None
        return os.path.basename(start)[:-len('.pdparams')]

    def meta(self, epoch=None):
        from ppdet.core.workspace import model_overrides
        out = {'architecture': architecture_of(self.cfg),
               'config': self.cfg.get('_config_path'),
               'num_classes': self.cfg.get('num_classes'),
               'parent': self.parent, 'steps': self.steps, 'epoch': epoch}
        given = model_overrides(self.cfg)
        if given:   # checked when the weights are loaded again (_warn_other_model_settings)
            out['model_overrides'] = given
        return out

    def save(self, prefix, epoch=None, extra_meta=None):
        """With EMA the weights file holds the averaged weights (what is evaluated and
        deployed) and ``.pdema`` the raw ones, for resuming.

        The files are written as one set (:func:`~ppdet.utils.checkpoint.file_set`): the
        previous checkpoint at ``prefix`` stays whole until the new one is complete, and a
        Ctrl-C during the save lands after it.  ``extra_meta``: more of the record (the score
        of ``best_model``).  Weights holding NaN/inf are not saved
        (:class:`TrainingDiverged`), nor is a set that cannot be written
        (:class:`CheckpointNotSaved`); both say which checkpoint is still good."""
        net = deployable(self.model)
        self._check_finite(net, prefix, epoch)
        # one id in every file of this save: a resume refuses a set cut off mid-save;
        # with_teacher: trained with a teacher (a distillation record alone may be inherited)
        meta = dict(self.meta(epoch), save_id=new_save_id(epoch), ema=self.ema is not None,
                    with_teacher=net is not unwrap(self.model), **(extra_meta or {}))
        labels = self._train_labels()
        if labels:      # evaluate() compares them with the eval set's (ids in another order)
            meta['labels'] = labels
        try:
            with ctrl_c_deferred():  # held until the set is in place and recorded
                with file_set() as write:
                    if self.ema is not None:
                        self.ema.save(net, weights_file(prefix), save_id=meta['save_id'],
                                      write=write)
                    with self.averaged(net):  # the weights file last: renamed last
                        path = save_checkpoint(
                            net, prefix, meta=meta, optimizer=self.optimizer, epoch=epoch,
                            rng_state=capture_rng_state() if self.optimizer else None,
                            write=write, wrapper_state=self._wrapper_state(net))
                self.saved[os.path.abspath(prefix)] = epoch
        except OSError as e:  # a full disk: one line (run_main), not a traceback
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            raise CheckpointNotSaved('cannot save checkpoint %s%s: %s; it is not saved (what '
                                     'was at %s before is untouched); %s' % (
                                         prefix, '' if epoch is None else ' (epoch %d)' % epoch,
                                         e.strerror or e, prefix, self._last_good(
                                             'free disk space, then resume' if full else
                                             'fix that, then resume'))) from None
        return path

    def _train_labels(self):
        """The training set's class names in class-id order, else None (not trained here)."""
        dataset = getattr(self, 'train_dataset', None)
        try:
            return list(dataset.label_list()) if dataset is not None else None
        except (AttributeError, TypeError):
            return None

    def _wrapper_state(self, net):
        """What a training wrapper learns besides the saved model (distillation's adapters),
        for the ``.pdopt``; None without one."""
        wrapper = unwrap(self.model)
        if wrapper is net or not hasattr(wrapper, 'wrapper_state') or self.optimizer is None:
            return None
        return wrapper.wrapper_state()

    def _check_finite(self, net, prefix, epoch):
        """Refuse to save weights (or their EMA average) holding NaN/inf: with a too high
        learning rate the BN variances overflowed, the run saved them as ``latest`` and
        ``model_final`` and ended with exit 0 (eval then gave AP 0, -r a traceback)."""
        bad = first_nonfinite(net.state_dict())
        if bad is None and self.ema is not None:
            bad = first_nonfinite(self.ema.state)
            bad = bad and ('%s (EMA average)' % bad[0], bad[1])
        if bad is None:
            return
        raise TrainingDiverged(
            'training diverged%s: %s is %s, so %s is not saved; %s; %s' % (
                '' if epoch is None else ' in epoch %d' % epoch, bad[0], bad[1], prefix,
                self._divergence_fix(), self._last_good('then resume')))

    def _divergence_fix(self):
        lr = (self.cfg.get('LearningRate') or {}).get('base_lr')
        clip = (self.cfg.get('OptimizerBuilder') or {}).get('clip_grad_by_norm')
        return 'lower LearningRate.base_lr%s or clip the gradients (OptimizerBuilder.' \
               'clip_grad_by_norm, %s)' % (' (now %s)' % lr if lr is not None else '',
                                           'now %s' % clip if clip else 'now off: e.g. 10')

    def _last_good(self, verb='resume'):
        """The checkpoint a failed run goes on from, as ``'<verb> from ... -r PATH'``: the
        ``latest`` this run saved, else the one it resumed from."""
        latest = os.path.join(self.save_dir, 'latest')
        epoch = self.saved.get(os.path.abspath(latest))
        if epoch is not None and os.path.isfile(latest + '.pdparams'):
            return '%s from the last good checkpoint, %s (epoch %d): -r %s' % (
                verb, latest, epoch, latest)
        if self.resumed_from:
            return ('no epoch of this run was saved: %s from the checkpoint it resumed from '
                    '(epoch %d): -r %s' % (verb, self.start_epoch, self.resumed_from))
        return 'no epoch of this run was saved: run it again from the start'

    def update_ema(self):
        self.ema.update(deployable(self.model))

    def averaged(self, net):
        """Context in which ``net`` holds the EMA weights (a no-op without EMA)."""
        return self.ema.applied(net) if self.ema is not None else contextlib.nullcontext(net)

    # -- data -------------------------------------------------------------------
    def _loader(self, mode, dataset=None, **kw):
        from ppdet.data import build_dataset, create_reader
        section = {'train': 'TrainDataset', 'eval': 'EvalDataset', 'test': 'TestDataset'}[mode]
        dataset = dataset if dataset is not None else build_dataset(self.cfg, section)
        return dataset, create_reader(self.cfg, mode, dataset=dataset, **kw)

    # -- training ---------------------------------------------------------------
    def _ensure_optimizer(self):
        if self.optimizer is None:
            self.train_dataset, self.train_loader = self._loader('train')
            spe = len(self.train_loader)
            cap = self.cfg.get('max_iters_per_epoch')
            self.steps_per_epoch = min(spe, int(cap)) if cap else spe
            self.lr = build_lr(self.cfg, self.steps_per_epoch, int(self.cfg['epoch']))
            self.optimizer = build_optimizer(self.cfg, unwrap(self.model).parameters(), self.lr)
            if self.cfg.get('use_ema'):
                self.ema = ModelEMA(deployable(self.model), self.cfg.get('ema_decay', 0.9998))

    def train(self, validate=False):
        check_output_dir(self.save_dir, 'save_dir (-o save_dir=DIR)')
        epochs = int(self.cfg['epoch'])
        if self.start_epoch > epochs or (self.start_epoch == epochs and self.resumed_from):
            self.check_epochs_left()  # passes a run's own latest at its last epoch
        self._ensure_optimizer()  # builds the data: its errors (num_classes) come first
        self.check_start_weights()
        self.check_no_other_run_overwritten(validate)
        eval_dataset = self._prepare_validation() if validate and self.is_main_process else None
        if paddle.distributed.get_world_size() > 1 and not isinstance(self.model, paddle.DataParallel):
            paddle.distributed.init_parallel_env()
            self.model = paddle.DataParallel(
                self.model, find_unused_parameters=self.cfg.get('find_unused_parameters', False))
        callbacks = ComposeCallback([EMAUpdater(self) if self.ema else None, LogPrinter(self),
                                     Checkpointer(self)] + self.extra_callbacks)
        status = {'epochs': epochs, 'epoch_id': self.start_epoch,
                  'steps_per_epoch': self.steps_per_epoch}
        if self.cfg.get('print_flops'):
            self.log_flops()
        every = int(self.cfg.get('eval_interval') or self.cfg.get('snapshot_epoch', 1))
        # Paddle 2.6's BatchNorm warns this in every training forward (shown once a process:
        # once per training stage of the pipeline); it says nothing about the run
        warnings.filterwarnings('ignore', category=UserWarning,
                                message='When training, we now always track global mean')
        callbacks.on_train_begin(status)
        try:
            for epoch_id in range(self.start_epoch, epochs):
                status.update(epoch_id=epoch_id, eval_key=None)
                self.model.train()
                if hasattr(self.train_loader, 'batch_sampler') and hasattr(
                        self.train_loader.batch_sampler, 'set_epoch'):
                    self.train_loader.batch_sampler.set_epoch(epoch_id)
                for step_id, batch in enumerate(self.train_loader):
                    if step_id >= self.steps_per_epoch:
                        break
                    try:
                        losses = self.train_step(batch)
                    except FloatingPointError as e:  # the loss became nan/inf
                        raise TrainingDiverged('in epoch %d (iteration %d) %s; %s' % (
                            epoch_id + 1, step_id + 1, e, self._last_good('then resume'))
                        ) from None
                    status.update(step_id=step_id, losses=losses, lr=self.optimizer.get_lr())
                    callbacks.on_step_end(status)
                if validate and self.is_main_process and (
                        (epoch_id + 1) % every == 0 or epoch_id + 1 == epochs):
                    with rng_preserved():   # the same weights with and without --eval
                        results = self.evaluate(dataset=eval_dataset)
                    status.update(eval_key=results.primary_name, eval_value=results.primary)
                callbacks.on_epoch_end(status)
            callbacks.on_train_end(status)  # model_final: a Ctrl-C there is said too
        except KeyboardInterrupt:
            self._say_how_to_resume(status)
            raise

    def _prepare_validation(self):
        """``validate``: the eval dataset, its reader and the metric built before the first
        epoch, so that a bad Eval setting (a transform typo, ``EvalReader.drop_last=flase``, a
        missing or broken annotation file) fails before an epoch of training is spent (it
        failed after the first ``eval_interval`` epochs, before anything was saved).
        Returns the dataset, which every evaluation of the run reuses."""
        from ppdet.metrics import build_metric
        dataset, _ = self._loader('eval')
        build_metric(self.cfg, dataset)
        return dataset

    def _finishes_latest(self):
        """Resumed from ``<save_dir>/latest``: at the last epoch that is a run stopped
        between its last epoch and ``model_final`` (the pipeline finishes it so); any other
        checkpoint at the last epoch (``-r .../model_final``) has nothing left to train."""
        return bool(self.resumed_from) and os.path.abspath(weights_file(
            self.resumed_from)) == os.path.abspath(os.path.join(self.save_dir,
                                                                'latest.pdparams'))

    def _say_how_to_resume(self, status):
        """Ctrl-C in training: which epoch was cut off and the ``-r`` that goes on; only a
        checkpoint this run saved (or resumed from) is named: a ``latest`` left in
        ``save_dir`` by an earlier run is another run's."""
        if not self.is_main_process:
            return
        epoch = status.get('epoch_id', 0) + 1
        latest = os.path.join(self.save_dir, 'latest')
        saved = self.saved.get(os.path.abspath(latest))
        if saved is not None and os.path.isfile(latest + '.pdparams'):
            # a save is whole (a Ctrl-C lands after it): latest holds the epoch recorded
            logger.warning('interrupted in epoch %d: the last finished epoch (%d) is saved; '
                           'resume with -r %s', epoch, saved, latest)
        elif self.resumed_from:
            logger.warning('interrupted in epoch %d, before this run saved an epoch: resume '
                           'with -r %s again', epoch, self.resumed_from)
        else:
            logger.warning('interrupted in epoch %d, before any epoch of this run was saved '
                           '(nothing was saved): run the same command again to start over',
                           epoch)

    def train_step(self, batch):
        outputs = self.model(batch['image'])
        losses = unwrap(self.model).get_loss(outputs, batch)
        loss = losses['loss']
        if not bool(paddle.isfinite(loss)):
            raise FloatingPointError('loss became %s; %s, or check the data (boxes, labels)'
                                     % (float(loss), self._divergence_fix()))
        loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        if isinstance(self.lr, paddle.optimizer.lr.LRScheduler):
            self.lr.step()
        return {k: float(v) for k, v in losses.items()}

    def log_flops(self):
        """``print_flops: true``: the model's conv GFLOPs (PaddleSlim's count) and size."""
        from ppdet.utils.model_stats import config_input_size, model_summary
        size = config_input_size(self.cfg)
        s = model_summary(deployable(self.model), size)
        logger.info('model: %.3f GFLOPs at %dx%d, %.2f MB of parameters', s['GFLOPs'], size[0],
                    size[1], s['size_MB'])
        return s

    # -- evaluation / inference -------------------------------------------------
    def _predict_batches(self, loader, desc):
        net = deployable(self.model)
        net.eval()
        with paddle.no_grad():
            for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True,
                              disable=not self.is_main_process):
                outputs = net(batch['image'])
                bbox, bbox_num = net.post_process(outputs, batch['im_shape'], batch['scale_factor'])
                yield batch, {'bbox': bbox.numpy(), 'bbox_num': bbox_num.numpy()}

    def evaluate(self, dataset=None, output_eval=None, max_images=None):
        """Run the config's metric over EvalDataset; returns its
        :class:`~ppdet.metrics.EvalResult` (named values, ``.primary`` the headline one)."""
        from ppdet.metrics import build_metric
        check_output_dir(output_eval, '--output_eval')
        dataset, loader = self._loader('eval', dataset=dataset)
        # a run that trains here is scored on its own training set's classes
        check_eval_labels(self._train_labels() or self.loaded_labels, dataset,
                          self.loaded_weights or 'this model')
        metric = build_metric(self.cfg, dataset, output_eval=output_eval)
        metric.reset()
        tic, seen = time.time(), 0
        bs = loader.batch_sampler.batch_size if hasattr(loader, 'batch_sampler') else 1
        with self.averaged(deployable(self.model)):
            for batch, out in self._predict_batches(loader, 'eval'):
                metric.update(batch, out)
                seen += int(batch['image'].shape[0])
                if max_images is not None and seen >= max_images:
                    break
        logger.info('evaluated %d images in %.1f s (batch size %d)', seen, time.time() - tic, bs)
        metric.accumulate()
        metric.log()
        return metric.summary()

    def predict(self, images, output_dir='output', draw_threshold=0.5, save_images=True):
        """Detect on image files; draws and saves them; returns per-image results."""
        import cv2
        from ppdet.data import build_dataset
        from ppdet.utils.image_io import ImageDecodeError
        from ppdet.utils.visualizer import draw_boxes, save_result_image
        images = list(images)
        if save_images:
            from ppdet.deploy.infer_run import drawing_path, refuse_overwriting_inputs
            check_output_dir(output_dir, '--output_dir')
            # --output_dir = the images' folder drew over the photos (as deploy's infer did)
            refuse_overwriting_inputs(images, [drawing_path(output_dir, p) for p in images],
                                      'image')
        dataset = build_dataset(self.cfg, 'TestDataset')
        dataset.set_images(list(images))
        try:
            _, loader = self._loader('test', dataset=dataset)
        except ImageDecodeError:
            # the dataset's message names TestDataset's folder, not where these images are
            bad = getattr(dataset, 'skipped_images', None)
            if not bad:
                raise
            raise ImageDecodeError('none of the %d image(s) given can be decoded (%s); give '
                                   'image files (%s)' % (len(bad), '; '.join(
                                       r for _, r in bad[:3]), '/'.join(IMAGE_EXTS)))
        labels = dataset.label_list()
        id2path = dataset.get_imid2path()
        results = []
        for batch, out in self._predict_batches(loader, 'infer'):
            start = 0
            for i, n in enumerate(out['bbox_num'].tolist()):
                rows = out['bbox'][start:start + n]
                start += n
                rows = rows[rows[:, 0] >= 0]
                im_id = int(np.asarray(batch['im_id'])[i].reshape(-1)[0])
                path = id2path[im_id]
                results.append({'im_file': path, 'bbox': rows})
                if save_images:
                    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
                    drawn = draw_boxes(img, rows, labels, threshold=draw_threshold)
                    save_result_image(drawing_path(output_dir, path), drawn)
        return results
