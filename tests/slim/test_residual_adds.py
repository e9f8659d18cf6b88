"""Residual adds in int8 (``ppdet.slim.residual_adds``) on a tiny random BlazeFace-Lite at
128: PTQ quantizes exactly the block adds, oneDNN then runs the backbone as one int8 chain
(each add and its ReLU in u8, no fp32 round trip between blocks), and the deployed graph
follows its simulation."""
import os
import sys

import paddle
import pytest
import yaml

import ppdet.modeling  # noqa: F401
from ppdet.core.workspace import create, load_config
from ppdet.engine.export import export_model
from ppdet.slim.quant import calibration_feeds, quantize_post, stack_feeds
from ppdet.slim.quant_report import deployed_layer_report, load_program
from ppdet.slim.residual_adds import standalone_adds

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'modeling'))
from test_quant import images  # noqa: E402
from quant_test_utils import paddle_predict  # noqa: E402
from test_blazeface import write_small_config  # noqa: E402

LITE_BLOCKS = 16          # BlazeNet.lite_edition: conv2 ... conv17


@pytest.fixture(scope='module')
def lite(tmp_path_factory):
    """(fp32 export, int8 as by default, int8 with the residual adds quantized)."""
    d = tmp_path_factory.mktemp('residual_adds')
    cfg = load_config(write_small_config(d, BlazeNet={'lite_edition': True}))
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    model.eval()
    fp32 = str(d / 'fp32')
    export_model(model, cfg, fp32, ['face'])
    kw = dict(algo='abs_max', batch_nums=4)
    return (fp32, quantize_post(fp32, images(4), str(d / 'int8'), **kw),
            quantize_post(fp32, images(4), str(d / 'int8_adds'), quantize_residual_adds=True,
                          **kw))


def _quant_record(model_dir):
    with open(os.path.join(model_dir, 'infer_cfg.yml')) as f:
        return yaml.safe_load(f)['compression']['quant']


def _head_weights(model_dir):
    ops = load_program(model_dir)[0].global_block().ops
    return [op.input('Filter')[0] for op in ops if op.type == 'conv2d'][-4:]


def _map(record):
    """A oneDNN record on a 4-D feature map (not on the decoding's rows)."""
    return record['shape'].split(':')[0].count('x') == 3 and \
        not record['shape'].startswith('1x3x')


def test_the_block_adds_are_found_and_nothing_else(lite):
    fp32 = lite[0]
    ops = load_program(fp32)[0].global_block().ops
    adds = [op for op in ops if op.type == 'elementwise_add']
    found = standalone_adds(fp32)
    assert len(found) == LITE_BLOCKS and len(adds) > LITE_BLOCKS   # the decoding's stay out
    # the last block feeds only the head's output convs: with those in fp32, its add too
    assert len(standalone_adds(fp32, _head_weights(fp32))) == LITE_BLOCKS - 1
    writers = {op.output('Out')[0]: op for op in adds}
    assert all(writers[n].attr('axis') == -1 for n in found)


def test_quantized_adds_make_the_backbone_one_int8_chain(lite):
    from ppdet.benchmark.onednn_ops import profile_records
    _, default, with_adds = lite
    assert _quant_record(default)['residual_adds_int8'] == 0
    record = _quant_record(with_adds)
    assert record['quantize_residual_adds'] and record['residual_adds_int8'] == LITE_BLOCKS - 1
    assert 'elementwise_add' in record['quantizable_op_type']
    # the simulation rounds the inputs of exactly those adds (every other add, the
    # decoding's among them, was marked skip_quant for PTQ)
    ops = load_program(with_adds)[0].global_block().ops
    qdq = [op.output('Out')[0] for op in ops
           if op.type == 'fake_quantize_dequantize_moving_average_abs_max']
    readers = [op for op in ops if set(op.input_arg_names) & set(qdq)]
    assert len(qdq) == 2 * (LITE_BLOCKS - 1)
    assert {op.type for op in readers} == {'elementwise_add'} and len(readers) == LITE_BLOCKS - 1

    def backbone_fp32(recs):
        """fp32 adds, ReLUs and reorders on 4-D feature maps (not the decoding's rows)."""
        return [r for r in recs if r['dtype'] == 'f32' and _map(r) and
                r['primitive'] in ('binary', 'eltwise', 'reorder')]
    plain, chained = profile_records(default, warmup=1), profile_records(with_adds, warmup=1)
    assert len([r for r in plain if r['primitive'] == 'binary' and r['dtype'] == 'f32'
                and _map(r)]) == LITE_BLOCKS
    assert len([r for r in chained if r['primitive'] == 'binary' and r['dtype'] == 'u8']) \
        == LITE_BLOCKS - 1
    # the ReLUs are fused into the adds in both; only the last block's add (before the
    # fp32 head convs) is left in fp32 with its reorder
    assert not [r for r in plain if r['primitive'] == 'eltwise' and _map(r)]
    assert len(backbone_fp32(chained)) < len(backbone_fp32(plain)) - LITE_BLOCKS
    count = lambda recs, p: len([r for r in recs if r['primitive'] == p and r['dtype'] != 'f32'])
    assert count(chained, 'convolution') == count(plain, 'convolution')


