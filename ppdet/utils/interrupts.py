"""Ctrl-C that is not lost.

Python prints and drops any exception raised inside a ``__del__``, KeyboardInterrupt
included.  Some libraries close files in ``__del__`` (imageio, under
``skimage.data.astronaut()``): a Ctrl-C that landed there was dropped, and the run went
on (measured: the pipeline's data stage, interrupted in its first 0.1 s, trained on).
"""
import contextlib
import signal
import threading

__all__ = ['ctrl_c_deferred']


@contextlib.contextmanager
def ctrl_c_deferred():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block and raise it as
    KeyboardInterrupt when the block ends.  For short calls into code that may swallow it;
    outside the main thread, or when SIGINT is not handled by Python (ignored, as in a
    background job), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        previous(signal.SIGINT, held[0])
