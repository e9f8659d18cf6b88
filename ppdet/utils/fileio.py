"""Atomic writes: an interrupted run never leaves a half-written file behind."""
import contextlib
import json
import os
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
