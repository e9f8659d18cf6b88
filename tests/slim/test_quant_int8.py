"""Acceptance: int8 detections (Paddle Inference oneDNN int8, onnxruntime QDQ) agree with fp32.

A tiny YOLOv3 (MobileNetV1 x0.25, input 96) is trained for ~150 steps to overfit 16
synthetic images (one or two flat red/blue rectangles on a noisy grey background),
so its detections are confident and well separated: the comparison then tests the
quantization, not NMS tie-breaking among near-equal random scores.  Detections
above score 0.3 are matched by class and IoU >= 0.5 (ppdet.deploy.compare); the
tolerance: >= 90% of them matched, matched scores within 0.15.
"""
import os

import numpy as np
import paddle
import pytest

import ppdet.modeling  # noqa: F401
from ppdet.core.workspace import create
from ppdet.engine.export import export_model
from ppdet.slim.qat import QATStep
from ppdet.slim.quant import quantize_post
from ppdet.slim.steps import make_record
from ppdet.slim.quant_report import compare_int8

S = 96
COLORS = np.array([[230, 40, 40], [40, 40, 230]], 'float32')
MEAN = np.array([0.485, 0.456, 0.406], 'float32')
STD = np.array([0.229, 0.224, 0.225], 'float32')
TOL = {'iou_thresh': 0.5, 'score_thresh': 0.3, 'min_matched_fraction': 0.9,
       'max_score_diff': 0.15}


def cfg():
    return {'architecture': 'YOLOv3', 'num_classes': 2,
            'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN',
                       'yolo_head': 'YOLOv3Head', 'post_process': 'BBoxPostProcess'},
            'MobileNetV1': {'scale': 0.25}, 'YOLOv3FPN': {'base_channel': 32},
            'YOLOv3Head': {'anchors': [[6, 6], [10, 10], [14, 14], [20, 20], [26, 26],
                                       [32, 32], [40, 40], [50, 50], [64, 64]]},
            'YOLOv3Loss': {'ignore_thresh': 0.7},
            # low NMS threshold: paddle2onnx 1.3.1's NMS fails in onnxruntime when exactly one
            # box survives (a Gather on a rank-0 tensor); compared detections are >= 0.3 anyway
            'MultiClassNMS': {'score_threshold': 0.001, 'keep_top_k': 20, 'nms_top_k': 200},
            'TestReader': {'inputs_def': {'image_shape': [3, S, S]}, 'sample_transforms': [
                {'Decode': {}},
                {'Resize': {'target_size': [S, S], 'keep_ratio': False, 'interp': 2}},
                {'NormalizeImage': {'mean': MEAN.tolist(), 'std': STD.tolist(),
                                    'is_scale': True}},
                {'Permute': {}}]}}


def synthetic(n, seed):
    rng = np.random.RandomState(seed)
    imgs, boxes, classes = [], [], []
    for _ in range(n):
        im = np.full((S, S, 3), 120, 'float32') + rng.randn(S, S, 3) * 10
        bb, cc = [], []
        for _ in range(rng.randint(1, 3)):
            w, h = rng.randint(16, 48, 2)
            x, y = rng.randint(0, S - w), rng.randint(0, S - h)
            c = rng.randint(2)
            im[y:y + h, x:x + w] = COLORS[c]
            bb.append([x, y, x + w, y + h])
            cc.append(c)
        imgs.append(np.clip(im, 0, 255).astype('uint8'))
        boxes.append(bb)
        classes.append(cc)
    return imgs, boxes, classes


def train_batch(imgs, boxes, classes):
    x = np.stack([((im / 255. - MEAN) / STD).transpose(2, 0, 1) for im in imgs]).astype('float32')
    b = len(imgs)
    gb, gc = np.zeros([b, 4, 4], 'float32'), np.zeros([b, 4], 'int32')
    gs = np.zeros([b, 4], 'float32')
    for i, (bb, cc) in enumerate(zip(boxes, classes)):
        for k, ((x1, y1, x2, y2), c) in enumerate(zip(bb, cc)):
            gb[i, k] = [(x1 + x2) / 2 / S, (y1 + y2) / 2 / S, (x2 - x1) / S, (y2 - y1) / S]
            gc[i, k], gs[i, k] = c, 1
    return {'image': paddle.to_tensor(x), 'gt_bbox': paddle.to_tensor(gb),
            'gt_class': paddle.to_tensor(gc), 'gt_score': paddle.to_tensor(gs)}


