"""The one argument style shared by every script: ``-c CONFIG`` and ``-o key=value``."""
import argparse
import contextlib
import math
import os
import sys

from ppdet.core.workspace import ConfigError, did_you_mean, load_config, parse_override


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, except None: "(default: None)" says nothing (a
    flag without a default, or one whose help says what stands in for it)."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class ArgsParser(argparse.ArgumentParser):
    def __init__(self, description=None, config_required=True):
        super().__init__(description=description, formatter_class=HelpFormatter)
        self.add_argument('-c', '--config', required=config_required,
                          help='YAML config file')
        # extend: every -o adds its entries (a second -o used to replace the first's)
        self.add_argument('-o', '--opt', nargs='*', action='extend', default=[],
                          help='override config entries: -o epoch=3 TrainReader.batch_size=4 '
                               '(several -o add up)')


def str2bool(v):
    """An argparse ``type`` for on/off flags: ``--flag``, ``--flag true``, ``--flag 0``."""
    if isinstance(v, bool):
        return v
    if v.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if v.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError('expected true or false, got %r' % v)


def add_save_inference_args(parser, what):
    """``--save_inference [DIR]`` and ``--output_dir`` of a training script (distill.py,
    slim/quantization/train.py), one rule for both: the bare flag (or ``true``) exports
    ``what`` to ``--output_dir/CONFIG_NAME`` as tools/export_model.py does, ``DIR`` exports
    into DIR itself, ``false`` not at all.  Read the folder with :func:`save_inference_dir`."""
    parser.add_argument('--save_inference', nargs='?', const=True, default=False,
                        type=_bool_or_dir, metavar='DIR',
                        help='export %s as an inference model when done: to '
                             '--output_dir/CONFIG_NAME, or into DIR when one is given '
                             '(true / false also taken)' % what)
    parser.add_argument('--output_dir', default=None,
                        help='folder of the exports (default output/inference); '
                             'the export goes to OUTPUT_DIR/CONFIG_NAME')


def _bool_or_dir(v):
    try:
        return str2bool(v)
    except argparse.ArgumentTypeError:
        return v


def save_inference_dir(args, check=True):
    """-> the folder a ``--save_inference`` run exports to, or None when it does not;
    ``check``: refuse it now (a file, not writable), before any training, not after it."""
    if args.save_inference is False:
        return None
    if args.save_inference is True:
        name = os.path.splitext(os.path.basename(args.config))[0]
        out, flag = os.path.join(args.output_dir or 'output/inference', name), '--output_dir'
    elif args.output_dir is not None:
        raise ValueError('--save_inference %s names the export folder itself; --output_dir %s '
                         'names the folder of CONFIG_NAME exports: give one of them'
                         % (args.save_inference, args.output_dir))
    else:
        out, flag = args.save_inference, '--save_inference'
    if check:
        from ppdet.utils.fileio import check_output_dir
        check_output_dir(out, flag)
    return out


def parse_and_load(parser, argv=None):
    """Parse args and load the config (with overrides); exit with a clear message on error."""
    args = parser.parse_args(argv)
    cfg = None
    _warn_repeated_overrides(getattr(args, 'opt', None) or [])
    if getattr(args, 'config', None):
        try:
            cfg = load_config(args.config, overrides=args.opt)
        except ConfigError as e:
            parser.exit(2, 'error: %s\n' % e)
        if cfg.get('log_file'):
            from ppdet.utils.logger import add_log_file
            add_log_file(cfg['log_file'])
    return args, cfg


def _warn_repeated_overrides(items):
    """Say so when ``-o`` sets one key twice to different values: the last one is used, as
    in PaddleDetection, which says nothing (``-o epoch=3 ... epoch=5`` trained 5 epochs)."""
    from ppdet.utils.logger import setup_logger
    seen = {}
    for item in items:
        try:   # read as load_config reads it: epoch=3 and epoch=3.0 are one value
            key, value = parse_override(item)
        except ConfigError:
            continue   # load_config refuses it with the fix
        if key in seen and seen[key][1] != value:
            setup_logger(__name__).warning(
                '-o sets %s twice (%s, then %s): the last one is used', key, seen[key][0],
                item.strip())
        seen[key] = (item.strip(), value)


def check_choices(flag, given, known):
    """Refuse a name of ``given`` (a comma-list flag's items) not in ``known``, naming the
    close ones, before the script does any work."""
    for name in given:
        if name not in known:
            raise ValueError('%s: unknown %r%s (choose from %s)'
                             % (flag, name, did_you_mean(name, known), ', '.join(known)))


