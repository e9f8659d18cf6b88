"""Atomic writes: an interrupted run never leaves a half-written file behind."""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per file there
    fcntl = None

import yaml


def umask_mode(mode=0o666):
    """``mode`` as ``open()`` would create it under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _first_existing(path):
    """``path`` or its nearest ancestor that exists."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_output_dir(path, flag, _target=None):
    """Refuse an output directory that cannot be made, before a script does any work.

    ``path`` may be missing (it is created later) but neither it nor any folder above it
    may be a file, and the part that exists must be writable.  ``flag`` names the setting
    in the message (``--output_dir``, ``save_dir (-o save_dir=DIR)``).  Raises ValueError
    (a one-line ``error:`` through :func:`ppdet.utils.cli.run_main`)."""
    if path is None or str(path) == '':
        return
    target = str(_target or path)
    found = _first_existing(str(path))
    if not os.path.isdir(found):
        where = '' if found == os.path.abspath(target) else ' (a folder of %s)' % target
        raise ValueError('%s: %s is a file, not a directory%s; give %s' % (
            flag, found, where, 'another path' if _target else
            'a directory (it is made if missing)'))
    why = None if os.access(found, os.W_OK | os.X_OK) else 'permission denied'
    if why is None:
        # root passes os.access everywhere; a read-only mount or /proc still refuses a write
        try:
            os.rmdir(tempfile.mkdtemp(prefix='.write_check_', dir=found))
        except OSError as e:
            why = 'a test folder could not be made there: %s' % (e.strerror or e)
    if why:
        raise ValueError('%s: cannot write in %s (%s); give a writable %s' % (
            flag, found, why, 'path' if _target else 'directory'))


def near_files_hint(path, suffixes, strip=''):
    """'; did you mean ...?' naming the files beside a missing ``path`` whose names end in
    one of ``suffixes`` and are close to its name ('' when none is); ``strip``: a suffix
    taken off the names (a checkpoint is named by its prefix, without ``.pdparams``)."""
    import difflib

    def cut(name):
        return name[:len(name) - len(strip)] if strip and name.endswith(strip) else name
    folder = os.path.dirname(str(path))
    if not os.path.isdir(folder or '.'):
        return ''
    names = [cut(f) for f in sorted(os.listdir(folder or '.')) if f.endswith(tuple(suffixes))]
    found = difflib.get_close_matches(cut(os.path.basename(str(path))), names, n=3, cutoff=0.6)
    return ('; did you mean %s?' % ' or '.join(repr(os.path.join(folder, f)) for f in found)
            if found else '')


def check_output_file(path, flag):
    """Like :func:`check_output_dir` for a file to be written: ``path`` must not be a
    directory and the folder it goes into must be makeable."""
    if path is None or str(path) == '':
        return
    path = str(path)
    if os.path.isdir(path):
        raise ValueError('%s: %s is a directory; give a file name (e.g. %s)'
                         % (flag, path, os.path.join(path, 'out')))
    check_output_dir(os.path.dirname(os.path.abspath(path)), flag, _target=path)


@contextlib.contextmanager
def staged_dir(out_dir, marker='infer_cfg.yml'):
    """Write a model directory in a temporary one beside ``out_dir``, then move its files in,
    ``marker`` last; ``out_dir``'s old ``marker`` is removed first.

    Every runner needs the marker (an export's ``infer_cfg.yml``), so an interrupted write
    leaves a directory they refuse, never a mix of two models: a re-export or a PTQ run over
    an existing directory, killed part-way, left the new weights beside the old
    ``infer_cfg.yml`` and was run as if complete.  A failure leaves ``out_dir`` as it was.
    Yields the temporary directory."""
    out_dir = os.path.abspath(str(out_dir))
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.%s.partial-' % os.path.basename(out_dir), dir=parent)
    os.chmod(tmp, umask_mode(0o777))
    try:
        yield tmp
        os.makedirs(out_dir, exist_ok=True)
        old_marker = os.path.join(out_dir, marker)
        if os.path.lexists(old_marker):
            os.remove(old_marker)
        for name in sorted(os.listdir(tmp), key=lambda n: n == marker):   # the marker last
            dst = os.path.join(out_dir, name)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            os.replace(os.path.join(tmp, name), dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def temp_copy(name, data, prefix):
    """``data`` (bytes) written as ``name`` in a new temporary directory (a rewritten copy of
    a model file that a runtime or converter reads by path); -> (path, the directory), which
    the caller removes when done."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        path = os.path.join(tmp, name)
        atomic_write(path, lambda f: f.write(data), mode='wb')
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path, tmp


def atomic_write(path, writer, mode='w'):
    """Call ``writer(fileobj)`` on a temp file beside ``path`` and rename it into place.

    The file gets the permissions a plain ``open(path, 'w')`` would give it (0666 less
    the umask), not the 0600 of the private temp file it is written through.
    """
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True))


def write_yaml(path, obj):
    atomic_write(path, lambda f: yaml.safe_dump(obj, f, sort_keys=False))


def file_sha256(path):
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive advisory lock on ``path + '.lock'`` (processes sharing a file)."""
    if fcntl is None:
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.lock', 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update_json(path, fn):
    """Read-modify-write ``path`` under its lock: ``fn(obj)`` changes the dict in place.
    Concurrent processes each keep the other's keys.  Returns the new dict."""
    with locked(path):
        obj = read_json(path) if os.path.isfile(path) else {}
        fn(obj)
        write_json(path, obj)
    return obj
