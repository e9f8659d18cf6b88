"""What a loaded config is checked for (:func:`validate_config`, called by
:func:`ppdet.core.workspace.load_config`): the top-level keys and their types, the keys and
value types of the component and settings sections, the metric and the architecture.  A
typo fails with the close names instead of being ignored or read as something else
(``bool('flase')`` is true)."""
import difflib
import logging
import math
import numbers

from .registry import _REGISTRY, ConfigError, _ctor_params, did_you_mean, shared_keys

__all__ = ['validate_config', 'checked_number', 'as_number', 'GLOBAL_KEYS', 'UNSUPPORTED_KEYS',
           'SECTION_NUMBERS']

_logger = logging.getLogger('ppdet.core.workspace')   # the config system's log, as before

# Top-level keys that are plain settings rather than component sections; each is read by
# the code named beside it.  Keys in any registered class's ``__shared__`` (num_classes,
# norm_type, use_fine_grained_loss) are valid top-level keys too.
GLOBAL_KEYS = {
    'architecture', 'num_classes', 'metric', 'map_type', 'classwise',  # model, metrics
    'use_gpu', 'seed', 'worker_num', 'log_iter', 'log_file',            # runtime, cli
    'save_dir', 'epoch', 'snapshot_epoch', 'eval_interval', 'use_ema', 'ema_decay',
    'print_flops', 'max_iters_per_epoch', 'find_unused_parameters',     # trainer
    'weights', 'pretrain_weights', 'input_size',                        # scripts
    'fuse_preprocess',                                                  # export_model
    'TrainDataset', 'EvalDataset', 'TestDataset', 'TrainReader', 'EvalReader', 'TestReader',
    'LearningRate', 'OptimizerBuilder',
    'Distill', 'Quant', 'PostQuant',                                    # slim scripts
    'custom_imports',                                                   # load_config
}


# Top-level keys that are sections (mappings) of settings rather than registered classes.
SECTION_KEYS = {'TrainDataset', 'EvalDataset', 'TestDataset', 'TrainReader', 'EvalReader',
                'TestReader', 'LearningRate', 'OptimizerBuilder', 'Distill', 'Quant', 'PostQuant'}


# Sections the slim scripts read and check themselves (ppdet.slim.distill.DISTILL_KEYS,
# ppdet.slim.qat, post_quant.py): an override may add any key to them.
SCRIPT_SECTIONS = {'Distill', 'Quant', 'PostQuant'}


# The keys of the settings sections, each read by the code named beside it (the core cannot
# import those modules: they import it).  Checked when a config is loaded, so that a typo
# (``OptimizerBuilder.clip_grad_norm``, ``LearningRate.warmup_steps``) fails with the close
# keys instead of being ignored, and taken by ``-o`` even where the YAML does not have them.
READER_SECTIONS = ('TrainReader', 'EvalReader', 'TestReader')


DATASET_SECTIONS = ('TrainDataset', 'EvalDataset', 'TestDataset')  # keys: the named class's


READER_KEYS = ('sample_transforms', 'batch_transforms', 'batch_size', 'shuffle', 'drop_last',
               'inputs_def', 'use_shared_memory')                  # ppdet.data.reader's own


# inputs_def: fields (reader.train_fields), image_shape (export, model_stats, onnx runs)
INPUTS_DEF_KEYS = ('fields', 'image_shape')


# inputs_def keys PaddleDetection configs carry that nothing here reads: taken with a warning
# (a copied config still loads), never suggested for a typo, the fix named instead
IGNORED_INPUTS_DEF_KEYS = {
    'num_max_boxes': 'the boxes are padded to PadBox.num_max_boxes (set that one)'}


LEARNING_RATE_KEYS = ('base_lr', 'schedulers')                         # optimizer.build_lr


OPTIMIZER_KEYS = ('optimizer', 'regularizer', 'clip_grad_by_norm')    # optimizer.build_optimizer


REGULARIZER_KEYS = ('type', 'factor')                                  # build_optimizer


