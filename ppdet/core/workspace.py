"""One registry and one config system for every component and script.

A class decorated with ``@register`` can be built from YAML by its name.  Its
constructor arguments come, in order of precedence, from explicit keyword
arguments to :func:`create`, from the YAML section named after the class, from
top-level keys listed in ``__shared__`` (e.g. ``num_classes``), and from the
constructor defaults.  Arguments listed in ``__inject__`` are components
themselves: their value names a registered class (built from its own section)
or is a mapping with a ``name`` key plus keyword arguments.

Configs compose with ``_BASE_: [a.yml, b.yml]`` (paths relative to the file)
and are always read with a ``yaml.SafeLoader`` (one that also refuses a key given twice).
"""
import copy
import difflib
import inspect
import logging
import math
import numbers
import os

import yaml

__all__ = [
    'register', 'create', 'load_config', 'merge_config', 'apply_overrides',
    'get_registered', 'ConfigError', 'AttrDict', 'GLOBAL_KEYS', 'UNSUPPORTED_KEYS',
    'import_components', 'checked_number', 'as_number',
]

_logger = logging.getLogger(__name__)   # under 'ppdet': the scripts' log (ppdet.utils.logger)

BASE_KEY = '_BASE_'

_REGISTRY = {}

# Top-level keys that are plain settings rather than component sections; each is read by
# the code named beside it.  Keys in any registered class's ``__shared__`` (num_classes,
# norm_type, use_fine_grained_loss) are valid top-level keys too.
GLOBAL_KEYS = {
    'architecture', 'num_classes', 'metric', 'map_type', 'classwise',  # model, metrics
    'use_gpu', 'seed', 'worker_num', 'log_iter', 'log_file',            # runtime, cli
    'save_dir', 'epoch', 'snapshot_epoch', 'eval_interval', 'use_ema', 'ema_decay',
    'print_flops', 'max_iters_per_epoch', 'find_unused_parameters',     # trainer
    'weights', 'pretrain_weights', 'input_size',                        # scripts
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
    'ema_decay': (float, None),
}
NULLABLE_KEYS = {'max_iters_per_epoch', 'eval_interval', 'seed'}

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

# Packages whose modules register the built-in components; load_config imports them (by
# name, so the core does not depend on the layers above it), then a config's own
# ``custom_imports: [my_package.my_family]`` - how a new model family plugs in.
COMPONENT_PACKAGES = ('ppdet.modeling', 'ppdet.data', 'ppdet.metrics', 'ppdet.engine.optimizer')


class ConfigError(ValueError):
    """Bad configuration: the message names the bad value and the fix."""


