"""ppdet/deploy/onednn_group_norm.py program_for_onednn: each rewrite a oneDNN predictor applies
to the YOLOv3 export runs on a temporary copy (the export is not changed), and is off when
asked, with the same detections either way."""
import os
import shutil

import numpy as np
import pytest

from ppdet.deploy import Detector
from ppdet.deploy.onednn_group_norm import program_for_onednn
from ppdet.utils.static_graph import read_program

REWRITES = ('reduce_max', 'reshape_in_place')


def _maxima_on_paddles_kernel(ops):
    types = [op.type for op in ops]
    return 'reduce_max' not in types and types.count('reduce_amax') == 1


def _tail_reshapes_in_place(ops):
    # the candidate bound's: the row indices, the boxes, the score tensor, the gathered rows
    return sum(op.input('X') == op.output('Out') for op in ops if op.type == 'reshape2') >= 4


@pytest.mark.parametrize('rewrite, predictor_flag, rewritten', [
    ('reduce_max', 'onednn_reduce_max', _maxima_on_paddles_kernel),
    ('reshape_in_place', 'onednn_reshape_in_place', _tail_reshapes_in_place),
])
def test_a_rewrite_runs_on_a_copy_with_the_same_detections(yolov3_model_dir, photo, rewrite,
                                                           predictor_flag, rewritten):
    model_file = os.path.join(yolov3_model_dir, 'model.pdmodel')
    with open(model_file, 'rb') as f:
        before = f.read()
    only = {r: r == rewrite for r in REWRITES}
    assert not rewritten(read_program(model_file).global_block().ops)
    path, tmp, _ = program_for_onednn(model_file, group_norm=False, **only)
    try:
        assert tmp and path.startswith(tmp)
        assert rewritten(read_program(path).global_block().ops)
        with open(model_file, 'rb') as f:
            assert f.read() == before                   # the export is not changed
    finally:
        shutil.rmtree(tmp)
    none = {r: False for r in REWRITES}
    assert program_for_onednn(model_file, group_norm=False, **none) == (model_file, None, 0)
    batch = [photo, np.ascontiguousarray(photo[::-1])]      # a batch of two: [B*N, C] rows
    on, off = (Detector(yolov3_model_dir, **{predictor_flag: flag}).predict(batch)
               for flag in (True, False))
    assert len(on) == len(off) == 2 and all(len(r) > 0 for r in on)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(on[0], on[1])


@pytest.mark.parametrize('config', ['configs/builtin/retinanet_r18_builtin.yml',
                                    'configs/builtin/fcos_r18_builtin.yml'])
def test_the_dense_families_tail_reshapes_in_place_keep_a_batchs_detections(config, photo,
                                                                             tmp_path):
    """With the NMS candidate bound (as the full-size configs set it), RetinaNet's and FCOS's
    tails have reshapes after their box matmul that the rule renames; a batch of two images
    keeps its detections image by image."""
    import paddle
    from ppdet.core.workspace import load_config
    from ppdet.engine.export import export_model
    from ppdet.engine.trainer import build_model
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # a random head scores ~0.01 (its prior): a low threshold lets 100 boxes per image through
    cfg = load_config(os.path.join(root, config),
                      overrides=['MultiClassNMS.score_threshold=0.005',
                                 'MultiClassNMS.pre_nms_top_k=300'])
    paddle.seed(0)
    model = build_model(cfg)[0]
    model.eval()
    out = str(tmp_path / 'export')
    export_model(model, cfg, out, ['c%d' % i for i in range(cfg.num_classes)])
    path, tmp, _ = program_for_onednn(os.path.join(out, 'model.pdmodel'), group_norm=False,
                                      reduce_max=False, reshape_in_place=True)
    assert tmp, 'nothing rewritten'
    try:
        renamed = [op for op in read_program(path).global_block().ops
                   if op.type == 'reshape2' and op.input('X') == op.output('Out')]
        assert len(renamed) >= 3
    finally:
        shutil.rmtree(tmp)
    batch = [photo, np.ascontiguousarray(photo[::-1])]
    on, off = (Detector(out, onednn_reshape_in_place=flag).predict(batch)
               for flag in (True, False))
    assert [len(r) for r in on] == [len(r) for r in off] and all(len(r) > 10 for r in on)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(on[0], on[1])