def check_range(flag, value, low=None, high=None, hint=''):
    """Refuse ``value`` outside ``[low, high]`` (either bound may be None), or not a finite
    number, with a ValueError naming ``flag`` (a one-line ``error:`` through
    :func:`ppdet.utils.cli.run_main`).  ``hint`` is appended (what the value means)."""
    if value is None:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        if low is not None and high is not None:
            want = 'in [%s, %s]' % (low, high)
        elif low is not None:
            want = '>= %s' % low
        else:
            want = '<= %s' % high
        raise ValueError('%s must be %s, got %r%s' % (flag, want, value,
                                                        ' (%s)' % hint if hint else ''))
    return value


def parse_numbers(flag, text, kind=int, example=None):
    """A comma-separated flag value -> a list of ``kind`` (int or float); an item that is
    not one is refused naming ``flag`` (``int('abc')``'s message names no flag) and giving
    ``example`` (a valid value of that flag)."""
    out = []
    for item in str(text).split(','):
        if not item.strip():
            continue
        try:
            out.append(kind(item))
        except ValueError:
            raise ValueError('%s: %r is not %s (give comma-separated numbers, e.g. %s)' % (
                flag, item, 'an integer' if kind is int else 'a number',
                example or ('1,2' if kind is int else '0.1,0.2,0.3')))
    if not out:
        raise ValueError('%s: no value given' % flag)
    return out


def command_line(script, argv=None):
    """The command a result file records: ``python <script> <args>``, the arguments quoted
    for a shell (``argv``: a main's own argument list, else ``sys.argv[1:]``), so that it can
    be pasted back to rerun it."""
    import shlex
    return 'python %s %s' % (script, shlex.join(sys.argv[1:] if argv is None else argv))


def missing_input(flag, path, default, what):
    """The ValueError for an input path that is not there; when it is the flag's default
    (what ``make demo`` leaves behind), it says to run that first (``what`` it makes)."""
    return ValueError('%s: %s not found%s' % (
        flag, path, '; run make demo first (it makes %s), or give %s' % (what, flag)
        if path == default else ''))


@contextlib.contextmanager
def resume_on_rerun(where, command, how):
    """Ctrl-C inside: say where the finished work is (``where``) and that ``command`` (the
    same command, printed to paste) resumes it (``how``: why, e.g. this script takes no
    ``-r``), then exit 130 -- for the scripts whose reruns skip what is done."""
    from ppdet.utils.interrupts import interrupt_exit_code, interrupt_word
    try:
        yield
    except KeyboardInterrupt as e:
        sys.stderr.write('\n%s: %s; to resume, run the same command again (%s):\n  %s\n'
                         % (interrupt_word(e), where, how, command))
        sys.exit(interrupt_exit_code(e))


@contextlib.contextmanager
def said_on_interrupt(message):
    """Ctrl-C (or SIGTERM) inside: write ``message`` (what is left on disk and how to go on)
    before :func:`run_main` ends the run with ``interrupted``; it said only that."""
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write('\n%s\n' % message)
        raise


def run_main(fn):
    """Run a script's main, turning library ValueErrors, a runtime this machine lacks
    (:class:`~ppdet.deploy.predictors.BackendUnavailable`, the Paddle-Lite environment),
    Paddle-Lite's refusals (:class:`~ppdet.deploy.lite.LiteError`) and a path that is the
    wrong kind or not writable (a file where a folder goes, no permission: the scripts
    check their outputs first, this is the net for the rest) into one-line errors (exit 2),
    and Ctrl-C into ``interrupted`` (exit 130) without a traceback; SIGTERM takes the same
    paths (:mod:`ppdet.utils.interrupts`) and ends ``terminated (SIGTERM)``, exit 143."""
    from ppdet.deploy.lite import LiteEnvMissing, LiteError
    from ppdet.deploy.predictors import BackendUnavailable
    from ppdet.utils.interrupts import interrupt_exit_code, interrupt_word, sigterm_raises
    try:
        with sigterm_raises():
            return fn()
    except (ConfigError, FileNotFoundError, ValueError, BackendUnavailable, LiteEnvMissing,
            LiteError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as e:
        sys.stderr.write('error: %s\n' % e)
        sys.exit(2)
    except KeyboardInterrupt as e:  # what was saved is said where it is known (training)
        sys.stderr.write('\n%s\n' % interrupt_word(e))
        sys.exit(interrupt_exit_code(e))