def train(model, data, steps, lr, seed=0):
    imgs, boxes, classes = data
    opt = paddle.optimizer.Adam(lr, parameters=model.parameters())
    model.train()
    for it in range(steps):
        idx = np.random.RandomState(seed + it).choice(len(imgs), 8, replace=False)
        batch = train_batch(*[[d[i] for i in idx] for d in data])
        loss = model.get_loss(model(batch['image']), batch)['loss']
        loss.backward()
        opt.step()
        opt.clear_grad()
    model.eval()
    return model


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    paddle.seed(0)
    data = synthetic(16, 0)
    model = train(create('YOLOv3', cfg()), data, steps=150, lr=0.01)
    fp32 = str(tmp_path_factory.mktemp('int8_accept') / 'fp32')
    export_model(model, cfg(), fp32, ['red', 'blue'])
    return model, data, fp32


@pytest.mark.slow
def test_int8_detections_from_paddle_and_onnxruntime_agree_with_fp32(trained, tmp_path):
    _, (imgs, _, _), fp32 = trained
    int8 = quantize_post(fp32, imgs[:8], str(tmp_path / 'int8'), algo='hist', batch_nums=8)
    result = compare_int8(fp32, int8, imgs[8:], runtimes=('paddle', 'onnx'), tolerance=TOL,
                          calib_images=imgs[:8], time_it=False)
    print('int8 vs fp32:', {rt: e['agreement'] for rt, e in result['runtimes'].items()})
    for rt in ('paddle', 'onnx'):
        agree = result['runtimes'][rt]['agreement']
        assert agree['n_ref'] >= 8, agree  # the model really detects things
        assert agree['agrees'], (rt, agree)
        assert agree['mean_iou'] > 0.8, (rt, agree)


@pytest.mark.slow
def test_qat_export_detections_match_dygraph_qat_model(trained, tmp_path):
    from ppdet.deploy.compare import match_detections
    from ppdet.deploy.predictors import create_predictor
    from ppdet.deploy.preprocess import Preprocessor
    from ppdet.modeling.architectures import InferenceModel
    model, data, fp32 = trained
    qmodel = create('YOLOv3', cfg())
    qmodel.set_state_dict(model.state_dict())
    qmodel, record = QATStep().apply(qmodel)
    train(qmodel, data, steps=10, lr=1e-4, seed=1000)  # fine-tune: the scales settle
    out = str(tmp_path / 'qat')
    export_model(qmodel, cfg(), out, ['red', 'blue'], meta={'steps': [make_record('quant', record)]})
    pred = create_predictor(out, 'paddle', enable_mkldnn_int8=True)
    pre = Preprocessor({'Preprocess': [{'type': 'Resize', 'target_size': [S, S],
                                        'keep_ratio': False, 'interp': 2},
                                       {'type': 'NormalizeImage', 'mean': MEAN.tolist(),
                                        'std': STD.tolist(), 'is_scale': True},
                                       {'type': 'Permute'}]})
    n_ref = 0
    for im in data[0][8:]:
        feeds = pre([im])
        with paddle.no_grad():
            bbox, _ = InferenceModel(qmodel)(*[paddle.to_tensor(feeds[k]) for k in
                                               ('image', 'im_shape', 'scale_factor')])
        m = match_detections(bbox.numpy(), pred.run(feeds)['bbox'], TOL['iou_thresh'],
                             TOL['score_thresh'])
        n_ref += m['n_a']
        assert m['matched_fraction'] >= TOL['min_matched_fraction'], m
        assert m['max_score_diff'] <= TOL['max_score_diff'], m
    assert n_ref >= 8
    assert os.path.isfile(os.path.join(out, 'infer_cfg.yml'))