DEFAULT_OPTIMIZER = 'Momentum'            # build_optimizer's type when optimizer has none


# sub-sections an override may create: -o TrainReader.inputs_def.fields=[gt_score]
SUBSECTIONS = {(r, 'inputs_def') for r in READER_SECTIONS} | {
    ('OptimizerBuilder', 'optimizer'), ('OptimizerBuilder', 'regularizer')}


# The plain top-level settings' types, checked when a config is loaded: a typo in a value
# (``-o use_ema=flase``, ``epoch=abc``, ``epoch=0``) fails there, naming the key, instead of
# being read as true, failing deep in the trainer, or training nothing.
# key -> (type, smallest value or None); ``None`` as a value is allowed where noted.
GLOBAL_TYPES = {
    'epoch': (int, 1), 'snapshot_epoch': (int, 1), 'eval_interval': (int, 1),
    'log_iter': (int, 1), 'worker_num': (int, 0), 'seed': (int, None),
    'num_classes': (int, 1), 'max_iters_per_epoch': (int, 0),   # 0 / null: no cap
    'use_gpu': (bool, None), 'use_ema': (bool, None), 'print_flops': (bool, None),
    'find_unused_parameters': (bool, None), 'classwise': (bool, None),
    'ema_decay': (float, None), 'fuse_preprocess': (bool, None),
    # paths: YAML reads save_dir=0777 as 511 and log_file=on as true (raw tracebacks)
    'save_dir': (str, None), 'log_file': (str, None), 'weights': (str, None),
    'pretrain_weights': (str, None),
}


NULLABLE_KEYS = {'max_iters_per_epoch', 'eval_interval', 'seed', 'log_file', 'weights',
                 'pretrain_weights'}


# Number settings of the settings sections, checked when a config is loaded (and again where
# they are read, for a config made in code): path -> (smallest value, whether the value must
# be above it, what null means or None where null is refused, an -o example).
# clip_grad_by_norm -1 reversed every step (Paddle's ClipGradByGlobalNorm scales by
# max_norm / max(norm, max_norm)); a negative factor decays the weights away from zero.
# LearningRate.base_lr is checked by build_lr (optimizer._base_lr).
SECTION_NUMBERS = {
    ('OptimizerBuilder', 'clip_grad_by_norm'): (0, True, 'no clipping', '10.0'),
    ('OptimizerBuilder', 'regularizer', 'factor'): (0, False, None, '0.0001'),
}


# Keys PaddleDetection configs carry that nothing here reads: refused with the fix, so
# that ``-o use_xpu=true`` is not silently ignored.
UNSUPPORTED_KEYS = {
    'use_xpu': 'XPU devices are not supported (CPU, or GPU with use_gpu: true)',
    'use_npu': 'NPU devices are not supported (CPU, or GPU with use_gpu: true)',
    'eval_size': 'the evaluation input size comes from EvalReader\'s Resize target_size',
    'slim': 'compression runs through the slim/ scripts (slim/prune/prune.py, '
            'slim/distillation/distill.py, slim/quantization/*.py), not a slim: key',
    'Pruner': 'give the pruning plan to slim/prune/prune.py (--pruned_params, '
              '--pruned_ratios or a preset, --prune_criterion)',
    'Sensitivity': 'give the analysis settings to slim/sensitive/sensitive.py flags',
    'export': 'export options are flags of tools/export_model.py (--exclude_nms)',
    'dataset_dir': 'set TrainDataset/EvalDataset/TestDataset.dataset_dir',
    'teacher_config': 'set Distill.teacher_config or pass -t to the distillation script',
    'teacher_weights': 'set Distill.teacher_weights or pass --teacher_pretrained',
}


def _unsupported(key):
    return ConfigError('config key %r is not supported: %s; remove it' % (
        key, UNSUPPORTED_KEYS[key]))


