"""Knowledge distillation as a training wrapper: a frozen teacher guides the student.

``distill(student, teacher, pairs=None, loss='l2')`` returns a :class:`DistillModel`.
It trains like the student (``forward(image)`` gives the student's outputs) and
its ``get_loss`` adds the weighted distillation loss to the student's loss.  The
trainer saves, evaluates and exports ``deployable()`` - the student alone - so
checkpoints never carry the teacher or the adaptation convs.

* ``loss='l2'``: L2 between teacher/student feature maps named by sub-layer
  (captured with forward post-hooks, so any model works).  The default pairs are
  the layers the student declares with ``distill_outputs()`` (its head outputs, as
  in PaddleDetection).  When a pair's channel counts
  differ (e.g. a pruned student's neck), a trained 1x1 conv maps the student
  feature onto the teacher's width.
* ``loss='fine_grained'``: the student family's own head-aware loss, its
  ``fine_grained_distill_loss`` (YOLOv3: PaddleDetection's split distillation,
  :mod:`ppdet.modeling.losses.yolo_distill_loss`).

:class:`DistillStep` builds the teacher from its own config and weights and is
recorded in checkpoints like any compression step; restoring it is a no-op
because a checkpoint holds only the student.
"""
import copy
import math
import os

import numpy as np
import paddle
import paddle.nn as nn

from ppdet.core.workspace import as_number, did_you_mean
from ppdet.modeling.losses.yolo_distill_loss import OBJ_TARGETS
from ppdet.slim.distill_losses import DEFAULT_WEIGHTS, l2_loss
from ppdet.slim.steps import CompressionStep, register_step
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['distill', 'DistillModel', 'DistillStep', 'LOSSES', 'default_pairs',
           'check_configs_compatible', 'distill_settings', 'add_teacher_args',
           'check_teacher_weights', 'check_distill_weight', 'default_distill_weight',
           'recorded_distillation', 'check_resume_distillation', 'SWAMP_RATIO']

LOSSES = ('l2', 'fine_grained')
DISTILL_KEYS = ('teacher_config', 'teacher_weights', 'loss', 'pairs', 'weight', 'obj_target')
# warn when the weighted distillation term is more than this many times the detection loss
# in one of the first SWAMP_CHECK_STEPS training steps (the audit's FCOS at weight 1000:
# 290 against 1.7, AP 0.0085 against 0.0202 at weight 1)
SWAMP_RATIO = 20.0
SWAMP_CHECK_STEPS = 5


def default_distill_weight(student, loss):
    """The weight of ``loss`` when ``Distill.weight`` is unset -> ``(weight, why)``: the
    student family's ``distill_weights`` (see :class:`~ppdet.modeling.architectures.
    meta_arch.BaseArch`), else PaddleDetection's YOLOv3 weights (``DEFAULT_WEIGHTS``)."""
    table = getattr(type(student), 'distill_weights', None) or {}
    name = type(student).__name__
    if loss in table:
        reason = getattr(type(student), 'distill_weights_reason', '')
        return float(table[loss]), '%s default for %s (%s.distill_weights%s)' % (
            name, loss, name, ': ' + reason if reason else '')
    return float(DEFAULT_WEIGHTS[loss]), ("the library default for %s (%s declares none; "
                                          "PaddleDetection's YOLOv3 weight)" % (loss, name))


def default_pairs(student, teacher=None):
    """The student's declared distillation outputs (its head), paired by name."""
    from ppdet.modeling.architectures.meta_arch import NotDeclared, declared
    try:
        names = list(declared(student, 'distill_outputs'))
    except NotDeclared as e:
        raise ValueError('%s; or give pairs=[{teacher: NAME, student: NAME}]' % e)
    if not names:
        raise ValueError('%s declares no distillation outputs; give pairs=[{teacher: NAME, '
                         'student: NAME}]' % type(student).__name__)
    return [{'teacher': n, 'student': n} for n in names]


