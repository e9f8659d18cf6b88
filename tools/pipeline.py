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

Every flag, config and override is checked before the first stage (and before --fresh deletes
anything); the work dir's results.json records the settings it was started with, and a run
with others is refused.  Interrupted: run the same command again.
"""
import importlib
import os
import shutil
import sys

from ppdet.utils.cli import ArgsParser, command_line, resume_on_rerun, run_main

DEFAULT_CONFIG = 'configs/builtin/yolov3_r18_builtin.yml'
# --model: (default config, work_dir, dataset_dir)
MODELS = {'yolov3': (DEFAULT_CONFIG, 'output/pipeline', 'dataset/builtin'),
          'blazeface': ('configs/face_detection/blazeface_builtin.yml', 'output/face_pipeline',
                        'dataset/wider_face_builtin'),
          'retinanet': ('configs/builtin/retinanet_r18_builtin.yml',
                        'output/retinanet_pipeline', 'dataset/builtin'),
          'fcos': ('configs/builtin/fcos_r18_builtin.yml', 'output/fcos_pipeline',
                   'dataset/builtin')}
# --model: (job module, pipeline class), (module, function that formats its results)
JOBS = {
    'yolov3': (('ppdet.pipeline.main_job', 'Pipeline'),
               ('ppdet.pipeline.results_table', 'format_results')),
    'blazeface': (('ppdet.pipeline.face_job', 'FacePipeline'),
                  ('ppdet.pipeline.face_job', 'face_results_table')),
    'retinanet': (('ppdet.pipeline.dense_job', 'DensePipeline'),
                  ('ppdet.pipeline.dense_job', 'dense_results_table')),
    'fcos': (('ppdet.pipeline.dense_job', 'DensePipeline'),
             ('ppdet.pipeline.dense_job', 'dense_results_table'))}
TEACHER_FLAGS = ('teacher_config', 'teacher_epochs', 'teacher_weights')


def main():
    from ppdet.pipeline.main_job import FINETUNE_EPOCHS, TEACHER_CONFIG
    parser = ArgsParser('run the whole pipeline on the built-in dataset', config_required=False)
    _config_action(parser).help = 'YAML config file; default per --model: %s' % _per_model(
        lambda m: MODELS[m][0])
    parser.add_argument('--model', default='yolov3', choices=sorted(MODELS),
                        help='yolov3: the main job; blazeface: the face pipeline; retinanet / '
                             'fcos: the dense-detector pipeline')
    parser.add_argument('--work_dir', default=None,
                        help='default per --model: %s' % _per_model(lambda m: MODELS[m][1]))
    parser.add_argument('--dataset_dir', default=None,
                        help='default per --model: %s' % _per_model(lambda m: MODELS[m][2]))
    parser.add_argument('--finetune_epochs', type=int, default=FINETUNE_EPOCHS,
                        help='fine-tuning epochs after pruning / for distillation and QAT')
    parser.add_argument('--sensitivity_images', type=int, default=40,
                        help='eval images per sensitivity probe (fast mode)')
    parser.add_argument('--seeds', type=int, nargs='+', default=None,
                        help='fine-tuning seeds of the pruned rows (uniform / preset / '
                             'sensitivity-derived, compared over these seeds); default per '
                             '--model: %s'
                             % _per_model(lambda m: ' '.join(
                                 map(str, _job_class(m).default_prune_seeds))))
    parser.add_argument('--teacher_config', default=None,
                        help='yolov3: teacher config for the distillation stages (default: '
                             '%s)' % TEACHER_CONFIG)
    parser.add_argument('--teacher_epochs', type=int, default=None,
                        help="yolov3: the teacher's training epochs (default: its config's)")
    parser.add_argument('--teacher_weights', default=None,
                        help='yolov3: a teacher trained outside the job (scored, not trained), '
                             'e.g. the 24-epoch one from benchmarks/distill_quality.py --only '
                             'teacher: --teacher_config configs/builtin/yolov3_r18x05_builtin_'
                             'teacher_long.yml --teacher_weights output/distill_quality_work/'
                             'teacher/model_final')
    parser.add_argument('--stages', nargs='*', default=None,
                        help='only these stage groups (default: all), per --model: %s; or '
                             'single stages '
                             'such as distill:teacher; groups may run at once in separate '
                             'processes' % _per_model(lambda m: ' '.join(_stage_groups(m))))
    parser.add_argument('--fresh', action='store_true',
                        help='delete work_dir and start over (once every flag checked out)')
    args = parser.parse_args()
    config, work_dir, dataset_dir = MODELS[args.model]
    args.config = args.config or config
    args.work_dir = args.work_dir or work_dir
    args.dataset_dir = args.dataset_dir or dataset_dir
    given = ['--' + f for f in TEACHER_FLAGS if getattr(args, f) is not None]
    if args.model != 'yolov3' and given:
        parser.error('--model %s: the teacher is the trained baseline (no %s)'
                     % (args.model, ' / '.join(given)))
    pipe, report = _make_pipe(args)
    # every flag, config and override checked before anything is deleted or run: a typo
    # must not cost the work dir, nor fail after the first stages
    pipe.check_inputs()
    if args.fresh:
        pipe.check_fresh()   # only a work dir of a job (or an empty one) is deleted
        shutil.rmtree(args.work_dir, ignore_errors=True)
        pipe, report = _make_pipe(args)   # the job reads work_dir's results when made
    pipe.check_settings(args.model)   # a work dir started with other settings is refused
    # Ctrl-C: the training's `resume with -r` is not this script's way
    again = [a for a in sys.argv[1:] if not (a.startswith('--fr') and '--fresh'.startswith(a))]
    with resume_on_rerun('the done stages are in %s' % pipe.results_path,
                         command_line('tools/pipeline.py', again),
                         'tools/pipeline.py takes no -r: each training goes on from its last '
                         'finished epoch by itself'):
        results = pipe.run()
    print(report(pipe.in_run_order(results)))


def _config_action(parser):
    """The ``-c`` flag ArgsParser adds (argparse keeps no public handle on an action)."""
    return next(a for a in parser._actions if a.dest == 'config')


def _named(module, name):
    return getattr(importlib.import_module(module), name)


def _job_class(model):
    return _named(*JOBS[model][0])


def _per_model(value):
    """``yolov3, fcos: A; blazeface: B``: ``value(model)`` of every --model, grouped."""
    by_value = {}
    for model in MODELS:
        by_value.setdefault(value(model), []).append(model)
    return '; '.join('%s: %s' % (', '.join(models), v) for v, models in by_value.items())


def _stage_groups(model):
    """The stage groups of --model's job, in run order, from the job's own stages (a job
    made on a work dir that holds no results: only its stage list is read)."""
    config, _, dataset_dir = MODELS[model]
    return _job_class(model)(config, work_dir=os.devnull,
                             dataset_dir=dataset_dir).stage_groups()


def _make_pipe(args):
    """-> (the job of ``--model``, the function that formats its results); making it checks
    the flags it takes (e.g. --finetune_epochs) and reads ``work_dir``'s results.  The face
    and dense jobs' teacher is their trained baseline; --seeds left out: the job's default."""
    kwargs = dict(work_dir=args.work_dir, dataset_dir=args.dataset_dir, overrides=args.opt,
                  finetune_epochs=args.finetune_epochs,
                  sensitivity_images=args.sensitivity_images, stages=args.stages,
                  prune_seeds=args.seeds)
    if args.model == 'yolov3':
        from ppdet.pipeline.main_job import TEACHER_CONFIG
        kwargs.update(teacher_config=args.teacher_config or TEACHER_CONFIG,
                      teacher_epochs=args.teacher_epochs, teacher_weights=args.teacher_weights)
    return _job_class(args.model)(args.config, **kwargs), _named(*JOBS[args.model][1])


if __name__ == '__main__':
    run_main(main)
