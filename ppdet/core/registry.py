"""The registry of components: ``@register`` makes a class buildable from a config by its
name (:func:`ppdet.core.workspace.create`); :func:`import_components` imports the packages
(and a config's ``custom_imports``) whose modules register them."""
import difflib
import inspect

__all__ = ['ConfigError', 'register', 'get_registered', 'did_you_mean', 'shared_keys',
           'import_components', 'COMPONENT_PACKAGES']

_REGISTRY = {}


# Packages whose modules register the built-in components; load_config imports them (by
# name, so the core does not depend on the layers above it), then a config's own
# ``custom_imports: [my_package.my_family]`` - how a new model family plugs in.
COMPONENT_PACKAGES = ('ppdet.modeling', 'ppdet.data', 'ppdet.metrics', 'ppdet.engine.optimizer')


class ConfigError(ValueError):
    """Bad configuration: the message names the bad value and the fix."""


def did_you_mean(word, choices, n=3, cutoff=0.5):
    """'; did you mean 'x' or 'y'?' for the choices close to ``word``, else ''."""
    found = difflib.get_close_matches(str(word), list(choices), n=n, cutoff=cutoff)
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


def shared_keys():
    """Top-level keys some registered component takes through ``__shared__``."""
    return {k for cls in _REGISTRY.values() for k in getattr(cls, '__shared__', [])}


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
