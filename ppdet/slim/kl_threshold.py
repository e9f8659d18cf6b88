"""The KL calibration's threshold search, in numpy.

Paddle's ``cal_kl_threshold`` (used by PaddleSlim's ``quant_post_static(algo='KL')``) tries
every clip point in the upper half of a 2048-bin histogram and, for each, walks the bins in
pure Python: 0.2-0.4 s per activation tensor.  Measured on the main job's test model (tiny
YOLOv3, 2 calibration images, 2-core AVX2 CPU): a KL calibration took 78.9 s with it and 5.9 s
with :func:`kl_threshold` (abs_max: 2.4 s).  :func:`kl_threshold` is the same search (same
candidates, same merged and expanded distributions, same divergence, first minimum wins) with
each candidate's bin walks done as array operations.  The histograms are integer counts, so
the distributions are the same numbers; only the order of the divergence's floating-point sum
differs.
:func:`fast_kl_search` puts it in place of Paddle's for the duration of a calibration.
"""
import contextlib

import numpy as np

__all__ = ['kl_threshold', 'fast_kl_search']


def _divergence(p, p_sum, q, q_sum):
    """KL(P || Q) of the un-normalised P and Q over the bins where P is non-zero."""
    nz = p != 0
    p, q = p[nz], q[nz]
    return float(np.sum(p * np.log(q_sum * p)) - np.sum(p * np.log(p_sum * q))) / p_sum


def _candidate_q(hist, p, i, quant_range):
    """Bins [0, i) merged into ``quant_range`` groups (the last takes the remainder), each
    group's count spread evenly over the bins where ``p`` is non-zero."""
    merged = i // quant_range
    positions = np.arange(i)
    group = (np.minimum(positions // merged, quant_range - 1) if merged > 0
             else np.full(i, quant_range - 1))
    counts = np.bincount(group, weights=hist[:i], minlength=quant_range)
    nonzero = p != 0
    filled = np.bincount(group, weights=nonzero, minlength=quant_range)
    mean = np.divide(counts, filled, out=np.zeros(quant_range), where=filled > 0)
    return np.where(nonzero, mean[group], 0.0)


def kl_threshold(hist, bin_width, bits):
    """The clip value of a tensor's histogram of absolute values that keeps its int8
    distribution closest (KL divergence) to the fp32 one; Paddle's search, vectorised."""
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 1:
        raise ValueError('kl_threshold takes a 1-D histogram, got shape %s' % (hist.shape,))
    bins = hist.shape[0]
    start = int((bins - 1) * 0.5)
    quant_range = 2 ** (bits - 1) - 1
    p_sum = hist.sum()
    beyond = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])   # beyond[i] = sum(hist[i:])
    best, best_index = None, 0
    for i in range(start, bins):
        if hist[i - 1] == 0:
            continue
        p = hist[:i].copy()
        p[i - 1] += beyond[i]
        q = _candidate_q(hist, p, i, quant_range)
        kl = _divergence(p, p_sum, q, q.sum())
        if best is None or kl < best:
            best, best_index = kl, i
    if best_index == 0:
        while start > 0 and hist[start] == 0:
            start -= 1
        best_index = start
    return (best_index + 0.5) * bin_width


@contextlib.contextmanager
def fast_kl_search():
    """Paddle's post-training quantization uses :func:`kl_threshold` inside this block."""
    from paddle.static.quantization import post_training_quantization as ptq
    original = ptq.cal_kl_threshold
    ptq.cal_kl_threshold = kl_threshold
    try:
        yield
    finally:
        ptq.cal_kl_threshold = original
