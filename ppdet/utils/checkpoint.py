"""Checkpoints that describe themselves, and loading released weights by name.

A checkpoint is ``<prefix>.pdparams`` (the weights) with an optional
``<prefix>.pdopt`` (optimizer state and epoch, for ``-r`` resume).  The
weights file carries a JSON record under :data:`META_KEY` naming the config it
was built from, its parent checkpoint and every compression step applied
(pruning plan, distillation, quantization), so other tools can rebuild the
exact architecture from the file alone.  PaddleDetection's released
``.pdparams`` (a plain name -> array dict) load through the same functions.
"""
import contextlib
import json
import os
import pickle
import random
import tempfile
import warnings

import numpy as np
import paddle

from ppdet.utils.fileio import near_files_hint, umask_mode
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

META_KEY = '__ppdet_meta__'
PARAM_NAMES_KEY = 'param_names'  # the optimizer's parameter names, in order
OPTIMIZER_TYPE_KEY = 'optimizer_type'  # the optimizer's class name (Momentum, Adam)
WRAPPER_STATE_KEY = 'wrapper_state'  # what a training wrapper learns (distill adapters)
RNG_KEY = 'rng_state'
BACKUP_SUFFIX = '_backup'  # full-size copies PaddleSlim's pruner leaves behind


def _weights_path(path):
    path = str(path)
    if path.endswith('.pdparams'):
        return path
    return path + '.pdparams'


weights_file = _weights_path  # a prefix or .pdparams path -> the .pdparams path


def _temporary_beside(path):
    """A new empty file beside ``path`` to write it through: ``.<name>.<pid>.<random>.tmp``
    (the pid tells :func:`_remove_stale_temporaries` whose it is)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix='.%s.%d.' % (os.path.basename(path), os.getpid()),
                               suffix='.tmp')
    os.close(fd)
    return tmp


def _remove_stale_temporaries(path):
    """The temporaries of ``path`` left by a process that was killed while saving it (kill -9:
    nothing could clean up; each held a whole file, 16 MB for a .pdopt)."""
    d = os.path.dirname(os.path.abspath(path))
    lead = '.%s.' % os.path.basename(path)
    for name in os.listdir(d) if os.path.isdir(d) else []:
        pid = name[len(lead):].split('.')[0]
        if not (name.startswith(lead) and name.endswith('.tmp') and pid.isdigit()):
            continue
        if int(pid) != os.getpid():   # ours are removed when their save ends
            try:
                os.kill(int(pid), 0)
                continue              # its writer is still running
            except ProcessLookupError:
                pass
            except PermissionError:   # another user's live process
                continue
        try:
            os.remove(os.path.join(d, name))
        except OSError:
            pass


@contextlib.contextmanager
def file_set():
    """Write the files of one checkpoint (weights, optimizer state, raw EMA weights) as a set.

    Yields ``write(obj, path)``, which ``paddle.save``s ``obj`` to a temporary beside
    ``path``; when the block ends every temporary is renamed onto its path, in the order
    written (the weights file last, by its callers), so the files of the previous save stay
    whole until the new set is complete: a kill, a full disk or a Ctrl-C during a save of
    ``latest`` destroyed the only resumable checkpoint.  A Ctrl-C in the block is held until
    the set is in place; on any error the temporaries are removed and the old files stay as
    they were.  (A kill between the renames, a moment, leaves a mixed set: each file's save
    id tells, see :func:`load_optimizer`.)"""
    from ppdet.utils.interrupts import ctrl_c_deferred
    staged = []

    def write(obj, path):
        _remove_stale_temporaries(path)
        tmp = _temporary_beside(path)
        staged.append((tmp, path))
        paddle.save(obj, tmp)
        os.chmod(tmp, umask_mode())  # mkstemp's 0600 would make checkpoints private

    try:
        with ctrl_c_deferred():
            yield write
            for tmp, path in staged:
                os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def atomic_paddle_save(obj, path):
    with file_set() as write:
        write(obj, path)


def clean_state_dict(state_dict):
    """Drop PaddleSlim's ``*_backup`` buffers (they would double the file size)."""
    return {k: v for k, v in state_dict.items() if not k.endswith(BACKUP_SUFFIX)}


