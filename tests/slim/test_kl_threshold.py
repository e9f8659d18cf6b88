"""The numpy KL threshold search against Paddle's own (its use in PTQ: test_quant.py)."""
import numpy as np
import pytest
from paddle.static.quantization.cal_kl_threshold import cal_kl_threshold

from ppdet.slim.kl_threshold import kl_threshold


def _histograms():
    """Histograms of absolute activations as PTQ collects them (integer counts): dense,
    ReLU-like with a spike at 0, heavy-tailed, sparse (few samples), all mass low (no
    candidate in the upper half: the fallback), and bin counts below and near 127 (the int8
    range: candidates merging 0 and 1 bins per int8 level)."""
    rng = np.random.RandomState(0)
    samples = [np.abs(rng.randn(20000)),
               np.maximum(np.abs(rng.randn(20000)) * 3 - 1, 0),
               np.abs(np.concatenate([rng.randn(20000), rng.standard_t(2, 300) * 8])),
               np.abs(rng.randn(60))]
    out = [(np.histogram(x, bins=bins)[0], x.max() / bins)
           for bins in (512, 200, 130) for x in samples]
    low = np.zeros(256, dtype=np.int64)
    low[:40] = rng.randint(0, 50, 40)
    out.append((low, 0.01))
    return out


@pytest.mark.parametrize('hist, width', _histograms())
def test_same_threshold_as_paddles_search(hist, width):
    assert kl_threshold(hist, width, 8) == cal_kl_threshold(hist, width, 8)
