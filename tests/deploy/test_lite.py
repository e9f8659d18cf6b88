"""Paddle-Lite: opt in the chroot (x86 and ARM), x86 .nb equals Paddle Inference.

Needs the chroot from `make lite-env`; the first run builds it (about 1-2 minutes) and
skips only where debootstrap cannot run at all (not root, no debootstrap, no network).
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg, match_batch
from ppdet.deploy import lite
from deploy_models import as_int8_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERT = os.path.join(ROOT, 'deploy', 'lite', 'convert.py')


def test_parse_model_ops_table():
    text = ('OPs in the input model include:\n'
            '                                        OP_name  kARM  kHost\n'
            '                                         conv2d     Y       \n'
            '                                           feed            Y\n'
            '                                           relu     Y      Y\n'
            '                                       fancy_op              \n'
            'Paddle-Lite supports this model!\n')
    r = lite.parse_model_ops(text)
    assert r['ops'] == {'conv2d': ['ARM'], 'feed': ['Host'], 'relu': ['ARM', 'Host'],
                        'fancy_op': []}
    assert not r['supported'] and r['missing'] == ['fancy_op']     # fancy_op has no kernel
    # an int8 program's quantize / dequantize ops have no kernel and need none
    int8 = text.replace('fancy_op', 'fake_quantize_range_abs_max').replace(
        '                                       fake_quantize_range_abs_max              \n',
        '                                       fake_quantize_range_abs_max              \n'
        '                                       dequantize_linear              \n')
    r = lite.parse_model_ops(int8)
    assert r['ops']['fake_quantize_range_abs_max'] == [] and r['ops']['dequantize_linear'] == []
    assert r['supported'] and r['missing'] == []


@pytest.mark.slow
@pytest.mark.parametrize('fixture', ['tiny_model_dir', 'yolov3_model_dir'])
def test_lite_x86_equals_paddle_inference(fixture, request, lite_env, images):
    model_dir = request.getfixturevalue(fixture)
    inputs = Preprocessor(load_infer_cfg(model_dir))(images)
    ref = create_predictor(model_dir, 'paddle').run(inputs)
    pred = create_predictor(model_dir, 'lite', cpu_threads=1)
    try:
        assert os.path.isfile(os.path.join(model_dir, 'model_x86.nb'))
        out = pred.run(inputs)
        again = pred.run(inputs)                       # the worker serves repeated runs
        assert pred.peak_memory_mb() > 1
    finally:
        pred.close()
    assert out['bbox_num'].tolist() == ref['bbox_num'].tolist()
    r = match_batch(ref, out)
    assert r['n_a'] > 0 and r['matched_fraction'] == 1.0, r
    assert r['mean_iou'] > 0.9999 and r['max_score_diff'] < 1e-5, r
    assert (again['bbox'] == out['bbox']).all()
    assert pred.worker.proc.poll() is not None       # closed: no process left behind


@pytest.mark.slow
def test_arm_conversion_and_op_check(yolov3_model_dir, lite_env, tmp_path):
    report = lite.model_ops(yolov3_model_dir, 'arm')
    assert report['supported'], report
    assert {'conv2d', 'yolo_box', 'multiclass_nms3'} <= set(report['ops'])
    out = str(tmp_path / 'yolov3_arm')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'deploy', 'lite', 'convert.py'),
                           '--model_dir', yolov3_model_dir, '--valid_targets', 'arm',
                           '--optimize_out', out], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # every op of the graph, the candidate bound before NMS (topk, gather) included
    assert 'all %d ops supported on arm' % len(report['ops']) in proc.stdout
    assert os.path.getsize(out + '.nb') > 100000


@pytest.mark.slow
def test_arm_conversion_of_an_int8_model(yolov3_model_dir, yolov3_int8_dir, lite_env, tmp_path):
    """convert.py takes an int8 model for ARM (its quantize ops, which have no kernel, folded
    into int8 kernels; it used to stop on them), and the .nb keeps int8 weights."""
    out = str(tmp_path / 'int8_arm')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'deploy', 'lite', 'convert.py'),
                           '--model_dir', yolov3_int8_dir, '--valid_targets', 'arm',
                           '--optimize_out', out], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r'fake_quantize_range_abs_max +folded into the int8 kernels', proc.stdout)
    fp32 = lite.optimize(yolov3_model_dir, 'arm', str(tmp_path / 'fp32_arm'))
    assert os.path.getsize(out + '.nb') < 0.5 * os.path.getsize(fp32)


@pytest.mark.slow
def test_one_opt_stages_the_model_once(tiny_model_dir, lite_env, tmp_path):
    """An Opt serves the op table, the .nb and the kernel list from one staged copy of the
    model (cached_nb through it too) and removes that copy on close; its answers are the
    module functions' own."""
    with lite.Opt(tiny_model_dir) as opt:
        ops = opt.model_ops('arm')
        staged = opt._scratch.host
        nb = opt.optimize('arm', str(tmp_path / 'tiny_arm.nb'))
        kernels = opt.kernels('arm')
        assert opt._scratch.host == staged and os.path.isdir(staged)
        assert sorted(os.listdir(staged)).count('model.pdiparams') == 1
    assert not os.path.exists(staged)
    assert ops == lite.model_ops(tiny_model_dir, 'arm') and ops['supported']
    assert nb == str(tmp_path / 'tiny_arm.nb') and os.path.getsize(nb) > 1000
    assert kernels == lite.optimized_kernels(tiny_model_dir, 'arm')
    assert 'conv2d' in [k['op'] for k in kernels]
    model_dir = str(tmp_path / 'model')
    shutil.copytree(tiny_model_dir, model_dir)
    with lite.Opt(model_dir) as opt:
        cached = lite.cached_nb(model_dir, 'arm', opt=opt)
        assert opt._scratch is not None             # converted through the open Opt
    with lite.Opt(model_dir) as opt:
        assert lite.cached_nb(model_dir, 'arm', opt=opt) == cached
        assert opt._scratch is None                 # up to date: nothing staged
    # another model copied in with older dates (tar, cp -p): its .nb is made, not the old one
    from deploy_models import export_tiny
    other = export_tiny(str(tmp_path / 'other'), seed=7)
    for name in ('model.pdmodel', 'model.pdiparams'):
        shutil.copyfile(os.path.join(other, name), os.path.join(model_dir, name))
        os.utime(os.path.join(model_dir, name), (1, 1))
    with lite.Opt(model_dir) as opt:
        assert lite.cached_nb(model_dir, 'arm', opt=opt) == cached
        assert opt._scratch is not None             # converted again


