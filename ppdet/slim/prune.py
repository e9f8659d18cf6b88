"""Channel pruning of convolution filters with PaddleSlim's dygraph pruners.

* :class:`PrunePlan`: which convs lose which share of their output channels,
  the criterion (``l1_norm`` or ``geometry_median`` a.k.a. FPGM) and the input
  size used to trace the network.  ``PrunePlan.from_flags`` turns the seed's
  ``--pruned_params`` / ``--pruned_ratios`` flags (or a preset: ``r578``,
  ``sensity``) into a plan, checking every name and ratio before any work.
* :func:`prune` applies a plan: PaddleSlim traces the model once, finds every
  tensor coupled to a pruned filter (its BN, the next convs' inputs, concats,
  depthwise groups) and shrinks them together.  ``int(round(C * ratio))`` of
  the C filters go (PaddleSlim keeps at least one).  With ``round_channels=N`` (8 / 16 /
  32) the kept count of each pruned conv is rounded *down* to a multiple of N (SIMD-width
  channel blocks), so the FLOPs never exceed the plain plan's; a conv that would keep
  fewer than N keeps its plain count (see :func:`rounded_kept`).
* :class:`PruneStep` is the ``prune`` compression step: its record holds the
  plan and the new shape of every changed tensor (by state-dict key), and
  ``restore`` rebuilds those shapes on a freshly built float model so the
  pruned weights load.
* :func:`list_prunable` lists the prunable convs with their share of the conv
  FLOPs (``prune.py -P``); :func:`conv_output_pixels` and :func:`conv_macs` count the
  conv FLOPs that :mod:`ppdet.slim.flops_target` searches over.

Names are the model's user-facing ones (``model.prunable_params()``, for
YOLOv3 the seed's ``yolo_block.0.0.0.conv.weights``); PaddleSlim works on the
dygraph ``param.name`` behind each.
"""
import collections
import contextlib
import difflib
import logging
import numbers

import numpy as np
import paddle
import paddle.nn as nn

from ppdet.core.workspace import did_you_mean
from ppdet.modeling.architectures.meta_arch import declared
from ppdet.slim.presets import CRITERIA, PRESETS, SEED_PRUNED_PARAMS
from ppdet.slim.steps import CompressionStep, register_step
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['PrunePlan', 'prune', 'rounded_kept', 'PruneStep', 'list_prunable', 'format_prunable',
           'format_unprunable', 'conv_output_pixels', 'conv_macs', 'prunable_params',
           'resolve_names', 'kept_channels', 'make_pruner', 'check_prunable', 'drop_backups',
           'quiet_paddleslim', 'CRITERIA', 'DEFAULT_INPUT_SIZE']

_CRITERION_ALIASES = {'fpgm': 'geometry_median', 'l1': 'l1_norm', 'l1norm': 'l1_norm'}
DEFAULT_INPUT_SIZE = 608
BACKUP_SUFFIX = '_backup'
LIST_HINT = '(run prune.py -P to list them)'


# -- names ---------------------------------------------------------------------------
def prunable_params(model):
    """OrderedDict user-facing name -> conv weight Parameter that may be pruned.

    The model declares them (``prunable_params()``, see
    :class:`ppdet.modeling.architectures.meta_arch.BaseArch`); a model that does not
    is refused rather than guessed at (every Conv2D would include the output convs,
    whose widths are fixed by the anchors and classes).
    """
    return collections.OrderedDict(declared(model, 'prunable_params'))


def _conv_weight_names(model):
    return [name for name, p in model.named_parameters() if len(p.shape) == 4]


def _did_you_mean(word, choices):
    # the closest name, plus any other as close: a short list the user can act on
    scored = sorted(((difflib.SequenceMatcher(None, str(word), c).ratio(), c) for c in choices),
                    reverse=True)
    found = [c for score, c in scored if score >= 0.6 and score >= scored[0][0] - 0.01][:3] \
        if scored else []
    return ('; did you mean %s?' % ' or '.join(repr(f) for f in found)) if found else ''


def normalize_criterion(criterion):
    c = _CRITERION_ALIASES.get(str(criterion).lower(), str(criterion).lower())
    if c not in CRITERIA:
        raise ValueError('unknown pruning criterion %r%s (use l1_norm or geometry_median/fpgm)'
                         % (criterion, _did_you_mean(criterion, CRITERIA)))
    return c


