"""Quantization-aware training: the registered compression step ``'quant'`` (:class:`QATStep`).

It rewrites a dygraph model with PaddleSlim's ``QAT`` (channel-wise weights,
moving-average activations, optional PACT), the trainer records its config in every
checkpoint, and ``restore`` re-applies it so a QAT checkpoint (with its scales) loads
from the file alone.  Layers the architecture declares float-only
(``float_only_layers()``: its output convs) stay in float unless ``not_quant_pattern``
says otherwise.  :func:`ppdet.engine.export.export_model` writes the int8-ready
inference model through :meth:`QATStep.export_hook`.
"""
import copy
import fnmatch

import paddle

from ppdet.core.workspace import as_number, did_you_mean
from ppdet.modeling.architectures.meta_arch import declared
from ppdet.slim import residual_adds
from ppdet.slim.steps import CompressionStep, ExportHook, register_step
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['QATStep', 'QAT_DEFAULTS', 'quant_record', 'refresh_weight_scales',
           'check_qat_config', 'check_resume_quant', 'QAT_CHOICES']

QAT_DEFAULTS = {
    'weight_quantize_type': 'channel_wise_abs_max',
    'activation_quantize_type': 'moving_average_abs_max',
    'weight_bits': 8,
    'activation_bits': 8,
    'moving_rate': 0.9,
    'quantizable_layer_type': ['Conv2D', 'Linear'],
    'not_quant_pattern': None,  # None: the layers the architecture declares float-only
    'use_pact': False,
    # also the residual adds oneDNN cannot fold into a conv (ppdet.slim.residual_adds);
    # residual_adds / residual_add_outputs: the layer paths of the adds quantized and of
    # those whose output is fake-quantized too, resolved once (None: not yet) and recorded
    'quantize_residual_adds': False,
    'residual_adds': None,
    'residual_add_outputs': None,
}


# The values PaddleSlim's QAT and the Paddle dygraph quantizer under it both accept: PaddleSlim
# asserts on its own lists (range_abs_max, ...) and Paddle's ImperativeQuantAware rejects some of
# those again, so an unknown value used to end in an AssertionError traceback at apply time.
QAT_CHOICES = {
    'weight_quantize_type': ('channel_wise_abs_max', 'abs_max'),
    'activation_quantize_type': ('moving_average_abs_max',),
    'quantizable_layer_type': ('Conv2D', 'Linear', 'Conv2DTranspose'),
}
QAT_BITS = (1, 16)


def _bad(key, what, value):
    return ValueError('%s must be %s, got %r (e.g. -o Quant.%s=%s)' % (
        key, what, value, key, QAT_DEFAULTS[key] if not isinstance(QAT_DEFAULTS[key], list)
        else '[%s]' % ','.join(QAT_DEFAULTS[key])))


def _choice(key, value):
    known = QAT_CHOICES[key]
    if value not in known:
        raise ValueError('unknown %s %r%s (choose from %s)' % (
            key, value, did_you_mean(value, known), ', '.join(known)))


def check_qat_config(conf):
    """Refuse, before any model is touched, a quantization value PaddleSlim or Paddle would
    assert on (or take for another: ``bool('flase')`` is True); every message names the key,
    the value and the valid ones (``did you mean``)."""
    for key in ('weight_quantize_type', 'activation_quantize_type'):
        _choice(key, conf[key])
    for key in ('weight_bits', 'activation_bits'):
        v = conf[key] = as_number(conf[key], integer=True)   # 8.0, '8' as 8
        if isinstance(v, bool) or not isinstance(v, int) or not QAT_BITS[0] <= v <= QAT_BITS[1]:
            raise _bad(key, 'an integer in [%d, %d]' % QAT_BITS, v)
    v = conf['moving_rate'] = as_number(conf['moving_rate'])   # '9e-1' (text to YAML) as 0.9
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
        raise _bad('moving_rate', 'a number in (0, 1) (the decay of the moving average)', v)
    types = conf['quantizable_layer_type']
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, (list, tuple)) or not types:
        raise _bad('quantizable_layer_type', 'a non-empty list of layer types', types)
    for t in types:
        _choice('quantizable_layer_type', t)
    for key in ('use_pact', 'quantize_residual_adds'):
        if not isinstance(conf[key], bool):
            raise ValueError('%s must be true or false, got %r (e.g. -o Quant.%s=true)' % (
                key, conf[key], key))
    pattern = conf['not_quant_pattern']
    if pattern is not None and (not isinstance(pattern, (list, tuple)) or
                                not all(isinstance(p, str) for p in pattern)):
        raise ValueError('not_quant_pattern must be a list of layer-name patterns, got %r '
                         '(e.g. -o Quant.not_quant_pattern=[yolo_head.yolo_output])' % (pattern,))
    return conf


