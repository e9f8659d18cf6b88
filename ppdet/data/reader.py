"""From a config to a DataLoader: sample transforms in the dataset, batch transforms and
collation in ``collate_fn`` (both run inside the DataLoader workers).

Batches are dicts of tensors:

* train: ``image`` [B,3,H,W] float32, ``im_shape`` [B,2], ``scale_factor`` [B,2],
  ``im_id`` [B,1] int64, plus the fields the architecture's loss declares
  (``train_fields`` / ``optional_train_fields`` of its class, see
  :class:`ppdet.modeling.architectures.meta_arch.BaseArch`; glob patterns allowed) and
  any listed in ``TrainReader.inputs_def.fields``.  For YOLOv3: ``gt_bbox`` [B,M,4]
  (whatever the batch transforms made of it; normalized cx,cy,w,h with the standard
  reader), ``gt_class`` [B,M] int32 and, when the transforms make it, ``gt_score``.
* eval: ``image``, ``im_shape`` (network input h,w), ``scale_factor`` (input/original as
  (y, x)), ``im_id``, plus the ground truth in ORIGINAL image pixels, padded with zero
  rows to the largest count in the batch: ``gt_bbox`` [B,M,4] x1y1x2y2, ``gt_class``
  [B,M] int32, ``difficult`` [B,M] int32 and ``gt_num`` [B] int32 (real rows per image).
* test: ``image``, ``im_shape``, ``scale_factor``, ``im_id``.
"""
import fnmatch
import os

import numpy as np
import paddle
from paddle.io import BatchSampler, DataLoader, DistributedBatchSampler

from ppdet.core.workspace import ConfigError, as_number, did_you_mean, create, get_registered
from ppdet.utils.logger import setup_logger

from .dataset_builder import build_dataset
from .source.dataset import ImageDecodeError
from .transform.operators import BaseOperator

logger = setup_logger(__name__)

__all__ = ['Compose', 'BatchCompose', 'create_reader', 'DetDataLoader', 'build_transforms',
           'READER_KEYS', 'train_fields']

READER_SECTIONS = {'train': 'TrainReader', 'eval': 'EvalReader', 'test': 'TestReader'}
DATASET_SECTIONS = {'train': 'TrainDataset', 'eval': 'EvalDataset', 'test': 'TestDataset'}
READER_KEYS = ('sample_transforms', 'batch_transforms', 'batch_size', 'shuffle', 'drop_last',
               'inputs_def', 'use_shared_memory')

# keys every batch of a mode carries; training adds the fields the model's loss declares
BASE_KEYS = ('image', 'im_shape', 'scale_factor', 'im_id')
DTYPES = {'image': np.float32, 'gt_bbox': np.float32, 'gt_class': np.int32,
          'gt_score': np.float32, 'im_shape': np.float32, 'scale_factor': np.float32,
          'im_id': np.int64, 'difficult': np.int32, 'gt_num': np.int32}


def train_fields(cfg):
    """(required, optional) batch fields for training: the architecture's declared
    ``train_fields`` / ``optional_train_fields`` plus ``TrainReader.inputs_def.fields``."""
    required, optional = [], []
    arch = cfg.get('architecture')
    if arch:
        cls = get_registered(arch)
        required += list(getattr(cls, 'train_fields', ()))
        optional += list(getattr(cls, 'optional_train_fields', ()))
    extra = ((cfg.get('TrainReader') or {}).get('inputs_def') or {}).get('fields') or []
    required += [f for f in extra if f not in required]
    if not required and not optional:
        raise ConfigError('no training fields: the config names no architecture that declares '
                          'train_fields; set architecture, or list the loss inputs in '
                          'TrainReader.inputs_def.fields')
    return tuple(required), tuple(f for f in optional if f not in required)


def _matching(pattern, keys):
    if any(c in pattern for c in '*?['):
        return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))
    return [pattern] if pattern in keys else []


def _flow(value):
    """``value`` as YAML flow text (what ``-o`` takes): ``[{Resize: {target_size: 160}}]``."""
    import yaml
    if not isinstance(value, (dict, list, tuple)):
        return repr(value)   # safe_dump ends a lone scalar with "..."
    try:
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    except yaml.YAMLError:
        return repr(value)


def _list_form(specs, where):
    """The ``-o`` example for a transform list given as something else: the user's own
    mapping as a list of one-key mappings when it is one, else the common form."""
    if isinstance(specs, dict) and specs and all(isinstance(k, str) for k in specs):
        example = _flow([{k: v} for k, v in specs.items()])
    else:
        example = '[{Decode: {}}, {Resize: {target_size: 160}}]'
    example = example[:-1] + ', ...]'
    if '.' in where:
        return ' -o "%s=%s"' % (where, example)
    return ' %s' % example


