"""Paddle Inference predictors made without the int8 passes' summary on stderr.

Paddle 2.6.2's oneDNN quantize passes print 32 lines to stderr each time an int8 predictor
is made (``---    quantized 47 fused_conv2d ops``, ``---    squashed 0 requantize ops``
...), ``disable_glog_info`` or not: they are written with ``std::cerr``, not glog.  A whole
``make demo`` printed 2336 of them, 65% of its output, around the results.
:func:`create_quietly` makes the predictor with file descriptor 2 pointed at a temporary
file and writes back every captured line but those.  ``PPDET_PASS_LOG=1`` keeps them.
"""
import os
import re
import sys
import tempfile

__all__ = ['PASS_SUMMARY', 'without_pass_summary', 'create_quietly']

# "\x1b[37m---    quantized 0 conv2d ops \x1b[0m", "...---    squashed 52 dequantize-quantize
# pairs..." (the colour codes are Paddle's pretty-log style)
PASS_SUMMARY = re.compile(r'^(\x1b\[\d+m)?---\s+(quantized|squashed) \d+ ')


def without_pass_summary(text):
    """``text`` less the lines of the quantize passes' summary."""
    return ''.join(line for line in text.splitlines(True) if not PASS_SUMMARY.match(line))


def create_quietly(config):
    """``paddle.inference.create_predictor(config)``, the int8 passes' summary left out of
    stderr (everything else it printed is written back, also when it raises)."""
    from paddle import inference
    if os.environ.get('PPDET_PASS_LOG'):
        return inference.create_predictor(config)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode='w+b') as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return inference.create_predictor(config)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = without_pass_summary(captured.read().decode('utf-8', 'replace'))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
