"""The main job's wiring, end to end on a tiny dataset (real training, pruning, export)."""
import json
import os

import pytest

from ppdet.engine.pipeline import Pipeline, format_results


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_resumes(tiny_config, tmp_path):
    work = str(tmp_path / 'pipe')
    data = str(tmp_path / 'data')
    pipe = Pipeline(tiny_config, work_dir=work, dataset_dir=data,
                    # a few epochs on 12 images, evaluated on those images: enough recall
                    # for sensitivity analysis to have a non-zero baseline
                    overrides=['epoch=8', 'LearningRate.base_lr=0.005',
                               'YOLOBox.conf_thresh=0.0', 'MultiClassNMS.score_threshold=0.0',
                               'EvalDataset.image_dir=train',
                               'EvalDataset.anno_path=annotations/instances_train.json'],
                    sensitivity_images=4, sensitivity_metric='AR100', finetune_epochs=1,
                    dataset_kwargs=dict(num_train=12, num_val=4, image_size=128))
    res = pipe.run()
    assert res['rows'][:3] == ['baseline', 'sensity', 'r578']
    for row in ('baseline', 'sensity', 'r578'):
        assert os.path.isfile(os.path.join(res[row]['inference_dir'], 'model.pdmodel'))
    assert res['r578']['GFLOPs'] < res['sensity']['GFLOPs'] < res['baseline']['GFLOPs']
    assert 'AP_after_prune' in res['r578']
    assert os.path.isfile(res['sensitivity']['plot'])
    assert os.path.isfile(res['infer_image'])
    table = format_results(res)
    assert '| r578 |' in table and '(-' in table

    # a second run finds every stage done and changes nothing
    before = json.load(open(os.path.join(work, 'results.json')))
    again = Pipeline(tiny_config, work_dir=work, dataset_dir=data).run()
    assert again['_done'] == before['_done']
    assert again['r578'] == before['r578']