def capture_rng_state():
    """Python, numpy and paddle random states as one uint8 array (``paddle.save`` keeps
    arrays, not the generator objects)."""
    state = {'python': random.getstate(), 'numpy': np.random.get_state(),
             'paddle': paddle.get_rng_state()}
    return np.frombuffer(pickle.dumps(state), np.uint8).copy()


def restore_rng_state(blob):
    state = pickle.loads(np.asarray(_to_numpy(blob), np.uint8).tobytes())
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    paddle.set_rng_state(state['paddle'])


@contextlib.contextmanager
def rng_preserved():
    """The Python, numpy and paddle random states as they were before the block: work in it
    (an evaluation between epochs, whose data loader draws its workers' seeds) leaves the
    training's random stream as if it had not run."""
    blob = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(blob)


def save_checkpoint(model, prefix, meta=None, optimizer=None, epoch=None, rng_state=None,
                    write=None, wrapper_state=None):
    """Write ``prefix.pdparams`` (+ ``prefix.pdopt``) as one set (:func:`file_set`); returns
    the weights path.

    ``rng_state`` (from :func:`capture_rng_state`) goes into ``.pdopt`` so that a resumed
    run draws the same shuffles and augmentations as an uninterrupted one.  ``meta``'s
    ``save_id`` (see :func:`new_save_id`) goes into ``.pdopt`` too: a resume compares the ids
    (:func:`load_optimizer`).  ``write``: the writer of a :func:`file_set` the caller adds more
    files to (the ``.pdema``); the set is then in place when the caller's block ends.
    ``wrapper_state``: tensors a training wrapper learns beside ``model`` (distillation's 1x1
    adapters), kept in ``.pdopt`` for a resume: the weights file holds what is deployed."""
    if write is None:
        with file_set() as write:
            return save_checkpoint(model, prefix, meta, optimizer, epoch, rng_state, write,
                                   wrapper_state)
    state = clean_state_dict(model.state_dict())
    if meta is not None:
        state[META_KEY] = json.dumps(meta, sort_keys=True)
    path = _weights_path(prefix)
    if optimizer is not None:
        opt_state = dict(optimizer.state_dict())
        opt_state['last_epoch'] = epoch
        opt_state[PARAM_NAMES_KEY] = [p.name for p in optimizer._parameter_list]
        opt_state[OPTIMIZER_TYPE_KEY] = type(optimizer).__name__
        if rng_state is not None:
            opt_state[RNG_KEY] = rng_state
        if wrapper_state:
            opt_state[WRAPPER_STATE_KEY] = wrapper_state
        if meta is not None and meta.get('save_id'):
            opt_state[SAVE_ID_KEY] = meta['save_id']
        write(opt_state, path[:-len('.pdparams')] + '.pdopt')
    write(state, path)  # last of its files: renamed into place last
    return path


def first_nonfinite(tensors):
    """``(name, 'nan' or 'inf')`` of the first float tensor of ``tensors`` (a name -> tensor
    dict) holding a NaN or an infinity, else None."""
    for name, value in tensors.items():
        if not hasattr(value, 'dtype') or value.dtype not in (
                paddle.float16, paddle.float32, paddle.float64, paddle.bfloat16):
            continue
        if not bool(paddle.isfinite(value).all()):
            return name, 'nan' if bool(paddle.isnan(value).any()) else 'inf'
    return None


SAVE_ID_KEY = '__save_id__'


def new_save_id(epoch=None):
    """A token shared by the files of one checkpoint save (weights, optimizer, EMA)."""
    import uuid
    return '%s-%s' % (epoch, uuid.uuid4().hex[:12])


def interrupted_save(path, what, found=None):
    """The error for a checkpoint whose files come from different saves (a save that was
    killed between its files)."""
    return ValueError(
        'checkpoint %s was cut off while being saved: its %s %s; resume from an earlier '
        'snapshot in %s (the epoch-numbered ones), or start the run again' % (
            path, what, 'comes from another save (%s)' % found if found else 'is missing',
            os.path.dirname(os.path.abspath(path)) or '.'))


def _pick(names):
    return 'model_final.pdparams' if 'model_final.pdparams' in names else names[-1]