def normalize_pairs(pairs):
    """Accept [{teacher, student}], [[teacher, student]] or ['same_name'] -> list of dicts."""
    out = []
    for p in pairs:
        if isinstance(p, str):
            out.append({'teacher': p, 'student': p})
        elif isinstance(p, dict):
            extra = set(p) - {'teacher', 'student'}
            if extra or not {'teacher', 'student'} <= set(p):
                raise ValueError('distillation pair %r must have exactly the keys teacher and '
                                 'student' % (p,))
            out.append({'teacher': str(p['teacher']), 'student': str(p['student'])})
        elif isinstance(p, (list, tuple)) and len(p) == 2:
            out.append({'teacher': str(p[0]), 'student': str(p[1])})  # PaddleDetection order
        else:
            raise ValueError('distillation pair %r: give {teacher: NAME, student: NAME}' % (p,))
    if not out:
        raise ValueError('distillation pairs are empty; leave pairs unset for the head outputs')
    return out


def _find_layer(model, name, who):
    layers = dict(model.named_sublayers())
    if name not in layers:
        raise ValueError('unknown %s layer %r%s (list them with [n for n, _ in '
                         'model.named_sublayers()])' % (who, name, did_you_mean(name, layers)))
    return layers[name]


def _freeze(teacher):
    for p in teacher.parameters():
        p.stop_gradient = True
    teacher.eval()


def check_models_compatible(student, teacher, loss):
    """Fail early when the teacher cannot teach this student (the student decides how)."""
    if hasattr(student, 'check_teacher'):
        student.check_teacher(teacher, loss)
    elif loss == 'fine_grained':
        raise ValueError('%s has no fine-grained distillation loss; use loss=l2 with explicit '
                         'pairs' % type(student).__name__)


def _warn_same_weights(student, teacher):
    """Say so when the teacher is the student itself (same architecture, every tensor equal:
    the same checkpoint given as both): the distillation term starts at 0 and only pulls the
    student back to where it started, which teaches it nothing a teacher should."""
    s, t = student.state_dict(), teacher.state_dict()
    if len(s) != len(t) or any(list(a.shape) != list(b.shape)
                               for a, b in zip(s.values(), t.values())):
        return
    if all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(s.values(), t.values())):
        logger.warning('the teacher has the student\'s own weights (all %d tensors equal): '
                       'distilling from itself only holds the student where it starts; give '
                       'a stronger teacher (a larger model, or the unpruned parent for a '
                       'pruned student) with -t / --teacher_pretrained', len(s))