def build_transforms(specs, where='transforms'):
    """``[{'Decode': {}}, {'Resize': {...}}]`` -> list of operator objects.

    ``specs`` must be a list (or None): a mapping (``-o "EvalReader.sample_transforms=
    {Resize: {target_size: 160}}"``) was read as a list of its keys, so the error named a
    missing argument of the transform instead of the form of the list.  Each entry is a
    one-key mapping ``{Name: {args}}`` (or a bare name, or an operator object)."""
    if specs is None or (isinstance(specs, (dict, str)) and not specs):
        return []   # none (an empty mapping / string too, as before)
    if not isinstance(specs, (list, tuple)):
        what = ('a mapping %s' % _flow(specs) if isinstance(specs, dict) else
                '%s %r' % (type(specs).__name__, specs))
        raise ConfigError('%s must be a list of transforms, each a one-key mapping, in order; '
                          'got %s. As a list:%s (an -o of the list replaces all of it: give '
                          'every transform)' % (where, what, _list_form(specs, where)))
    ops = []
    for k, spec in enumerate(specs):
        if isinstance(spec, BaseOperator):
            ops.append(spec)
            continue
        if isinstance(spec, str):
            spec = {spec: {}}
        entry = '%s[%d]' % (where, k)
        if not isinstance(spec, dict) or len(spec) != 1:
            if isinstance(spec, dict) and len(spec) > 1:
                raise ConfigError('%s is a mapping of %d transforms (%s); each entry of the list '
                                  'must be a one-key mapping: %s' % (
                                      entry, len(spec), ', '.join(map(str, spec)),
                                      _flow([{n: a} for n, a in spec.items()])))
            raise ConfigError('%s: each entry must be a one-key mapping like {Decode: {}} '
                              '("- Decode: {}" in YAML), got %s' % (
                                  entry, _flow(spec) if spec is not None else 'null'))
        (name, args), = spec.items()
        if not isinstance(name, str):
            raise ConfigError('%s: the transform name must be a string like Decode, got %r'
                              % (entry, name))
        cls = get_registered(name) if name in get_registered() else None
        if cls is None or not issubclass(cls, BaseOperator):
            ops_names = [n for n, c in get_registered().items()
                         if isinstance(c, type) and issubclass(c, BaseOperator)]
            raise ConfigError('unknown transform %r in %s%s (transforms: %s)' % (
                name, where, did_you_mean(name, ops_names), ', '.join(sorted(ops_names))))
        if args is not None and not isinstance(args, dict):
            raise ConfigError('%s (%s): its arguments must be a mapping like {%s: {...}} '
                              '({} for none), got %s' % (entry, name, name, _flow(args)))
        ops.append(create(name, None, **(args or {})))
    return ops


class Compose(object):
    """Apply sample transforms in order.  With ``keep_ori_gt`` the ground truth in
    original pixels is kept aside (as ``ori_*``) for evaluation."""

    def __init__(self, transforms, keep_ori_gt=False, where='sample_transforms'):
        self.ops = build_transforms(transforms, where)
        self.keep_ori_gt = keep_ori_gt

    def __call__(self, sample):
        if self.keep_ori_gt:
            n = len(sample.get('gt_bbox', []))
            sample['ori_gt_bbox'] = np.asarray(sample.get('gt_bbox', np.zeros([0, 4])),
                                               np.float32).reshape(-1, 4).copy()
            sample['ori_gt_class'] = np.asarray(sample.get('gt_class', np.zeros([n])),
                                                np.int32).reshape(-1).copy()
            sample['ori_difficult'] = np.asarray(sample.get('difficult', np.zeros([n])),
                                                 np.int32).reshape(-1).copy()
        for op in self.ops:
            try:
                sample = op(sample)
            except ImageDecodeError:
                raise
            except Exception as e:
                raise RuntimeError('transform %s failed on %s: %s: %s' % (
                    type(op).__name__, sample.get('im_file'), type(e).__name__, e)) from e
        return sample


def _stack(values, key):
    arrs = [np.asarray(v) for v in values]
    shapes = {a.shape for a in arrs}
    if len(shapes) > 1:
        if len({a.ndim for a in arrs}) > 1:
            raise ValueError('cannot batch %r: shapes %s differ in rank' % (key, sorted(shapes)))
        # ragged: pad every axis to the batch maximum (bottom/right), e.g. images resized
        # with keep_ratio or per-box fields without PadBox
        target = np.max([a.shape for a in arrs], axis=0)
        out = np.zeros((len(arrs),) + tuple(target), dtype=arrs[0].dtype)
        for i, a in enumerate(arrs):
            out[(i,) + tuple(slice(0, s) for s in a.shape)] = a
        return out
    return np.stack(arrs)


