"""ppdet/deploy/onednn_group_norm.py: GroupNorm as oneDNN ops, at predictor creation."""
import os
import shutil

import numpy as np
import paddle
import pytest

from ppdet.benchmark.cpu import has_native_bf16
from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
from ppdet.deploy.onednn_group_norm import program_for_onednn
from ppdet.utils.static_graph import static_mode


def _op_types(model_file):
    with static_mode():
        with open(model_file, 'rb') as f:
            prog = paddle.static.Program.parse_from_string(f.read())
    return [op.type for op in prog.global_block().ops]


def test_the_rewritten_program_has_pools_instead_of_group_norms(group_norm_model_dir):
    model_file = os.path.join(group_norm_model_dir, 'model.pdmodel')
    with open(model_file, 'rb') as f:
        before = f.read()
    path, tmp, rewritten = program_for_onednn(model_file)
    try:
        assert tmp and path.startswith(tmp) and path != model_file and rewritten == 2
        old, new = _op_types(model_file), _op_types(path)
        assert old.count('group_norm') == 2
        assert 'group_norm' not in new and new.count('pool2d') == 4
        with open(model_file, 'rb') as f:
            assert f.read() == before                  # the export is not changed
    finally:
        shutil.rmtree(tmp)


def test_a_program_without_group_norm_is_left_alone(tiny_model_dir):
    model_file = os.path.join(tiny_model_dir, 'model.pdmodel')
    others = dict(reduce_max=False, reshape_in_place=False)    # the other rewrites' own tests
    assert program_for_onednn(model_file, **others) == (model_file, None, 0)
    assert program_for_onednn(model_file, group_norm=False, **others) == (model_file, None, 0)


@pytest.mark.parametrize('bf16', [False, True])
def test_the_same_statistics_on_paddles_own_kernels(group_norm_model_dir, bf16):
    """The rewrite's math against group_norm's, op by op on Paddle's reference CPU kernels
    (a static executor, no oneDNN), per sample on a batch whose samples differ in mean and
    spread (GroupNorm's statistics are per sample).  For a bf16 predictor each square reads
    a copy of its input (two ``scale`` ops per group_norm), exact as well."""
    model_file = os.path.join(group_norm_model_dir, 'model.pdmodel')
    path, tmp, _ = program_for_onednn(model_file, bf16=bf16)
    # one scale adds epsilon per group_norm (2 of them); bf16 copies two squares' inputs each
    assert _op_types(path).count('scale') - _op_types(model_file).count('scale') == \
        (6 if bf16 else 2)
    shutil.copy(os.path.join(group_norm_model_dir, 'model.pdiparams'), tmp)
    rng = np.random.RandomState(0)
    image = rng.randn(3, 3, 64, 64).astype('float32')
    image[1] = image[1] * 4 + 3
    image[2] = image[2] * 0.1 - 2
    feed = {'image': image, 'im_shape': np.full((3, 2), 64, 'float32'),
            'scale_factor': np.ones((3, 2), 'float32')}
    outs = []
    try:
        for prefix in (model_file, path):
            with static_mode():
                exe = paddle.static.Executor(paddle.CPUPlace())
                with paddle.static.scope_guard(paddle.static.Scope()):
                    prog, feeds, fetches = paddle.static.load_inference_model(
                        prefix[:-len('.pdmodel')], exe)
                    outs.append(exe.run(prog, feed={n: feed[n] for n in feeds},
                                        fetch_list=fetches))
    finally:
        shutil.rmtree(tmp)
    (box_a, num_a), (box_b, num_b) = outs
    assert num_a.tolist() == num_b.tolist() and num_a.sum() > 0
    np.testing.assert_allclose(box_b, box_a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('threads', [1, 2])
def test_the_predictor_rewrites_with_onednn_only(group_norm_model_dir, images, threads):
    inputs = Preprocessor(load_infer_cfg(group_norm_model_dir))(images)
    runs = {}
    for name, kw in (('rewritten', {}), ('group_norm', {'onednn_group_norm': False}),
                     ('no_onednn', {'enable_mkldnn': False})):
        pred = create_predictor(group_norm_model_dir, 'paddle', cpu_threads=threads, **kw)
        assert pred.group_norms_rewritten == (name == 'rewritten')
        runs[name] = pred.run(inputs)
    for name in ('rewritten', 'no_onednn'):
        r = match_batch(runs['group_norm'], runs[name])
        assert r['n_a'] > 0 and r['matched_fraction'] == 1.0, r
        assert r['mean_iou'] > 0.999 and r['max_score_diff'] < 1e-4, r


@pytest.mark.skipif(not has_native_bf16(), reason='this CPU has no AVX512-BF16 / AMX-BF16')
def test_the_rewrite_runs_in_bf16(group_norm_model_dir, images):
    """With enable_mkldnn_bfloat16 the rewritten program runs (Paddle 2.6.2's bf16 pass broke
    the x * x of the statistics: "variable Y is not found") and stays close to fp32."""
    inputs = Preprocessor(load_infer_cfg(group_norm_model_dir))(images)
    ref = create_predictor(group_norm_model_dir, 'paddle').run(inputs)
    pred = create_predictor(group_norm_model_dir, 'paddle', enable_mkldnn_bfloat16=True)
    assert pred.group_norms_rewritten
    r = match_batch(ref, pred.run(inputs))
    assert r['n_b'] > 0 and r['matched_fraction'] > 0.5, r
