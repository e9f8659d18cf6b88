"""ppdet/benchmark/full_size.py (benchmarks/full_size_latency.py) on a thin full-size config:
trained-like head, fused exports, int8, the timed table with its split, CPU flags."""
import os

import cv2
import pytest
import yaml

from ppdet.benchmark.full_size import (TIMED_RUNTIMES, build_rows, candidates_above,
                                       check_runtimes, check_strategy, format_table,
                                       init_head_like_trained, load_full_size, time_rows)
from ppdet.benchmark.pruning_ceiling import manifest_ceilings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {'thin': os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml')}
THIN = ['MobileNetV1.scale=0.25', 'YOLOv3FPN.base_channel=32']
SIZE = 96


@pytest.fixture(scope='module')
def photos():
    from ppdet.data.sample_photos import no_face_photos
    return [cv2.resize(im, (160, 120)) for im in no_face_photos().values()][:2]


def test_head_is_set_to_the_candidate_count(photos):
    from ppdet.benchmark.full_size import _build, _feeds
    cfg = load_full_size(CONFIGS['thin'], SIZE, THIN)
    model = _build(cfg, 'baseline', SIZE)
    feeds = _feeds(cfg, photos)
    assert candidates_above(model, feeds) > 5000      # a random head: everything passes
    info = init_head_like_trained(model, feeds, candidates=60)
    assert 30 <= info['mean_candidates'] <= 90, info
    assert info['mean_candidates'] == candidates_above(model, feeds)


def test_build_and_time_a_thin_grid(photos, tmp_path):
    manifest = build_rows(str(tmp_path), photos, grid=(('thin', SIZE),),
                          strategies=('baseline', 'r578'), candidates=60,
                          unfused=(('r578', True),), configs=CONFIGS, overrides=THIN,
                          progress=lambda m: None, int8_outputs=('r578',))
    assert sorted(manifest['rows']) == sorted([
        'thin_96_baseline', 'thin_96_baseline_int8', 'thin_96_r578', 'thin_96_r578_int8',
        'thin_96_r578_int8_outputs', 'thin_96_r578_int8_unfused'])
    again = build_rows(str(tmp_path), photos, grid=(('thin', SIZE),),
                       strategies=('baseline', 'r578'), unfused=(('r578', True),),
                       configs=CONFIGS, overrides=THIN, progress=lambda m: None,
                       int8_outputs=('r578',))
    assert again == manifest                            # cached
    res = time_rows(manifest, photos[0], threads=(1,), rounds=2, warmup=1,
                    check_images=photos, progress=lambda m: None)
    cells = res['groups'][0]['cells']
    assert sorted(cells) == sorted([
        'thin_96_baseline/paddle', 'thin_96_baseline/onnx', 'thin_96_baseline/onnx_int8',
        'thin_96_baseline_int8/paddle', 'thin_96_r578/paddle', 'thin_96_r578/onnx',
        'thin_96_r578/onnx_int8', 'thin_96_r578_int8/paddle',
        'thin_96_r578_int8_outputs/paddle', 'thin_96_r578_int8_unfused/paddle'])
    assert cells['thin_96_baseline/paddle']['ratio'] == 1.0
    assert cells['thin_96_baseline/paddle']['ratio_interval'] == [1.0, 1.0]
    for c in cells.values():                # paired per-round ratios against the baseline
        assert 0 < c['ratio_interval'][0] <= c['ratio_interval'][1]
    assert res['groups'][0]['chunks'] == 1                  # a thin grid fits in memory
    # the table's chart (benchmarks/full_size_latency.py draws it beside its .md): Paddle's
    # fused rows but the fp32 baseline, fp32 ones first, each bar the cell's ratio
    from ppdet.benchmark.full_size_plot import plot_speedups
    png = tmp_path / 'chart.png'
    bars = plot_speedups([('this CPU', res)], str(png))
    assert list(bars) == [('thin', SIZE)]
    assert list(bars[('thin', SIZE)]) == ['r578', 'int8', 'r578 + int8',
                                          'r578 + int8, output convs int8']
    assert bars[('thin', SIZE)]['r578 + int8']['this CPU'] == (
        cells['thin_96_r578_int8/paddle']['ratio'],
        *cells['thin_96_r578_int8/paddle']['ratio_interval'])
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # the one-process A/B the result scripts use: detections first, then interleaved timing
    from ppdet.benchmark.full_size import ab_detectors, format_ab
    from ppdet.deploy import Detector
    rows = manifest['rows']
    dets = {'fp32': Detector(rows['thin_96_baseline']['dir'], cpu_threads=1),
            'int8': Detector(rows['thin_96_baseline_int8']['dir'], cpu_threads=1)}
    table, preds = ab_detectors(dets, photos, photos[0], rounds=2, warmup=1)
    assert [r[0] for r in table] == ['fp32', 'int8'] and table[0][2:] == (1.0, None)
    assert table[1][1] > 0 and 0.0 <= table[1][3] <= 1.0
    assert [len(p) for p in preds.values()] == [len(photos)] * 2
    lines = format_ab(table)
    assert lines[0].endswith('agreement with fp32 -') and lines[1].endswith('%')
    assert res['settings']['pause_s'] == {'1': 0.05}
    for c in cells.values():
        # the stages run inside each end-to-end pass, so their means add up to at most its
        # mean (how much less depends on the machine's load: not asserted in a unit test)
        assert 0 < c['stages_sum_ms'] <= c['end_to_end_ms'] * (1 + 1e-6)
        assert 0 < c['pre_post_share'] < 1 and c['median_ms'] > 0
    assert 0 <= cells['thin_96_r578_int8/paddle']['agreement'] <= 1
    # onnxruntime int8 of the fused (uint8-input) export, checked against onnxruntime fp32
    onnx8 = cells['thin_96_r578/onnx_int8']
    assert onnx8['int8'] and 0 <= onnx8['agreement'] <= 1
    assert manifest['rows']['thin_96_r578']['onnx_int8'].endswith('model_int8.onnx')
    nms = res['groups'][0]['nms']
    assert sorted(nms) == ['thin_96_baseline', 'thin_96_r578']
    assert nms['thin_96_baseline']['random_head_candidates'] > 5000
    assert 0 < nms['thin_96_baseline']['candidates'] < 200
    # the head is set up on the timed photo (photos[0]): the table states that count
    head = manifest['rows']['thin_96_baseline']['head']
    assert cells['thin_96_baseline/paddle']['timed_candidates'] == \
        nms['thin_96_baseline']['candidates']
    assert head['counted_candidates'] == pytest.approx(
        nms['thin_96_baseline']['candidates'], abs=1)
    assert 30 <= head['counted_candidates'] <= 90, head
    assert cells['thin_96_r578_int8/paddle']['nms_ms'] == nms['thin_96_r578']['bounded_ms']
    # with no memory to spare every row is a chunk of its own, timed beside the baseline fp32
    # row again; the int8 agreement still finds its parent in another chunk
    chunked = time_rows(manifest, photos[0], threads=(1,), rounds=1, warmup=1,
                        runtimes=('paddle',), check_images=photos, progress=lambda m: None,
                        memory_reserve_mb=10 ** 9)
    group = chunked['groups'][0]
    assert group['chunks'] == len(manifest['rows'])
    assert list(group['cells'])[0] == 'thin_96_baseline/paddle'
    assert sorted(c['chunk'] for c in group['cells'].values()) == list(range(group['chunks']))
    assert group['cells']['thin_96_baseline/paddle']['ratio'] == 1.0
    assert all(c['ratio'] > 0 for c in group['cells'].values())
    assert 0 <= group['cells']['thin_96_r578_int8/paddle']['agreement'] <= 1
    assert 'timed in %d chunks' % group['chunks'] in format_table(chunked)
    # the output convs are quantized in that row only: more int8 convs than the default's
    assert _int8_convs(manifest['rows']['thin_96_r578_int8_outputs']['dir']) > _int8_convs(
        manifest['rows']['thin_96_r578_int8']['dir'])
    assert 0 <= cells['thin_96_r578_int8_outputs/paddle']['agreement'] <= 1
    # the r578 plan's ceiling: the backbone's convs are untouched, the head's cut
    # (fp32 against the fp32 baseline, int8 against the int8 one; not the outputs row)
    ceilings = dict(manifest_ceilings(manifest, res, threads=1, passes=2,
                                      progress=lambda m: None))
    assert sorted(ceilings) == ['thin_96_r578', 'thin_96_r578_int8']
    for ceil in ceilings.values():
        assert ceil['untouched_convs'] >= 13 and ceil['pruned_convs'] >= 9, ceil
        assert 0 < ceil['mac_ratio'] < 0.6 and ceil['ceiling_onednn'] > 1
    assert ceilings['thin_96_r578']['measured_end_to_end'] == \
        cells['thin_96_r578/paddle']['ratio']
    int8_ratio = cells['thin_96_r578_int8/paddle']['ratio']
    assert ceilings['thin_96_r578_int8']['measured_end_to_end'] == pytest.approx(
        int8_ratio / cells['thin_96_baseline_int8/paddle']['ratio'])
    # the two runtimes' conv kernels by kind, fp32 r578 against its baseline
    from ppdet.benchmark.runtime_kernels import manifest_runtime_kernels
    kernels = dict(manifest_runtime_kernels(manifest, res, threads=1, passes=2,
                                            progress=lambda m: None))
    assert sorted(kernels) == ['thin_96_r578'] and sorted(kernels['thin_96_r578']) == \
        ['onnx', 'paddle']
    both = kernels['thin_96_r578']
    for part in ('base', 'pruned'):                     # the same graph: the same convs
        assert {k: v['convs'] for k, v in both['paddle'][part].items()} == \
            {k: v['convs'] for k, v in both['onnx'][part].items()}
    assert both['paddle']['base']['depthwise']['convs'] >= 13
    for rt, c in both.items():          # (the thin model's speed-ups are not asserted: noise)
        assert c['conv_speedup'] > 0 and sum(c['rest_ms']) == pytest.approx(
            cells['thin_96_baseline/%s' % rt]['median_ms'] + cells['thin_96_r578/%s' % rt][
                'median_ms'] - c['base']['all']['ms'] - c['pruned']['all']['ms'])
        assert c['end_to_end'] == pytest.approx(
            cells['thin_96_baseline/%s' % rt]['median_ms'] /
            cells['thin_96_r578/%s' % rt]['median_ms'])
    md = format_table(res, 'shared machine')
    assert 'CPU flags: `' in md and 'shared machine' in md and '| r578 + int8 | ' in md
    assert 'a sleep before each run of 0.05 s at 1 thread,' in md
    assert '| r578 + int8 (output convs int8 too) | ' in md
    assert '| r578 + int8 | 0.' in md and '| onnxruntime int8 (QDQ) | fused |' in md
    assert 'NMS alone on thin_96_baseline: trained-like head' in md
    base = cells['thin_96_baseline/paddle']
    assert '| %d / %.0f |' % (base['timed_candidates'], base['mean_candidates']) in md
    assert res['cpu']['flags']
    # a later build asking for another outputs row quantizes the existing fp32 export
    params = os.path.join(manifest['rows']['thin_96_baseline']['dir'], 'model.pdiparams')
    mtime = os.path.getmtime(params)
    more = build_rows(str(tmp_path), photos, grid=(('thin', SIZE),),
                      strategies=('baseline', 'r578'), unfused=(('r578', True),),
                      configs=CONFIGS, overrides=THIN, progress=lambda m: None,
                      int8_outputs=('r578', 'baseline'))
    row = more['rows']['thin_96_baseline_int8_outputs']
    assert row['int8'] and row['int8_outputs'] and row['parent'] == 'thin_96_baseline'
    assert 'onnx_int8' not in row and os.path.getmtime(params) == mtime
    assert _int8_convs(row['dir']) > _int8_convs(more['rows']['thin_96_baseline_int8']['dir'])


def _int8_convs(model_dir):
    """Convs whose input is quantized in an exported PTQ graph."""
    from ppdet.utils.static_graph import load_program
    prog = load_program(model_dir)[0]
    return sum(1 for op in prog.global_block().ops if op.type in ('conv2d', 'depthwise_conv2d')
               and op.input('Input')[0].endswith('.quantized'))


def test_rounded_strategy_builds_multiples(photos):
    from ppdet.benchmark.full_size import _build, _gflops, parse_strategy
    assert parse_strategy('r578') == ('r578', 0) and parse_strategy('r578@16') == ('r578', 16)
    cfg = load_full_size(CONFIGS['thin'], SIZE, THIN)
    plain, rounded = _build(cfg, 'r578', SIZE), _build(cfg, 'r578@8', SIZE)
    widths = [int(p.shape[0]) for p in rounded.prunable_params().values()]
    assert all(w % 8 == 0 or w < 8 for w in widths)
    assert _gflops(rounded, SIZE)['gflops'] <= _gflops(plain, SIZE)['gflops']


# -- the other families ---------------------------------------------------------------------
FAMILY_CONFIGS = {
    'blazeface': os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_builtin.yml'),
    'retinanet': os.path.join(ROOT, 'configs', 'builtin', 'retinanet_r18_builtin.yml'),
    'fcos': os.path.join(ROOT, 'configs', 'builtin', 'fcos_r18_builtin.yml'),
}
FAMILY_SIZE = 96


@pytest.mark.parametrize('family', sorted(FAMILY_CONFIGS))
def test_every_family_declares_its_score_logits(family):
    from ppdet.benchmark.full_size import _build
    cfg = load_full_size(FAMILY_CONFIGS[family], FAMILY_SIZE)
    model = _build(cfg, 'baseline', FAMILY_SIZE)
    layers = dict(model.named_sublayers())
    groups = model.score_logit_channels()
    assert {g[1] for g in groups} <= {'class', 'objectness'}
    for name, kind, channels in groups:
        out = layers[name].weight.shape[0]
        assert channels and len(set(channels)) == len(channels) and max(channels) < out
    classes = sum(len(c) for _, kind, c in groups if kind == 'class')
    if family == 'blazeface':      # the softmax's background logits are not score logits
        per = model.num_classes + 1
        assert classes == sum(layers[n].weight.shape[0] for n, _, _ in groups) * \
            model.num_classes // per
    if family == 'fcos':
        assert [g for g in groups if g[1] == 'objectness'] == [('head.ctr_out', 'objectness', [0])]


@pytest.mark.parametrize('family', sorted(FAMILY_CONFIGS))
def test_trained_like_head_reaches_the_count_in_every_family(family, photos):
    from ppdet.benchmark.full_size import _build, _feeds
    cfg = load_full_size(FAMILY_CONFIGS[family], FAMILY_SIZE)
    model = _build(cfg, 'baseline', FAMILY_SIZE)
    feeds = _feeds(cfg, photos)
    info = init_head_like_trained(model, feeds, candidates=40)
    assert 20 <= info['mean_candidates'] <= 60, info
    assert info['mean_candidates'] == candidates_above(model, feeds)
    more = init_head_like_trained(model, feeds, candidates=120)
    assert more['mean_candidates'] > info['mean_candidates']
    # the count can be set on one photo (the timed one) rather than on the mean
    one = init_head_like_trained(model, feeds, candidates=40, count_feeds=feeds[1:])
    assert 20 <= one['counted_candidates'] <= 60, one
    assert one['counted_candidates'] == candidates_above(model, feeds[1:])
    assert one['mean_candidates'] == candidates_above(model, feeds)


def test_strategies_fit_or_are_refused_by_name():
    from ppdet.benchmark.full_size import (StrategyDoesNotFit, _build, default_strategies,
                                           strategy_plan, uniform_percent)
    assert uniform_percent('uniform_p40') == 40 and uniform_percent('r578') is None
    assert uniform_percent('uniform_p0') is None and uniform_percent('xuniform_p40') is None
    assert 'r578' in default_strategies('yolov3_r34')
    assert 'uniform_p40' in default_strategies('retinanet_r50_fpn')
    cfg = load_full_size(FAMILY_CONFIGS['retinanet'], FAMILY_SIZE)
    model = _build(cfg, 'baseline', FAMILY_SIZE)
    plan = strategy_plan(model, 'uniform_p40@8', FAMILY_SIZE)
    assert list(plan.ratios) == list(model.prunable_params())
    assert set(plan.ratios.values()) == {0.4} and plan.round_channels == 8
    with pytest.raises(StrategyDoesNotFit, match='r578 does not fit RetinaNet'):
        strategy_plan(model, 'r578', FAMILY_SIZE)


def test_a_family_row_builds_and_times(photos, tmp_path):
    """BlazeFace through the same build and timing: the YOLOv3 preset is skipped, the uniform
    plan pruned, its int8 row quantized, and the table names the family's NMS threshold."""
    configs = {'face': FAMILY_CONFIGS['blazeface']}
    said = []
    manifest = build_rows(str(tmp_path), photos, grid=(('face', FAMILY_SIZE),),
                          strategies=('baseline', 'r578', 'uniform_p40'), candidates=40,
                          unfused=(), configs=configs, onnx=False, progress=said.append)
    assert sorted(manifest['rows']) == ['face_96_baseline', 'face_96_baseline_int8',
                                        'face_96_uniform_p40', 'face_96_uniform_p40_int8']
    assert any('r578: skipped (r578 does not fit BlazeFace' in m for m in said), said
    rows = manifest['rows']
    assert rows['face_96_uniform_p40']['gflops'] < rows['face_96_baseline']['gflops']
    res = time_rows(manifest, photos[0], threads=(1,), rounds=1, warmup=1, runtimes=('paddle',),
                    progress=lambda m: None)
    cells = res['groups'][0]['cells']
    assert sorted(cells) == sorted('%s/paddle' % r for r in rows)
    threshold = rows['face_96_baseline']['nms']['score_threshold']
    assert 'NMS score threshold %g,' % threshold in format_table(res)
    # --int8_residual_adds: BlazeFace's shortcut + ReLU adds quantized too, in a work_dir of
    # its own (one holding the other kind of int8 rows is refused)
    with pytest.raises(ValueError, match='another work_dir'):
        build_rows(str(tmp_path), photos, grid=(('face', FAMILY_SIZE),), strategies=('baseline',),
                   configs=configs, onnx=False, progress=said.append, int8_residual_adds=True)
    adds = build_rows(str(tmp_path / 'adds'), photos, grid=(('face', FAMILY_SIZE),),
                      strategies=('baseline',), candidates=40, unfused=(), configs=configs,
                      onnx=False, progress=said.append, int8_residual_adds=True)
    row = adds['rows']['face_96_baseline_int8']
    with open(os.path.join(row['dir'], 'infer_cfg.yml')) as f:
        assert yaml.safe_load(f)['compression']['quant']['residual_adds_int8'] > 0
    timed = time_rows(adds, photos[0], threads=(1,), rounds=1, warmup=1, runtimes=('paddle',),
                      progress=lambda m: None)
    assert '| baseline + int8 (residual adds int8) |' in format_table(timed)
    # bf16: every fp32 row once more with oneDNN bf16, checked against itself in fp32; a CPU
    # without native bf16 is refused before any timing
    from ppdet.benchmark.cpu import has_native_bf16
    from ppdet.deploy import BackendUnavailable
    timing = dict(threads=(1,), rounds=1, warmup=1, runtimes=('paddle', 'paddle_bf16'),
                  check_images=photos, progress=lambda m: None)
    if not has_native_bf16(res['cpu']['flags'].split()):
        with pytest.raises(BackendUnavailable, match='native bf16'):
            time_rows(manifest, photos[0], **timing)
        return
    bf16 = time_rows(manifest, photos[0], **timing)
    cells = bf16['groups'][0]['cells']
    fp32 = [r for r in rows if not rows[r]['int8']]
    assert sorted(cells) == sorted(['%s/paddle' % r for r in rows] +
                                   ['%s/paddle_bf16' % r for r in fp32])
    for r in fp32:
        assert 0 <= cells['%s/paddle_bf16' % r]['agreement'] <= 1
        assert cells['%s/paddle_bf16' % r]['ratio'] > 0
    assert '| Paddle oneDNN bf16 |' in format_table(bf16)


def test_a_row_joins_the_chunk_only_while_memory_is_left():
    from ppdet.benchmark.full_size import _fits
    # 10 GB free, 4 GB loaded (+2 GB growth), next row 2 x 1 GB (x1.5), 2 GB reserve
    assert _fits(4096, 1024, 2, 2048, 10240)
    assert not _fits(4096, 1024, 2, 2048, 6144)
    assert _fits(4096, 1024, 2, 2048, None)             # no /proc/meminfo: load as before


def test_pairs_above_counts_scores_strictly_above(tmp_path):
    import numpy as np
    from ppdet.benchmark.full_size import pairs_above
    path = str(tmp_path / 'decoded.npz')
    scores = np.array([[[0.01, 0.05, 0.2], [0.5, 0.05, 0.0]]], 'float32')   # [1, C=2, N=3]
    np.savez(path, boxes=np.zeros((1, 3, 4), 'float32'), scores=scores)
    assert pairs_above(path, 0.05) == 2
    assert pairs_above(path, 0.0) == 5


def test_a_group_norm_model_is_timed_beside_its_twin(photos, tmp_path):
    """FCOS with a GroupNorm head: every Paddle row is timed with GroupNorm run as oneDNN
    ops and, as the twin, with Paddle's group_norm kernel; int8 agreement within each."""
    from ppdet.benchmark.full_size import GROUP_NORM_TWIN
    manifest = build_rows(str(tmp_path), photos, grid=(('fcos', FAMILY_SIZE),),
                          strategies=('baseline',), candidates=40, unfused=(),
                          configs={'fcos': FAMILY_CONFIGS['fcos']}, onnx=False,
                          overrides=['FCOSHead.norm_type=gn', 'FCOSHead.norm_per_level=false'],
                          progress=lambda m: None)
    res = time_rows(manifest, photos[0], threads=(1,), rounds=1, warmup=1,
                    runtimes=('paddle', GROUP_NORM_TWIN), check_images=photos,
                    progress=lambda m: None)
    cells = res['groups'][0]['cells']
    assert sorted(cells) == ['fcos_96_baseline/paddle', 'fcos_96_baseline/paddle_group_norm',
                             'fcos_96_baseline_int8/paddle',
                             'fcos_96_baseline_int8/paddle_group_norm']
    for runtime in ('paddle', GROUP_NORM_TWIN):
        assert 0 <= cells['fcos_96_baseline_int8/%s' % runtime]['agreement'] <= 1
    assert cells['fcos_96_baseline/paddle']['ratio'] == 1.0
    assert cells['fcos_96_baseline/paddle']['detections'] == \
        cells['fcos_96_baseline/paddle_group_norm']['detections']
    md = format_table(res)
    assert '| Paddle oneDNN fp32, group_norm kernel |' in md
    assert '| Paddle oneDNN int8, group_norm kernel |' in md and 'onednn_group_norm.py' in md


def test_nms_alone_is_timed_as_the_exported_graph_runs_it(tmp_path):
    """time_nms runs the candidate bound + NMS as a saved program through Paddle Inference
    with the models' CPU settings: it keeps what the eager post-process keeps."""
    import numpy as np
    import paddle
    from paddle import inference
    from ppdet.benchmark.full_size import _save_nms_program, time_nms
    from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
    from ppdet.modeling.post_process import MultiClassNMS
    rng = np.random.RandomState(0)
    xy = rng.uniform(0, 80, (1, 300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(4, 30, (1, 300, 2))], -1).astype('float32')
    scores = (rng.uniform(0, 1, (1, 6, 300)) ** 8).astype('float32')    # [B,C,N], few high
    settings = dict(score_threshold=0.05, nms_top_k=100, keep_top_k=20, nms_threshold=0.45,
                    pre_nms_top_k=50)
    rows = np.ascontiguousarray(scores.transpose(0, 2, 1))
    nms = MultiClassNMS(**settings)
    eager = nms.nms_rows(paddle.to_tensor(boxes), paddle.to_tensor(rows))[0].numpy()
    predictor = inference.create_predictor(paddle_cpu_config(
        _save_nms_program(nms, [boxes.shape, rows.shape], str(tmp_path))))
    assert predictor.get_input_names() == ['boxes', 'rows']
    graph = run_paddle(predictor, {'boxes': boxes, 'rows': rows})[0]
    assert 0 < len(graph) <= 20
    np.testing.assert_allclose(graph, eager, atol=1e-4)
    npz = str(tmp_path / 'decoded.npz')
    np.savez(npz, boxes=boxes, scores=scores)
    ms, pairs = time_nms(npz, settings, rounds=3)
    assert ms > 0 and pairs == int((scores > 0.05).sum())


def test_the_header_says_the_sleep_before_each_run():
    from ppdet.benchmark.full_size import _pauses
    assert _pauses({'1': 0.05, '2': 0.3}) == \
        ', a sleep before each run of 0.05 s at 1 thread, 0.3 s at 2 threads'
    assert _pauses({'1': 0.0}) == ', no sleep between runs'      # --pause_s 0: back to back
    assert _pauses({'1': 0.0, '2': 0.3}) == \
        ', a sleep before each run of none at 1 thread, 0.3 s at 2 threads'
    assert _pauses(0.05) == ', a 0.05 s sleep before each run' and _pauses(0) == ''


def test_runtimes_the_table_does_not_time_are_refused():
    """An unknown runtime used to be left out of the table without a word; a GPU one gets
    the command that times the exported rows on a GPU."""
    check_runtimes(TIMED_RUNTIMES)
    with pytest.raises(ValueError, match="--runtimes: unknown 'onnxx'; did you mean 'onnx'"):
        check_runtimes(['paddle', 'onnxx'])
    for gpu in ('trt_fp16', 'paddle_gpu'):
        with pytest.raises(ValueError, match='CPU runtimes only.*--device GPU --run_mode'):
            check_runtimes([gpu])
    with pytest.raises(ValueError, match="unknown 'lite'"):      # before any timing
        time_rows({'rows': {}}, None, runtimes=('paddle', 'lite'))


def test_strategy_names_are_checked():
    """A misspelt strategy used to build no row and time nothing, without a word."""
    for ok in ('baseline', 'r578', 'sensity', 'r578@32', 'uniform_p40', 'uniform_p40@32'):
        assert check_strategy(ok) == ok
    with pytest.raises(ValueError, match="unknown strategy 'r587'; did you mean 'r578'"):
        check_strategy('r587')
    for bad in ('r578@x', 'r578@0', 'uniform_p140', 'uniform'):
        with pytest.raises(ValueError, match='unknown strategy'):
            check_strategy(bad)


def test_a_model_with_the_candidate_bound_gets_the_reduce_twin(yolov3_model_dir, tiny_model_dir,
                                                             photo):
    """The twin of the reduce_max rewrite: the same export with the bound's maximum left on
    oneDNN, only for a program that has one; the same detections."""
    import numpy as np
    from ppdet.benchmark.full_size import REDUCE_TWIN, _detector, _runtime_label, runtimes_for
    row = {'dir': yolov3_model_dir, 'int8': False}
    runtimes = ('paddle', REDUCE_TWIN, 'onnx')
    assert runtimes_for(row, runtimes) == ['paddle', REDUCE_TWIN, 'onnx']
    assert runtimes_for(dict(row, int8=True), runtimes) == ['paddle', REDUCE_TWIN]
    assert runtimes_for({'dir': tiny_model_dir, 'int8': False}, (REDUCE_TWIN,)) == []
    assert _runtime_label({'int8': True, 'runtime': REDUCE_TWIN}) == \
        'Paddle oneDNN int8, reduce_max on oneDNN'
    twin, ours = _detector(row, REDUCE_TWIN, 1), _detector(row, 'paddle', 1)
    np.testing.assert_array_equal(twin.predict([photo])[0], ours.predict([photo])[0])


def test_agreement_says_when_the_parents_boxes_have_no_area():
    """Matching is by IoU: a parent whose boxes are points (a random-weight ResNet34) matches
    nothing, so the column says so instead of a bare 0%."""
    import numpy as np
    from ppdet.benchmark.full_size import _agreement_cell, zero_area_share
    point = [0, 0.5, 10, 10, 10, 10]
    runs = [np.array([point, point, [1, 0.4, 0, 0, 5, 5]], 'float32'), np.zeros((0, 6)),
            np.array([[0, 0.3, 2, 2, 9, 2]], 'float32')]          # zero height
    assert zero_area_share(runs) == 0.75 and zero_area_share([np.zeros((0, 6))]) == 0.0
    assert _agreement_cell({}) == '-'
    assert _agreement_cell({'agreement': 0.5, 'parent_zero_area': 0.1}) == '50%'
    assert _agreement_cell({'agreement': 0.0, 'parent_zero_area': 0.956}) == \
        '0% (parent: 96% zero-area boxes)'


BOX_FAMILIES = {'yolov3': (CONFIGS['thin'], THIN), 'retinanet': (FAMILY_CONFIGS['retinanet'], ()),
                'fcos': (FAMILY_CONFIGS['fcos'], ())}


@pytest.mark.parametrize('family', sorted(BOX_FAMILIES))
def test_every_dense_family_declares_its_box_logits(family):
    from ppdet.benchmark.full_size import BOX_SPREADS, _build
    config, overrides = BOX_FAMILIES[family]
    model = _build(load_full_size(config, FAMILY_SIZE, overrides), 'baseline', FAMILY_SIZE)
    layers = dict(model.named_sublayers())
    boxes = model.box_logit_channels()
    assert boxes and {kind for _, kind, _ in boxes} <= set(BOX_SPREADS)
    scores = {(n, c) for n, _, cs in model.score_logit_channels() for c in cs}
    per_conv = {}
    for name, _, channels in boxes:
        assert max(channels) < layers[name].weight.shape[0]
        assert not scores & {(name, c) for c in channels}    # no score channel is a box one
        per_conv.setdefault(name, []).extend(channels)
    for name, channels in per_conv.items():
        assert len(set(channels)) == len(channels)
    # 4 per box: YOLOv3 has 3 anchors per output, RetinaNet 9 in its shared conv, FCOS 1
    assert sum(len(c) for c in per_conv.values()) == {'yolov3': 3 * 3 * 4, 'retinanet': 9 * 4,
                                                      'fcos': 4}[family]


def _decoded(model, feeds):
    import paddle
    rows = []
    with paddle.no_grad():
        for f in feeds:
            outs = model(paddle.to_tensor(f['image']))
            bbox, _ = model.post_process(outs, paddle.to_tensor(f['im_shape']),
                                         paddle.to_tensor(f['scale_factor']))
            rows.append(bbox.numpy())
    return rows


@pytest.mark.parametrize('family', ['yolov3', 'retinanet'])
def test_huge_box_logits_get_a_trained_like_spread(family, photos):
    """A deep random backbone's box logits are huge (YOLOv3-ResNet34 at 608: std 600-1000)
    and every decoded box was a point or a border line; the trained-like head gives the
    declared box channels BOX_SPREADS' mean and std, and the boxes an area."""
    import numpy as np
    from ppdet.benchmark.full_size import (BOX_SPREADS, _build, _captured, _feeds,
                                           channel_values, zero_area_share)
    config, overrides = BOX_FAMILIES[family]
    cfg = load_full_size(config, FAMILY_SIZE, overrides)
    model, feeds = _build(cfg, 'baseline', FAMILY_SIZE), _feeds(cfg, photos)
    layers = dict(model.named_sublayers())
    boxes = model.box_logit_channels()
    init_head_like_trained(model, feeds, candidates=40)    # scores that pass the threshold
    for name, _, channels in boxes:        # what a deep random backbone hands the head
        w, b = layers[name].weight.numpy(), layers[name].bias.numpy()
        w[channels] = w[channels] * 3000.0 + 1.0
        b[channels] = 300.0 * np.sign(np.arange(len(channels)) % 2 - 0.5)
        layers[name].weight.set_value(w)
        layers[name].bias.set_value(b)
    assert zero_area_share(_decoded(model, feeds)) > 0.3
    info = init_head_like_trained(model, feeds, candidates=40)
    assert info['box_channels'] == sum(len(c) for _, _, c in boxes)
    assert 20 <= info['mean_candidates'] <= 60, info
    rows = _decoded(model, feeds)
    assert sum(len(r) for r in rows) > 0 and zero_area_share(rows) == 0.0
    _, _, values = _captured(model, sorted({n for n, _, _ in boxes}), feeds)
    for name, kind, channels in boxes:
        z = channel_values(values[name], channels)
        mean, spread = BOX_SPREADS[kind]
        np.testing.assert_allclose(z.mean(axis=1), mean, atol=1e-3 + 0.01 * spread)
        np.testing.assert_allclose(z.std(axis=1), spread, rtol=0.01)


def test_a_box_conv_without_bias_is_named_before_anything_changes(photos):
    import numpy as np
    from ppdet.benchmark.full_size import _build, _feeds
    config, overrides = BOX_FAMILIES['retinanet']
    cfg = load_full_size(config, FAMILY_SIZE, overrides)
    model, feeds = _build(cfg, 'baseline', FAMILY_SIZE), _feeds(cfg, photos)
    layers = dict(model.named_sublayers())
    before = layers['head.cls_out'].weight.numpy()
    layers['head.box_out'].bias = None
    with pytest.raises(ValueError, match='RetinaNet: box conv head.box_out has no bias to shift'):
        init_head_like_trained(model, feeds, candidates=40)
    np.testing.assert_array_equal(layers['head.cls_out'].weight.numpy(), before)