def _load_state(path):
    if os.path.isdir(str(path)):
        found = sorted(f for f in os.listdir(str(path)) if f.endswith('.pdparams'))
        raise FileNotFoundError(
            'weights %s is a directory; give a .pdparams file or its prefix inside it%s'
            % (path, (', e.g. -o weights=%s' % os.path.join(str(path), _pick(found)[:-9]))
               if found else ' (it holds no .pdparams file)'))
    stem, ext = os.path.splitext(str(path))
    if ext in ('.pdopt', '.pdema'):
        raise ValueError('%s is the %s of a checkpoint, not its weights; give %s (the prefix '
                         'of %s.pdparams)' % (path, 'optimizer state' if ext == '.pdopt' else
                                              'raw (non-averaged) EMA weights', stem, stem))
    path = _weights_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            'weights file not found: %s%s (give a .pdparams file or its prefix, e.g. '
            'output/CONFIG_NAME/model_final, where training saves)' % (
                path, near_files_hint(path, ('.pdparams',), strip='.pdparams')))
    try:
        return paddle.load(path)
    except Exception as e:  # corrupt/truncated file
        raise ValueError('cannot read weights file %s: %s' % (path, e))


def read_state(path):
    """A weights file (``path`` or its prefix) as saved: its tensors and its record
    (:func:`meta_of`); read it once where several checks need it."""
    return _load_state(path)


def meta_of(state):
    """The self-description in a loaded checkpoint ({} for plain weights)."""
    raw = state.get(META_KEY)
    return json.loads(raw) if raw else {}


def read_meta(path):
    """Return the self-description stored in a checkpoint ({} for plain weights)."""
    return meta_of(_load_state(path))


def _to_numpy(v):
    if isinstance(v, np.ndarray):
        return v
    if hasattr(v, 'numpy'):
        return v.numpy()
    return np.asarray(v)