@pytest.mark.slow
def test_opt_failure_is_reported(lite_env, tmp_path):
    """A program opt crashes on (the README's trap: flatten_contiguous_range) is a LiteError
    carrying opt's output.  (A model.pdmodel that is no program is refused before opt runs:
    test_convert_refuses_a_corrupt_program.)"""
    import paddle
    from deploy_models import export_tiny

    class Flatten(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 4, 3)

        def forward(self, image):
            return paddle.flatten(self.conv(image), 1)

    model_dir = export_tiny(str(tmp_path))      # its infer_cfg.yml, then the program replaced
    static = paddle.jit.to_static(Flatten(), input_spec=[
        paddle.static.InputSpec([None, 3, 8, 8], 'float32', 'image')], full_graph=True)
    paddle.jit.save(static, os.path.join(model_dir, 'model'))
    with pytest.raises(lite.LiteError, match=r'paddle_lite_opt --valid_targets=x86 crashed '
                                             r'\(signal \d+\)'):
        lite.optimize(model_dir, 'x86')


def _convert(*args, env=None):
    return subprocess.run([sys.executable, CONVERT] + [str(a) for a in args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1', **(env or {})))


def _keep_ratio_copy(model_dir, out_dir):
    """A copy of ``model_dir`` whose infer_cfg.yml says its Resize keeps the ratio (as the
    RetinaNet configs' test reader does)."""
    import yaml
    shutil.copytree(model_dir, out_dir)
    path = os.path.join(out_dir, 'infer_cfg.yml')
    with open(path) as f:
        cfg = yaml.safe_load(f)
    cfg['Preprocess'][0]['keep_ratio'] = True
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return out_dir


KEEP_RATIO_FIX = (
    'Re-export it at a fixed size (the aspect ratio is then not kept): tools/export_model.py '
    '-c CONFIG -o weights=W "TestReader.sample_transforms=[{Decode: {}}, {Resize: '
    '{target_size: [64, 64], keep_ratio: false, interp: 2}}, {NormalizeImage: {mean: [0.485, '
    '0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}, {Permute: {}}]", or convert '
    'with deploy/lite/convert.py --nb_only (the .nb, no .json) and time it with Paddle-Lite\'s '
    'C++ benchmark_bin, which takes the input shapes (deploy/lite/README.md)')


def test_convert_refuses_a_keep_ratio_model_before_writing(tiny_model_dir, tmp_path):
    """It wrote the .nb, then failed on the .json ("the on-device runner feeds a fixed-size
    Resize ...") naming no fix, and left the .nb behind.  Now the check runs first (before
    even the Lite environment is looked for) and names the re-export or --nb_only."""
    model_dir = _keep_ratio_copy(tiny_model_dir, str(tmp_path / 'keep'))
    out = tmp_path / 'out'
    proc = _convert('--model_dir', model_dir, '--optimize_out', out / 'm_arm',
                    env={'LITE_ENV': str(tmp_path / 'no-lite-env')})
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.rstrip() == (
        "error: the on-device runner (deploy/lite/arm_benchmark.py) feeds a fixed-size Resize, "
        "then NormalizeImage and Permute; this model's Preprocess is ['Resize (keep_ratio)', "
        "'NormalizeImage', 'Permute']. " + KEEP_RATIO_FIX)
    assert not out.exists() and proc.stdout == ''


def test_the_named_re_export_feeds_the_on_device_runner():
    """The -o that the keep_ratio refusal names, given to a config whose test Resize keeps
    the ratio (RetinaNet's), gives an export the runner feeds: what export_model writes in
    infer_cfg.yml (preprocess_spec) passes device_preprocess."""
    import importlib
    from ppdet.core.workspace import load_config
    from ppdet.engine.export import preprocess_spec
    importlib.import_module('ppdet.modeling')          # registers the components
    config = os.path.join(ROOT, 'configs', 'retinanet', 'retinanet_r50_fpn_1x_coco.yml')
    spec = preprocess_spec(load_config(config))
    with pytest.raises(ValueError, match='keep_ratio') as refused:
        lite.device_preprocess({'Preprocess': spec})
    override = re.search(r'"(TestReader\.sample_transforms=[^"]+)"', str(refused.value)).group(1)
    pre = lite.device_preprocess({'Preprocess': preprocess_spec(load_config(
        config, overrides=[override]))})
    assert (pre['height'], pre['width'], pre['interp']) == (800, 1333, 1)
    assert pre['mean'] == [0.485, 0.456, 0.406] and pre['is_scale']


@pytest.mark.slow
def test_convert_nb_only_and_any_case_target(tiny_model_dir, lite_env, tmp_path):
    """--nb_only converts a model the on-device runner cannot feed (for benchmark_bin): the
    .nb, no .json; --valid_targets takes any case (ARM was refused)."""
    model_dir = _keep_ratio_copy(tiny_model_dir, str(tmp_path / 'keep'))
    proc = _convert('--model_dir', model_dir, '--valid_targets', 'ARM', '--nb_only',
                    '--optimize_out', tmp_path / 'out' / 'm_arm')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'supported on arm' in proc.stdout
    assert os.listdir(str(tmp_path / 'out')) == ['m_arm.nb']


def test_convert_help_says_each_default_once():
    proc = _convert('-h')
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    assert "output path without '.nb' (default: MODEL_DIR/model_<target>)" in text
    assert '(default: None)' not in text


def test_convert_takes_the_target_in_any_case(tiny_model_dir, tmp_path):
    """--valid_targets ARM gets past the arguments (to the missing Lite environment here)."""
    proc = _convert('--model_dir', tiny_model_dir, '--valid_targets', 'ARM', '--print_ops',
                    env={'LITE_ENV': str(tmp_path / 'no-lite-env')})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith('error: the Paddle-Lite environment is not built at '), \
        proc.stderr


@pytest.mark.parametrize('damage', ['random', 'empty', 'text', 'truncated'])
def test_convert_refuses_a_corrupt_program(tiny_model_dir, tmp_path, damage):
    """A model.pdmodel that is no program: opt read 0 ops from random bytes (convert.py said
    "all 0 ops supported on arm", then "paddle_lite_opt ... crashed (signal 6) ...; check its
    op list with ... --print_ops"); an empty one crashed the staging (SIGSEGV).  Now refused
    first, naming the file and the re-export."""
    model_dir = str(tmp_path / 'model')
    shutil.copytree(tiny_model_dir, model_dir)
    path = os.path.join(model_dir, 'model.pdmodel')
    with open(path, 'rb') as f:
        program = f.read()
    data = {'random': np.random.RandomState(0).bytes(3000), 'empty': b'',
            'text': b'not a model\n', 'truncated': program[:len(program) // 3]}[damage]
    with open(path, 'wb') as f:
        f.write(data)
    for flags in ([], ['--print_ops']):
        proc = _convert('--model_dir', model_dir, '--valid_targets', 'arm',
                        '--optimize_out', tmp_path / 'out' / 'm_arm', *flags)
        assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
        assert proc.stderr.rstrip() == ('error: %s is not a Paddle program (corrupt or '
                                        'truncated): re-export it with tools/export_model.py'
                                        % path), proc.stdout + proc.stderr
        assert 'ops supported' not in proc.stdout
    assert not (tmp_path / 'out').exists()


def test_an_op_table_without_ops_is_a_corrupt_model():
    """What opt printed for a model.pdmodel of random bytes (its table, empty, and "supports
    this model"): no op read is a corrupt model, not "all 0 ops supported"."""
    text = ('Loading topology data from /tmp/ppdet-lite-x/model.pdmodel\n'
            'Loading params data from /tmp/ppdet-lite-x/model.pdiparams\n\n\n'
            'OPs in the input model include:\n'
            '                                        OP_name  kARM  kHost\n'
            'Paddle-Lite supports this model!\n')
    with pytest.raises(lite.LiteError, match=r'paddle_lite_opt read no op from the model: its '
                                             r'model\.pdmodel is corrupt or not a Paddle '
                                             r'program; re-export it with tools/export_model'):
        lite.parse_model_ops(text)


@pytest.mark.slow
def test_projection_sums_convert_for_x86(lite_env, tmp_path):
    """Exports write a ResNet projection shortcut's add as a ``sum`` op (for oneDNN int8);
    Paddle-Lite has no x86 ``sum`` kernel, so the staged copy gets adds back and the export
    itself keeps its sums."""
    import paddle
    from paddle.static import InputSpec
    from deploy_models import LABELS, _tiny_cfg, write_infer_cfg
    from test_program_fixes import ProjectionBlock
    from ppdet.deploy.program_fixes import sum_projection_adds
    from ppdet.utils.static_graph import load_program
    paddle.seed(0)
    net = ProjectionBlock()
    net.eval()
    paddle.jit.save(paddle.jit.to_static(net, input_spec=[InputSpec([1, 3, 16, 16], 'float32')]),
                    str(tmp_path / 'model'))
    write_infer_cfg(_tiny_cfg(16), str(tmp_path), LABELS)
    assert sum_projection_adds(str(tmp_path)) == 1
    nb = lite.optimize(str(tmp_path), 'x86')
    assert os.path.getsize(nb) > 1000
    assert [op.type for op in load_program(str(tmp_path))[0].global_block().ops].count('sum') == 1


def test_x86_run_of_an_int8_model_is_refused(tiny_model_dir, tmp_path):
    """Refused before the Lite environment is looked for (the message names the ways on);
    with allow_x86_int8 it goes on, here to the missing environment."""
    model_dir = as_int8_model(tiny_model_dir, str(tmp_path / 'int8'))
    missing = str(tmp_path / 'no-lite-env')
    with pytest.raises(lite.LiteError, match='is an int8 model.*--run_mode paddle.*'
                                             'valid_targets arm.*allow_x86_int8'):
        create_predictor(model_dir, 'lite', lite_env=missing)
    with pytest.raises(lite.LiteEnvMissing):
        create_predictor(model_dir, 'lite', lite_env=missing, allow_x86_int8=True)
    with pytest.raises(lite.LiteEnvMissing):       # an fp32 model is not refused
        create_predictor(tiny_model_dir, 'lite', lite_env=missing)


@pytest.mark.slow
def test_x86_int8_conv_departs_from_the_int8_model(yolov3_int8_dir, lite_env, photo, tmp_path):
    """Why the x86 run of an int8 model is refused (lite.X86_INT8_WRONG), kept as a canary:
    the program cut after its first conv, converted for x86, against the same program run in
    float.  Exact for a photo squeezed towards the mean, far off at full contrast.  When a
    Paddle-Lite release computes it, this fails: lift the refusal then."""
    import paddle
    from ppdet.utils.static_graph import static_mode
    cut = str(tmp_path / 'cut')
    with static_mode():
        exe = paddle.static.Executor(paddle.CPUPlace())
        prog, _, _ = paddle.static.load_inference_model(
            os.path.join(yolov3_int8_dir, 'model'), exe)
        block = prog.global_block()
        conv = next(o for o in block.ops if o.type == 'conv2d')
        out = next(o for o in block.ops if conv.output('Output')[0] in o.input_arg_names)
        assert out.type == 'fake_channel_wise_dequantize_max_abs'
        paddle.static.save_inference_model(os.path.join(cut, 'model'), [block.var('image')],
                                           [block.var(out.output_arg_names[0])], exe,
                                           program=prog)
        shutil.copy(os.path.join(yolov3_int8_dir, 'infer_cfg.yml'), cut)
        program, _, fetch = paddle.static.load_inference_model(os.path.join(cut, 'model'), exe)
        worker = lite.LiteWorker(lite.optimize(cut, 'x86'))
        pre = Preprocessor(load_infer_cfg(cut))
        mean = photo.reshape(-1, 3).mean(0)
        snr = {}
        try:
            for contrast in (0.05, 1.0):
                image = np.clip(mean + contrast * (photo - mean), 0, 255).astype(np.uint8)
                feed = pre([image])['image']
                want = exe.run(program, feed={'image': feed}, fetch_list=fetch)[0]
                got = worker.run([('image', feed)])[0]
                snr[contrast] = 10 * np.log10((want ** 2).mean() /
                                              max(((got - want) ** 2).mean(), 1e-30))
        finally:
            worker.close()
    assert snr[0.05] > 60 and snr[1.0] < 30, snr


def test_a_dynamic_size_dense_export_is_refused_before_conversion(tmp_path):
    """A dynamic-size RetinaNet export converted and then aborted in Paddle-Lite
    (fill_constant_op.cc: no valid out_shape, exit -6); refused first, before the Lite
    environment is needed; the fixed-size export of the same config passes the check."""
    import paddle
    import ppdet.modeling  # noqa: F401
    from ppdet.core.workspace import create, load_config
    from ppdet.deploy import create_predictor
    from ppdet.deploy.infer_cfg import check_model
    from ppdet.engine.export import export_model
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dirs = {}
    for name, size in (('dynamic', -1), ('fixed', 192)):
        cfg = load_config(os.path.join(root, 'configs', 'builtin', 'retinanet_r18_builtin.yml'),
                          overrides=['TestReader.inputs_def.image_shape=[3,%d,%d]' % (size, size)])
        paddle.seed(0)
        dirs[name] = str(tmp_path / name)
        export_model(create(cfg['architecture'], cfg), cfg, dirs[name], list('abcdef'))
    want = r'has 12 fill_constant op\(s\) of a 0-d shape .*export at a fixed size for Paddle-Lite'
    with pytest.raises(ValueError, match=want):
        lite.Opt(dirs['dynamic'], env=str(tmp_path / 'no-lite-env'))
    with pytest.raises(ValueError, match=want):
        create_predictor(dirs['dynamic'], 'lite', lite_env=str(tmp_path / 'no-lite-env'))
    lite.check_lite_program(dirs['fixed'], check_model(dirs['fixed']))
