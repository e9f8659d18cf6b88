"""Export through the tools and check Paddle Inference against the dygraph model."""
import os
import subprocess
import sys

import numpy as np
import paddle
import yaml

from ppdet.core.workspace import load_config
from ppdet.deploy.predictors import run_paddle
from ppdet.engine import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Same image, same preprocessing: boxes within 1e-2 px and scores within 1e-4
# (float32 kernels differ between dygraph and the inference engine; NMS makes the same picks).
BOX_ATOL, SCORE_ATOL = 1e-2, 1e-4


def _run(*args):
    proc = subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_export_matches_dygraph(tiny_config, tmp_path):
    # no objectness prior: a 3-step model then already scores boxes above the threshold
    over = ['MultiClassNMS.score_threshold=0.05', 'MultiClassNMS.keep_top_k=20',
            'YOLOv3Head.obj_prior=null']
    t = Trainer(load_config(tiny_config, overrides=over + ['max_iters_per_epoch=3']),
                mode='train')
    t.train()
    weights = os.path.join(t.save_dir, 'model_final')
    out = tmp_path / 'inference'
    _run('tools/export_model.py', '-c', tiny_config, '--output_dir', str(out),
         '-o', 'weights=%s' % weights, *over)
    model_dir = out / 'tiny'
    info = yaml.safe_load(open(model_dir / 'infer_cfg.yml'))
    assert info['label_list'] and info['image_shape'] == [3, 128, 128]
    assert [p['type'] for p in info['Preprocess']] == ['Resize', 'NormalizeImage', 'Permute']

    # dygraph on one eval batch
    cfg = load_config(tiny_config, overrides=over)
    e = Trainer(cfg, mode='eval')
    e.load_weights(weights)
    _, loader = e._loader('eval')
    batch = next(iter(loader))
    e.model.eval()
    with paddle.no_grad():
        bbox, num = e.model.post_process(e.model(batch['image']), batch['im_shape'],
                                         batch['scale_factor'])
    ref, ref_num = bbox.numpy(), num.numpy()
    assert ref_num.sum() > 0, 'the test needs detections to compare'

    config = paddle.inference.Config(str(model_dir / 'model.pdmodel'),
                                     str(model_dir / 'model.pdiparams'))
    config.disable_mkldnn()
    pred = paddle.inference.create_predictor(config)
    outs = run_paddle(pred, {n: np.asarray(batch[n].numpy(), 'float32')
                             for n in pred.get_input_names()})
    got, got_num = outs[0], outs[1]
    np.testing.assert_array_equal(got_num, ref_num)
    np.testing.assert_array_equal(got[:, 0], ref[:, 0])
    np.testing.assert_allclose(got[:, 1], ref[:, 1], atol=SCORE_ATOL)
    np.testing.assert_allclose(got[:, 2:], ref[:, 2:], atol=BOX_ATOL)


def test_infer_script_draws_images(tiny_config, tiny_dataset, tmp_path):
    t = Trainer(load_config(tiny_config, overrides=['max_iters_per_epoch=1']), mode='train')
    weights = t.save(str(tmp_path / 'w'))
    img_dir = os.path.join(tiny_dataset, 'coco', 'val')
    out = tmp_path / 'drawn'
    stdout = _run('tools/infer.py', '-c', tiny_config, '--infer_dir', img_dir,
                  '--output_dir', str(out), '-o', 'weights=%s' % weights)
    names = sorted(os.listdir(img_dir))
    assert sorted(os.listdir(out)) == names
    assert stdout.count('detections >=') == len(names)
