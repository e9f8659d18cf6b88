"""ppdet/benchmark/onnx_ops.py: onnxruntime's node profile of a real session, summarized like
a oneDNN verbose profile (op type, input type, provider)."""
import onnx

from ppdet.benchmark.onednn_ops import format_summary
from ppdet.benchmark.onnx_ops import ort_profile
from ppdet.deploy import Preprocessor, load_infer_cfg
from ppdet.deploy.onnx import quantize_onnx


def _op_types(path):
    return [n.op_type for n in onnx.load(path).graph.node]


def test_fp32_profile_counts_every_conv(tiny_model_dir, photo):
    s = ort_profile(tiny_model_dir, threads=1, warmup=1, passes=2, image=photo)
    convs = [r for r in s['rows'] if r['primitive'] == 'Conv']
    assert convs and {r['dtype'] for r in convs} == {'f32'}
    assert {r['impl'] for r in s['rows']} == {'CPU'}
    # onnxruntime fuses Conv + ReLU into one Conv node: count the exported convs
    exported = _op_types(tiny_model_dir + '/model.onnx').count('Conv')
    assert sum(r['count'] for r in convs) == exported
    assert 0 < s['total_ms'] <= s['run_ms']
    assert abs(sum(r['share'] for r in s['rows']) - 1) < 1e-6
    assert '| Conv | f32 | CPU |' in format_summary('tiny', s)


def test_int8_profile_shows_the_quantized_convs(tiny_model_dir, photo, images):
    cfg = load_infer_cfg(tiny_model_dir)
    path = quantize_onnx(tiny_model_dir, (Preprocessor(cfg)([im]) for im in images + [photo]))
    s = ort_profile(tiny_model_dir, onnx_file=path, threads=1, warmup=1, passes=2, image=photo)
    int8 = [r for r in s['rows'] if r['dtype'] in ('u8', 's8') and 'Conv' in r['primitive']]
    assert int8, s['rows']
    assert not [r for r in s['rows'] if r['primitive'] == 'Conv' and r['dtype'] == 'f32']
