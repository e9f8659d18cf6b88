"""Atomic writes: an interrupted run never leaves a half-written file behind."""
import json
import os
import tempfile

import yaml


def atomic_write(path, writer, mode='w'):
    """Call ``writer(fileobj)`` on a temp file beside ``path`` and rename it into place."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
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