def test_deployed_int8_adds_follow_the_simulation(lite):
    """The deployed graph adds no error beyond its simulation that the default int8 graph
    does not add too (on a CPU without VNNI oneDNN's int8 convs may keep 7-bit weights, so
    both may depart there; on a VNNI CPU neither does)."""
    fp32, default, with_adds = lite
    feeds = stack_feeds(calibration_feeds(fp32, images(2, seed=5)))
    plain = deployed_layer_report(fp32, default, feeds)
    report = deployed_layer_report(fp32, with_adds, feeds)
    assert report['first_departure'] in (None, plain['first_departure'])

    def excess(row):        # how much worse than its simulation the deployed layer is
        return row['sim_vs_fp32']['snr_db'] - row['deployed_vs_fp32']['snr_db']
    for row, base in zip(report['rows'], plain['rows']):   # each conv after an add too
        assert excess(row) < max(excess(base), 0.0) + 3.0, (row, base)


def test_residual_adds_need_the_simulated_graph(lite, tmp_path):
    with pytest.raises(ValueError, match='onnx_format=False'):
        quantize_post(lite[0], images(2), str(tmp_path / 'x'), algo='abs_max', batch_nums=2,
                      onnx_format=True, quantize_residual_adds=True)


# -- quantization-aware training --------------------------------------------------------
LITE_ADDS = ['backbone.conv%d.add' % i for i in range(2, 17)]   # conv2 ... conv16
# the adds whose output an fp32 op reads too: conv12's (the stride-8 map, read by the fp32
# head convs) and conv16's (read by conv17's add, which feeds only the head: left fp32)
LITE_ADD_OUTPUTS = ['backbone.conv12.add', 'backbone.conv16.add']


def _observed(model, feeds, passes=40):
    """Run the QAT observers of ``model`` (eval mode, BN frozen) on ``passes`` passes of the
    same images, as training would set them; -> the model's raw outputs after it."""
    from qat_observers import observe_qat
    return observe_qat(model, feeds, passes)


def _qat_lite(d, lite_fp32, config):
    """A tiny QAT BlazeFace-Lite with observed scales, exported twice (raw outputs; NMS
    inside) -> (record, raw export, NMS export, (float, simulated) raw outputs, feeds)."""
    import copy
    from ppdet.modeling.architectures import InferenceModel
    from ppdet.slim.qat import QATStep
    cfg = load_config(write_small_config(d, BlazeNet={'lite_edition': True}))
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    model.eval()
    float_model = copy.deepcopy(model)
    model, record = QATStep(config, cfg).apply(model)
    model.eval()
    feeds = stack_feeds(calibration_feeds(lite_fp32, images(2, seed=5)))
    simulated = _observed(model, feeds)
    with paddle.no_grad():
        ref = [t.numpy() for t in InferenceModel(float_model, exclude_nms=True)(
            *[paddle.to_tensor(feeds[k]) for k in ('image', 'im_shape', 'scale_factor')])]
    meta = {'steps': [dict(record, kind='quant')]}
    raw, full = str(d / 'raw'), str(d / 'full')
    export_model(model, cfg, raw, ['face'], meta=meta, exclude_nms=True)
    export_model(model, cfg, full, ['face'], meta=meta)
    return record, raw, full, (ref, simulated), feeds


