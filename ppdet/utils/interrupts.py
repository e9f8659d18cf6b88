"""Ctrl-C and SIGTERM that are not lost.

Python prints and drops any exception raised inside a ``__del__``, KeyboardInterrupt
included.  Some libraries close files in ``__del__`` (imageio, under
``skimage.data.astronaut()``): a Ctrl-C that landed there was dropped, and the run went
on (measured: the pipeline's data stage, interrupted in its first 0.1 s, trained on).

SIGTERM (a scheduler stopping the job; ``paddle.distributed.launch`` passing a Ctrl-C on to
its ranks) went to Paddle's C++ handler: a ``FatalError: Termination signal`` dump, no word
on what was saved, and the data workers' shared-memory segments left in /dev/shm (measured:
35 for a 2-worker run).  Inside :func:`sigterm_raises` it is raised as :class:`Terminated`,
a KeyboardInterrupt, so it takes every Ctrl-C path (the resume hint, a checkpoint save held
until it is whole, the loaders shut down) and ends with exit 143.
"""
import contextlib
import signal
import threading

__all__ = ['Terminated', 'ctrl_c_deferred', 'sigterm_raises', 'interrupt_exit_code',
           'interrupt_word']


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread where Ctrl-C would raise KeyboardInterrupt."""


def _raise_terminated(signum, frame):
    raise Terminated()


def interrupt_exit_code(exc):
    """The shell's code for a run stopped by this signal: 128 + 15 or 128 + 2."""
    return 128 + signal.SIGTERM if isinstance(exc, Terminated) else 128 + signal.SIGINT


def interrupt_word(exc):
    """What the one line a script ends with calls the stop."""
    return 'terminated (SIGTERM)' if isinstance(exc, Terminated) else 'interrupted'


def _in_main_thread():
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_raises():
    """SIGTERM inside the block raises :class:`Terminated` (outside the main thread, where
    Python cannot handle signals, nothing changes); the handler before it is put back."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ctrl_c_deferred():
    """Hold a Ctrl-C (SIGINT), or a SIGTERM that :func:`sigterm_raises` handles, that
    arrives inside the block and raise it when the block ends.  For short calls into code
    that may swallow it and for writes that must finish; outside the main thread, or for a
    signal Python does not handle (ignored, as SIGINT in a background job), nothing
    changes."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous = {s: h for s, h in previous.items() if callable(h)}
    held = []
    for s in previous:
        signal.signal(s, lambda signum, frame: held.append((signum, frame)))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if held:
        signum, frame = held[0]
        previous[signum](signum, frame)
