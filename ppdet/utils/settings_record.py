"""The settings a run's reusable outputs depend on, recorded beside them.

A benchmark that skips work already done (a cached training, a merged results row) would
report another run's outputs as this run's if the work dir or results file had been made
with other settings (another dataset, another epoch count).  :func:`check_settings_record`
records the settings in a JSON file the first time and refuses a later run whose settings
differ, naming the keys and the fix, before anything is reused.
:func:`check_results_overwrite` is its read-only twin for a benchmark's results file: a run
with other settings (a partial grid, other sizes) would write over the committed table.
"""
import json
import os

from .fileio import read_json, update_json
from .logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['SETTINGS_KEY', 'check_results_overwrite', 'check_settings_record', 'settings_diff']

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


def _own_record(obj):
    if not isinstance(obj, dict):
        raise TypeError('not a dict')
    return obj.get(SETTINGS_KEY)


def check_results_overwrite(path, settings, overwrite=False, flag='--out_dir', recorded=None):
    """Refuse to write this run's results over ``path`` when it holds another run's (a
    partial --grid run replaced the committed full table, exit 0), unless ``overwrite``:
    ``ValueError`` naming the keys that differ, both values, and the fix (another ``flag``).
    ``recorded(obj)`` -> the settings the file's JSON ``obj`` was made with (default: its
    ``SETTINGS_KEY`` entry); a file from before the record can be read for what it holds,
    and only the keys it gives are compared.  A file with nothing to compare (no record,
    nothing read) is taken as this run's, with a warning: the committed tables were written
    before the record.  A file that is not JSON, or that ``recorded`` cannot read, is not
    this script's: refused.  Writes nothing."""
    if overwrite or not os.path.isfile(path):
        return
    try:
        obj = read_json(path)
        old = (recorded or _own_record)(obj)
        if old is not None and not isinstance(old, dict):
            raise TypeError('not a dict')
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError('%s: %s is not a results file of this script: give another %s (or '
                         '--overwrite to replace it)' % (flag, path, flag))
    if not (isinstance(obj, dict) and isinstance(obj.get(SETTINGS_KEY), dict)):
        if old:
            logger.warning('%s has no record of the settings it was made with (written before '
                           'the record): compared on what it holds (%s)', path,
                           ', '.join(sorted(old)))
        else:
            logger.warning("%s has no record of the settings it was made with: taken as this "
                           "run's, and replaced", path)
    if not old:
        return
    settings = json.loads(json.dumps(settings))   # tuples as lists, as they are read back
    diff = settings_diff(old, {k: settings.get(k) for k in old})
    if diff:
        def text(values):
            return ', '.join('%s=%s' % (k, values.get(k)) for k in diff)
        raise ValueError('%s: %s holds the results of another run (%s; this run: %s): they '
                         'would be overwritten; give another %s (or --overwrite to replace '
                         'them)' % (flag, path, text(old), text(settings), flag))