@pytest.fixture(scope='module')
def qat_lite(lite, tmp_path_factory):
    return _qat_lite(tmp_path_factory.mktemp('qat_adds'), lite[0],
                     {'quantize_residual_adds': True})


def test_qat_chooses_the_adds_ptq_chooses(qat_lite):
    record = qat_lite[0]
    assert record['quantize_residual_adds']
    assert record['residual_adds'] == LITE_ADDS and len(LITE_ADDS) == LITE_BLOCKS - 1
    assert record['residual_add_outputs'] == LITE_ADD_OUTPUTS


def test_qat_adds_run_int8_and_the_deployment_follows_the_simulation(qat_lite):
    """oneDNN runs the chosen adds in u8, and the deployed graph is no further from the
    float model than the QAT simulation is (without the output fake-quantize of the two
    boundary adds it was 2.0 dB further: checked)."""
    from ppdet.benchmark.onednn_ops import profile_records
    from ppdet.slim.quant_report import snr_db
    _, raw, full, (ref, simulated), feeds = qat_lite
    records = profile_records(full, warmup=1)
    assert len([r for r in records if r['primitive'] == 'binary' and r['dtype'] == 'u8']) \
        == len(LITE_ADDS)
    deployed = paddle_predict(raw, feeds, int8=True)
    for f, s, g in zip(ref, simulated, deployed):
        print('QAT adds: deployed vs simulated %.1f dB; vs float: simulated %.1f, deployed %.1f' % (
            snr_db(s, g), snr_db(f, s), snr_db(f, g)))
        assert snr_db(s, g) > 25, snr_db(s, g)
        assert snr_db(f, g) > snr_db(f, s) - 1.0, (snr_db(f, s), snr_db(f, g))


def test_qat_adds_restore_from_the_record_alone(qat_lite):
    """A checkpoint's record rebuilds the same quantizers without tracing (no config)."""
    from ppdet.slim.qat import QATStep
    record = qat_lite[0]
    cfg = load_config(write_small_config(os.path.dirname(qat_lite[1]),
                                         BlazeNet={'lite_edition': True}))
    model = QATStep.restore(create(cfg['architecture'], cfg), record)
    layers = dict(model.named_sublayers())
    assert [p for p in LITE_ADDS if layers[p].input_quanters is not None] == LITE_ADDS
    assert [p for p, l in layers.items() if type(l).__name__ == 'ResidualAdd'
            and l.output_quanter is not None] == LITE_ADD_OUTPUTS
    scales = [k for k in model.state_dict() if '.add.' in k]
    assert len(scales) == 3 * (2 * len(LITE_ADDS) + len(LITE_ADD_OUTPUTS))  # scale, state, accum


def test_qat_adds_need_the_config_and_moving_average_observers(tmp_path):
    from ppdet.slim.qat import QATStep
    cfg = load_config(write_small_config(tmp_path, BlazeNet={'lite_edition': True}))
    step = QATStep({'quantize_residual_adds': True})
    with pytest.raises(ValueError, match='from_config'):
        step.quantize(create(cfg['architecture'], cfg))
    with pytest.raises(ValueError, match='moving_average_abs_max'):
        QATStep({'quantize_residual_adds': True, 'activation_quantize_type': 'abs_max'})


def test_quantized_convs_are_the_convs_with_int8_weights(lite, qat_lite):
    """What the full-size Paddle-Lite check compares the ARM .nb's int8 kernels with
    (ppdet.benchmark.full_size_lite.quantized_convs): the same convs in PTQ, PTQ with the
    adds, and QAT with the adds, though QAT's output pairs put a dequantize in front of the
    float head convs too (counting quantized inputs, it said 46 for this export's 44)."""
    from ppdet.benchmark.full_size_lite import quantized_convs
    fp32, ptq, ptq_adds = lite
    convs = quantized_convs(ptq)
    assert quantized_convs(fp32) == [] and len(convs) > 0
    assert quantized_convs(ptq_adds) == convs
    assert len(quantized_convs(qat_lite[2])) == len(convs)