class DistillModel(nn.Layer):
    """Student + frozen teacher; trains the student (and any adaptation convs)."""

    def __init__(self, student, teacher, loss='l2', pairs=None, weight=None, obj_target='hard',
                 probe_shape=(1, 3, 64, 64)):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError('unknown distillation loss %r%s (use one of %s)' % (
                loss, did_you_mean(loss, LOSSES), ', '.join(LOSSES)))
        if obj_target not in OBJ_TARGETS:
            raise ValueError('obj_target %r not known (use one of %s)' % (obj_target, OBJ_TARGETS))
        if isinstance(student, DistillModel):
            raise ValueError('the student is already wrapped for distillation')
        check_models_compatible(student, teacher, loss)
        _warn_same_weights(student, teacher)
        self.student = student
        self.teacher = teacher
        _freeze(teacher)
        self.loss_type = loss
        if weight is None:
            self.weight, self.weight_source = default_distill_weight(student, loss)
        else:
            self.weight, self.weight_source = float(weight), 'Distill.weight (set)'
        self._swamp_checks = 0
        self.swamp_warning = None
        self.obj_target = obj_target
        self._feats = {'teacher': {}, 'student': {}}
        self._capturing = False
        self._teacher_outputs = None
        self._hooks = []
        self.pairs = []
        self.adapters = nn.LayerDict()
        if loss == 'l2':
            self.pairs = normalize_pairs(default_pairs(student) if pairs is None else pairs)
            self._register_hooks()
            try:
                self._build_adapters(probe_shape)
            except Exception:
                self.remove_hooks()  # leave the caller's models as they were
                raise

    # -- feature capture --------------------------------------------------------
    def _register_hooks(self):
        for side, model in (('teacher', self.teacher), ('student', self.student)):
            for name in {p[side] for p in self.pairs}:
                layer = _find_layer(model, name, side)
                self._hooks.append(layer.register_forward_post_hook(self._capture(side, name)))

    def _capture(self, side, name):
        store = self._feats[side]

        def hook(layer, inputs, output):
            if self._capturing:  # idle during evaluation and export of the student
                store[name] = output
        return hook

    def remove_hooks(self):
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _run_both(self, image):
        for store in self._feats.values():
            store.clear()
        self._capturing = True
        try:
            outputs = self.student(image)
            with paddle.no_grad():
                teacher_outputs = self.teacher(image)
        finally:
            self._capturing = False
        return outputs, teacher_outputs

    def _build_adapters(self, probe_shape):
        was_training = self.student.training
        self.student.eval()
        with paddle.no_grad():
            self._run_both(paddle.zeros(list(probe_shape), 'float32'))
        if was_training:
            self.student.train()
        self.adapter_spec = []
        for side in ('teacher', 'student'):
            idle = [p[side] for p in self.pairs if p[side] not in self._feats[side]]
            if idle:
                raise ValueError('%s layer %r produced no output in a forward pass; pair layers '
                                 'that forward(image) runs' % (side, idle[0]))
        for i, pair in enumerate(self.pairs):
            s, t = self._feats['student'][pair['student']], self._feats['teacher'][pair['teacher']]
            if len(s.shape) != 4 or len(t.shape) != 4:
                raise ValueError('distillation pair %s: features must be [N, C, H, W], got student '
                                 '%s and teacher %s' % (pair, s.shape, t.shape))
            if list(s.shape[2:]) != list(t.shape[2:]):
                raise ValueError('distillation pair %s: student map is %s but teacher map is %s '
                                 'at the same input; pair layers with the same stride' % (
                                     pair, list(s.shape[2:]), list(t.shape[2:])))
            if s.shape[1] != t.shape[1]:
                self.adapters['pair%d' % i] = nn.Conv2D(int(s.shape[1]), int(t.shape[1]), 1)
                self.adapter_spec.append({'pair': i, 'student_channels': int(s.shape[1]),
                                          'teacher_channels': int(t.shape[1])})
        if self.adapter_spec and type(self.teacher) is not type(self.student):
            # head outputs of two families mean different things (an FCOS teacher's 6-channel
            # class map against a RetinaNet's 54 anchor-class logits): L2 through 1x1 adapters
            # then matches numbers, not predictions (audit: AP 0.0127 against 0.0314 undistilled)
            logger.warning(
                'distilling a %s student from a %s teacher: %d output pair(s) differ in channels '
                '(%s) and are bridged by 1x1 adapters; the two heads encode their predictions '
                'differently, so L2 matches numbers, not detections: prefer a teacher of the '
                "student's family", type(self.student).__name__,
                type(self.teacher).__name__, len(self.adapter_spec),
                ', '.join('%d -> %d' % (a['student_channels'], a['teacher_channels'])
                          for a in self.adapter_spec))
        for store in self._feats.values():
            store.clear()

    # -- nn.Layer ---------------------------------------------------------------
    def train(self):
        super().train()
        for layer in [self.teacher] + self.teacher.sublayers():
            layer.training = False  # keep teacher BN statistics fixed

    def forward(self, image):
        if not self.training:
            return self.student(image)
        if self.teacher.training:
            self.train()
        outputs, teacher_outputs = self._run_both(image)
        self._teacher_outputs = [t.detach() for t in teacher_outputs]
        return outputs

    # -- losses -----------------------------------------------------------------
    def distill_loss(self, outputs):
        """The weighted distillation loss for the last training forward."""
        if self._teacher_outputs is None:
            raise RuntimeError('call the model on a batch in train mode before get_loss')
        if self.loss_type == 'fine_grained':
            loss = self.student.fine_grained_distill_loss(outputs, self._teacher_outputs,
                                                          self.obj_target)
        else:
            parts = []
            for i, pair in enumerate(self.pairs):
                s = self._feats['student'][pair['student']]
                t = self._feats['teacher'][pair['teacher']]
                key = 'pair%d' % i
                if key in self.adapters:
                    s = self.adapters[key](s)
                parts.append(l2_loss(s, t))
            loss = paddle.add_n(parts)
        return loss * self.weight

    def get_loss(self, outputs, inputs):
        losses = dict(self.student.get_loss(outputs, inputs))
        d = self.distill_loss(outputs)
        self._teacher_outputs = None
        for store in self._feats.values():
            store.clear()
        if self._swamp_checks < SWAMP_CHECK_STEPS and paddle.in_dynamic_mode():
            self._swamp_checks += 1
            self._check_swamp(d, losses['loss'])
        losses['distill_loss'] = d
        losses['loss'] = losses['loss'] + d
        return losses

    def _check_swamp(self, distill_term, detection):
        """Warn once when the weighted distillation term is more than SWAMP_RATIO times the
        detection loss (a weight from another family or dataset drowns the student's own loss)."""
        x, y = float(distill_term), float(detection)
        if not (y > 0 and math.isfinite(x) and x > SWAMP_RATIO * y):
            return
        self.swamp_warning = (
            'distillation loss %.4g is %.0fx the detection loss %.4g (training step %d): the '
            'teacher term swamps training; lower Distill.weight (now %g, %s), e.g. '
            '-o Distill.weight=%.1g puts it on the detection loss\'s scale' % (
                x, x / y, y, self._swamp_checks, self.weight, self.weight_source,
                self.weight * y / x))
        logger.warning(self.swamp_warning)
        self._swamp_checks = SWAMP_CHECK_STEPS  # once

    # -- delegated to the student -------------------------------------------------
    def post_process(self, outputs, im_shape, scale_factor):
        return self.student.post_process(outputs, im_shape, scale_factor)

    def decode(self, outputs, im_shape, scale_factor):
        return self.student.decode(outputs, im_shape, scale_factor)

    def prunable_params(self):
        return self.student.prunable_params()

    def deployable(self):
        return self.student

    def wrapper_state(self):
        """The 1x1 adapters' weights: trained with the student but not part of it, so the
        checkpoint's weights file (the student alone) does not hold them; the trainer keeps
        them in ``.pdopt`` for ``-r`` (a resume started them again from their
        initialisation)."""
        return dict(self.adapters.state_dict()) if len(self.adapters) else None

    def load_wrapper_state(self, state, path):
        """``-r``: the adapters as the checkpoint ``path`` kept them; one saved before they
        were kept is warned about (they start again from their initialisation)."""
        if not len(self.adapters):
            return
        if not state:
            logger.warning('-r %s: the 1x1 adapters bridging the student to the teacher are not '
                           'in this checkpoint (saved before checkpoints kept them): they start '
                           'again from their initialisation, so the resumed run is not the '
                           'uninterrupted one from here on (its distillation term differs)', path)
            return
        shapes = {k: list(v.shape) for k, v in state.items()}
        ours = {k: list(v.shape) for k, v in self.adapters.state_dict().items()}
        if shapes != ours:
            raise ValueError('-r %s: its distillation adapters (%s) are not this run\'s (%s): '
                             'the student or teacher differs from the run that saved it' % (
                                 path, shapes, ours))
        self.adapters.set_state_dict(state)


