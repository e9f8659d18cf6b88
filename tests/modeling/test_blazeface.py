"""BlazeFace (PaddleDetection 1.x's, the seed's face detector): BlazeNet, FaceHead priors,
the SSD multi-box loss, decoding + NMS, and the generic export / prune / QAT code."""
import math
import os

import numpy as np
import paddle
import pytest
import yaml

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create, load_config
from ppdet.modeling.losses.ssd_loss import SSDLoss, encode_boxes, match_priors
from family_checks import check_onnx_matches_paddle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACE = os.path.join(ROOT, 'configs', 'face_detection')
NAS = {'blaze_filters': [[12, 12], [12, 12, 2], [12, 12]],
       'double_blaze_filters': [[12, 16, 24, 2], [24, 12, 24], [24, 16, 72, 2], [72, 12, 72]]}
SMALL = 128  # 16x16 and 8x8 maps: 16*16*2 + 8*8*6 = 896 priors


def _model(config='blazeface_640.yml', seed=0, **over):
    cfg = load_config(os.path.join(FACE, config))
    for k, v in over.items():
        cfg[k].update(v)
    paddle.seed(seed)
    return create(cfg['architecture'], cfg)


def write_small_config(directory, **extra):
    """BlazeFace-NAS (fast) at 128 with a label list, for export / prune / QAT."""
    cfg = {'_BASE_': [os.path.join(ROOT, 'configs', 'runtime.yml'),
                      os.path.join(FACE, '_base_', 'blazeface.yml')],
           'BlazeNet': dict(NAS),
           'MultiClassNMS': {'score_threshold': 0.3, 'nms_top_k': 200, 'keep_top_k': 20,
                             'nms_threshold': 0.3, 'background_label': -1},
           'save_dir': os.path.join(str(directory), 'output'), 'worker_num': 0,
           'TestDataset': {'name': 'ImageFolder', 'dataset_dir': FACE,
                           'anno_path': 'face_label_list.txt'},
           'TestReader': {'inputs_def': {'image_shape': [3, SMALL, SMALL]},
                          'sample_transforms': [
                              {'Decode': {}},
                              {'Resize': {'target_size': [SMALL, SMALL], 'keep_ratio': False}},
                              {'NormalizeImage': {'mean': [104., 117., 123.],
                                                  'std': [127.502231] * 3, 'is_scale': False}},
                              {'Permute': {}}],
                          'batch_size': 1}}
    cfg.update(extra)
    path = os.path.join(str(directory), 'blazeface_small.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


# -- shapes, priors, size ------------------------------------------------------------
@pytest.mark.parametrize('config, channels, size_mb', [
    ('blazeface_640.yml', [96, 96], 0.777),       # 1.x model zoo: Original 0.777 MB
    ('blazeface_lite_640.yml', [88, 96], 0.68),   # Lite 0.68 MB
    ('blazeface_nas_640.yml', [24, 72], 0.234),   # NAS 0.234 MB
])
def test_outputs_and_priors_at_640(config, channels, size_mb):
    from ppdet.utils.model_stats import param_size_mb
    model = _model(config)
    model.eval()
    assert model.backbone.out_channels == channels
    with paddle.no_grad():
        outs = model(paddle.zeros([1, 3, 640, 640]))
    # per level: loc A*4, conf A*(1+1); 640/8 = 80, 640/16 = 40; A = 2 and 6 min sizes
    assert [o.shape for o in outs] == [[1, 8, 80, 80], [1, 4, 80, 80],
                                       [1, 24, 40, 40], [1, 12, 40, 40]]
    priors = model.blaze_head.priors(outs).numpy()
    assert priors.shape == (80 * 80 * 2 + 40 * 40 * 6, 4) == (22400, 4)
    # cell (0, 0) of stride 8: centre (4, 4), sizes 16 and 24; then cell (0, 1): centre (12, 4)
    np.testing.assert_allclose(priors[:3], [[-4, -4, 12, 12], [-8, -8, 16, 16],
                                            [4, -4, 20, 12]])
    # the first stride-16 prior: centre (8, 8), size 32; the last: centre (632, 632), 128
    np.testing.assert_allclose(priors[12800], [-8, -8, 24, 24])
    np.testing.assert_allclose(priors[-1], [568, 568, 696, 696])
    assert abs(param_size_mb(model) - size_mb) / size_mb < 0.03


def test_gflops_at_640_are_counted_by_model_stats():
    """Conv MACs / 1024^3 (PaddleSlim's convention), pinned; the dense second 5x5 convs of
    1.x's double blocks are what make the original model heavier than its 2.x successor."""
    from ppdet.utils.model_stats import model_stats
    got = {c: model_stats(_model(c), [640], ['seed'])[0]['gflops_seed']
           for c in ('blazeface_640.yml', 'blazeface_lite_640.yml', 'blazeface_nas_640.yml')}
    assert got == pytest.approx({'blazeface_640.yml': 1.1363, 'blazeface_lite_640.yml': 1.1015,
                                 'blazeface_nas_640.yml': 0.2475}, abs=1e-4)
    dense = _model(seed=0)
    one = [b for n, b in dense.backbone.blocks if n == 'double_blaze_1'][0]
    assert one.dw2_path[0].conv.weight.shape == [24, 24, 5, 5]  # not [24, 1, 5, 5]


def test_bad_filters_name_the_fix():
    from ppdet.modeling.backbones.blazenet import BlazeNet
    with pytest.raises(ValueError, match='double_blaze_0 takes 40 channels.*must be 48'):
        BlazeNet(double_blaze_filters=[[40, 24, 96, 2]])
    with pytest.raises(ValueError, match='double_blaze_1 has stride 1.*output width 64 must equal its input width 96'):
        BlazeNet(double_blaze_filters=[[48, 24, 96, 2], [96, 24, 64]])


# -- SSD loss on a hand-made case -----------------------------------------------------
PRIORS = np.array([[0, 0, 10, 10],     # IoU 81/119 = 0.68 with the face
                   [5, 5, 15, 15],     # 36/164 = 0.22
                   [20, 20, 30, 30],   # 0
                   [0, 0, 20, 20],     # 100/400 = 0.25
                   [1, 1, 12, 12]], np.float32)  # 100/121 = 0.83: the face's best prior
FACE_BOX = np.array([[1, 1, 11, 11]], np.float32)
VAR = [0.1, 0.1, 0.2, 0.2]


@pytest.mark.parametrize('lite', [False, True])
def test_seed_param_names_map_every_conv_and_nothing_else(lite):
    """The PaddleDetection 1.x names map onto the backbone's convs one to one (its pools
    and ResidualAdd layers have no weights)."""
    from ppdet.modeling.backbones.blazenet import BlazeNet
    from ppdet.modeling.ops import ConvBNLayer
    net = BlazeNet(lite_edition=lite)
    names = net.seed_param_names()
    layers = dict(net.named_sublayers())
    convs = [n for n, l in layers.items() if isinstance(l, ConvBNLayer)]
    assert sorted(names.values()) == sorted(convs)
    assert names['conv1_weights'] == 'conv1'
    if lite:
        assert names['conv2_dw_weights'] == 'conv2.dw'
    else:
        assert names['blaze_01_sep_weights'] == 'blaze_0.sep1'


def test_matching_is_bipartite_then_per_prediction():
    match, best = match_priors(FACE_BOX, PRIORS, overlap_threshold=0.35)
    np.testing.assert_allclose(best, [81 / 119., 36 / 164., 0, 0.25, 100 / 121.], rtol=1e-5)
    assert match.tolist() == [0, -1, -1, -1, 0]          # best prior + the 0.68 one
    # face 1's best prior (2) has IoU 100/484 = 0.21 < 0.35: the bipartite stage still
    # matches it; prior 1 (0.22 with face 0, 49/535 with face 1) stays unmatched
    two = np.array([[1, 1, 11, 11], [8, 8, 30, 30]], np.float32)
    match, best = match_priors(two, PRIORS[:3], overlap_threshold=0.35)
    np.testing.assert_allclose(best, [81 / 119., 36 / 164., 100 / 484.], rtol=1e-5)
    assert match.tolist() == [0, -1, 1]
    match, _ = match_priors(two, PRIORS[:3], overlap_threshold=0.2)
    assert match.tolist() == [0, 0, 1]  # per prediction: prior 1 -> face 0 (0.22 >= 0.2)


def test_ssd_loss_on_one_face():
    # prior 4 (1,1,12,12) centre 6.5, size 11; face centre 6, size 10
    t4 = [(6 - 6.5) / 11 / 0.1, (6 - 6.5) / 11 / 0.1, math.log(10 / 11.) / 0.2,
          math.log(10 / 11.) / 0.2]
    t0 = [(6 - 5) / 10 / 0.1, (6 - 5) / 10 / 0.1, 0., 0.]   # prior 0: centre 5, size 10
    np.testing.assert_allclose(encode_boxes(FACE_BOX[[0, 0]], PRIORS[[4, 0]], VAR), [t4, t0],
                               rtol=1e-5, atol=1e-6)

    gt_bbox = paddle.to_tensor(np.concatenate([FACE_BOX, np.zeros([2, 4], 'float32')])[None])
    gt_class = paddle.to_tensor(np.zeros([1, 3], 'int32'))   # padding rows are ignored
    priors = paddle.to_tensor(PRIORS)
    loc = paddle.zeros([1, 5, 4])
    loc.stop_gradient = False
    conf = np.zeros([1, 5, 2], 'float32')
    conf[0, 2] = [0., 5.]   # the hardest negative: prior 2 says "face" with logit 5
    conf = paddle.to_tensor(conf, stop_gradient=False)

    def smooth_l1(t):
        return sum(0.5 * v * v if abs(v) < 1 else abs(v) - 0.5 for v in t)
    loc_sum = smooth_l1(t4) + smooth_l1(t0)                 # 2 positives, loc 0
    ce_even, ce_hard = math.log(2.), math.log(1 + math.exp(5.))

    # ratio 3 -> 6 negatives wanted, 3 candidates (priors 1, 2, 3): all of them
    out = SSDLoss(neg_pos_ratio=3.0)(loc, conf, priors, VAR, gt_bbox, gt_class)
    np.testing.assert_allclose(float(out['loss_loc']), loc_sum / 2, rtol=1e-5)
    np.testing.assert_allclose(float(out['loss_conf']), (4 * ce_even + ce_hard) / 2, rtol=1e-5)
    # ratio 0.5 -> 1 negative: the hardest one (prior 2)
    out = SSDLoss(neg_pos_ratio=0.5)(loc, conf, priors, VAR, gt_bbox, gt_class)
    np.testing.assert_allclose(float(out['loss_conf']), (2 * ce_even + ce_hard) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(out['loss']), float(out['loss_conf']) + loc_sum / 2,
                               rtol=1e-5)
    out['loss'].backward()
    assert float(paddle.abs(loc.grad).sum()) > 0 and float(paddle.abs(conf.grad[0, 2]).sum()) > 0
    assert float(paddle.abs(conf.grad[0, 3]).sum()) == 0   # neither positive nor mined


def test_a_few_steps_lower_the_loss():
    model = _model(BlazeNet=NAS)
    model.train()
    rng = np.random.RandomState(0)
    image = paddle.to_tensor(rng.randn(2, 3, SMALL, SMALL).astype('float32'))
    boxes = np.zeros([2, 4, 4], 'float32')
    boxes[0, :2] = [[10, 12, 40, 46], [70, 60, 110, 104]]
    boxes[1, :1] = [[30, 30, 62, 70]]
    batch = {'gt_bbox': paddle.to_tensor(boxes),
             'gt_class': paddle.to_tensor(np.zeros([2, 4], 'int32'))}
    opt = paddle.optimizer.Adam(learning_rate=0.01, parameters=model.parameters())
    losses = []
    for _ in range(10):
        loss = model.get_loss(model(image), batch)
        losses.append(float(loss['loss']))
        loss['loss'].backward()
        opt.step()
        opt.clear_grad()
    assert losses[-1] < 0.6 * losses[0], losses


# -- decode + NMS ---------------------------------------------------------------------
def test_decode_and_nms_return_original_pixels():
    model = _model(BlazeNet=NAS)
    model.eval()
    loc0, conf0 = np.zeros([1, 8, 80, 80], 'float32'), np.zeros([1, 4, 80, 80], 'float32')
    loc1, conf1 = np.zeros([1, 24, 40, 40], 'float32'), np.zeros([1, 12, 40, 40], 'float32')
    conf0[:, 0::2], conf1[:, 0::2] = 5., 5.    # every prior: background by e^5
    # stride-8 cell (row 10, column 20), its prior 1 (size 24): centre (164, 84)
    conf0[0, 2:4, 10, 20] = [0., 5.]
    loc0[0, 4:8, 10, 20] = [1., -1., math.log(2.) / 0.2, 0.]
    outs = [paddle.to_tensor(a) for a in (loc0, conf0, loc1, conf1)]
    # 640x640 input from a 1280 (h) x 2560 (w) original
    im_shape = paddle.to_tensor([[640., 640.]])
    scale = paddle.to_tensor([[0.5, 0.25]])
    boxes, scores = model.decode(outs, im_shape, scale)
    assert boxes.shape == [1, 22400, 4] and scores.shape == [1, 1, 22400]
    k = (10 * 80 + 20) * 2 + 1
    # centre (164 + 0.1*24, 84 - 0.1*24), size (24*2, 24) in input pixels
    want = np.array([142.4, 69.6, 190.4, 93.6]) / [0.25, 0.5, 0.25, 0.5]
    np.testing.assert_allclose(boxes.numpy()[0, k], want, rtol=1e-5)
    np.testing.assert_allclose(float(scores[0, 0, k]), 1 / (1 + math.exp(-5.)), rtol=1e-5)
    bbox, bbox_num = model.post_process(outs, im_shape, scale)
    assert bbox_num.numpy().tolist() == [1]     # the others score e^-5/(1+e^-5) < 0.01
    np.testing.assert_allclose(bbox.numpy()[0], [0, 1 / (1 + math.exp(-5.))] + list(want),
                               rtol=1e-5)



def _reference_decode(loc, priors, var, conf, im_shape, scale):
    """The SSD decoding per coordinate, in numpy (what decode_rows computes on whole rows)."""
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    px, py = priors[:, 0] + pw / 2, priors[:, 1] + ph / 2
    cx, cy = loc[..., 0] * var[0] * pw + px, loc[..., 1] * var[1] * ph + py
    w, h = np.exp(loc[..., 2] * var[2]) * pw, np.exp(loc[..., 3] * var[3]) * ph
    sy, sx = scale[:, :1], scale[:, 1:]
    oh, ow = im_shape[:, :1] / sy, im_shape[:, 1:] / sx
    box = [np.minimum(np.clip(v / s, 0, None), m) for v, s, m in (
        (cx - w / 2, sx, ow), (cy - h / 2, sy, oh), (cx + w / 2, sx, ow), (cy + h / 2, sy, oh))]
    e = np.exp(conf - conf.max(-1, keepdims=True))
    return np.stack(box, -1), (e / e.sum(-1, keepdims=True))[..., 1:]


@pytest.mark.parametrize('num_classes', [1, 3])
def test_decode_rows_matches_the_per_coordinate_formula(num_classes):
    """Whole-row decoding (a 4x4 corner matmul, one clip to (x, y, x, y) limits, a sigmoid
    for one class) gives what the per-coordinate SSD formula gives, boxes that leave the
    image included."""
    model = _model(BlazeNet=NAS, FaceHead={'num_classes': num_classes})
    rng = np.random.RandomState(3)
    c = num_classes + 1
    outs = [paddle.to_tensor(rng.randn(*s).astype('float32') * 2) for s in (
        [2, 8, 80, 80], [2, 2 * c, 80, 80], [2, 24, 40, 40], [2, 6 * c, 40, 40])]
    im_shape = np.array([[640., 640.], [640., 640.]], 'float32')
    scale = np.array([[0.5, 0.25], [1., 1.]], 'float32')
    boxes, scores = model.decode_rows(outs, paddle.to_tensor(im_shape), paddle.to_tensor(scale))
    head = model.blaze_head
    loc, conf = (t.numpy() for t in head.flatten(outs))
    want_boxes, want_scores = _reference_decode(loc, head.priors(outs).numpy(), head.variances,
                                                conf, im_shape, scale)
    assert (want_boxes == 0).any() and (want_boxes[..., 2] == 2560).any()   # clipped rows
    np.testing.assert_allclose(boxes.numpy(), want_boxes, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-5, atol=1e-6)

# -- generic code: export, prune, QAT ------------------------------------------------
def _feeds(n=1, seed=0):
    return {'image': np.random.RandomState(seed).randn(n, 3, SMALL, SMALL).astype('float32'),
            'im_shape': np.array([[SMALL, SMALL]] * n, 'float32'),
            'scale_factor': np.array([[SMALL / 300., SMALL / 200.]] * n, 'float32')}


def _small_trained_like(cfg):
    """Random weights with the face logits lifted, so that some boxes pass NMS."""
    paddle.seed(1)
    model = create(cfg['architecture'], cfg)
    for conv in model.blaze_head.conf_convs:
        b = conv.bias.numpy().reshape(-1, 2)
        b[:, 1] += 1.5
        conv.bias.set_value(b.reshape(-1))
    return model


def test_export_with_nms_matches_dygraph(tmp_path):
    from ppdet.deploy.predictors import create_predictor
    from ppdet.engine.export import export_model
    cfg = load_config(write_small_config(tmp_path))
    model = _small_trained_like(cfg)
    model.eval()
    feeds = _feeds()
    with paddle.no_grad():
        outs = model(paddle.to_tensor(feeds['image']))
        bbox, bbox_num = model.post_process(outs, paddle.to_tensor(feeds['im_shape']),
                                            paddle.to_tensor(feeds['scale_factor']))
    assert 0 < int(bbox_num[0]) <= 20
    out = str(tmp_path / 'nms')
    export_model(model, cfg, out, ['face'])
    got = create_predictor(out, 'paddle').run(feeds)
    assert got['bbox_num'].tolist() == bbox_num.numpy().tolist()
    np.testing.assert_allclose(got['bbox'], bbox.numpy(), rtol=1e-4, atol=1e-3)
    check_onnx_matches_paddle(out, feeds)   # fixed size: static priors, static NMS count
    assert yaml.safe_load(open(os.path.join(out, 'infer_cfg.yml')))['arch'] == 'BlazeFace'


def test_pruning_the_declared_convs_rebuilds_from_the_checkpoint(tmp_path):
    from ppdet.engine import Trainer, build_model
    from ppdet.slim.prune import PrunePlan, PruneStep, prune
    cfg = load_config(write_small_config(tmp_path))
    t = Trainer(cfg, mode='train', model=_small_trained_like(cfg))
    names = list(t.model.prunable_params())
    assert names == ['double_blaze_%d%s' % (i, s) for i in range(4)
                     for s in ('1_sep_weights', '2_dw_weights')]
    with pytest.raises(ValueError, match='cannot be pruned'):
        prune(t.model, PrunePlan({'backbone.blaze_0.sep1.conv.weight': 0.5}, input_size=SMALL))
    t.apply_step(PruneStep(PrunePlan({n: 0.5 for n in names}, input_size=SMALL)))
    blocks = dict(t.model.backbone.blocks)
    assert blocks['double_blaze_0'].sep1.conv.weight.shape == [8, 12, 1, 1]       # 16 -> 8
    assert blocks['double_blaze_0'].dw2_path[0].conv.weight.shape == [8, 8, 5, 5]  # follows
    assert blocks['double_blaze_0'].sep2.conv.weight.shape == [24, 8, 1, 1]       # input only
    assert blocks['double_blaze_3'].dw2_path[0].conv.weight.shape == [6, 6, 5, 5]
    path = t.save(str(tmp_path / 'pruned'), 1)
    rebuilt, meta = build_model(cfg, path)  # from the file alone
    assert meta['steps'][0]['kind'] == 'prune'
    rebuilt.eval()
    t.model.eval()
    x = paddle.to_tensor(_feeds(2)['image'])
    with paddle.no_grad():
        for a, b in zip(rebuilt(x), t.model(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_lite_declares_no_prunable_convs():
    assert list(_model('blazeface_lite_640.yml').prunable_params()) == []


def test_qat_keeps_the_head_output_convs_float(tmp_path):
    from ppdet.engine import Trainer
    from ppdet.slim.qat import QATStep
    cfg = load_config(write_small_config(tmp_path))
    t = Trainer(cfg, mode='train', model=_small_trained_like(cfg))
    record = t.apply_step(QATStep())
    heads = ['blaze_head.loc_convs.0', 'blaze_head.loc_convs.1',
             'blaze_head.conf_convs.0', 'blaze_head.conf_convs.1']
    assert record['not_quant_pattern'] == heads
    layers = dict(t.model.named_sublayers())

    def fake_quant(name):
        return [n for n, _ in layers[name].named_sublayers() if 'fake_quant' in n]
    assert fake_quant('backbone.conv1.conv') and fake_quant('backbone.double_blaze_1.dw2.conv')
    assert not any(fake_quant(h) for h in heads)
    assert t.model.distill_outputs() == heads


def test_the_configs_optimizer_is_rmsprop():
    from ppdet.engine.optimizer import build_optimizer
    cfg = load_config(os.path.join(FACE, 'blazeface_nas_640.yml'))
    model = _model('blazeface_nas_640.yml')
    opt = build_optimizer(cfg, model.parameters(), 0.001)
    assert isinstance(opt, paddle.optimizer.RMSProp)
    assert opt._rho == 0.95 and opt._momentum == 0.0


def test_builtin_config_trains_and_evaluates_on_a_tiny_face_set(tmp_path):
    """The CPU config end to end (reader with SSD augmentations, PadBox in pixels, the real
    Trainer, WIDER FACE metric) on a few generated faces."""
    import ppdet.data.synthetic_faces as faces
    from ppdet.core.workspace import get_registered
    import ppdet.metrics  # noqa: F401  (registers WiderFaceMetric)
    from ppdet.engine import Trainer  # registers the readers
    assert {'WIDERFaceDataSet', 'WiderFaceMetric'} <= set(get_registered())
    d = str(tmp_path / 'faces')
    faces.generate_face_dataset(d, num_train=8, num_val=2, min_side=160, max_side=192,
                                max_faces=6)
    cfg = load_config(os.path.join(FACE, 'blazeface_builtin.yml'), overrides=[
        'TrainDataset.dataset_dir=%s' % d, 'EvalDataset.dataset_dir=%s' % d, 'epoch=1',
        'worker_num=0', 'save_dir=%s' % tmp_path, 'TrainReader.batch_size=4', 'log_iter=10'])
    t = Trainer(cfg, mode='train')
    t._ensure_optimizer()
    batch = next(iter(t.train_loader))
    assert list(batch['image'].shape) == [4, 3, 320, 320] and batch['gt_bbox'].shape[1] == 100
    t.model.train()
    losses = [t.train_step(batch)['loss'] for _ in range(6)]
    assert losses[-1] < losses[0], losses
    res = t.evaluate()
    assert res.primary_name == 'Easy' and 0.0 <= res.primary <= 1.0


def test_distillation_pairs_the_head_outputs(tmp_path):
    """An original-width BlazeFace teaches a NAS one: same priors, so the head maps pair."""
    from ppdet.engine import Trainer
    from ppdet.engine.trainer import unwrap
    from ppdet.slim.distill import DistillStep
    student_cfg = load_config(write_small_config(tmp_path))
    teacher_dir = tmp_path / 'teacher'
    teacher_dir.mkdir()
    teacher_path = write_small_config(teacher_dir, BlazeNet={})   # 1.x default widths
    teacher = Trainer(load_config(teacher_path), mode='train')
    teacher_weights = teacher.save(str(tmp_path / 'teacher_w'), 0)
    t = Trainer(student_cfg, mode='train', model=_small_trained_like(student_cfg))
    record = t.apply_step(DistillStep(teacher_path, teacher_weights, loss='l2',
                                      student_cfg=student_cfg))
    heads = ['blaze_head.loc_convs.0', 'blaze_head.loc_convs.1',
             'blaze_head.conf_convs.0', 'blaze_head.conf_convs.1']
    assert record['pairs'] == [{'teacher': h, 'student': h} for h in heads]
    boxes = np.zeros([2, 3, 4], 'float32')
    boxes[:, 0] = [20, 20, 60, 64]
    batch = {'image': paddle.to_tensor(_feeds(2)['image']), 'gt_bbox': paddle.to_tensor(boxes),
             'gt_class': paddle.to_tensor(np.zeros([2, 3], 'int32'))}
    t.model.train()
    losses = unwrap(t.model).get_loss(t.model(batch['image']), batch)
    assert float(losses['distill_loss']) > 0 and float(losses['loss']) > float(losses['loss_conf'])


def test_post_training_int8_loads_and_keeps_decoding_fp32(tmp_path):
    """oneDNN int8 refused BlazeFace's PTQ model (its decoding ops carried calibration
    thresholds; ppdet.slim.deploy_scales): the int8 model now loads and finds the fp32 boxes."""
    from paddle.framework import core
    from ppdet.deploy.compare import detection_agreement
    from ppdet.deploy.predictors import create_predictor
    from ppdet.engine.export import export_model
    from ppdet.slim.quant import quantize_post
    cfg = load_config(write_small_config(tmp_path))
    model = _small_trained_like(cfg)
    model.eval()
    fp32 = str(tmp_path / 'fp32')
    export_model(model, cfg, fp32, ['face'])
    calib = [dict((k, v[0]) for k, v in _feeds(seed=s).items()) for s in range(2)]
    int8 = quantize_post(fp32, calib, str(tmp_path / 'int8'), algo='abs_max', batch_nums=2)
    desc = core.ProgramDesc(open(os.path.join(int8, 'model.pdmodel'), 'rb').read())
    ops = [desc.block(0).op(i) for i in range(desc.block(0).op_size())]
    # the decoding ops (prior boxes: concat, slice, multiply) carry no int8 scale
    for kind in ('concat', 'slice', 'elementwise_mul', 'multiclass_nms3'):
        assert not any(op.has_attr('out_threshold') for op in ops if op.type() == kind), kind
    feeds = _feeds(seed=5)
    ref = create_predictor(fp32, 'paddle').run(feeds)
    got = create_predictor(int8, 'paddle', enable_mkldnn_int8=True).run(feeds)
    agree = detection_agreement([ref], [got], {'score_thresh': 0.3})
    # measured (oneDNN, AVX-512 VNNI CPU): 16 of 20 fp32 boxes matched (0.80), mean IoU 0.907;
    # bounds with room for an AVX2-only CPU, whose int8 kernels halve the weights (calibrating
    # on images scaled by 0.7 gave 11 of 20, caught here)
    assert agree['n_ref'] >= 10 and agree['matched_fraction'] >= 0.6, agree
    assert agree['mean_iou'] >= 0.8, agree