class LoadReport(object):
    def __init__(self, loaded, missing, unexpected, mismatched):
        self.loaded, self.missing, self.unexpected, self.mismatched = (
            loaded, missing, unexpected, mismatched)

    def __str__(self):
        lines = ['loaded %d tensors' % len(self.loaded)]
        if self.missing:
            lines.append('missing in file (%d): %s' % (len(self.missing), ', '.join(self.missing[:20])))
        if self.unexpected:
            lines.append('unexpected in file (%d): %s' % (
                len(self.unexpected), ', '.join(self.unexpected[:20])))
        for k, (want, got) in list(self.mismatched.items())[:20]:
            lines.append('shape mismatch %s: model %s, file %s' % (k, want, got))
        return '\n'.join(lines)

    def brief(self, limit=3):
        """The misfit in one line: counts and the first names of each kind."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        parts = []
        if self.missing:
            parts.append('%d of the model\'s %d tensors missing in the file (%s%s)' % (
                len(self.missing), total, ', '.join(self.missing[:limit]),
                ', ...' if len(self.missing) > limit else ''))
        if self.mismatched:
            (k, (want, got)), = list(self.mismatched.items())[:1]
            parts.append('%d with another shape (%s: model %s, file %s%s)' % (
                len(self.mismatched), k, want, got, '; ...' if len(self.mismatched) > 1 else ''))
        if self.unexpected:
            parts.append('%d in the file that the model lacks' % len(self.unexpected))
        return '; '.join(parts) or 'loaded %d tensors' % len(self.loaded)


def misfit_fix(meta, model_config=None, config_flag='-c'):
    """What to do when a checkpoint does not fit the model: the config it was saved with
    (given by ``config_flag``: ``-c``, or ``-t`` for a distillation teacher)."""
    saved = (meta or {}).get('config')
    if saved and model_config and os.path.abspath(saved) == os.path.abspath(model_config):
        return ('they were saved from %s too, but with another structure (other -o overrides, '
                'e.g. num_classes or widths): give the same overrides' % saved)
    if saved:
        return ('they were trained with %s: use that config (%s %s)' % (saved, config_flag,
                                                                         saved))
    return ('use the config they were trained with (the same architecture, backbone, widths '
            'and num_classes)')


class WeightsMisfit(ValueError):
    """A strict load found tensors missing from the file or of another shape there."""


def load_weights(model, path, strict=False, name_map=None, model_config=None,
                 pretrain_hint=True, config_flag='-c', described=None):
    """Load weights by name; report missing/unexpected/mis-shaped keys.

    ``name_map`` optionally renames file keys (e.g. released-model aliases).
    With ``strict`` any missing or mis-shaped key is an error (a ValueError in one line
    naming the counts, a few names and the config the weights were saved with; the model's
    config ``model_config`` is named too); tensors in the file that the model lacks only
    warn.  ``pretrain_hint``: the error also says how to start training from such weights
    (``-o pretrain_weights``), which loads what fits; ``config_flag``: the flag that gives the
    model's config (see :func:`misfit_fix`); ``described``: how the error names the file
    (e.g. ``'pruned checkpoint PATH'``; default ``'weights PATH'``).
    """
    state = _load_state(path)
    raw_meta = state.pop(META_KEY, None)
    state = clean_state_dict(state)
    if name_map:
        state = {name_map.get(k, k): v for k, v in state.items()}
    model_state = clean_state_dict(model.state_dict())
    to_load, mismatched = {}, {}
    for k, param in model_state.items():
        if k not in state:
            continue
        arr = _to_numpy(state[k])
        if list(arr.shape) != list(param.shape):
            mismatched[k] = (list(param.shape), list(arr.shape))
            continue
        to_load[k] = arr.astype(str(param.numpy().dtype)) if arr.dtype != np.float32 else arr
    missing = sorted(k for k in model_state if k not in state)
    unexpected = sorted(k for k in state if k not in model_state)
    report = LoadReport(sorted(to_load), missing, unexpected, mismatched)
    if strict and (missing or mismatched):
        try:
            meta = json.loads(raw_meta) if raw_meta else {}
        except ValueError:
            meta = {}
        raise WeightsMisfit('%s %s the model%s: %s; %s%s' % (
            described or 'weights %s' % path, 'does not fit' if described else 'do not fit',
            ' of %s' % model_config if model_config else '', report.brief(),
            misfit_fix(meta, model_config, config_flag),
            ' (to fine-tune from the tensors that fit, give them as -o pretrain_weights=%s)'
            % path if pretrain_hint else ''))
    with warnings.catch_warnings():   # paddle warns once per key left out: the report names them
        warnings.filterwarnings('ignore', message='Skip loading for')
        model.set_state_dict(to_load)
    if missing or unexpected or mismatched:
        logger.warning('loading %s:\n%s', path, report)
    else:
        logger.info('loaded %d tensors from %s', len(to_load), path)
    return report


def load_optimizer(optimizer, prefix, save_id=None, saved_with_optimizer=False,
                   wrapper=None):
    """Restore optimizer state; returns the epoch the checkpoint was saved after.
    ``wrapper``: a training wrapper with ``load_wrapper_state(state, path)``, given what
    :func:`save_checkpoint` kept of it (None for a checkpoint without it).
    ``save_id``: the weights file's (its record's ``save_id``): the ``.pdopt`` must be of
    the same save; ``saved_with_optimizer``: the record says a ``.pdopt`` was written with it
    (a training snapshot), so a missing one is a save that was cut off."""
    path = _weights_path(prefix)[:-len('.pdparams')] + '.pdopt'
    if not os.path.isfile(path):
        if saved_with_optimizer:
            raise interrupted_save(_weights_path(prefix), 'optimizer state (%s)' % path)
        raise FileNotFoundError('optimizer state not found: %s (needed to resume)' % path)
    state = paddle.load(path)
    found = state.pop(SAVE_ID_KEY, None)
    if save_id and found != save_id:
        raise interrupted_save(_weights_path(prefix), 'optimizer state (.pdopt, epoch %s)'
                               % state.get('last_epoch'), found or 'an older save')
    epoch = state.pop('last_epoch', None)
    state.pop(RNG_KEY, None)
    wrapper_state = state.pop(WRAPPER_STATE_KEY, None)
    if wrapper is not None and hasattr(wrapper, 'load_wrapper_state'):
        wrapper.load_wrapper_state(wrapper_state, _weights_path(prefix))
    saved_names = state.pop(PARAM_NAMES_KEY, None)
    _check_same_optimizer(optimizer, state, state.pop(OPTIMIZER_TYPE_KEY, None), prefix)
    if saved_names is not None:
        state = _rename_accumulators(state, list(saved_names),
                                     [p.name for p in optimizer._parameter_list], path)
    optimizer.set_state_dict(state)
    return epoch


def _accumulator_kinds(optimizer_class):
    """The accumulators a Paddle optimizer keeps per parameter (Momentum: velocity)."""
    return {getattr(optimizer_class, a) for a in dir(optimizer_class)
            if a.endswith('_acc_str') and isinstance(getattr(optimizer_class, a), str)}


def _saved_accumulator_kinds(state, known):
    """The accumulator kinds in an optimizer state keyed ``<param>_<kind>_<n>``."""
    import re
    found = set()
    for key in state:
        base = re.sub(r'_\d+$', '', key)
        for kind in known:
            if base.endswith('_' + kind):
                found.add(kind)
    return found


def _check_same_optimizer(optimizer, state, saved_type, prefix):
    """``-r`` with another optimizer type than the checkpoint was trained with failed at the
    first step with Paddle's ``AssertionError: Optimizer set error, conv2d_0.w_0_velocity_0
    should in state dict`` (Adam -> Momentum), or dropped the saved state without a word
    (Adam -> SGD).  Compared by the accumulators the state holds, so that checkpoints saved
    before the type was recorded are checked too."""
    import inspect
    kinds = {name: _accumulator_kinds(cls) for name, cls in sorted(vars(paddle.optimizer).items())
             if inspect.isclass(cls) and issubclass(cls, paddle.optimizer.Optimizer)
             and name != 'Optimizer'}
    ours = _accumulator_kinds(type(optimizer))
    saved = _saved_accumulator_kinds(state, sorted(set().union(*kinds.values()), key=len,
                                                   reverse=True))
    if saved == ours or (not saved and not state):
        return
    if saved_type is None:
        saved_type = ' or '.join(n for n, k in kinds.items() if k == saved) or \
            'another optimizer'
    path = _weights_path(prefix)
    raise ValueError(
        '%s was trained with %s (its optimizer state holds %s), this run builds %s: -r goes on '
        'with the optimizer it was trained with, so set OptimizerBuilder.optimizer.type to %s; '
        'to train on with %s, start a new run from its weights: -o pretrain_weights=%s (and '
        'another -o save_dir=DIR)' % (
            path, saved_type, ', '.join(sorted(saved)) or 'no accumulators',
            type(optimizer).__name__, saved_type.split(' or ')[0], type(optimizer).__name__,
            path))


def _rename_accumulators(state, saved, current, path):
    """Optimizer state is keyed by runtime parameter names (``conv2d_12.w_0_velocity_0``),
    which differ when the model was built after others in the same process: map the saved
    names onto this optimizer's parameters by position.  The counter Paddle appends to each
    accumulator (``_0``) is the one this process will give it when the optimizer creates it
    (``_1`` after a pruning in the same process: the resume failed at its first step)."""
    if len(saved) != len(current):
        raise ValueError('%s holds optimizer state for %d parameters but the model trains %d; '
                         'resume with the config (and compression steps) it was saved with'
                         % (path, len(saved), len(current)))
    from paddle.base import unique_name
    by_length = sorted(zip(saved, current), key=lambda p: -len(p[0]))
    out = {}
    for key, value in state.items():
        for old, new in by_length:
            if key.startswith(old + '_'):
                base, _, counter = (new + key[len(old):]).rpartition('_')
                if counter.isdigit():
                    key = '%s_%d' % (base, unique_name.generator.ids.get(base, 0))
                break
        out[key] = value
    return out


def load_rng_state(prefix):
    """Restore the random states saved with a checkpoint; False when it has none (older
    checkpoints: the resumed run then draws different shuffles than an uninterrupted one)."""
    path = _weights_path(prefix)[:-len('.pdparams')] + '.pdopt'
    blob = paddle.load(path).get(RNG_KEY) if os.path.isfile(path) else None
    if blob is None:
        return False
    restore_rng_state(blob)
    return True
