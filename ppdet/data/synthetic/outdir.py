"""The output directory of a dataset generator: what it may overwrite, and when.

A generated set is recognised by what the generator wrote in it: ``manifest.json``
(written last: the set is complete) or ``manifest.partial.json`` (written before anything
else and removed after the manifest: the set was being written and may be half done).
A directory holding either, made by the same generator, is ours: it is rewritten when
the parameters differ (saying which), when it is half done, or when files are missing.
Anything else that is not empty may be a user's real dataset (a WIDER FACE or COCO tree
whose file names the generator also writes) and is refused unless ``force``.
"""
import json
import os

from ppdet.utils.fileio import atomic_write, read_json, write_json
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['MANIFEST', 'MARKER', 'begin', 'finish', 'progress_bar', 'generator_parser']

MANIFEST = 'manifest.json'
MARKER = 'manifest.partial.json'


def _read(path):
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _made_by(record, generator, legacy_keys):
    """Whether ``record`` (a manifest or marker dict) was written by ``generator``;
    manifests written before the ``generator`` key are told by their parameter names."""
    if not isinstance(record, dict) or not isinstance(record.get('params'), dict):
        return False
    if 'generator' in record:
        return record['generator'] == generator
    return all(k in record['params'] for k in legacy_keys)


def _changes(old, new):
    """``'num_train 16 -> 1800, seed 3 -> 0'``: the parameters that differ."""
    return ', '.join('%s %s -> %s' % (k, old.get(k, '(none)'), new.get(k, '(none)'))
                     for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))


def _missing_files(out_dir, manifest):
    return [p for p in manifest.get('files', {}) if not os.path.isfile(os.path.join(out_dir, p))]


def _refuse(out_dir, what, found):
    names = sorted(os.listdir(out_dir))
    other = found.get('generator') if isinstance(found, dict) else None
    held = ('another generator\'s set (%s)' % other) if other else \
        'no %s (no %s of it)' % (what, MANIFEST)
    raise ValueError('output dir %s is not empty and holds %s: refusing to write there, it '
                     'could overwrite your files (it holds %s%s); give an empty or new '
                     '--output_dir, or --force (force=True) to write into it anyway'
                     % (out_dir, held, ', '.join(names[:5]), ', ...' if len(names) > 5 else ''))


def _why_rewrite(out_dir, ours, params, what, force):
    """Why a complete set of ours (manifest ``ours``) is rewritten; None: it is up to date."""
    missing = _missing_files(out_dir, ours)
    if ours['params'] != params:
        return 'it holds a %s made with other parameters: %s' % (
            what, _changes(ours['params'], params))
    if missing:
        return '%d of its files are missing (e.g. %s)' % (len(missing), missing[0])
    return 'force=True' if force else None


def begin(out_dir, generator, params, what, force=False, legacy_keys=()):
    """Decide whether to (re)generate ``out_dir``; returns the manifest of a complete set
    made with ``params`` (nothing to do) or None after marking ``out_dir`` as being written.

    ``generator`` names the generator in the manifest, ``what`` the set in messages.  A
    set of ours made with other parameters, half written or missing files is regenerated
    with one line saying why; a non-empty directory that is not ours raises ValueError
    unless ``force``."""
    manifest = _read(os.path.join(out_dir, MANIFEST))
    marker = _read(os.path.join(out_dir, MARKER))
    reason = None
    if _made_by(marker, generator, legacy_keys):
        reason = 'it holds an unfinished %s (a run was interrupted while writing it)' % what
    elif _made_by(manifest, generator, legacy_keys):
        reason = _why_rewrite(out_dir, manifest, params, what, force)
        if reason is None:
            logger.info('%s already in %s (%s); not regenerating', what, out_dir, ', '.join(
                '%s=%s' % (k, params[k]) for k in ('num_train', 'num_val', 'seed')))
            return manifest
    elif os.path.isdir(out_dir) and os.listdir(out_dir):
        if not force:
            _refuse(out_dir, what, manifest or marker)
        logger.warning('writing the %s into %s, which holds other files (force=True): files '
                       'of the same names are overwritten', what, out_dir)
    if reason:
        logger.warning('regenerating %s: %s; its files are replaced', out_dir, reason)
    # the marker first, then the old manifest goes: an interrupt from here on leaves a set
    # that is recognised as ours and half done, never one that looks complete
    write_json(os.path.join(out_dir, MARKER), {'generator': generator, 'params': params})
    if os.path.lexists(os.path.join(out_dir, MANIFEST)):
        os.remove(os.path.join(out_dir, MANIFEST))
    return None


def finish(out_dir, generator, manifest):
    """Write the manifest (the set is complete), then remove the marker."""
    manifest = dict(manifest, generator=generator)
    atomic_write(os.path.join(out_dir, MANIFEST),
                 lambda f: f.write(json.dumps(manifest, indent=1, sort_keys=True)))
    os.remove(os.path.join(out_dir, MARKER))
    return manifest


def progress_bar(total, desc):
    """The progress bar (tqdm, as training and evaluation show theirs) of a generator's
    images: count, rate and time left."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit='img', leave=False, dynamic_ncols=True,
                mininterval=1.0)


def generator_parser(doc, defaults, output_dir, what):
    """The flags every dataset generator script shares (``--output_dir``, ``--num_train``,
    ``--num_val``, ``--seed``, ``--force``), with ``defaults`` the generator's DEFAULTS and
    ``what`` the files that go into ``output_dir``; a script adds its own and parses."""
    import argparse
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default=output_dir,
                        help='where %s go: new, empty or a set this script made' % what)
    parser.add_argument('--num_train', type=int, default=defaults['num_train'],
                        help='training images (>= 1)')
    parser.add_argument('--num_val', type=int, default=defaults['num_val'],
                        help='validation images (>= 1)')
    parser.add_argument('--seed', type=int, default=defaults['seed'],
                        help='any integer; image i of a split is the same at every '
                             '--num_train / --num_val')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if up to date, and write into a non-empty '
                             '--output_dir that holds no generated set (files of the same '
                             'names are overwritten)')
    return parser