def resolve_names(model, names):
    """Map each given name onto its user-facing prunable name, or raise a helpful error.

    State-dict keys of prunable convs are accepted too (and translated).
    """
    params = prunable_params(model)
    by_key = {}
    by_id = {id(p): n for n, p in params.items()}
    for key, p in model.named_parameters():
        if id(p) in by_id:
            by_key[key] = by_id[id(p)]
    conv_names = set(_conv_weight_names(model))
    all_names = {n for n, _ in model.named_parameters()}
    reasons = getattr(model, 'unprunable_reasons', dict)()
    out = []
    for name in names:
        if name in params:
            out.append(name)
        elif name in by_key:
            out.append(by_key[name])
        elif name in reasons:
            raise ValueError('parameter %r cannot be pruned: %s; choose from prunable_params() '
                             '%s' % (name, reasons[name], LIST_HINT))
        elif name in conv_names:
            raise ValueError('parameter %r cannot be pruned: it is not one of the convs %s '
                             'declares prunable (its prunable_params()); choose from those %s'
                             % (name, type(model).__name__, LIST_HINT))
        elif name in all_names:
            raise ValueError('parameter %r cannot be pruned: it is not a conv weight (only a '
                             'conv\'s filters can be pruned); choose from prunable_params() %s'
                             % (name, LIST_HINT))
        else:
            raise ValueError('unknown parameter %r%s %s' % (
                name, _did_you_mean(name, list(params)), LIST_HINT))
    dup = [n for n, c in collections.Counter(out).items() if c > 1]
    if dup:
        raise ValueError('parameter %s is given more than once in --pruned_params; give each '
                         'once with one ratio' % ', '.join(repr(d) for d in dup))
    return out


# -- plan ----------------------------------------------------------------------------
def split_flag(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value)


def _parse_ratio(value, name):
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise ValueError('pruning ratio %r for %r is not a number (give e.g. 0.5)' % (value, name))
    if not (0.0 <= r < 1.0) or r != r:
        raise ValueError('pruning ratio %s for %r is outside [0, 1): a ratio is the share of '
                         'output channels removed (0.5 removes half; 1.0 would remove all)'
                         % (value, name))
    return r


def _check_not_a_preset_typo(text, names):
    """A single --pruned_ratios word that is no number names a preset when no parameters are
    given (or when it is close to a preset's name): refuse it as an unknown preset (a typo
    used to end in 'no parameters to prune').  With parameters, ``half`` is a bad ratio."""
    word = text.strip()
    if not word or ',' in word:
        return
    try:
        float(word)
    except ValueError:
        if names and not did_you_mean(word, PRESETS):
            return
        raise ValueError('unknown pruning preset %r%s (presets: %s; or give one ratio per '
                         'parameter, e.g. --pruned_ratios 0.5,0.3)' % (
                             word, did_you_mean(word, PRESETS), ', '.join(PRESETS)))


def _check_seed_family(model, preset):
    """A preset without parameter names prunes the seed's 18 YOLOv3 convs: on a model of
    another family (none of them prunable there) say so, instead of 'unknown parameter
    yolo_block...'."""
    params = prunable_params(model)
    if any(n in params for n in SEED_PRUNED_PARAMS):
        return
    how = ('list its prunable convs with prune.py -c CONFIG -P, then give --pruned_params '
           'P1,P2,... with --pruned_ratios R1,R2,... (one ratio each) or --target_flops with -s'
           if params else 'it declares no prunable convs (nothing of it can be pruned)')
    raise ValueError('--pruned_ratios %s is a YOLOv3 preset (its %d ratios are for the seed\'s '
                     'yolo_block convs), and %s has none of them: %s'
                     % (preset, len(SEED_PRUNED_PARAMS), type(model).__name__, how))


def normalize_input_size(input_size):
    if input_size is None:
        return DEFAULT_INPUT_SIZE
    if isinstance(input_size, (list, tuple)):
        if len(input_size) != 2:
            raise ValueError('input_size must be S or [H, W], got %r' % (input_size,))
        h, w = int(input_size[0]), int(input_size[1])
        return h if h == w else [h, w]
    return int(input_size)