def distill(student, teacher, pairs=None, loss='l2', weight=None, obj_target='hard'):
    """Wrap ``student`` for distillation from ``teacher`` (frozen); see :class:`DistillModel`."""
    return DistillModel(student, teacher, loss=loss, pairs=pairs, weight=weight,
                        obj_target=obj_target)


# -- configs ------------------------------------------------------------------------
def _resize_target(cfg, reader):
    for t in (cfg.get(reader) or {}).get('sample_transforms', []) or []:
        if isinstance(t, dict) and 'Resize' in t:
            return [int(v) for v in (t['Resize'] or {}).get('target_size', [])] or None
    return None


def check_configs_compatible(student_cfg, teacher_cfg):
    """Same classes and the same evaluation input size; names both values and the fix."""
    s_path = student_cfg.get('_config_path', 'student config')
    t_path = teacher_cfg.get('_config_path', 'teacher config')
    if student_cfg.get('num_classes') != teacher_cfg.get('num_classes'):
        raise ValueError('the teacher (%s) has num_classes=%s but the student (%s) has '
                         'num_classes=%s; distill from a teacher trained on the same dataset' % (
                             t_path, teacher_cfg.get('num_classes'), s_path,
                             student_cfg.get('num_classes')))
    for reader in ('EvalReader', 'TestReader'):
        s, t = _resize_target(student_cfg, reader), _resize_target(teacher_cfg, reader)
        if s is not None and t is not None and s != t:
            raise ValueError('the teacher (%s) runs at %s Resize target_size=%s but the student '
                             '(%s) at %s; give the teacher config the student\'s input size '
                             '(%s.sample_transforms Resize target_size: %s)' % (
                                 t_path, reader, t, s_path, s, reader, s))


