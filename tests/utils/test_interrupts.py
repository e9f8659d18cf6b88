"""ctrl_c_deferred: a Ctrl-C inside the block is raised when it ends, also one that lands
in a ``__del__`` (where Python drops it)."""
import os
import signal
import sys
import time

import pytest

from ppdet.utils.interrupts import ctrl_c_deferred


@pytest.fixture
def python_sigint():
    """SIGINT handled by Python, as in a foreground run (a suite started in the background
    ignores it)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100):        # the handler runs between bytecodes of the main thread
        time.sleep(0.001)


class _InterruptedWhileClosing(object):
    """A file-like object whose __del__ is where the Ctrl-C lands (imageio's plugin)."""

    def __del__(self):
        _ctrl_c()


def test_ctrl_c_in_a_del_is_dropped_by_python(python_sigint):
    """Why the helper exists: without it the run goes on."""
    obj = _InterruptedWhileClosing()
    del obj      # 'Exception ignored in ... __del__': no KeyboardInterrupt here
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_a_del_is_raised_when_the_block_ends(python_sigint):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_deferred():
            obj = _InterruptedWhileClosing()
            del obj
            done.append('rest of the block')
    assert done == ['rest of the block']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_ctrl_c_changes_nothing(python_sigint):
    with ctrl_c_deferred():
        value = 1
    assert value == 1 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_in_the_block_goes_through_and_the_handler_is_restored(python_sigint):
    with pytest.raises(ValueError, match='bad'):
        with ctrl_c_deferred():
            raise ValueError('bad')
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with ctrl_c_deferred():
            _ctrl_c()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def _called_from_a_del():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == '__del__':
            return True
        frame = frame.f_back
    return False


def test_skimage_photo_read_interrupted_while_closing_its_file(python_sigint, monkeypatch):
    """The real read (skimage -> imageio -> PIL), with the Ctrl-C landing where it did in
    the pipeline's data stage: in PIL's close, called from imageio's __del__."""
    from PIL import Image
    from ppdet.data.sample_photos import skimage_image
    close = Image.Image.close
    calls = []

    def close_then_ctrl_c(self):
        close(self)
        if not calls and _called_from_a_del():
            calls.append(1)
            _ctrl_c()

    monkeypatch.setattr(Image.Image, 'close', close_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        skimage_image('astronaut')
    assert calls == [1]
    monkeypatch.undo()
    assert skimage_image('astronaut').shape == (512, 512, 3)


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100):
        time.sleep(0.001)


def test_sigterm_raises_terminated_and_puts_the_handler_back():
    from ppdet.utils.interrupts import (Terminated, interrupt_exit_code, interrupt_word,
                                        sigterm_raises)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as e:
        with sigterm_raises():
            _sigterm()
    assert isinstance(e.value, KeyboardInterrupt)      # every Ctrl-C path takes it
    assert (interrupt_exit_code(e.value), interrupt_word(e.value)) == (
        143, 'terminated (SIGTERM)')
    assert (interrupt_exit_code(KeyboardInterrupt()), interrupt_word(KeyboardInterrupt())) == (
        130, 'interrupted')
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_sigterm_is_held_until_the_block_ends():
    """A checkpoint save in the block finishes before the Terminated is raised."""
    from ppdet.utils.interrupts import Terminated, sigterm_raises
    done = []
    with pytest.raises(Terminated):
        with sigterm_raises():
            with ctrl_c_deferred():
                _sigterm()
                done.append('rest of the block')
    assert done == ['rest of the block']
