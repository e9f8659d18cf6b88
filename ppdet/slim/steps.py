"""Compression steps share one interface so they chain on the same trainer.

A step is applied to a built model and returns the (possibly rewritten) model
plus a JSON-serialisable *record*.  The trainer saves the list of records in
every checkpoint (see ppdet.utils.checkpoint), so a compressed checkpoint can be
rebuilt from the file alone: build the float model from the config, then call
each step's ``restore(model, record)`` in order, then load the weights.

Register a step class with ``@register_step('prune')``; ``kind`` in the record
names the class that can restore it.
"""
import collections
import copy

_STEPS = {}

# What a step changes about export: the model to trace, the function that saves the traced
# layer (``save(static_layer, prefix)``), extra ``compression`` entries for infer_cfg.yml and
# whether the saved graph is int8-ready.
ExportHook = collections.namedtuple('ExportHook', 'model save infer_cfg quantized')


def register_step(kind):
    def deco(cls):
        cls.kind = kind
        _STEPS[kind] = cls
        return cls
    return deco


def get_step(kind):
    _import_builtin_steps()
    if kind not in _STEPS:
        raise ValueError('checkpoint names compression step %r, which this version does not '
                         'know (known: %s)' % (kind, ', '.join(sorted(_STEPS))))
    return _STEPS[kind]


def _import_builtin_steps():
    # imported lazily: each step pulls in PaddleSlim pieces only when used
    import importlib
    for mod in ('ppdet.slim.prune', 'ppdet.slim.distill', 'ppdet.slim.qat'):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


class CompressionStep(object):
    """Base class: ``apply`` changes a model; ``restore`` redoes the change's structure."""
    kind = 'base'

    def apply(self, model):
        """Return ``(model, record)``; record is a JSON-able dict (without 'kind')."""
        raise NotImplementedError

    @classmethod
    def restore(cls, model, record):
        """Rebuild the structure described by ``record`` on a freshly built model."""
        raise NotImplementedError

    @classmethod
    def export_hook(cls, model, record):
        """An :data:`ExportHook` when this step changes how the model is exported, else None."""
        return None


def restore_steps(model, steps):
    """Replay the structural part of every recorded step, in order."""
    for rec in steps or []:
        rec = copy.deepcopy(rec)
        kind = rec.pop('kind')
        model = get_step(kind).restore(model, rec)
    return model


def make_record(step_kind, record):
    out = {'kind': step_kind}
    out.update(record)
    return out