def _resolve_path(path, cfg):
    if path is None or os.path.exists(path) or os.path.isabs(path):
        return path
    base = os.path.dirname(cfg.get('_config_path', '') or '')
    candidate = os.path.join(base, path)
    return candidate if os.path.exists(candidate) else path


def distill_settings(cfg, teacher_config=None, teacher_weights=None):
    """Distillation settings from the ``Distill`` section, ``use_fine_grained_loss`` and
    command-line values (which win).  Paths in the section may be relative to the config."""
    section = dict(cfg.get('Distill') or {})
    unknown = [k for k in section if k not in DISTILL_KEYS]
    if unknown:
        raise ValueError('unknown key %r in section Distill%s (valid keys: %s)' % (
            unknown[0], did_you_mean(unknown[0], DISTILL_KEYS), ', '.join(DISTILL_KEYS)))
    out = {k: section.get(k) for k in DISTILL_KEYS}
    out['teacher_config'] = teacher_config or _resolve_path(out['teacher_config'], cfg)
    out['teacher_weights'] = teacher_weights or _resolve_path(out['teacher_weights'], cfg)
    out['loss'] = 'fine_grained' if cfg.get('use_fine_grained_loss') else (out['loss'] or 'l2')
    out['obj_target'] = out['obj_target'] or 'hard'
    if not out['teacher_config']:
        raise ValueError('no teacher config: pass -t/--teacher_config or set '
                         'Distill.teacher_config in %s' % cfg.get('_config_path', 'the config'))
    return out


TEACHER_FLAG = '--teacher_pretrained (or Distill.teacher_weights)'