class BatchCompose(object):
    """Batch transforms + collation into a dict of numpy arrays (the ``collate_fn``).

    ``fields``: (required, optional) extra keys for a train batch (see :func:`train_fields`).
    """

    def __init__(self, transforms, mode='train', where='batch_transforms', fields=((), ())):
        self.ops = build_transforms(transforms, where)
        self.mode = mode
        self.fields = (tuple(fields[0]), tuple(fields[1]))

    def __call__(self, samples):
        for op in self.ops:
            try:
                samples = op(samples)
            except Exception as e:
                raise RuntimeError('batch transform %s failed on a batch with %s: %s: %s' % (
                    type(op).__name__, [s.get('im_file') for s in samples][:4],
                    type(e).__name__, e)) from e
        return self.collate(samples)

    def _keys(self, sample):
        keys = list(BASE_KEYS)
        if self.mode != 'train':
            return keys
        required, optional = self.fields
        for pattern in required:
            found = _matching(pattern, sample)
            if not found:
                raise KeyError('the model\'s loss needs %r but the train reader produced no such '
                               'field (keys: %s); add the transform that makes it to '
                               'TrainReader.sample_transforms / batch_transforms' % (
                                   pattern, ', '.join(sorted(sample))))
            keys += [k for k in found if k not in keys]
        for pattern in optional:
            keys += [k for k in _matching(pattern, sample) if k not in keys]
        return keys

    def collate(self, samples):
        batch = {}
        for key in self._keys(samples[0]):
            if key not in samples[0]:
                if key in ('image', 'im_id'):
                    raise KeyError('the %s reader produced no %r (keys: %s); its '
                                   'sample_transforms need Decode' % (
                                       self.mode, key, ', '.join(sorted(samples[0]))))
                continue
            values = [s[key] for s in samples]
            if key == 'gt_class':  # [N,1] (no PadBox) -> [N]
                values = [np.asarray(v).reshape(-1) for v in values]
            batch[key] = _stack(values, key).astype(DTYPES.get(key, None), copy=False)
        if self.mode == 'eval' and 'ori_gt_bbox' in samples[0]:
            batch['gt_num'] = np.array([len(s['ori_gt_bbox']) for s in samples], np.int32)
            m = max(1, int(batch['gt_num'].max()))
            for key, src, shape in (('gt_bbox', 'ori_gt_bbox', (m, 4)),
                                    ('gt_class', 'ori_gt_class', (m,)),
                                    ('difficult', 'ori_difficult', (m,))):
                out = np.zeros((len(samples),) + shape, DTYPES[key])
                for i, s in enumerate(samples):
                    out[i, :len(s[src])] = s[src]
                batch[key] = out
        return batch


class DetDataLoader(DataLoader):
    """``paddle.io.DataLoader`` that loads in the calling thread when ``num_workers == 0``.

    Paddle's single-process loader runs the transforms in a background thread: an
    exception there leaves the main thread waiting forever, and a loop stopped early
    (``break`` after ``max_iters_per_epoch``, ``next(iter(loader))``) leaves the thread
    alive, which can abort the interpreter at exit ("terminate called without an
    active exception").  Loading in the caller's thread has neither problem and shows
    the real traceback.  With workers, paddle's multi-process iterator is used and shut
    down as soon as the loop ends.
    """

    def __init__(self, dataset, batch_sampler, collate_fn, num_workers=0, **kwargs):
        super(DetDataLoader, self).__init__(dataset, batch_sampler=batch_sampler,
                                            collate_fn=collate_fn, num_workers=num_workers,
                                            **kwargs)
        self._det_args = (dataset, batch_sampler, collate_fn, int(num_workers))

    def __iter__(self):
        dataset, batch_sampler, collate_fn, num_workers = self._det_args
        if num_workers == 0:
            for indices in batch_sampler:
                batch = collate_fn([dataset[i] for i in indices])
                yield {k: paddle.to_tensor(v) for k, v in batch.items()}
            return
        it = super(DetDataLoader, self).__iter__()
        try:
            yield from it
        finally:
            _shutdown_iterator(it)


