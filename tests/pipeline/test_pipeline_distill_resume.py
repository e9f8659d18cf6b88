"""The pipeline's distillation stage, interrupted and run again, resumed from its latest
checkpoint without the teacher (the file holds the student alone, and the resume did not
wrap it again): the rest of the run trained with no distillation loss."""
import paddle

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create


def test_an_interrupted_distillation_resumes_with_its_teacher(tiny_config, tiny_dataset,
                                                              tmp_path, ppdet_log):
    from ppdet.pipeline.main_job import Pipeline
    from ppdet.utils.checkpoint import save_checkpoint
    work = str(tmp_path / 'work')
    first = Pipeline(tiny_config, work_dir=work, dataset_dir=tiny_dataset, finetune_epochs=1,
                     teacher_config=tiny_config)
    cfg = first.cfg()
    paddle.seed(0)
    ckpt = save_checkpoint(create(cfg['architecture'], cfg), str(tmp_path / 'base'), meta={
        'architecture': cfg['architecture'], 'num_classes': cfg['num_classes'], 'steps': []})
    first.results.update(teacher={'weights': ckpt}, baseline_weights=ckpt)
    first.distill('x', 'l2')        # leaves latest at epoch 1, as a Ctrl-C in epoch 2 would
    again = Pipeline(tiny_config, work_dir=work, dataset_dir=tiny_dataset, finetune_epochs=2,
                     teacher_config=tiny_config)
    again.results.update(teacher={'weights': ckpt}, baseline_weights=ckpt)
    ppdet_log.messages.clear()
    again.distill('x', 'l2')
    epoch2 = [m for m in ppdet_log.messages if m.startswith('epoch 2/2 iter')]
    assert epoch2 and all('distill_loss' in m for m in epoch2), ppdet_log.text[-2000:]
