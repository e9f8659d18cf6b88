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