def _worker_init(worker_id):
    """Make a DataLoader worker die with its parent.

    A worker blocked on a full result queue never notices that the training process
    was killed (SIGKILL, a timeout) and lingers forever; the kernel's parent-death
    signal ends it instead (Linux only; elsewhere this does nothing).
    """
    import ctypes
    import signal
    import sys
    if not sys.platform.startswith('linux'):
        return
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _shutdown_iterator(it):
    """Stop ``it`` (a paddle iterator whose loop ended, maybe early) and its workers.

    The blocking queue is closed first: after each batch the C++ reader starts reading
    the next one and holds its lock while it waits on that queue, so shutting the reader
    down first waited forever whenever no further batch was coming - a loop that broke
    at exactly the last batch (measured: ``SubsetEvaluator`` with ``--eval_images``
    equal to the eval set's size hung in ``ReaderBase::Shutdown``).
    """
    from paddle.io.dataloader import dataloader_iter
    try:
        if hasattr(it, '_exit_thread_expectedly'):
            it._exit_thread_expectedly()       # sets the thread's done event, closes the queue
        reader = getattr(it, '_reader', None)
        if reader is not None and hasattr(reader, 'shutdown'):
            reader.shutdown()
        if hasattr(it, '_try_shutdown_all'):
            it._try_shutdown_all()
    finally:
        if getattr(dataloader_iter, '_loader', None) is it:
            dataloader_iter._loader = None


def _reader_value(section, key, value, kind):
    """A reader setting of the right type: ``batch_size`` a whole number >= 1 (2.0 is 2, as
    the config system reads ``epoch``), ``shuffle`` / ``drop_last`` true or false (YAML
    reads ``nope`` as a string, which ``bool()`` would take as true).  A ConfigError names
    ``section.key``."""
    if kind is int:
        number = as_number(value, integer=True)  # the config system's rule: 2.0 is 2
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ConfigError('%s.%s must be an integer >= 1, got %r; e.g. -o %s.%s=8'
                              % (section, key, value, section, key))
        return number
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError('%s.%s must be true or false, got %r' % (section, key, value))
    return bool(value)


def create_reader(cfg, mode, dataset=None, num_workers=None, batch_size=None):
    """A ``paddle.io.DataLoader`` for ``mode`` ('train' | 'eval' | 'test').

    Uses the ``TrainReader`` / ``EvalReader`` / ``TestReader`` section of ``cfg``, the
    dataset section of the same mode when ``dataset`` is None, and ``worker_num``
    (0: load in the main process).  Training under ``paddle.distributed`` with more
    than one process shards the data with a ``DistributedBatchSampler``.
    """
    if mode not in READER_SECTIONS:
        raise ValueError('mode must be one of train, eval, test; got %r' % (mode,))
    name = READER_SECTIONS[mode]
    section = dict(cfg.get(name) or {})
    for key in section:
        if key not in READER_KEYS:
            raise ConfigError('unknown key %r in %s%s (valid: %s)' % (
                key, name, did_you_mean(key, READER_KEYS), ', '.join(READER_KEYS)))
    if dataset is None:
        dataset = build_dataset(cfg, DATASET_SECTIONS[mode])
    dataset.set_transform(Compose(section.get('sample_transforms'), keep_ori_gt=(mode == 'eval'),
                                  where='%s.sample_transforms' % name))
    collate = BatchCompose(section.get('batch_transforms'), mode,
                           where='%s.batch_transforms' % name,
                           fields=train_fields(cfg) if mode == 'train' else ((), ()))
    batch_size = _reader_value(name, 'batch_size', batch_size if batch_size is not None
                               else section.get('batch_size', 1), int)
    shuffle = _reader_value(name, 'shuffle', section.get('shuffle', mode == 'train'), bool)
    drop_last = _reader_value(name, 'drop_last', section.get('drop_last', False), bool)
    ranks = paddle.distributed.get_world_size() if mode == 'train' else 1
    if drop_last and len(dataset) < batch_size:
        raise ValueError('%s: batch_size=%d with drop_last=true but the dataset has only %d '
                         'records, so there would be no batch; lower %s.batch_size' % (
                             name, batch_size, len(dataset), name))
    # DistributedBatchSampler gives each process ceil(N / ranks) records: a share below the
    # batch trained zero steps per epoch and saved the untrained model, exit 0
    share = -(-len(dataset) // ranks)
    if ranks > 1 and drop_last and share < batch_size:
        raise ValueError('%s: batch_size=%d with drop_last=true but each of the %d processes '
                         'gets only %d of the %d records, so there would be no batch; lower '
                         '%s.batch_size to %d or less, or run fewer processes' % (
                             name, batch_size, ranks, share, len(dataset), name, share))
    workers = int(cfg.get('worker_num', 0) if num_workers is None else num_workers)
    if ranks > 1:
        sampler = DistributedBatchSampler(dataset, batch_size=batch_size, shuffle=shuffle,
                                          drop_last=drop_last)
    else:
        sampler = BatchSampler(dataset=dataset, batch_size=batch_size, shuffle=shuffle,
                               drop_last=drop_last)
    return DetDataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                         return_list=True, worker_init_fn=_worker_init if workers > 0 else None,
                         use_shared_memory=bool(section.get('use_shared_memory', workers > 0)))