def _hw(input_size):
    s = normalize_input_size(input_size)
    return (s[0], s[1]) if isinstance(s, list) else (s, s)


def _parse_round(value):
    n = int(value or 0)
    if n < 0 or (n and n & (n - 1)):
        raise ValueError('round_channels must be 0 (off) or a power of two such as 8, 16 or 32 '
                         '(a SIMD width in channels), got %r' % (value,))
    return n


class PrunePlan(object):
    """Ordered {name: ratio}, the filter-ranking criterion, the tracing input size and
    ``round_channels`` (0: off; N: kept channels of each pruned conv rounded down to a
    multiple of N)."""

    def __init__(self, ratios, criterion='l1_norm', input_size=None, round_channels=0):
        items = ratios.items() if hasattr(ratios, 'items') else ratios
        self.ratios = collections.OrderedDict((str(k), _parse_ratio(v, k)) for k, v in items)
        self.criterion = normalize_criterion(criterion)
        self.input_size = normalize_input_size(input_size)
        self.round_channels = _parse_round(round_channels)

    def __repr__(self):
        return 'PrunePlan(%d params, criterion=%s, input_size=%s%s)' % (
            len(self.ratios), self.criterion, self.input_size,
            ', round_channels=%d' % self.round_channels if self.round_channels else '')

    def kept(self, name, channels):
        """Filters conv ``name`` (``channels`` outputs) keeps under this plan."""
        plain = kept_channels(channels, self.ratios[name])
        if self.ratios[name] <= 0:
            return plain
        return rounded_kept(plain, self.round_channels)

    def __eq__(self, other):
        return isinstance(other, PrunePlan) and self.to_dict() == other.to_dict()

    def to_dict(self):
        d = {'pruned_params': list(self.ratios), 'pruned_ratios': list(self.ratios.values()),
             'criterion': self.criterion, 'input_size': self.input_size}
        if self.round_channels:   # absent when off: older records stay equal
            d['round_channels'] = self.round_channels
        return d

    @classmethod
    def from_dict(cls, d):
        names, ratios = list(d['pruned_params']), list(d['pruned_ratios'])
        if len(names) != len(ratios):
            raise ValueError('pruning plan has %d parameters but %d ratios' % (
                len(names), len(ratios)))
        return cls(collections.OrderedDict(zip(names, ratios)), d.get('criterion', 'l1_norm'),
                   d.get('input_size'), d.get('round_channels', 0))

    def resolved(self, model):
        """This plan with every name checked against ``model`` and made user-facing."""
        names = resolve_names(model, list(self.ratios))
        return PrunePlan(collections.OrderedDict(zip(names, self.ratios.values())),
                         self.criterion, self.input_size, self.round_channels)

    @classmethod
    def from_flags(cls, model, pruned_params, pruned_ratios, criterion='l1_norm',
                   input_size=None, round_channels=0):
        """Build a plan from the seed's flags, checking everything before any work.

        ``pruned_params``: comma-separated names or a list; may be omitted with a preset.
        ``pruned_ratios``: comma-separated ratios, a list, or a preset name (r578, sensity).
        """
        criterion = normalize_criterion(criterion)
        preset = pruned_ratios if isinstance(pruned_ratios, str) and \
            pruned_ratios.strip() in PRESETS else None
        names = split_flag(pruned_params) if pruned_params not in (None, '') else []
        if isinstance(pruned_ratios, str) and not preset:
            _check_not_a_preset_typo(pruned_ratios, names)
        if preset:
            ratios = list(PRESETS[preset.strip()])
            if not names or len(names) != len(ratios):  # another family's names: the count
                _check_seed_family(model, preset.strip())    # mismatch below hid why
            if not names:
                names = list(SEED_PRUNED_PARAMS)
        else:
            if pruned_ratios in (None, ''):
                raise ValueError('no pruning ratios: give --pruned_ratios R1,R2,... (one per '
                                 'parameter) or a preset (%s)' % ', '.join(PRESETS))
            ratios = split_flag(pruned_ratios) if isinstance(pruned_ratios, str) else \
                ([pruned_ratios] if isinstance(pruned_ratios, numbers.Number)
                 else list(pruned_ratios))
        if not names:
            raise ValueError('no parameters to prune: give --pruned_params P1,P2,... %s'
                             % LIST_HINT)
        if len(names) != len(ratios):
            raise ValueError('%d pruned_params but %d pruned_ratios%s: give exactly one ratio '
                             'per parameter' % (len(names), len(ratios),
                                                ' (preset %s)' % preset if preset else ''))
        names = resolve_names(model, names)
        ratios = [_parse_ratio(r, n) for n, r in zip(names, ratios)]
        return cls(collections.OrderedDict(zip(names, ratios)), criterion, input_size,
                   round_channels)


