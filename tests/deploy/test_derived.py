"""Files made from an exported model (its onnx conversion, Paddle-Lite .nb, --bench's
model_int8.onnx) are used again only while the model files are the ones they were made
from: a model replaced by a copy that keeps older dates (tar, cp -p, rsync -a) ran the
previous model's cached conversion on onnx and lite, without a word."""
import os
import shutil

import pytest

from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
from ppdet.deploy.derived import STAMP_SUFFIX, is_fresh, remove_derived, write_stamp
from ppdet.deploy.infer_cfg import model_files


def _copy_keeping_old_dates(src_dir, dst_dir):
    """The other model's files over ``dst_dir``'s, dated a day back (as tar x keeps them)."""
    for name in ('model.pdmodel', 'model.pdiparams'):
        dst = os.path.join(dst_dir, name)
        shutil.copyfile(os.path.join(src_dir, name), dst)
        old = os.path.getmtime(dst) - 86400
        os.utime(dst, (old, old))


def test_stamp_follows_the_content_not_the_dates(tmp_path):
    a, b = tmp_path / 'a.bin', tmp_path / 'b.bin'
    a.write_bytes(b'model one')
    b.write_bytes(b'params')
    cache = str(tmp_path / 'model.onnx')
    open(cache, 'w').write('converted')
    assert not is_fresh(cache, [str(a), str(b)])        # no stamp: made again
    write_stamp(cache, [str(a), str(b)])
    assert is_fresh(cache, [str(a), str(b)])
    os.utime(str(a), (1, 1))                             # dates alone change nothing
    assert is_fresh(cache, [str(a), str(b)])
    a.write_bytes(b'model two')                          # same size, other content
    os.utime(str(a), (1, 1))
    assert not is_fresh(cache, [str(a), str(b)])
    open(cache + STAMP_SUFFIX, 'w').write('{broken')
    assert not is_fresh(cache, [str(a), str(b)])


def test_onnx_run_mode_converts_a_replaced_model_again(tiny_model_dir, images, tmp_path):
    pytest.importorskip('paddle2onnx')
    from deploy_models import export_tiny
    model_dir, other = str(tmp_path / 'model'), str(tmp_path / 'other')
    shutil.copytree(tiny_model_dir, model_dir)
    export_tiny(other, seed=7)
    inputs = Preprocessor(load_infer_cfg(model_dir))(images)
    first = create_predictor(model_dir, 'onnx').run(inputs)
    _copy_keeping_old_dates(other, model_dir)
    want = create_predictor(model_dir, 'paddle').run(inputs)
    got = create_predictor(model_dir, 'onnx').run(inputs)
    assert match_batch(want, first)['matched_fraction'] < 0.5      # the models differ
    assert match_batch(want, got)['matched_fraction'] == 1.0, match_batch(want, got)
    assert is_fresh(os.path.join(model_dir, 'model.onnx'), model_files(model_dir))


def test_a_new_export_removes_what_was_made_from_the_old_model(tmp_path):
    """A re-export (or a PTQ run) into a dir also left the old model's quant_report*
    beside an fp32 model, and its conversions."""
    from deploy_models import export_yolov3
    out = str(tmp_path / 'm')
    os.makedirs(out)
    made = ['quant_report.json', 'quant_report.md', 'model.onnx', 'model.onnx' + STAMP_SUFFIX,
            'model_int8.onnx', 'model_x86.nb', 'model_arm.nb' + STAMP_SUFFIX]
    for name in made + ['notes.txt']:
        open(os.path.join(out, name), 'w').write('old')
    export_yolov3(out)
    left = set(os.listdir(out))
    assert not left & set(made), left & set(made)
    assert 'notes.txt' in left and 'infer_cfg.yml' in left     # nothing else is touched
    assert remove_derived(out) == []