def _wrong_type(key, kind, value, example=None):
    """The ConfigError for a ``value`` of ``key`` that is not a ``kind`` (bool, int or float);
    ``example``: a valid value for an ``-o`` hint (None where ``key`` is no ``-o`` path)."""
    want = {bool: 'true or false', int: 'an integer', float: 'a number',
            str: 'a path (quote it if YAML reads it as a number or a boolean)'}[kind]
    return ConfigError('%s must be %s; got %r%s' % (
        key, want, value, '' if example is None else ' (e.g. -o %s=%s)' % (key, example)))


def _checked_value(key, value, kind, low):
    """``value`` of the top-level ``key`` as ``kind`` (see :data:`GLOBAL_TYPES`), or a
    ConfigError naming the key and what it takes.  As for a component's arguments
    (:func:`_checked_arg`), 2.0 is a fine int and '9998e-4' - how YAML 1.1 reads a number
    without a dot - a fine float."""
    if value is None and key in NULLABLE_KEYS:
        return value
    if kind is str:
        if isinstance(value, str):
            return value
        raise _wrong_type(key, str, value, "'%s'" % value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(key, bool, value, 'true')
    if kind is float and isinstance(value, str):
        value = as_number(value)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
    if kind is int and ok and value != int(value):
        ok = False
    if not ok:
        raise _wrong_type(key, kind, value, {'ema_decay': '0.9998'}.get(key, max(low or 0, 1)))
    value = kind(value)
    if low is not None and value < low:
        raise ConfigError('%s must be >= %d; got %r' % (key, low, value))
    return value


def as_number(value, integer=False):
    """``value`` as a float where it is a number or a string that reads as one ('1e-4': YAML
    1.1 reads a number without a dot as text), as an int with ``integer`` where it is a whole
    number (``8.0``; not text: YAML reads every integer as one); anything else (a bool, other
    text, a fractional value for ``integer``) is returned unchanged, for the caller's own
    check to refuse with its message."""
    if _is_bool(value) or not isinstance(value, (numbers.Real, str)) or (
            integer and isinstance(value, str)):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    if integer:
        return int(number) if math.isfinite(number) and number.is_integer() else value
    return number


def checked_number(key, value, low=0, above=True, null=None, example=None):
    """``value`` of the setting ``key`` ('OptimizerBuilder.clip_grad_by_norm') as a finite
    float > ``low`` (>= ``low`` where not ``above``): a number, or a string that reads as one
    ('1e-4', a string to YAML 1.1); ``None`` where ``null`` says what it means ('no
    clipping'); else a ConfigError naming the key, what it takes and an ``-o`` ``example``."""
    if value is None and null is not None:
        return None
    number = as_number(value)
    if not isinstance(number, float) or not math.isfinite(number) or number < low or \
            (above and number == low):
        raise ConfigError('%s must be a number %s %s%s; got %r%s' % (
            key, '>' if above else '>=', low, ', or null for %s' % null if null else '', value,
            '' if example is None else ' (e.g. -o %s=%s)' % (key, example)))
    return number


def _is_bool(value):
    """A Python or numpy bool (numpy is not imported here: it is the dtype kind 'b')."""
    return isinstance(value, bool) or getattr(getattr(value, 'dtype', None), 'kind', '') == 'b'


def _checked_arg(key, value, default, example=True):
    """``value`` of a constructor argument whose default is a bool, an int or a float, as
    that type (an int is a fine float, 2.0 a fine int, '1e-4' - how YAML reads a number
    without a dot - a fine float), else a ConfigError naming ``key`` ('YOLOBox.conf_thresh'):
    ``bool('flase')`` is true, and ``float([0.1])`` fails inside the constructor without the
    key's name.  ``example``: whether ``key`` is an ``-o`` path for the hint.  Other defaults
    (None, strings, lists), a null value and an object that code passes are not checked."""
    if value is None or not isinstance(default, (bool, int, float)) or not (
            _is_bool(value) or isinstance(value, (str, bytes, list, tuple, dict,
                                                  numbers.Number))):
        return value
    kind = bool if isinstance(default, bool) else type(default)
    if kind is bool:
        if _is_bool(value):
            return bool(value)
    elif isinstance(value, numbers.Real) and not _is_bool(value):
        if kind is float:
            return value
        if float(value).is_integer():
            return int(value)
    elif kind is float and isinstance(value, str):
        number = as_number(value)
        if isinstance(number, float):
            return number
    raise _wrong_type(key, kind, value, ('true' if kind is bool else default) if example
                      else None)


def _check_args(section, cls, values, prefix=None):
    """Check the values of a config mapping that ``cls`` is built from (see
    :func:`_checked_arg`); ``prefix``: its ``-o`` path ('OptimizerBuilder.optimizer'), or
    None where it has none (a list entry), then the message says ``section``."""
    params = _ctor_params(cls)
    for key, value in values.items():
        if key in params:
            _checked_arg('%s.%s' % (prefix or section, key), value, params[key],
                         example=prefix is not None)


def _node_at(cfg, path):
    node = cfg
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _section_keys(cfg, path):
    """``(keys, what, cls)``: the keys the settings section at ``path`` (('TrainReader',
    'inputs_def')) may hold, its name for a message and the class built from it (or None),
    or ``(None, None, None)`` where nothing here knows them (no such section, a dataset or
    optimizer of an unregistered name - the code that builds it says so)."""
    node = _node_at(cfg, path)
    node = node if isinstance(node, dict) else {}
    where = '.'.join(path)
    if len(path) == 1:
        if where in READER_SECTIONS:
            return READER_KEYS, where, None
        if where == 'LearningRate':
            return LEARNING_RATE_KEYS, where, None
        if where == 'OptimizerBuilder':
            return OPTIMIZER_KEYS, where, None
        if where in DATASET_SECTIONS:
            cls = _REGISTRY.get(node.get('name')) if isinstance(node.get('name'), str) else None
            if cls is not None:
                return (('name',) + tuple(_ctor_params(cls)),
                        '%s (name: %s)' % (where, cls.__name__), cls)
        elif where in _REGISTRY:
            return ('name',) + tuple(_ctor_params(_REGISTRY[where])), where, _REGISTRY[where]
    elif tuple(path) in SUBSECTIONS:
        if path[1] == 'inputs_def':
            return INPUTS_DEF_KEYS, where, None
        if path[1] == 'regularizer':
            return REGULARIZER_KEYS, where, None
        kind = node.get('type', DEFAULT_OPTIMIZER)
        cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
        if cls is not None:
            return ('type',) + tuple(_ctor_params(cls)), '%s (type: %s)' % (where, kind), cls
    return None, None, None


def _ignored_keys(path):
    """{key: the fix} for the keys the section at ``path`` takes but nothing reads."""
    return IGNORED_INPUTS_DEF_KEYS if tuple(path[1:]) == ('inputs_def',) else {}


def _unknown_in_section(key, keys, what, item=None, ignored=None):
    """The ConfigError for ``key`` not in ``keys`` (of the section ``what``), given in the
    override ``item`` or in the config file; a key close to one of ``ignored`` ({key: the
    fix}: taken but read by nothing) is told that key's fix, not steered to it."""
    where = 'config key %r in override %r' % (key, item) if item else 'key %r in %s' % (key, what)
    close = difflib.get_close_matches(str(key), list(ignored or ()), n=1, cutoff=0.8)
    return ConfigError('unknown %s%s (valid keys%s: %s)%s' % (
        where, did_you_mean(key, keys), ' of %s' % what if item else '', ', '.join(sorted(keys)),
        '; %s' % ignored[close[0]] if close else ''))


def _warn_ignored(path, node):
    for key in node:
        if key in _ignored_keys(path):
            _logger.warning('%s.%s is read by nothing here: %s', '.'.join(path), key,
                            _ignored_keys(path)[key])


def _check_settings_sections(cfg):
    """The keys of the readers, datasets, ``LearningRate`` (and its schedulers) and
    ``OptimizerBuilder`` (its optimizer and regularizer): a typo fails with the close keys
    instead of being ignored (``clip_grad_norm`` trained without clipping)."""
    paths = [(s,) for s in READER_SECTIONS + DATASET_SECTIONS] + sorted(SUBSECTIONS) + [
        ('LearningRate',), ('OptimizerBuilder',)]
    for path in paths:
        node = _node_at(cfg, path)
        if node is None:
            continue
        where = '.'.join(path)
        if not isinstance(node, dict):
            raise ConfigError('%s is a section: it takes "key: value" lines under it (e.g. -o '
                              '%s.KEY=VALUE), not a value; got %r' % (where, where, node))
        keys, what, cls = _section_keys(cfg, path)
        if keys is None:
            continue
        for key in node:
            if key not in keys and key not in _ignored_keys(path):
                raise _unknown_in_section(key, keys, what, ignored=_ignored_keys(path))
        if cls is not None:
            _check_args(where, cls, node, prefix=where)
        _warn_ignored(path, node)
    for path, (low, above, null, example) in sorted(SECTION_NUMBERS.items()):
        node = _node_at(cfg, path[:-1])
        if isinstance(node, dict) and path[-1] in node:
            node[path[-1]] = checked_number('.'.join(path), node[path[-1]], low, above, null,
                                            example)
    schedulers = (cfg.get('LearningRate') or {}).get('schedulers')
    if schedulers is None:
        return
    if not isinstance(schedulers, list) or not all(isinstance(s, dict) for s in schedulers):
        raise ConfigError('LearningRate.schedulers must be a list of mappings, e.g. '
                          '[{name: PiecewiseDecay, milestones: [8, 11]}]; got %r' % (schedulers,))
    for i, entry in enumerate(schedulers):
        cls = _REGISTRY.get(entry.get('name')) if isinstance(entry.get('name'), str) else None
        if cls is None:
            continue        # build_lr names the valid schedules
        where = 'LearningRate.schedulers[%d] (name: %s)' % (i, entry['name'])
        keys = ('name',) + tuple(_ctor_params(cls))
        for key in entry:
            if key not in keys:
                raise _unknown_in_section(key, keys, where)
        _check_args(where, cls, entry)


def _metric_names():
    """The names ``metric:`` takes: the registered ``<Name>Metric`` classes that
    ``ppdet.metrics.metric_class`` builds (not imported here: it imports this module)."""
    return sorted(n[:-len('Metric')] for n, c in _REGISTRY.items()
                  if n.endswith('Metric') and n != 'Metric' and hasattr(c, 'from_dataset'))


def _check_metric(cfg):
    """A misspelt ``metric`` fails when the config is loaded, not at the first evaluation
    after an epoch of training; ``coco`` is told 'COCO' (the names are case-sensitive)."""
    if 'metric' not in cfg:
        return
    names, metric = _metric_names(), cfg['metric']
    if not names or metric in names:
        return
    same = [n for n in names if n.lower() == str(metric).lower()]
    hint = ('; did you mean %r? (metric names are case-sensitive; ' % same[0] if same
            else did_you_mean(metric, names) + ' (')
    raise ConfigError('unknown metric %r in config key "metric"%svalid metrics: %s)' % (
        metric, hint, ', '.join(names)))


_ROLES = {'backbones': 'a backbone', 'necks': 'a neck', 'heads': 'a head', 'losses': 'a loss',
          'transform': 'a data transform', 'source': 'a dataset', 'metrics': 'a metric'}


def _is_architecture(cls):
    """A detector architecture: it declares ``train_fields`` (what every
    ``ppdet.modeling.architectures.meta_arch.BaseArch`` has)."""
    return hasattr(cls, 'train_fields')


def _check_architecture(cfg):
    """``architecture`` naming a built-in component that is no architecture (``-o
    architecture=MobileNetV1``) fails saying so, not later with 'no training fields'.  A
    class registered outside ppdet is taken as it is (a plugin's own detector)."""
    if 'architecture' not in cfg:
        return
    name = cfg['architecture']
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    archs = sorted(n for n, c in _REGISTRY.items() if _is_architecture(c))
    if cls is None:     # suggest architectures only, not any close component ('FocalLoss')
        same = [a for a in archs if a.lower() == str(name).lower()]
        hint = ('; did you mean %r? (names are case-sensitive; ' % same[0] if same
                else did_you_mean(name, archs) + ' (')
        raise ConfigError('unknown architecture %r%svalid architectures: %s, or one that a '
                          'module in custom_imports registers)' % (name, hint, ', '.join(archs)))
    if _is_architecture(cls) or not cls.__module__.startswith('ppdet.'):
        return
    parts = cls.__module__.split('.')
    role = next((_ROLES[p] for p in parts if p in _ROLES), 'a component (%s)' % cls.__module__)
    fix = (' (a backbone is set in the architecture\'s section, e.g. -o ARCH.backbone=%s)'
           % name if role == 'a backbone' else '')
    raise ConfigError('architecture %r is %s, not an architecture; set architecture to one '
                      'of: %s%s' % (name, role, ', '.join(archs), fix))


def _check_shared_not_split(cfg, name, section):
    """``num_classes`` is shared by every component (head, loss, post-process): one
    section's other value (``-o YOLOv3Head.num_classes=5`` under ``num_classes: 6``) built
    a head and a loss of different widths, and training died in Paddle's shape check."""
    if 'num_classes' in section and 'num_classes' in cfg and \
            'num_classes' in getattr(_REGISTRY[name], '__shared__', []) and \
            section['num_classes'] != cfg['num_classes']:
        raise ConfigError('%s.num_classes %r differs from num_classes %r, which every '
                          'component shares (head, loss, post-process): set it once, at the top '
                          'level (-o num_classes=N)' % (name, section['num_classes'],
                                                        cfg['num_classes']))


def validate_config(cfg):
    """Fail on unknown top-level keys, unknown keys inside component and settings sections
    (:func:`_check_settings_sections`), a section that is not a mapping, a setting of the
    wrong type (:data:`GLOBAL_TYPES`, a component's bool/int/float arguments), an unknown
    ``metric`` and an ``architecture`` that is another kind of component."""
    shared = shared_keys()
    for key, (kind, low) in GLOBAL_TYPES.items():
        if key in cfg:
            cfg[key] = _checked_value(key, cfg[key], kind, low)
    for cls in _REGISTRY.values():      # the shared keys' types (use_fine_grained_loss)
        given = [k for k in getattr(cls, '__shared__', []) if k in cfg and k not in GLOBAL_TYPES]
        params = _ctor_params(cls) if given else {}
        for key in given:
            if key in params:
                _checked_arg(key, cfg[key], params[key])
    for key, val in cfg.items():
        if key in UNSUPPORTED_KEYS:
            raise _unsupported(key)
        if (key in SECTION_KEYS or key in _REGISTRY) and val is not None and \
                not isinstance(val, dict):
            raise ConfigError('%s is a section: it takes "key: value" lines under it (e.g. '
                              '-o %s.KEY=VALUE), not a value; got %r' % (key, key, val))
        if key in GLOBAL_KEYS or key in shared or key.startswith('_'):
            continue
        if key in _REGISTRY:
            if isinstance(val, dict):
                _check_shared_not_split(cfg, key, val)
                params = _ctor_params(_REGISTRY[key])
                for sub in val:
                    if sub not in params and sub != 'name':
                        raise ConfigError('unknown key %r in section %s%s (valid keys: %s)' % (
                            sub, key, did_you_mean(sub, params), ', '.join(sorted(params))))
                _check_args(key, _REGISTRY[key], val, prefix=key)
            continue
        raise ConfigError('unknown config key %r%s' % (
            key, did_you_mean(key, list(GLOBAL_KEYS | shared) + list(_REGISTRY))))
    _check_settings_sections(cfg)
    _check_metric(cfg)
    _check_architecture(cfg)