def check_patterns_match(net, patterns, types):
    """Refuse a ``not_quant_pattern`` entry that matches no quantizable layer of ``net`` (a
    typo used to match nothing without a word and, replacing the float-only default, let the
    output convs be quantized), naming the close layer names as ``--skip_layers`` of
    post_quant.py does (:func:`ppdet.slim.quant.unknown_layer_hint`)."""
    from ppdet.slim.quant import unknown_layer_hint
    names = [n for n, l in net.named_sublayers() if isinstance(l, types)]
    for p in patterns or []:
        if not any(_matches(n, [p]) for n in names):
            # the layers and the blocks above them: 'yolo_head.yolo_output' as well
            known = sorted(set(names) | {n.rsplit('.', 1)[0] for n in names if '.' in n})
            raise ValueError('not_quant_pattern %r matches no %s layer of the model%s (a '
                             'pattern is a glob or a part of a layer name; it replaces the '
                             'float-only default, so a typo would quantize the output convs)' % (
                                 p, '/'.join(t.__name__ for t in types),
                                 unknown_layer_hint(p, known)))


def _matches(name, patterns):
    """A pattern matches a layer name as a glob or as a dotted prefix/substring."""
    for p in patterns:
        if fnmatch.fnmatchcase(name, p) or p in name:
            return True
    return False


def _refresh_list_refs(model, replaced):
    """Point Python lists of layers (e.g. the head's output convs) at the QAT wrappers.

    PaddleSlim swaps sub-layers by attribute; a parent that also keeps them in a plain
    list would otherwise keep calling the float layer.
    """
    for layer in [model] + [l for _, l in model.named_sublayers()]:
        for key, value in list(vars(layer).items()):
            if isinstance(value, list) and any(id(v) in replaced for v in value):
                layer.__dict__[key] = [replaced.get(id(v), v) for v in value]