# -- pruning -------------------------------------------------------------------------
@contextlib.contextmanager
def quiet_paddleslim(level=logging.ERROR):
    """Silence PaddleSlim's per-variable INFO lines and its long 'Leaves ... skipped' warning."""
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
               if n.startswith('paddleslim')]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, old):
            lg.setLevel(lvl)


def make_pruner(model, criterion, input_size):
    """PaddleSlim's L1-norm or FPGM filter pruner, tracing ``model`` on a 1x3xHxW input."""
    from paddleslim.dygraph import FPGMFilterPruner, L1NormFilterPruner
    cls = FPGMFilterPruner if normalize_criterion(criterion) == 'geometry_median' \
        else L1NormFilterPruner
    h, w = _hw(input_size)
    was_training = model.training
    model.eval()
    try:
        # a numpy input: a shape list becomes an assign op capped at 2**20 elements
        with quiet_paddleslim():
            return cls(model, [np.zeros([1, 3, h, w], 'float32')])
    finally:
        if not paddle.in_dynamic_mode():
            paddle.disable_static()
        if was_training:
            model.train()


def check_prunable(pruner, names):
    """Raise before any change if PaddleSlim found no channel group for a parameter.

    ``names``: {dygraph param name: user-facing name}.
    """
    bad = [user for dy, user in names.items()
           if pruner.collections.find_collection_by_master(dy, 0) is None]
    if bad:
        raise ValueError('PaddleSlim cannot prune %s: it found no channel group for %s (an '
                         'output conv, or a conv whose output enters a concat or an add); drop '
                         '%s from pruned_params' % (', '.join(repr(b) for b in bad),
                                                    'them' if len(bad) > 1 else 'it',
                                                    'them' if len(bad) > 1 else 'it'))


def _state_shapes(model):
    return collections.OrderedDict((k, [int(s) for s in v.shape])
                                   for k, v in model.state_dict().items()
                                   if not k.endswith(BACKUP_SUFFIX))


def drop_backups(model):
    """Delete the full-size ``*_backup`` buffers PaddleSlim's pruner leaves in the model."""
    n = 0
    for layer in model.sublayers(include_self=True):
        for key in [k for k in layer._buffers if k.endswith(BACKUP_SUFFIX)]:
            del layer._buffers[key]
            n += 1
    return n


def kept_channels(channels, ratio):
    """Filters PaddleSlim keeps out of ``channels`` at ``ratio`` (at least one)."""
    removed = min(channels - 1, int(round(channels * ratio)))
    return channels - removed


def rounded_kept(kept, multiple):
    """``kept`` rounded down to a multiple of ``multiple`` (0: unchanged); a count below
    one multiple stays as it is (rounding it down would remove the conv, up would add FLOPs)."""
    if not multiple or kept < multiple:
        return kept
    return kept // multiple * multiple


