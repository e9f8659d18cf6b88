"""ppdet/benchmark/onednn_ops.py: oneDNN verbose lines -> int8 / fp32 time per primitive."""
from ppdet.benchmark.onednn_ops import (fastest_of_passes, format_summary, parse_exec_lines,
                                       summarize)

LINES = [
    'onednn_verbose,info,prim_template:operation,engine,primitive,implementation,prop_kind,'
    'memory_descriptors,attributes,auxiliary,problem_desc,exec_time',
    'onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_vnni,forward_inference,'
    'src_s8::blocked:acdb::f0 wei_s8:p:blocked:AcdB64a4b::f0 dst_u8::blocked:acdb::f0,'
    'attr-scales:src0:0,,mb1_ic64oc128,3.0',
    'onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_vnni,forward_inference,'
    'src_s8::blocked:acdb::f0 wei_s8:p:blocked:AcdB64a4b::f0 dst_u8::blocked:acdb::f0,'
    'attr-scales:src0:0,,mb1_ic128oc128,2.0',
    'onednn_verbose,exec,cpu,convolution,brgconv_1x1:avx512_core,forward_inference,'
    'src_f32:a:blocked:acdb::f0 wei_f32:ap:blocked:Acdb64a::f0 dst_f32:a:blocked:acdb::f0,'
    ',,mb1_ic512oc255,1.0',
    'onednn_verbose,exec,cpu,eltwise,jit:avx512_core,forward_training,'
    'data_f32::blocked:abcd::f0 diff_undef::undef:::,,alg:eltwise_linear,1x320x320x3,0.5',
    'not a verbose line',
]


def test_parse_and_summarize():
    recs = parse_exec_lines(LINES)
    assert [r['dtype'] for r in recs] == ['s8', 's8', 'f32', 'f32']
    s = summarize(recs)
    assert s['total_ms'] == 6.5 and s['fp32_ms'] == 1.5
    top = s['rows'][0]
    assert (top['primitive'], top['dtype'], top['count'], top['ms']) == \
        ('convolution', 's8', 2, 5.0)
    md = format_summary('m', s)
    assert '6.50 ms in oneDNN primitives, 23% of it fp32' in md


# an AVX2 CPU without VNNI: the conv of an s8 input gets its weights halved (sa0.5)
AVX2_LINES = [
    'onednn_verbose,exec,cpu,convolution,jit_uni_int8:avx2,forward_inference,'
    'src_s8:a:blocked:acdb::f0 wei_s8:a:blocked:ABcd2b8a4b::f3:s8m1:sa0.5 bia_undef::undef::: '
    'dst_f32:a:blocked:acdb::f0,attr-scales:src0:0+wei:1 ,alg:convolution_direct,'
    'mb1_ic32oc32_ih16oh16kh3sh1dh0ph1_iw16ow16kw3sw1dw0pw1,0.06',
    'onednn_verbose,exec,cpu,convolution,jit_uni_int8:avx2,forward_inference,'
    'src_u8:a:blocked:acdb::f0 wei_s8:a:blocked:ABcd2b8a4b::f0 bia_undef::undef::: '
    'dst_f32:a:blocked:acdb::f0,attr-scales:src0:0+wei:1 ,alg:convolution_direct,'
    'mb1_ic32oc32_ih16oh16kh3sh1dh0ph1_iw16ow16kw3sw1dw0pw1,0.05',
]


def test_parse_reads_the_weights_scale_adjustment():
    recs = parse_exec_lines(AVX2_LINES + LINES)
    assert [(r['dtype'], r['wei_adjust']) for r in recs[:3]] == [
        ('s8', 0.5), ('u8', 1.0), ('s8', 1.0)]


def test_fastest_of_passes_takes_each_primitive_minimum():
    first = parse_exec_lines(LINES)
    second = [dict(r, ms=r['ms'] * (0.5 if i % 2 else 2.0)) for i, r in enumerate(first)]
    best = fastest_of_passes([first, second])
    assert [r['ms'] for r in best] == [3.0, 1.0, 1.0, 0.25]
    assert [r['shape'] for r in best] == [r['shape'] for r in first]
    # passes that ran different primitives (a shape-dependent path): the last one alone
    assert fastest_of_passes([first[:2], second]) == second
    assert fastest_of_passes([]) == []


def test_fastest_of_passes_by_another_key():
    first = [{'op': 'conv', 'ms': 2.0}, {'op': 'nms', 'ms': 1.0}]
    second = [{'op': 'conv', 'ms': 1.0}, {'op': 'nms', 'ms': 3.0}]
    assert fastest_of_passes([first, second], key=lambda r: r['op']) == [
        {'op': 'conv', 'ms': 1.0}, {'op': 'nms', 'ms': 1.0}]


def test_passes_reduced_to_each_primitives_median():
    import statistics
    passes = [[{'primitive': 'convolution', 'shape': 'a', 'ms': ms}] for ms in (3.0, 1.0, 9.0)]
    assert fastest_of_passes(passes, reduce=statistics.median)[0]['ms'] == 3.0
    assert fastest_of_passes(passes)[0]['ms'] == 1.0
