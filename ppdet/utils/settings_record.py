"""The settings a run's reusable outputs depend on, recorded beside them.

A benchmark that skips work already done (a cached training, a merged results row) would
report another run's outputs as this run's if the work dir or results file had been made
with other settings (another dataset, another epoch count).  :func:`check_settings_record`
records the settings in a JSON file the first time and refuses a later run whose settings
differ, naming the keys and the fix, before anything is reused.
"""
import json
import os

from .fileio import update_json
from .logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['SETTINGS_KEY', 'check_settings_record', 'settings_diff']

SETTINGS_KEY = '_settings'


def settings_diff(old, new):
    """Keys whose values differ between two settings dicts (a key missing on one side counts
    as ``None`` there), sorted."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _text(settings, keys):
    return ', '.join('%s=%r' % (k, settings.get(k)) for k in keys)


def check_settings_record(path, settings, what, fix):
    """Record ``settings`` (a JSON-able dict) under ``SETTINGS_KEY`` in the JSON file
    ``path``, or refuse if it records other ones: ``ValueError`` naming the keys that
    differ, both values, ``what`` (what would be reused) and ``fix`` (e.g. "give another
    --work_dir").  A file that exists without a record is taken as made with these settings
    (with a warning).  Returns the file's dict."""
    settings = json.loads(json.dumps(settings))   # tuples as lists, as they are read back

    def check(obj):
        old = obj.get(SETTINGS_KEY)
        if old is None:
            if len(obj):
                logger.warning('%s has no record of the settings it was made with: taken as '
                               "made with this run's; other settings are refused from now on",
                               path)
            obj[SETTINGS_KEY] = settings
            return
        diff = settings_diff(old, settings)
        if diff:
            raise ValueError('%s was made with other settings (%s; this run: %s): %s would be '
                             "reported as this run's; %s" % (
                                 path, _text(old, diff), _text(settings, diff), what, fix))

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return update_json(path, check)
