"""One registry and one config system for every component and script.

A class decorated with ``@register`` can be built from YAML by its name.  Its
constructor arguments come, in order of precedence, from explicit keyword
arguments to :func:`create`, from the YAML section named after the class, from
top-level keys listed in ``__shared__`` (e.g. ``num_classes``), and from the
constructor defaults.  Arguments listed in ``__inject__`` are components
themselves: their value names a registered class (built from its own section)
or is a mapping with a ``name`` key plus keyword arguments.

Configs compose with ``_BASE_: [a.yml, b.yml]`` (paths relative to the file)
and are always read with ``yaml.safe_load``.
"""
import copy
import difflib
import inspect
import os

import yaml

__all__ = [
    'register', 'create', 'load_config', 'merge_config', 'apply_overrides',
    'get_registered', 'ConfigError', 'AttrDict', 'GLOBAL_KEYS', 'UNSUPPORTED_KEYS',
    'import_components',
]

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


def _read_yaml(path):
    if os.path.isdir(path):
        raise ConfigError('config %s is a directory; give a YAML file in it, e.g. -c %s' % (
            path, os.path.join(path, 'NAME.yml')))
    if not os.path.isfile(path):
        raise ConfigError('config file not found: %s' % path)
    with open(path, encoding='utf-8') as f:
        try:
            data = yaml.safe_load(f) or {}
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
        _deep_merge(merged, _load_with_bases(base_path, seen + (path,)))
    return _deep_merge(merged, data)


def shared_keys():
    """Top-level keys some registered component takes through ``__shared__``."""
    return {k for cls in _REGISTRY.values() for k in getattr(cls, '__shared__', [])}


def _unsupported(key):
    return ConfigError('config key %r is not supported: %s; remove it' % (
        key, UNSUPPORTED_KEYS[key]))


def _checked_value(key, value, kind, low):
    """``value`` of the top-level ``key`` as ``kind`` (see :data:`GLOBAL_TYPES`), or a
    ConfigError naming the key and what it takes."""
    if value is None and key in NULLABLE_KEYS:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError('%s must be true or false; got %r (e.g. -o %s=true)' % (
            key, value, key))
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and ok and value != int(value):
        ok = False
    if not ok:
        raise ConfigError('%s must be %s; got %r (e.g. -o %s=%s)' % (
            key, 'an integer' if kind is int else 'a number', value, key,
            {'ema_decay': '0.9998'}.get(key, max(low or 0, 1))))
    value = kind(value)
    if low is not None and value < low:
        raise ConfigError('%s must be >= %d; got %r' % (key, low, value))
    return value


def validate_config(cfg):
    """Fail on unknown top-level keys, unknown keys inside component sections, a section
    that is not a mapping and a setting of the wrong type (:data:`GLOBAL_TYPES`)."""
    shared = shared_keys()
    for key, (kind, low) in GLOBAL_TYPES.items():
        if key in cfg:
            cfg[key] = _checked_value(key, cfg[key], kind, low)
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
            continue
        raise ConfigError('unknown config key %r%s' % (
            key, did_you_mean(key, list(GLOBAL_KEYS | shared) + list(_REGISTRY))))


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
        return key.strip(), yaml.safe_load(value)
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
            keys = list(section)
            if name in _REGISTRY:
                keys += list(_ctor_params(_REGISTRY[name]))
            found += ['%s.%s' % (name, k) for k in
                      difflib.get_close_matches(key, sorted(set(keys)), n=2, cutoff=0.8)]
    exact = [f for f in found if f.endswith('.' + key)]
    found = (exact or found)[:3]
    return ('; did you mean ' + ' or '.join(repr(f) for f in found) + '?') if found else ''


def apply_overrides(cfg, overrides):
    """Apply ``['a.b=c', 'epoch=3']`` to ``cfg``; unknown keys fail with close matches."""
    for item in _override_items(overrides):
        key, value = _parse_override(item)
        parts = key.split('.')
        node = cfg
        for depth, part in enumerate(parts[:-1]):
            if part not in node:
                if depth == 0 and (part in _REGISTRY or part in SECTION_KEYS):
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
        if last not in node:
            allowed = set(node.keys())
            if node is cfg:
                allowed |= GLOBAL_KEYS | shared_keys()
            elif len(parts) == 2 and parts[0] in _REGISTRY:
                allowed |= set(_ctor_params(_REGISTRY[parts[0]]))
            elif len(parts) == 2 and parts[0] in SCRIPT_SECTIONS:
                allowed.add(last)     # the section's script checks its keys, with close ones
            if last not in allowed:
                hint = _nested_matches(cfg, last) if node is cfg else ''
                raise ConfigError('unknown config key %r in override %r%s' % (
                    last, item, hint or did_you_mean(last, allowed)))
        node[last] = value
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
    """Build the registered component ``name`` from ``cfg`` (a loaded config)."""
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
            args[key] = cfg[key]
    args.update({k: copy.deepcopy(v) for k, v in section.items() if k != 'name'})
    args.update(kwargs)
    for key in getattr(cls, '__inject__', []):
        if key in args:
            args[key] = _build_injected(args[key], cfg)
        elif key in params and isinstance(params[key], str):
            args[key] = _build_injected(params[key], cfg)
    missing = [k for k, d in params.items() if d is inspect.Parameter.empty and k not in args]
    if missing:
        raise ConfigError('%s needs %s; set it in section %s of the config' % (
            name, ', '.join(missing), name))
    return cls(**args)
