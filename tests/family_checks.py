"""Checks every detector family must pass through the generic code, shared by the family
tests (tests/families/, tests/modeling/test_{retinanet,fcos}.py)."""
import numpy as np
import paddle

from ppdet.core.workspace import load_config


def check_training_and_eval(config, weights, steps, ratio, fields=(), absent=()):
    """The Trainer's batches carry ``fields`` (and not ``absent``), ``steps`` train steps on
    one batch bring the loss under ``ratio`` of its start, and eval of ``weights`` gives an
    AP in [0, 1]."""
    from ppdet.engine import Trainer
    t = Trainer(load_config(config), mode='train')
    t._ensure_optimizer()
    batch = next(iter(t.train_loader))
    assert set(fields) <= set(batch) and not set(absent) & set(batch), sorted(batch)
    t.model.train()
    losses = [t.train_step(batch)['loss'] for _ in range(steps)]
    assert losses[-1] < ratio * losses[0], losses
    e = Trainer(load_config(config), mode='eval')
    e.load_weights(weights)
    res = e.evaluate()
    assert res.primary_name == 'AP' and 0.0 <= res.primary <= 1.0


def check_export_matches_dygraph(config, weights, feeds, directory, require_boxes=True):
    """Export with and without NMS: Paddle Inference gives dygraph's boxes and scores."""
    from ppdet.deploy.predictors import create_predictor
    from ppdet.engine import build_model
    from ppdet.engine.export import export_model
    cfg = load_config(config)
    model, meta = build_model(cfg, weights)
    model.eval()
    with paddle.no_grad():
        outs = model(paddle.to_tensor(feeds['image']))
        im, sf = paddle.to_tensor(feeds['im_shape']), paddle.to_tensor(feeds['scale_factor'])
        bbox, bbox_num = model.post_process(outs, im, sf)
        boxes, scores = model.decode(outs, im, sf)
        nms = getattr(model, 'nms', None)
        via_classes = nms(boxes, scores) if nms is not None else None
    if require_boxes:
        assert int(bbox_num.sum()) > 0
    if via_classes is not None:   # post_process (rows into NMS where the family has them)
        assert via_classes[1].numpy().tolist() == bbox_num.numpy().tolist()
        np.testing.assert_allclose(via_classes[0].numpy(), bbox.numpy(), rtol=1e-5, atol=1e-4)
    for exclude_nms in (False, True):
        out = str(directory / ('raw' if exclude_nms else 'nms'))
        export_model(model, cfg, out, ['c%d' % i for i in range(6)], exclude_nms=exclude_nms,
                     meta=meta)
        got = create_predictor(out, 'paddle').run(feeds)
        if exclude_nms:
            np.testing.assert_allclose(got['boxes'], boxes.numpy(), rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(got['scores'], scores.numpy(), rtol=1e-4, atol=1e-5)
        else:
            assert got['bbox_num'].tolist() == bbox_num.numpy().tolist()
            # image by image as a set, each row within assert_allclose's rtol 1e-4, atol 1e-3:
            # tied scores (a trained head saturates at 1.0) come out of NMS in an order that
            # differs between CPUs (an AVX2-only CPU swapped two rows of equal score)
            ends = np.cumsum(got['bbox_num'])
            for ref, mine in zip(np.split(bbox.numpy(), ends[:-1]),
                                 np.split(got['bbox'], ends[:-1])):
                assert_same_rows(ref, mine, 'Paddle Inference', lambda r, g: r[0] == g[0] and
                                 np.allclose(g, r, rtol=1e-4, atol=1e-3))
            check_onnx_matches_paddle(out, feeds)


def check_pruned_checkpoint_rebuilds(config, trainer, directory, image, atol):
    """A pruned model saved by ``trainer`` rebuilds from the checkpoint alone (its pruning
    step recorded) with the same outputs on ``image``."""
    from ppdet.engine import build_model
    trainer.train()
    path = trainer.save(str(directory / 'pruned'), 1)
    rebuilt, meta = build_model(load_config(config), path)
    assert meta['steps'][0]['kind'] == 'prune'
    rebuilt.eval()
    trainer.model.eval()
    x = paddle.to_tensor(image)
    with paddle.no_grad():
        for a, b in zip(rebuilt(x), trainer.model(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=atol)


def check_onnx_matches_paddle(model_dir, feeds):
    """An export at a fixed input size keeps a static box count into NMS, converts to ONNX,
    and onnxruntime gives Paddle Inference's detections, image by image (its NMS takes
    batch 1).  Rows are compared as a set (the runtimes order NMS output differently;
    IoU matching would miss the zero-area boxes an untrained head clips to the border)."""
    from ppdet.deploy.onnx import model_files, nms_box_counts
    from ppdet.deploy.predictors import create_predictor
    counts = nms_box_counts(model_files(model_dir)[0])
    assert counts and min(counts) > 0, counts
    paddle_pred = create_predictor(model_dir, 'paddle', cpu_threads=1)
    onnx_pred = create_predictor(model_dir, 'onnx', cpu_threads=1)
    for i in range(len(feeds['image'])):
        one = {k: v[i:i + 1] for k, v in feeds.items()}
        ref, got = paddle_pred.run(one), onnx_pred.run(one)
        assert got['bbox_num'].tolist() == ref['bbox_num'].tolist()
        a = ref['bbox'].reshape(-1, 6)[ref['bbox'].reshape(-1, 6)[:, 0] >= 0]
        b = got['bbox'].reshape(-1, 6)[got['bbox'].reshape(-1, 6)[:, 0] >= 0]
        assert_same_rows(a, b, 'onnxruntime', lambda r, g: r[0] == g[0] and
                         abs(g[1] - r[1]) < 1e-4 and np.abs(g[2:] - r[2:]).max() < 1e-2)


def assert_same_rows(ref, got, runtime, close):
    """Detection rows as a set: every row of ``ref`` has a row of ``got`` of its own with
    ``close(ref_row, got_row)``, and there are as many of each."""
    assert len(ref) == len(got), (len(ref), len(got))
    unused = list(range(len(got)))
    for row in ref:
        hit = [j for j in unused if close(row, got[j])]
        assert hit, ('no %s row for' % runtime, row.tolist())
        unused.remove(hit[0])