def prune(model, plan, input_size=None):
    """Prune ``model`` in place by ``plan``; returns ``(model, record)``.

    ``record`` = {'plan': plan.to_dict(), 'shapes': {state-dict key: new shape}} for
    every tensor whose shape changed.
    """
    plan = PrunePlan(plan.ratios, plan.criterion,
                     plan.input_size if input_size is None else input_size,
                     plan.round_channels).resolved(model)
    params = prunable_params(model)
    names = {n: params[n].name for n in plan.ratios}
    keys = {id(p): k for k, p in model.named_parameters()}
    before = _state_shapes(model)
    channels = {n: before[keys[id(params[n])]][0] for n in plan.ratios}
    kept = {n: plan.kept(n, channels[n]) for n in plan.ratios}
    # the ratio PaddleSlim is given removes exactly channels - kept (int(round(C * r)))
    todo = {names[n]: (channels[n] - kept[n]) / float(channels[n])
            for n, r in plan.ratios.items() if r > 0}
    if todo:
        pruner = make_pruner(model, plan.criterion, plan.input_size)
        check_prunable(pruner, {names[n]: n for n in plan.ratios if plan.ratios[n] > 0})
        try:
            with quiet_paddleslim():
                pruner.prune_vars(todo, axis=0)
        finally:
            drop_backups(model)
    for name, ratio in plan.ratios.items():
        want = kept[name]
        got = int(params[name].shape[0])
        if got != want:
            raise ValueError('pruning %r by %g left %d filters, expected %d: PaddleSlim found no '
                             'channel group for it (an output conv, or its output enters a concat '
                             'or an add); drop it from pruned_params' % (name, ratio, got, want))
    after = _state_shapes(model)
    shapes = collections.OrderedDict((k, s) for k, s in after.items() if before.get(k) != s)
    logger.info('pruned %d convs (%s): %d tensors changed shape', len(todo), plan.criterion,
                len(shapes))
    record = {'plan': plan.to_dict(), 'shapes': shapes}
    if plan.round_channels:
        record['kept_channels'] = collections.OrderedDict(kept)
    return model, record


@register_step('prune')
class PruneStep(CompressionStep):
    """Prune conv filters by a :class:`PrunePlan`; the record rebuilds the shapes."""

    def __init__(self, plan):
        if isinstance(plan, dict):
            plan = PrunePlan.from_dict(plan)
        self.plan = plan

    def apply(self, model):
        return prune(model, self.plan)

    @classmethod
    def restore(cls, model, record):
        """The pruned structure of ``record`` on a fresh ``model``: every recorded tensor
        resized (zeros: the checkpoint's weights overwrite them) and each depthwise conv's
        groups set, without tracing PaddleSlim's pruner, which took 3.4 s of the 3.6 s a
        pruned checkpoint of the built-in model took to load.  The pruned convs' recorded
        widths are checked against the plan applied to this model first, so a checkpoint
        loaded with another config is refused as the traced pruning refused it."""
        if 'plan' not in record or 'shapes' not in record:
            raise ValueError('prune record lacks %s; was the checkpoint written by this version?'
                             % ' and '.join(k for k in ('plan', 'shapes') if k not in record))
        plan = PrunePlan.from_dict(record['plan']).resolved(model)
        state = model.state_dict()
        keys = {id(p): k for k, p in model.named_parameters()}
        shapes = {k: [int(d) for d in s] for k, s in record['shapes'].items()}
        bad = ['%s: not in this model' % k for k in shapes if k not in state]
        for name, param in prunable_params(model).items():
            if name not in plan.ratios:
                continue
            want = plan.kept(name, int(param.shape[0]))
            got = shapes.get(keys[id(param)], list(param.shape))[0]
            if got != want:
                bad.append('%s: the plan keeps %d of its %d filters here, the checkpoint %d'
                           % (name, want, int(param.shape[0]), got))
        if bad:
            raise ValueError('restoring the pruned structure does not reproduce the recorded '
                             'shapes (is this the config the checkpoint was made with?):\n  '
                             + '\n  '.join(bad[:20]))
        for layer, groups in _depthwise_groups(model, shapes, keys):
            layer._groups = groups
        for key, shape in shapes.items():
            tensor = state[key].value().get_tensor()
            tensor.set(paddle.zeros(shape, dtype=state[key].dtype).numpy(), _place_of(tensor))
        return model


def _place_of(tensor):
    """The CPUPlace / CUDAPlace a LoDTensor's ``set`` takes for where ``tensor`` is."""
    place = tensor._place()
    if place.is_cpu_place():
        return paddle.CPUPlace()
    if place.is_cuda_pinned_place():
        return paddle.CUDAPinnedPlace()
    return paddle.CUDAPlace(place.gpu_device_id())