def check_teacher_weights(path, teacher_config=None):
    """Refuse missing teacher weights naming the setting that gives them (the checkpoint
    loader's own message named ``-o weights=``, which does not set the teacher).
    ``teacher_config``: named with the training command that makes the weights."""
    from ppdet.utils.checkpoint import weights_file
    path = str(path)
    if os.path.isdir(path):
        found = sorted(f[:-len('.pdparams')] for f in os.listdir(path) if f.endswith('.pdparams'))
        pick = 'model_final' if 'model_final' in found else (found[-1] if found else None)
        raise FileNotFoundError(
            'teacher weights %s is a directory; give a .pdparams file or its prefix inside it%s' % (
                path, ' with %s, e.g. --teacher_pretrained %s' % (TEACHER_FLAG, os.path.join(
                    path, pick)) if pick else ' (it holds no .pdparams file)'))
    if not os.path.isfile(weights_file(path)):
        name = os.path.splitext(os.path.basename(str(teacher_config or 'TEACHER')))[0]
        raise FileNotFoundError(
            'teacher weights not found: %s; give the trained teacher\'s .pdparams file or its '
            'prefix with %s, e.g. --teacher_pretrained output/%s/model_final (what '
            'tools/train.py -c %s writes)' % (weights_file(path), TEACHER_FLAG, name,
                                               teacher_config or 'TEACHER_CONFIG'))


def check_distill_weight(weight, loss='l2'):
    """``Distill.weight``: unset (the student family's default) or a finite number > 0 (a
    negative weight made the distillation loss negative: the student was pushed away from the
    teacher; 0 distills nothing); a string that reads as a number ('1e2', which YAML reads
    as text) is taken as one.  Returns the weight."""
    if weight is None:
        return None
    weight = as_number(weight)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or \
            not math.isfinite(weight) or weight <= 0:
        raise ValueError('Distill.weight must be a number > 0, got %r (the weight of the '
                         'distillation loss; leave it unset for the student family\'s default '
                         '(its distill_weights; YOLOv3\'s %s weight is %g), or e.g. '
                         '-o Distill.weight=1)' % (weight, loss, DEFAULT_WEIGHTS.get(loss, 100.0)))
    return weight


@register_step('distill')
class DistillStep(CompressionStep):
    """Wrap the model with a teacher built from ``teacher_config`` + ``teacher_weights``.

    ``student_cfg`` (optional) is checked against the teacher's config before
    the teacher is built.  The record names the teacher, loss, pairs and weight.
    """

    def __init__(self, teacher_config, teacher_weights, loss='l2', pairs=None, weight=None,
                 obj_target='hard', student_cfg=None):
        if loss not in LOSSES:
            raise ValueError('unknown distillation loss %r%s (use one of %s)' % (
                loss, did_you_mean(loss, LOSSES), ', '.join(LOSSES)))
        if not teacher_weights:
            raise ValueError('no teacher weights: pass --teacher_pretrained PATH or set '
                             'Distill.teacher_weights (a teacher without training teaches nothing)')
        weight = check_distill_weight(weight, loss)
        self.teacher_config = teacher_config
        self.teacher_weights = teacher_weights
        self.loss = loss
        self.pairs = pairs
        self.weight = weight
        self.obj_target = obj_target
        self.student_cfg = student_cfg

    @classmethod
    def from_config(cls, cfg, teacher_config=None, teacher_weights=None):
        s = distill_settings(cfg, teacher_config, teacher_weights)
        return cls(s['teacher_config'], s['teacher_weights'], loss=s['loss'], pairs=s['pairs'],
                   weight=s['weight'], obj_target=s['obj_target'], student_cfg=cfg)

    def check(self):
        """Load the teacher's config and compare it with the student's; returns it."""
        from ppdet.core.workspace import load_config
        check_teacher_weights(self.teacher_weights, self.teacher_config)
        teacher_cfg = load_config(self.teacher_config)
        if self.student_cfg is not None:
            check_configs_compatible(self.student_cfg, teacher_cfg)
        return teacher_cfg

    def build_teacher(self):
        """The teacher from its config, its weights loaded completely: a teacher with missing
        or mis-shaped tensors would teach from partly random weights (the audit's case: 108
        of 211 tensors of another shape, distill loss 288101), so it is refused in one line
        naming the counts and the fix, the teacher's own config (-t)."""
        from ppdet.engine.trainer import build_model
        from ppdet.utils.checkpoint import WeightsMisfit
        try:
            teacher, _ = build_model(self.check(), self.teacher_weights, config_flag='-t',
                                     pretrain_hint=False)
        except WeightsMisfit as e:
            raise ValueError('teacher %s; -t (or Distill.teacher_config) builds the teacher'
                             % e)
        return teacher

    def apply(self, model):
        wrapped = DistillModel(model, self.build_teacher(), loss=self.loss, pairs=self.pairs,
                               weight=self.weight, obj_target=self.obj_target)
        record = {'teacher_config': os.path.abspath(self.teacher_config),
                  'teacher_weights': os.path.abspath(str(self.teacher_weights)),
                  'loss': self.loss, 'weight': wrapped.weight,
                  'weight_source': wrapped.weight_source, 'obj_target': self.obj_target,
                  'pairs': copy.deepcopy(wrapped.pairs),
                  'adapters': copy.deepcopy(getattr(wrapped, 'adapter_spec', []))}
        logger.info('distilling from %s (%s loss, weight %g: %s)', self.teacher_config,
                    self.loss, wrapped.weight, wrapped.weight_source)
        return wrapped, record

    @classmethod
    def restore(cls, model, record):
        return model  # the checkpoint holds the student alone