class AttrDict(dict):
    """dict with attribute access, used for the loaded global config."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key)

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return AttrDict(copy.deepcopy(dict(self), memo))


def did_you_mean(word, choices, n=3):
    """'; did you mean 'x' or 'y'?' for the choices close to ``word``, else ''."""
    found = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.5)
    return ('; did you mean ' + ' or '.join(repr(f) for f in found) + '?') if found else ''


def register(cls):
    """Class decorator: make ``cls`` creatable from config by its name."""
    name = cls.__name__
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        # re-import of the same module (e.g. under a different path) is harmless
        if _REGISTRY[name].__module__ != cls.__module__:
            raise ConfigError('component name %r registered twice (%s and %s)' % (
                name, _REGISTRY[name].__module__, cls.__module__))
    _REGISTRY[name] = cls
    return cls


def get_registered(name=None):
    if name is None:
        return dict(_REGISTRY)
    if name not in _REGISTRY:
        raise ConfigError('unknown component %r%s (registered: %d components)' % (
            name, did_you_mean(name, _REGISTRY), len(_REGISTRY)))
    return _REGISTRY[name]


def _ctor_params(cls):
    sig = inspect.signature(cls.__init__)
    params = {}
    for pname, p in list(sig.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        params[pname] = p.default
    return params


def _deep_merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


class DuplicateKeyError(yaml.YAMLError):
    """A key given twice in one YAML mapping (``line``: the second, ``first``: the first)."""

    def __init__(self, key, line, first):
        super().__init__('duplicate key %r (lines %d and %d)' % (key, first, line))
        self.key, self.line, self.first = key, line, first


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: PyYAML keeps the
    last value without a word (``epoch: 3`` then ``epoch: 5`` trained 5 epochs).  Merge keys
    (``<<: *base``) may still be overridden."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or \
                        key_node.tag == 'tag:yaml.org,2002:merge':
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep)


def _yaml_load(stream):
    return yaml.load(stream, Loader=ConfigLoader)  # a SafeLoader: never runs !!python tags


def _read_yaml(path):
    if os.path.isdir(path):
        raise ConfigError('config %s is a directory; give a YAML file in it, e.g. -c %s' % (
            path, os.path.join(path, 'NAME.yml')))
    if not os.path.isfile(path):
        raise ConfigError('config file not found: %s' % path)
    with open(path, encoding='utf-8') as f:
        try:
            data = _yaml_load(f) or {}
        except DuplicateKeyError as e:
            raise ConfigError('%s:%d: key %r is given twice in one mapping (first on line %d); '
                              'YAML would keep only the last value: remove one'
                              % (path, e.line, e.key, e.first))
        except UnicodeDecodeError as e:
            raise ConfigError('config %s is not UTF-8 text (%s); save it as UTF-8 YAML'
                              % (path, e.reason))
        except yaml.constructor.ConstructorError as e:
            # e.g. a !!python/object tag: safe_load refuses to run it; say so in one line
            mark = e.problem_mark
            where = '%s:%d' % (path, mark.line + 1) if mark else path
            raise ConfigError('%s: %s; configs are loaded with yaml.safe_load, which never '
                              'executes tags like !!python/...: remove the tag and write the '
                              'plain value' % (where, e.problem))
        except yaml.YAMLError as e:
            raise ConfigError('%s is not valid YAML: %s' % (path, str(e).replace('\n', ' ')))
    if not isinstance(data, dict):
        raise ConfigError('config %s must be a mapping at top level' % path)
    return data


def _load_with_bases(path, seen=()):
    path = os.path.abspath(path)
    if path in seen:
        raise ConfigError('_BASE_ cycle: %s' % ' -> '.join(list(seen) + [path]))
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, []) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError('%s: _BASE_ must be a file name or a list of them (paths relative '
                          'to this file), e.g. _BASE_: [../_base_/optimizer.yml]; got %r'
                          % (path, bases))
    merged = {}
    for base in bases:
        base_path = os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base_path):
            raise ConfigError('%s: _BASE_ entry %r: %s %s (_BASE_ paths are relative to the '
                              'folder of the config that names them)' % (
                                  path, base, 'is a directory, not a YAML file:'
                                  if os.path.isdir(base_path) else 'no such file',
                                  os.path.abspath(base_path)))
        _deep_merge(merged, _load_with_bases(base_path, seen + (path,)))
    return _deep_merge(merged, data)


def shared_keys():
    """Top-level keys some registered component takes through ``__shared__``."""
    return {k for cls in _REGISTRY.values() for k in getattr(cls, '__shared__', [])}


def _unsupported(key):
    return ConfigError('config key %r is not supported: %s; remove it' % (
        key, UNSUPPORTED_KEYS[key]))


def _wrong_type(key, kind, value, example=None):
    """The ConfigError for a ``value`` of ``key`` that is not a ``kind`` (bool, int or float);
    ``example``: a valid value for an ``-o`` hint (None where ``key`` is no ``-o`` path)."""
    want = {bool: 'true or false', int: 'an integer', float: 'a number'}[kind]
    return ConfigError('%s must be %s; got %r%s' % (
        key, want, value, '' if example is None else ' (e.g. -o %s=%s)' % (key, example)))


def _checked_value(key, value, kind, low):
    """``value`` of the top-level ``key`` as ``kind`` (see :data:`GLOBAL_TYPES`), or a
    ConfigError naming the key and what it takes.  As for a component's arguments
    (:func:`_checked_arg`), 2.0 is a fine int and '9998e-4' - how YAML 1.1 reads a number
    without a dot - a fine float."""
    if value is None and key in NULLABLE_KEYS:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(key, bool, value, 'true')
    if kind is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
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
    number = None
    if not _is_bool(value) and isinstance(value, (numbers.Real, str)):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or not math.isfinite(number) or number < low or \
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
        try:
            return float(value)
        except ValueError:
            pass
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


def import_components(modules=()):
    """Import :data:`COMPONENT_PACKAGES` and ``modules`` (a config's ``custom_imports``)
    so that their ``@register`` classes exist."""
    import importlib
    for name in list(COMPONENT_PACKAGES) + list(modules or []):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name and not name.startswith(str(e.name) + '.'):
                raise
            raise ConfigError('custom_imports: cannot import %r (%s); give an importable '
                              'module name (the package must be installed or on PYTHONPATH)'
                              % (name, e))


def load_config(path, overrides=None, validate=True):
    """Load a YAML config with ``_BASE_`` inheritance and ``a.b=c`` overrides.

    The built-in components and the config's ``custom_imports`` are imported first."""
    cfg = AttrDict(_load_with_bases(path))
    cfg['_config_path'] = os.path.abspath(path)
    overrides = _override_items(overrides)
    custom = cfg.get('custom_imports') or []
    for item in overrides:     # an -o custom_imports=[...] must be imported before the rest
        key, value = _parse_override(item)
        if key == 'custom_imports':
            custom = value or []
    if isinstance(custom, str):
        custom = [custom]
    if not isinstance(custom, list) or not all(isinstance(m, str) for m in custom):
        raise ConfigError('custom_imports must be a list of module names, e.g. '
                          'custom_imports: [my_pkg.my_family]; got %r' % (custom,))
    import_components(custom)
    if overrides:
        apply_overrides(cfg, overrides)
    if validate:
        validate_config(cfg)
    return cfg


def merge_config(cfg, other):
    """Deep-merge the mapping ``other`` into ``cfg`` (in place) and return it."""
    return _deep_merge(cfg, other)


def _parse_override(item):
    if '=' not in item:
        raise ConfigError('override %r must look like key=value (e.g. -o epoch=10)' % item)
    key, value = item.split('=', 1)
    if value.strip() == '':
        return key.strip(), None
    try:
        return key.strip(), _yaml_load(value)
    except DuplicateKeyError as e:
        raise ConfigError('override %r: key %r is given twice; keep one' % (item, e.key))
    except yaml.constructor.ConstructorError as e:
        raise ConfigError('override %r: %s; values are read with yaml.safe_load, which never '
                          'executes tags like !!python/...: give the plain value'
                          % (item, e.problem))
    except yaml.YAMLError as e:
        raise ConfigError('override %r: the value is not valid YAML (%s); quote it or fix the '
                          'brackets, e.g. -o "key=[1, 2]"'
                          % (item, getattr(e, 'problem', None) or str(e).split('\n')[0]))


def _override_items(overrides):
    """``overrides`` as a list of ``key=value`` strings (a mapping is turned into one)."""
    if isinstance(overrides, dict):
        return ['%s=%s' % (k, yaml.safe_dump(v, default_flow_style=True).strip())
                for k, v in overrides.items()]
    return list(overrides or [])


def _nested_matches(cfg, key):
    """'; did you mean 'Section.key'?' where ``key`` (given at top level) is, or is close
    to, a key of one of ``cfg``'s sections, else ''."""
    found = []
    for name, section in cfg.items():
        if isinstance(section, dict) and not name.startswith('_'):
            keys = list(section) + [k for k in _section_keys(cfg, (name,))[0] or ()
                                    if k != 'name']
            found += ['%s.%s' % (name, k) for k in
                      difflib.get_close_matches(key, sorted(set(keys)), n=2, cutoff=0.8)]
    exact = [f for f in found if f.endswith('.' + key)]
    found = (exact or found)[:3]
    return ('; did you mean ' + ' or '.join(repr(f) for f in found) + '?') if found else ''


def _replaces(old, new):
    """Whether the mapping ``new`` given with ``-o`` replaces ``old`` rather than merging
    into it: it names another component (``OptimizerBuilder.optimizer={type: Adam}``), whose
    arguments are not the old one's."""
    return any(k in new and k in old and new[k] != old[k] for k in ('name', 'type'))


def _null_section(item, name, section):
    """The ConfigError for ``-o NAME=null`` on the section ``name`` the config has: it wiped
    every setting (``-o ResNet=null`` built the default full-width ResNet)."""
    keys = [k for k in section if k != 'name'] or [
        k for k in (_section_keys({name: section}, (name,))[0] or ()) if k != 'name']
    keys = [k for k in ('batch_size', 'base_lr') if k in keys] + keys
    return ConfigError('override %r would drop the whole %s section (each of its settings back '
                       'to the default); set one key instead, e.g. -o %s.%s=VALUE, or remove '
                       'the section from the YAML' % (item, name, name,
                                                      keys[0] if keys else 'KEY'))


def apply_overrides(cfg, overrides):
    """Apply ``['a.b=c', 'epoch=3']`` to ``cfg``; unknown keys fail with close matches.

    A mapping merges into the section it names, as in PaddleDetection (``-o "ResNet={depth:
    34}"`` keeps the section's other keys), unless it names another component
    (:func:`_replaces`).  A key new to a reader, dataset, optimizer or learning-rate section
    is taken when that section takes it (:func:`_section_keys`), checked once all the
    overrides are in (``-o TestDataset.name=COCODataSet TestDataset.allow_empty=true``)."""
    later = []
    for item in _override_items(overrides):
        key, value = _parse_override(item)
        parts = key.split('.')
        node = cfg
        for depth, part in enumerate(parts[:-1]):
            if part not in node:
                if (depth == 0 and (part in _REGISTRY or part in SECTION_KEYS)) or \
                        tuple(parts[:depth + 1]) in SUBSECTIONS:
                    node[part] = {}
                else:
                    raise ConfigError('unknown config key %r in override %r%s' % (
                        part, item, did_you_mean(part, node.keys())))
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError('override %r: %r is not a section' % (item, part))
        last = parts[-1]
        if node is cfg and last in UNSUPPORTED_KEYS:
            raise _unsupported(last)
        if node is cfg and value is None and isinstance(cfg.get(last), dict) and \
                (last in _REGISTRY or last in SECTION_KEYS):
            raise _null_section(item, last, cfg[last])
        if last not in node:
            path = tuple(parts[:-1])
            allowed = set(node.keys())
            if node is cfg:
                allowed |= GLOBAL_KEYS | shared_keys()
            elif len(path) == 1 and path[0] in SCRIPT_SECTIONS:
                allowed.add(last)     # the section's script checks its keys, with close ones
            elif len(path) == 1 and path[0] in DATASET_SECTIONS:
                allowed.add('name')
            if _section_keys(cfg, path)[0] is not None or \
                    (len(path) == 1 and path[0] in DATASET_SECTIONS and last != 'name'):
                later.append((item, path, last))
            elif last not in allowed:
                hint = _nested_matches(cfg, last) if node is cfg else ''
                raise ConfigError('unknown config key %r in override %r%s' % (
                    last, item, hint or did_you_mean(last, allowed)))
        if isinstance(value, dict) and isinstance(node.get(last), dict) and \
                not _replaces(node[last], value):
            _deep_merge(node[last], value)
        else:
            node[last] = value
    for item, path, last in later:
        keys, what, _ = _section_keys(cfg, path)
        if keys is None:      # a dataset section without a registered name
            name = (_node_at(cfg, path) or {}).get('name')
            raise ConfigError('override %r: %s has %s, so its keys are unknown; set %s.name '
                              '(e.g. COCODataSet, VOCDataSet, ImageFolder)' % (
                                  item, path[0], 'no name' if name is None else
                                  'name %r, no registered dataset' % (name,), path[0]))
        if last not in keys and last not in _ignored_keys(path):
            raise _unknown_in_section(last, keys, what, item, _ignored_keys(path))
    return cfg


def _build_injected(value, cfg):
    if value is None or not isinstance(value, (str, dict)):
        return value  # already an object (or disabled)
    if isinstance(value, str):
        if value not in _REGISTRY:
            raise ConfigError('unknown component %r%s' % (value, did_you_mean(value, _REGISTRY)))
        return create(value, cfg)
    spec = dict(value)
    name = spec.pop('name', None) or spec.pop('type', None)
    if name is None:
        raise ConfigError('injected component %r needs a "name" key' % (value,))
    return create(name, cfg, **spec)


def create(name, cfg=None, **kwargs):
    """Build the registered component ``name`` from ``cfg`` (a loaded config).

    An argument whose default is a bool, an int or a float must be one
    (:func:`_checked_arg`), and a plain TypeError or ValueError of the constructor comes out
    as a ConfigError naming ``name``: one ``error:`` line from a script, not a traceback."""
    cls = get_registered(name)
    cfg = cfg if cfg is not None else {}
    params = _ctor_params(cls)
    section = cfg.get(name, {}) or {}
    for key in list(section) + list(kwargs):
        if key not in params and key != 'name':
            raise ConfigError('unknown argument %r for %s%s (valid: %s)' % (
                key, name, did_you_mean(key, params), ', '.join(sorted(params))))
    args = {}
    for key in getattr(cls, '__shared__', []):
        if key in cfg and key in params:
            args[key] = _checked_arg(key, cfg[key], params[key])
    args.update({k: _checked_arg('%s.%s' % (name, k), copy.deepcopy(v), params[k])
                 for k, v in section.items() if k != 'name'})
    args.update({k: _checked_arg('%s.%s' % (name, k), v, params.get(k), example=False)
                 for k, v in kwargs.items()})
    for key in getattr(cls, '__inject__', []):
        if key in args:
            args[key] = _build_injected(args[key], cfg)
        elif key in params and isinstance(params[key], str):
            args[key] = _build_injected(params[key], cfg)
    missing = [k for k, d in params.items() if d is inspect.Parameter.empty and k not in args]
    if missing:
        raise ConfigError('%s needs %s; set it in section %s of the config' % (
            name, ', '.join(missing), name))
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        if type(e) not in (TypeError, ValueError):     # ConfigError, or one callers catch
            raise
        msg = ' '.join(str(e).split())       # Paddle's messages span lines
        raise ConfigError(msg if msg.startswith(name) else
                          'building %s from the config: %s' % (name, msg)) from e
