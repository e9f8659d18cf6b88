"""Paddle 2.6.2's ``avg`` calibration on graphs with 0-d activations.

Its ``_sample_avg`` reshapes every sampled activation to ``[shape[0], -1]``, which fails
on a 0-d tensor (``IndexError: tuple index out of range``): an export whose NMS candidate
bound slices the batch size out of a shape and casts it (``shape -> slice -> cast``, a
0-d ``int`` fed to ``range``) could not be calibrated with ``avg`` at all (measured on
the tests' small YOLOv3 export).  :func:`scalar_safe_avg` samples such a tensor as what
the formula means for it, its absolute value, and leaves everything else to Paddle.
"""
import contextlib

__all__ = ['scalar_safe_avg']


def _zero_d(ptq, name):
    var = ptq._scope.find_var(name)
    return var is not None and len(var.get_tensor().shape()) == 0


@contextlib.contextmanager
def scalar_safe_avg():
    """Paddle's post-training quantization samples 0-d activations for ``avg`` inside this
    block."""
    from paddle.static.quantization import post_training_quantization as ptq
    from paddle.static.quantization import utils
    original = ptq.PostTrainingQuantization._sample_avg

    def sample_avg(self):
        names = self._quantized_act_var_name
        scalars = {n for n in names if _zero_d(self, n)}
        self._quantized_act_var_name = names - scalars
        try:
            original(self)
        finally:
            self._quantized_act_var_name = names
        for name in sorted(scalars):
            value = abs(float(utils.load_variable_data(self._scope, name)))
            self._quantized_var_avg.setdefault(name, []).append(value)

    ptq.PostTrainingQuantization._sample_avg = sample_avg
    try:
        yield
    finally:
        ptq.PostTrainingQuantization._sample_avg = original