def _depthwise_groups(model, shapes, keys):
    """``[(conv, groups)]``: the groups of each depthwise conv whose weight ``shapes``
    resizes, as PaddleSlim's pruning sets them (one group per kept channel).  A pruned
    grouped conv that is not depthwise is refused before anything changes (PaddleSlim's rule
    for those was never exercised here)."""
    out = []
    for layer in model.sublayers(include_self=True):
        groups = getattr(layer, '_groups', None)
        weight = getattr(layer, 'weight', None)
        if not isinstance(layer, nn.Conv2D) or not groups or groups <= 1 or \
                keys.get(id(weight)) not in shapes:
            continue
        shape = shapes[keys[id(weight)]]
        if int(weight.shape[1]) != 1 or shape[1] != 1:
            raise ValueError('cannot restore the pruning of grouped conv %s (groups %d, weight '
                             '%s -> %s): only depthwise convs are restored'
                             % (keys[id(weight)], groups, list(weight.shape), shape))
        out.append((layer, shape[0]))
    return out


# -- FLOPs ---------------------------------------------------------------------------
def conv_output_pixels(model, input_size):
    """{id(conv weight): (layer, output H*W)} from one forward pass on a zero image; a conv
    called several times (a dense head's tower conv, shared by the FPN levels) counts the
    output pixels of every call, as the GFLOPs of ppdet.utils.model_stats do."""
    from ppdet.utils.model_stats import forward_with_hooks
    found = {}

    def hook(layer, inputs, output):
        before = found.get(id(layer.weight), (layer, 0))[1]
        found[id(layer.weight)] = (layer, before + int(output.shape[2]) * int(output.shape[3]))

    # PaddleSlim's convention: plain convs only, no deformable ones
    forward_with_hooks(model, _hw(input_size),
                       lambda layer: hook if isinstance(layer, nn.Conv2D) else None)
    return found


def conv_macs(pixels):
    """Per-weight MACs for the model's current weight shapes (spatial sizes never change)."""
    return {k: hw * int(np.prod(layer.weight.shape)) for k, (layer, hw) in pixels.items()}


def list_prunable(model, input_size=None):
    """Rows ``(name, shape, flops_share)`` for every prunable conv, in model order.

    ``flops_share`` is the conv's own multiply-accumulates over all conv MACs.
    """
    macs = conv_macs(conv_output_pixels(model, input_size))
    total = float(sum(macs.values())) or 1.0
    Row = collections.namedtuple('PrunableRow', 'name shape flops_share')
    return [Row(name, [int(s) for s in p.shape], macs.get(id(p), 0) / total)
            for name, p in prunable_params(model).items()]


def format_prunable(rows, cuts=None, cut_ratio=0.5):
    """The ``prune.py -P`` table.  ``cuts``: {name: share of the conv FLOPs that pruning
    that conv alone by ``cut_ratio`` removes} (measured with
    :class:`~ppdet.slim.flops_target.FlopsProbe`), shown beside the conv's own share: they
    differ because the coupled tensors shrink too (the next convs' inputs, and every conv
    of a channel group: a RetinaNet FPN output conv feeds the head shared by all levels)."""
    width = max([len(r.name) for r in rows] + [4])
    head = '%-*s  %-20s  %s' % (width, 'name', 'shape', 'FLOPs share')
    lines = [head + ('  pruned alone at %g removes' % cut_ratio if cuts is not None else '')]
    for r in rows:
        line = '%-*s  %-20s  %10.2f%%' % (width, r.name, str(r.shape), 100 * r.flops_share)
        if cuts is not None:
            line += '  %26.2f%%' % (100 * cuts[r.name])
        lines.append(line)
    if cuts is not None:
        lines.append("(FLOPs share: the conv's own share of the conv FLOPs; the last column: "
                     'the share that pruning it alone by %g removes, its coupled tensors '
                     'included)' % cut_ratio)
    return '\n'.join(lines)


def format_unprunable(reasons):
    """Why the other convs are not in the ``-P`` table: one line per reason the family
    gives (``unprunable_reasons()``), with the first conv it applies to."""
    first = collections.OrderedDict()
    for name, why in reasons.items():
        first.setdefault(why, name)
    if not first:
        return ''
    return '\n'.join(['not prunable (give a name to --pruned_params to see its reason):'] +
                     ['  %s and the like: %s' % (name, why) for why, name in first.items()])