@register_step('quant')
class QATStep(CompressionStep):
    """Quantization-aware training: fake-quant conv/linear layers, trained with the model.

    ``config`` keys (all optional): see :data:`QAT_DEFAULTS`.  ``not_quant_pattern``
    lists layer-name patterns kept in float (default: the model's
    ``float_only_layers()``; ``[]`` quantizes every conv/linear layer).
    ``quantize_residual_adds`` also quantizes the inputs of the residual adds oneDNN cannot
    fold into a conv; choosing them traces the float model once at the input size of
    ``cfg`` (the model's config; :func:`ppdet.slim.residual_adds.qat_residual_adds`).
    """

    def __init__(self, config=None, cfg=None):
        self.cfg = cfg      # the model's config: only to trace it (not recorded)
        config = {k: v for k, v in dict(config or {}).items() if k not in ('kind', 'method')}
        unknown = set(config) - set(QAT_DEFAULTS)
        if unknown:
            raise ValueError('unknown quantization option(s) %s; known: %s' % (
                ', '.join(sorted(unknown)), ', '.join(sorted(QAT_DEFAULTS))))
        conf = copy.deepcopy(QAT_DEFAULTS)
        conf.update(config)
        if isinstance(conf['not_quant_pattern'], str):
            conf['not_quant_pattern'] = [p for p in conf['not_quant_pattern'].split(',') if p]
        if conf['not_quant_pattern'] is not None:
            conf['not_quant_pattern'] = list(conf['not_quant_pattern'])
        if isinstance(conf['quantizable_layer_type'], str):
            conf['quantizable_layer_type'] = [
                t.strip() for t in conf['quantizable_layer_type'].split(',') if t.strip()]
        check_qat_config(conf)
        if conf['quantize_residual_adds'] and \
                conf['activation_quantize_type'] != 'moving_average_abs_max':
            raise ValueError('quantize_residual_adds observes the adds with '
                             'moving_average_abs_max; activation_quantize_type is %r'
                             % conf['activation_quantize_type'])
        self.config = conf

    @classmethod
    def from_config(cls, cfg, not_quant_pattern=None, use_pact=None, quantize_residual_adds=None):
        """The ``Quant`` section of a config, with command-line values on top."""
        config = dict(cfg.get('Quant') or {})
        if not_quant_pattern is not None:
            config['not_quant_pattern'] = not_quant_pattern
        if use_pact is not None:
            config['use_pact'] = use_pact
        if quantize_residual_adds is not None:
            config['quantize_residual_adds'] = quantize_residual_adds
        try:
            return cls(config, cfg)
        except ValueError as e:
            raise ValueError('Quant settings (section Quant of %s with the -o Quant.* '
                             'overrides): %s' % (cfg.get('_config_path', 'the config'), e))

    def slim_config(self, with_pact=None):
        """The config dict PaddleSlim's QAT takes."""
        c = self.config
        pact = c['use_pact'] if with_pact is None else with_pact
        return {'weight_quantize_type': c['weight_quantize_type'],
                'activation_quantize_type': c['activation_quantize_type'],
                'weight_bits': int(c['weight_bits']), 'activation_bits': int(c['activation_bits']),
                'moving_rate': float(c['moving_rate']),
                'quantizable_layer_type': list(c['quantizable_layer_type']),
                'activation_preprocess_type': 'PACT' if pact else None,
                'weight_preprocess_type': None,
                # the ONNX-style format observes only the quantized layers; the other one wraps
                # every leaf layer, the YOLO post-process included, in an output-scale observer
                'onnx_format': True}

    def quantize(self, model, with_pact=None, check_patterns=False):
        from paddleslim import QAT
        net = model
        if hasattr(net, 'deployable'):
            net = net.deployable()  # a training wrapper (distillation): quantize the student
        types = tuple(getattr(paddle.nn, t) for t in self.config['quantizable_layer_type'])
        if self.config['not_quant_pattern'] is None:
            # resolved once and recorded, so restore() skips exactly the same layers
            self.config['not_quant_pattern'] = list(declared(net, 'float_only_layers'))
        elif check_patterns:    # a new run's patterns; a recorded one restores as it was
            check_patterns_match(net, self.config['not_quant_pattern'], types)
        before = dict(net.named_sublayers())
        skipped = []
        for name, layer in before.items():
            if isinstance(layer, types) and _matches(name, self.config['not_quant_pattern']):
                layer.skip_quant = True
                skipped.append(name)
        if self.config['quantize_residual_adds'] and self.config['residual_adds'] is None:
            if self.cfg is None:
                raise ValueError('quantize_residual_adds chooses the adds by tracing the model: '
                                 'build the step with QATStep.from_config(cfg)')
            self.config['residual_adds'], self.config['residual_add_outputs'] = \
                residual_adds.qat_residual_adds(net, self.cfg, skipped)
        qat = QAT(config=self.slim_config(with_pact))
        qat.quantize(net, inplace=True)
        if self.config['quantize_residual_adds']:
            residual_adds.observe_inputs(net, self.config['residual_adds'],
                                         self.config['residual_add_outputs'] or (),
                                         float(self.config['moving_rate']),
                                         int(self.config['activation_bits']))
        after = dict(net.named_sublayers())
        replaced = {id(layer): after[n] for n, layer in before.items()
                    if n in after and after[n] is not layer}
        _refresh_list_refs(net, replaced)
        quantized = sorted(n for n, l in net.named_sublayers()
                           if type(l).__name__.startswith('Quantized'))
        if not quantized:
            raise ValueError('QAT quantized no layer: not_quant_pattern %r excludes every %s' % (
                self.config['not_quant_pattern'], '/'.join(self.config['quantizable_layer_type'])))
        return model, qat, quantized, skipped

    def apply(self, model):
        model, _, quantized, skipped = self.quantize(model, check_patterns=True)
        logger.info('QAT: %d layers fake-quantized, %d kept in float (%s)%s', len(quantized),
                    len(skipped), ', '.join(skipped) or '-',
                    '; residual adds quantized: %d' % len(self.config['residual_adds'])
                    if self.config['quantize_residual_adds'] else '')
        return model, copy.deepcopy(self.config)

    @classmethod
    def restore(cls, model, record):
        return cls(record).quantize(model)[0]

    @classmethod
    def export_hook(cls, model, record):
        """Export a QAT model as an int8-ready graph: PACT clipping is a training aid and is
        left out (as in PaddleSlim); PaddleSlim folds the fake-quant layers on save."""
        from paddleslim import QAT
        step = cls(record)
        if step.config['use_pact']:
            model = _without_pact(model)
        refresh_weight_scales(model)
        qat = QAT(config=step.slim_config(with_pact=False))
        return ExportHook(model=model, save=qat.save_quantized_model,
                          infer_cfg={'quant': dict(step.config, method='quant_aware')},
                          quantized=True)



