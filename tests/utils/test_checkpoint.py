import os

import numpy as np
import paddle
import pytest

from ppdet.utils.checkpoint import load_weights, read_meta, save_checkpoint


class _Net(paddle.nn.Layer):
    def __init__(self, c=4):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, c, 3)
        self.bn = paddle.nn.BatchNorm2D(c)


def test_save_load_roundtrip_with_meta(tmp_path):
    paddle.seed(1)
    a, b = _Net(), _Net()
    meta = {'steps': [{'kind': 'prune', 'plan': {'x': 0.5}}], 'parent': 'p'}
    path = save_checkpoint(a, str(tmp_path / 'ck'), meta=meta)
    assert path.endswith('.pdparams') and os.path.isfile(path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp') or f.startswith('.tmp')]
    assert read_meta(path) == meta
    report = load_weights(b, str(tmp_path / 'ck'), strict=True)
    assert not report.missing and not report.mismatched
    np.testing.assert_array_equal(a.conv.weight.numpy(), b.conv.weight.numpy())


def test_paddledetection_style_file_reports_keys(tmp_path):
    # a released-weights file: plain {name: ndarray}, one key unknown, one mis-shaped, one missing
    net = _Net()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    state['conv.weight'] = np.zeros([5, 3, 3, 3], 'float32')
    state.pop('bn.weight')
    state['head.extra'] = np.zeros([2], 'float32')
    path = str(tmp_path / 'released.pdparams')
    paddle.save(state, path)
    report = load_weights(_Net(), path)
    assert report.missing == ['bn.weight']
    assert report.unexpected == ['head.extra']
    assert report.mismatched == {'conv.weight': ([4, 3, 3, 3], [5, 3, 3, 3])}
    assert 'shape mismatch conv.weight' in str(report)
    with pytest.raises(ValueError, match='do not fit the model'):
        load_weights(_Net(), path, strict=True)
    assert read_meta(path) == {}


def test_missing_and_corrupt_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'weights file not found: .*nothere.pdparams'):
        load_weights(_Net(), str(tmp_path / 'nothere'))
    bad = tmp_path / 'bad.pdparams'
    bad.write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match='cannot read weights file'):
        load_weights(_Net(), str(bad))


def test_weights_directory_is_named_as_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match='is a directory.*holds no .pdparams'):
        load_weights(_Net(), str(tmp_path))
    save_checkpoint(_Net(), str(tmp_path / 'model_final'))
    with pytest.raises(FileNotFoundError, match=r'is a directory.*-o weights=%s' % os.path.join(
            str(tmp_path), 'model_final')):
        read_meta(str(tmp_path))
