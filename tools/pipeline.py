"""The main job on the built-in dataset: python tools/pipeline.py [-c CONFIG] [--fresh] [-o k=v].
The face flavour: python tools/pipeline.py --model blazeface (ppdet/pipeline/face_job.py:
BlazeFace trained on the built-in face set, pruned, int8, QAT, distilled, and MediaPipe's
released BlazeFace imported and quantized; WIDER FACE Easy / Medium / Hard AP).
The dense flavours: python tools/pipeline.py --model retinanet / --model fcos
(ppdet/pipeline/dense_job.py: the small RetinaNet / FCOS of configs/builtin/ on the same COCO
data, baseline, pruned at the 40%-of-every-conv FLOPs cut (uniform, sensitivity-derived) and
their unpruned twin, post-training int8, QAT and its fp32 twin, the pruned student distilled
by the baseline, CPU latency of every row).

Stages (each resumable): generate data, train, eval (+export), infer, sensitivity,
prune: at the FLOPs cut of each preset (sensity, r578), the preset, one uniform ratio and
ratios derived from the sensitivities, each fine-tuned once per --seeds, post-training int8 (each algo; r578 too), QAT (baseline
and r578, each beside its fp32 twin fine-tuned on the same schedule), teacher (or a cached
one: --teacher_weights); baseline fine-tuned alone / with L2 / with fine-grained distillation,
r578 fine-tuned with the teacher (each on the same fine-tuning schedule).
"""
import importlib
import shutil

from ppdet.utils.cli import ArgsParser, run_main

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
# --model: (default config, work_dir, dataset_dir)
MODELS = {'yolov3': (DEFAULT_CONFIG, 'output/pipeline', 'dataset/builtin'),
          'blazeface': ('configs/face_detection/blazeface_builtin.yml', 'output/face_pipeline',
                        'dataset/wider_face_builtin'),
          'retinanet': ('configs/builtin/retinanet_r18_builtin.yml',
                        'output/retinanet_pipeline', 'dataset/builtin'),
          'fcos': ('configs/builtin/fcos_r18_builtin.yml', 'output/fcos_pipeline',
                   'dataset/builtin')}
# --model: (job module, pipeline class, results-table function) beside the main job
FAMILY_JOBS = {
    'blazeface': ('ppdet.pipeline.face_job', 'FacePipeline', 'face_results_table'),
    'retinanet': ('ppdet.pipeline.dense_job', 'DensePipeline', 'dense_results_table'),
    'fcos': ('ppdet.pipeline.dense_job', 'DensePipeline', 'dense_results_table')}


def main():
    from ppdet.pipeline.main_job import FINETUNE_EPOCHS, PRUNE_SEEDS
    parser = ArgsParser('run the whole pipeline on the built-in dataset', config_required=False)
    parser.add_argument('--model', default='yolov3', choices=sorted(MODELS),
                        help='yolov3: the main job; blazeface: the face pipeline; retinanet / '
                             'fcos: the dense-detector pipeline')
    parser.add_argument('--work_dir', default=None,
                        help='default: output/pipeline (yolov3), output/face_pipeline, '
                             'output/retinanet_pipeline, output/fcos_pipeline')
    parser.add_argument('--dataset_dir', default=None,
                        help='default: dataset/builtin (yolov3, retinanet, fcos), '
                             'dataset/wider_face_builtin (blazeface)')
    parser.add_argument('--finetune_epochs', type=int, default=FINETUNE_EPOCHS,
                        help='fine-tuning epochs after pruning / for distillation and QAT')
    parser.add_argument('--sensitivity_images', type=int, default=40,
                        help='eval images per sensitivity probe (fast mode)')
    parser.add_argument('--seeds', type=int, nargs='+', default=list(PRUNE_SEEDS),
                        help='fine-tuning seeds of the pruned rows (uniform / preset / '
                             'sensitivity-derived, compared over these seeds)')
    parser.add_argument('--teacher_config', default=None,
                        help='teacher config for the distillation stages (default: '
                             'configs/builtin/yolov3_r18x05_builtin_teacher.yml)')
    parser.add_argument('--teacher_epochs', type=int, default=None,
                        help="the teacher's training epochs (default: its config's)")
    parser.add_argument('--teacher_weights', default=None,
                        help='a teacher trained outside the job (scored, not trained), e.g. '
                             'the 24-epoch one from benchmarks/distill_quality.py --only '
                             'teacher: --teacher_config configs/builtin/yolov3_r18x05_builtin_'
                             'teacher_long.yml --teacher_weights output/issue16/distill/'
                             'teacher/model_final')
    parser.add_argument('--stages', nargs='*', default=None,
                        help='only these stage groups: data train eval infer sensitivity '
                             'prune quant distill (default: all), or single stages such as '
                             'distill:teacher; groups may run at once in separate processes')
    parser.add_argument('--fresh', action='store_true', help='delete work_dir and start over')
    args = parser.parse_args()
    config, work_dir, dataset_dir = MODELS[args.model]
    args.config = args.config or config
    args.work_dir = args.work_dir or work_dir
    args.dataset_dir = args.dataset_dir or dataset_dir
    if args.model != 'yolov3' and (args.teacher_config or args.teacher_epochs or
                                   args.teacher_weights):
        parser.error('--model %s: the teacher is the trained baseline (no --teacher_config / '
                     '--teacher_epochs / --teacher_weights)' % args.model)
    pipe, report = _make_pipe(args)
    pipe.check_stages()
    if args.fresh:   # only once every flag is known good: a typo must not cost the work dir
        shutil.rmtree(args.work_dir, ignore_errors=True)
        pipe, report = _make_pipe(args)   # the job reads work_dir's results when made
    print(report(pipe.run()))


def _make_pipe(args):
    """-> (the job of ``--model``, the function that formats its results); making it checks
    the flags it takes (e.g. --finetune_epochs) and reads ``work_dir``'s results."""
    from ppdet.pipeline.main_job import PRUNE_SEEDS
    if args.model in FAMILY_JOBS:
        # the face and dense jobs: the teacher is their trained baseline, one seed by default
        module, cls, table = FAMILY_JOBS[args.model]
        job = importlib.import_module(module)
        return getattr(job, cls)(
            args.config, work_dir=args.work_dir, dataset_dir=args.dataset_dir,
            overrides=args.opt, finetune_epochs=args.finetune_epochs,
            sensitivity_images=args.sensitivity_images, stages=args.stages,
            prune_seeds=args.seeds if args.seeds != list(PRUNE_SEEDS) else [0]), \
            getattr(job, table)
    from ppdet.pipeline.main_job import TEACHER_CONFIG, Pipeline
    from ppdet.pipeline.results_table import format_results
    return Pipeline(args.config, work_dir=args.work_dir,
                    teacher_config=args.teacher_config or TEACHER_CONFIG,
                    teacher_epochs=args.teacher_epochs, teacher_weights=args.teacher_weights,
                    dataset_dir=args.dataset_dir, overrides=args.opt,
                    finetune_epochs=args.finetune_epochs,
                    sensitivity_images=args.sensitivity_images, stages=args.stages,
                    prune_seeds=args.seeds), format_results


if __name__ == '__main__':
    run_main(main)
