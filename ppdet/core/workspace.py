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
The registry lives in :mod:`ppdet.core.registry`, the checks of a loaded config in
:mod:`ppdet.core.config_checks`; their public names are importable from here too.
"""
import copy
import difflib
import inspect
import os
import re

import yaml

from .config_checks import (
    DATASET_SECTIONS, GLOBAL_KEYS, SCRIPT_SECTIONS, SECTION_KEYS, SUBSECTIONS, UNSUPPORTED_KEYS,
    _checked_arg, _ignored_keys, _node_at, _section_keys, _unknown_in_section, _unsupported,
    as_number, checked_number, validate_config)
from .registry import (
    _REGISTRY, ConfigError, _ctor_params, did_you_mean, get_registered, import_components,
    register, shared_keys)

__all__ = [
    'register', 'create', 'load_config', 'merge_config', 'apply_overrides',
    'get_registered', 'ConfigError', 'AttrDict', 'GLOBAL_KEYS', 'UNSUPPORTED_KEYS',
    'import_components', 'checked_number', 'as_number', 'did_you_mean', 'validate_config',
]

BASE_KEY = '_BASE_'


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


# YAML 1.1 reads 1e-3 (a number without a dot) as a string; YAML 1.2 and Python read it as
# a float: -o obj_prior=1e-2 failed with "unsupported operand type(s) for -: 'float' and 'str'"
ConfigLoader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'), list('-+0123456789'))


def _yaml_load(stream):
    return yaml.load(stream, Loader=ConfigLoader)  # a SafeLoader: never runs !!python tags


def _read_yaml(path):
    if os.path.isdir(path):
        raise ConfigError('config %s is a directory; give a YAML file in it, e.g. -c %s' % (
            path, os.path.join(path, 'NAME.yml')))
    if not os.path.isfile(path):
        from ppdet.utils.fileio import near_files_hint
        raise ConfigError('config file not found: %s%s' % (
            path, near_files_hint(path, ('.yml', '.yaml'))))
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
        base_path = os.path.join(os.path.dirname(path), os.path.expanduser(base))
        if not os.path.isfile(base_path):
            raise ConfigError('%s: _BASE_ entry %r: %s %s (_BASE_ paths are relative to the '
                              'folder of the config that names them)' % (
                                  path, base, 'is a directory, not a YAML file:'
                                  if os.path.isdir(base_path) else 'no such file',
                                  os.path.abspath(base_path)))
        _merge_over_bases(merged, _load_with_bases(base_path, seen + (path,)), base_path)
    return _merge_over_bases(merged, data, path)


def _merge_over_bases(dst, src, path, where=()):
    """A config over what its ``_BASE_`` files give: mappings merge as ``-o`` merges them
    (one naming another component or dataset, ``name`` / ``type``, replaces the base's
    section: a VOCDataSet over a COCODataSet kept its ``image_dir: val``), and an empty
    section (``YOLOv3Head:`` with its lines commented out) is refused: it set every
    setting of the base's section back to its default, without a word."""
    for k, v in src.items():
        old = dst.get(k)
        if v is None and isinstance(old, dict) and old:
            raise ConfigError(
                '%s: %s is empty (null) here, which would drop the whole section its _BASE_ '
                'gives (each setting back to its default); give the keys to change under it, '
                'or remove the line' % (path, '.'.join(where + (str(k),))))
        if isinstance(v, dict) and isinstance(old, dict) and not _replaces(old, v):
            _merge_over_bases(old, v, path, where + (str(k),))
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def load_config(path, overrides=None, validate=True):
    """Load a YAML config with ``_BASE_`` inheritance and ``a.b=c`` overrides.

    The built-in components and the config's ``custom_imports`` are imported first."""
    cfg = AttrDict(_load_with_bases(path))
    cfg['_config_path'] = os.path.abspath(path)
    overrides = _override_items(overrides)
    custom = cfg.get('custom_imports') or []
    for item in overrides:     # an -o custom_imports=[...] must be imported before the rest
        key, value = parse_override(item)
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
        cfg['_overrides'] = list(overrides)     # what checkpoints record (model_overrides)
    if validate:
        validate_config(cfg)
    return cfg


def model_overrides(cfg):
    """{'Section.key': value} of the ``-o`` overrides the config was loaded with that set a
    component's argument (``YOLOv3Head.anchors``: what the model computes, and nothing of
    it in the weights), with the values in effect."""
    out = {}
    for item in cfg.get('_overrides') or []:
        key = item.split('=', 1)[0].strip()
        path = key.split('.')
        if len(path) < 2 or path[0] not in _REGISTRY:
            continue
        out[key] = copy.deepcopy(config_value(cfg, key))
    return out


def config_value(cfg, key):
    """The value at the dotted ``key`` (``'YOLOv3Head.anchors'``), None where there is none."""
    return _node_at(cfg, key.split('.'))


def merge_config(cfg, other):
    """Deep-merge the mapping ``other`` into ``cfg`` (in place) and return it."""
    return _deep_merge(cfg, other)


def parse_override(item):
    """``key=value`` -> (key, the value read as YAML), or a ConfigError naming the fix."""
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
        key, value = parse_override(item)
        if key.startswith('_'):   # -o _config_path=... changed what checkpoints record
            raise ConfigError('override %r: keys starting with _ are set by the loader (%s), '
                              'not by -o' % (item, key.split('.')[0]))
        parts = key.split('.')
        node = cfg
        for depth, part in enumerate(parts[:-1]):
            if part not in node:
                if (depth == 0 and (part in _REGISTRY or part in SECTION_KEYS)) or \
                        tuple(parts[:depth + 1]) in SUBSECTIONS:
                    node[part] = {}
                else:   # a dotted key names a section: the close sections, not 'epoch'
                    choices = [k for k, v in node.items() if isinstance(v, dict)]
                    if depth == 0:
                        choices += sorted(set(SECTION_KEYS) | set(_REGISTRY))
                    raise ConfigError('unknown config key %r in override %r%s' % (
                        part, item, did_you_mean(part, dict.fromkeys(choices), cutoff=0.7)))
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
