"""The norm factory (ppdet/modeling/norms.py): every norm_type builds and trains, EvoNorm-S0
and frozen BN on hand-computed values, SyncBN's CPU fallback, GroupNorm's group clipping."""
import numpy as np
import paddle
import pytest

from ppdet.modeling.norms import (NORM_TYPES, ConvNorm, EvoNormS0, build_norm, group_count,
                                  norm_includes_act)


@pytest.mark.parametrize('norm_type', NORM_TYPES)
def test_every_norm_type_runs_forward_and_backward(norm_type):
    paddle.seed(0)
    block = ConvNorm(4, 8, 3, norm_type=norm_type, act='relu', groups=4)
    x = paddle.randn([2, 4, 6, 6])
    y = block(x)
    assert y.shape == [2, 8, 6, 6]
    y.mean().backward()
    assert block.conv.weight.grad is not None
    assert (block.norm is None) == (norm_type is None)
    assert (block.conv.bias is None) == (norm_type is not None)


def test_evonorm_s0_on_hand_computed_values():
    # 2 channels, 1 group: the group std is over all 4 values {1, -1, 2, 0}: mean 0.5,
    # variance (0.25 + 2.25 + 2.25 + 0.25) / 4 = 1.25; v = gamma = 1, beta = 0
    x = np.array([[[[1., -1.]], [[2., 0.]]]], 'float32')               # [1, 2, 1, 2]
    y = EvoNormS0(2, groups=1)(paddle.to_tensor(x)).numpy()
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(y, x * sig / np.sqrt(1.25 + 1e-5), rtol=1e-5)
    # 2 groups of one channel: each channel's own spatial variance (1 and 1)
    y2 = EvoNormS0(2, groups=2)(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(y2, x * sig / np.sqrt(1. + 1e-5), rtol=1e-5)
    assert norm_includes_act('evonorm_s0') and not norm_includes_act('gn')


def test_evonorm_s0_is_the_same_in_train_and_eval_and_per_sample():
    paddle.seed(1)
    norm = EvoNormS0(8, groups=4)
    x = paddle.randn([3, 8, 5, 5])
    norm.train()
    a = norm(x).numpy()
    norm.eval()
    np.testing.assert_allclose(norm(x).numpy(), a, rtol=1e-6)
    np.testing.assert_allclose(norm(x[1:2]).numpy(), a[1:2], rtol=1e-5)  # no batch stats


def test_frozen_bn_uses_stored_statistics_and_does_not_train():
    norm = build_norm('frozen_bn', 3)
    norm.train()
    x = paddle.randn([2, 3, 4, 4])
    np.testing.assert_allclose(norm(x).numpy(), x.numpy() / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert all(p.stop_gradient for p in norm.parameters())
    assert float(norm._mean.abs().sum()) == 0  # statistics not updated in train mode


def test_group_norm_groups_are_clipped_to_divide_the_channels():
    assert group_count(256, 32) == 32 and group_count(48, 32) == 24
    assert group_count(20, 32) == 20 and group_count(7, 4) == 1
    assert build_norm('gn', 48)._num_groups == 24


def test_sync_bn_falls_back_to_bn_on_cpu_with_a_warning(ppdet_log):
    import ppdet.modeling.norms as norms
    norms._WARNED.clear()
    paddle.seed(2)
    sync = build_norm('sync_bn', 4)
    bn = build_norm('bn', 4)
    assert isinstance(sync, paddle.nn.BatchNorm2D)
    assert 'sync_bn needs GPUs' in ppdet_log.text
    assert sorted(sync.state_dict()) == sorted(bn.state_dict())
    x = paddle.randn([2, 4, 3, 3])
    np.testing.assert_allclose(sync(x).numpy(), bn(x).numpy(), rtol=1e-6)


def test_unknown_norm_type_names_the_choices():
    with pytest.raises(ValueError, match="norm_type 'ln' unknown; use one of None, 'bn'"):
        build_norm('ln', 8)