def recorded_distillation(meta, path):
    """``distill.py -r``: the distillation the checkpoint ``path`` records (its record's last
    distill step); a checkpoint of no distillation is refused (``-r`` continues a run)."""
    steps = [s for s in (meta or {}).get('steps') or [] if s.get('kind') == DistillStep.kind]
    if not steps:
        raise ValueError('-r %s: this checkpoint was not made by a distillation (its record holds '
                         'no distill step); -r continues a distillation run; to distill this '
                         'checkpoint start from it with -o pretrain_weights=%s' % (path, path))
    return steps[-1]


def _differs(key, now, was):
    if key == 'weight' and was is not None:    # a float the record wrote back
        return abs(float(now) - float(was)) > 1e-9 * max(1.0, abs(float(now)))
    return now != was


def _weights_path(path):
    path = os.path.abspath(str(path))
    return path[:-len('.pdparams')] if path.endswith('.pdparams') else path


def check_resume_distillation(recorded, step, student, path):
    """Refuse a resume whose teacher, loss, weight or target differ from those ``recorded``
    in the checkpoint ``path``: they were taken without a word, and the final record named
    the new teacher as if it had taught the whole run.  ``step``: this run's
    :class:`DistillStep`; ``student``: the model (its family's default weight)."""
    weight = step.weight if step.weight is not None else default_distill_weight(student,
                                                                                step.loss)[0]
    now = {'teacher_config': os.path.abspath(step.teacher_config),
           'teacher_weights': _weights_path(step.teacher_weights), 'loss': step.loss,
           'weight': float(weight), 'obj_target': step.obj_target}
    was = dict(recorded, teacher_weights=_weights_path(recorded.get('teacher_weights', '')))
    diff = ['%s %s (checkpoint: %s)' % (k, now[k], was.get(k)) for k in now
            if _differs(k, now[k], was.get(k))]
    if step.pairs is not None and normalize_pairs(step.pairs) != recorded.get('pairs'):
        diff.append('pairs %s (checkpoint: %s)' % (step.pairs, recorded.get('pairs')))
    if diff:
        raise ValueError('-r %s continues the distillation its record names, but this run gives '
                         'another: %s; resume with the recorded settings (-r alone takes its '
                         'teacher), or start a new distillation from it with -o '
                         'pretrain_weights=%s' % (path, '; '.join(diff), path))


def add_teacher_args(parser):
    """The teacher flags every distillation script takes (``DistillStep.from_config`` reads
    them; unset, the config's ``Distill`` section decides)."""
    parser.add_argument('-t', '--teacher_config', default=None,
                        help='teacher config; else Distill.teacher_config')
    parser.add_argument('--teacher_pretrained', default=None,
                        help='teacher weights; else Distill.teacher_weights')