def refresh_weight_scales(model):
    """Recompute every fake-quantized weight's scale from the weight itself.

    The save quantizes each weight with its quantizer's stored scale, and a checkpoint
    stores the scales of the last training forward: taken before the optimizer's last
    step, so an export straight from the file (``tools/export_model.py``) rounded the final
    weights with stale scales (1-LSB differences from the model evaluated in dygraph, whose
    first forward recomputes them)."""
    with paddle.no_grad():
        for layer in model.sublayers():
            quanter = getattr(layer, '_fake_quant_weight', None)
            if quanter is None or getattr(layer, 'weight', None) is None:
                continue
            pre = getattr(layer, '_weight_preprocess', None)
            quanter(pre(layer.weight) if pre is not None else layer.weight)


def check_resume_quant(recorded, step, path):
    """``slim/quantization/train.py -r``: refuse Quant settings (flags, ``-o Quant.*``) other
    than those the checkpoint ``path`` ``recorded``: the run went on with the recorded ones
    and said nothing.  Patterns left unset and the residual adds resolved from them are
    taken from the record."""
    def same(a, b):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
                not isinstance(a, bool) and not isinstance(b, bool):
            return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
        return a == b
    diff = []
    for key, now in sorted(step.config.items()):
        if key in ('residual_adds', 'residual_add_outputs') or \
                (key == 'not_quant_pattern' and now is None):
            continue
        was = recorded.get(key, QAT_DEFAULTS.get(key))
        if not same(now, was):
            diff.append('%s %s (checkpoint: %s)' % (key, now, was))
    if diff:
        raise ValueError('-r %s continues the quantization-aware training its record names, but '
                         'this run gives other settings: %s; resume with the recorded ones, or '
                         'start a new QAT from its float parent' % (path, '; '.join(diff)))


def quant_record(steps):
    for rec in steps or []:
        if rec.get('kind') == QATStep.kind:
            return {k: v for k, v in rec.items() if k != 'kind'}
    return None


def _without_pact(model):
    """A copy of a QAT model with the PACT clipping layers removed (inference graph)."""
    model = copy.deepcopy(model)
    for _, layer in model.named_sublayers(include_self=True):
        if '_act_preprocess' in layer._sub_layers:
            layer._sub_layers.pop('_act_preprocess')
            object.__setattr__(layer, '_act_preprocess', None)
    return model
