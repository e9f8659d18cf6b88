"""Distill a detector from a teacher (PaddleDetection 1.x command line, one training loop).

    python slim/distillation/distill.py -c STUDENT_CONFIG -t TEACHER_CONFIG \
        --teacher_pretrained TEACHER_WEIGHTS [-o use_fine_grained_loss=true] [--eval] \
        [--pruned_params P1,P2 --pruned_ratios R1,R2 [--prune_criterion l1_norm]] \
        [-o pretrain_weights=PRUNED_CHECKPOINT] [--save_inference [DIR]] [-r CHECKPOINT]

A config with a ``Distill`` section (configs/distill/*.yml) names the teacher, so
``-t`` / ``--teacher_pretrained`` are then optional.  A pruned checkpoint given as
``pretrain_weights`` is rebuilt from its own record: no pruning flags needed.
``--save_inference`` exports the distilled student to ``--output_dir/CONFIG_NAME`` (default
output/inference/CONFIG_NAME), or into ``DIR`` itself, as slim/quantization/train.py does.
"""
from ppdet.slim.distill import add_teacher_args
from ppdet.slim.presets import add_criterion_arg
from ppdet.utils.cli import (ArgsParser, add_save_inference_args, parse_and_load, run_main,
                             save_inference_dir)


def _prune(trainer, args, cfg):
    if any(s.get('kind') == 'prune' for s in trainer.steps):
        if args.resume:
            return  # the resumed checkpoint already holds the pruned structure
        raise ValueError('the student checkpoint is already pruned (its record says so); drop '
                         '--pruned_params/--pruned_ratios, the structure comes from the file')
    # prune.py's own plan (a preset alone prunes the seed's parameters) and step
    from ppdet.slim.pruning_job import build_plan, prune_trainer
    plan = build_plan(trainer.model, cfg, args.pruned_params, args.pruned_ratios,
                      args.prune_criterion)
    prune_trainer(trainer, plan)


def _check_resume_pruning(meta, args, model):
    """Pruning flags on a resume: the same plan as recorded passes (the structure comes from
    the checkpoint), another is refused as prune.py -r refuses it."""
    from ppdet.slim.pruning_job import check_resume_flags
    if not any(s.get('kind') == 'prune' for s in meta.get('steps') or []):
        raise ValueError('-r %s: this distillation was not pruned (its record holds no prune '
                         'step); drop --pruned_params/--pruned_ratios to resume it' % args.resume)
    check_resume_flags(meta, args.resume, model, args.pruned_params, args.pruned_ratios,
                       args.prune_criterion)


def build_parser():
    parser = ArgsParser('distill a detector (the -c config is the student) from a teacher')
    add_teacher_args(parser)
    parser.add_argument('--pruned_params', default=None, help='prune the student first: '
                        'comma-separated conv weights, e.g. yolo_block.0.0.0.conv.weights')
    parser.add_argument('--pruned_ratios', default=None,
                        help='comma-separated ratios, or a preset: r578, sensity (alone: over '
                             'the seed\'s parameters, as prune.py takes it)')
    add_criterion_arg(parser)
    parser.add_argument('--eval', action='store_true', help='evaluate after each snapshot epoch')
    parser.add_argument('-r', '--resume', default=None, help='checkpoint prefix to resume from')
    add_save_inference_args(parser, 'the distilled student')
    return parser


def main():
    args, cfg = parse_and_load(build_parser())
    out = save_inference_dir(args)   # checked now, before training, not after it
    if args.pruned_params and not args.pruned_ratios:
        raise ValueError('--pruned_params needs --pruned_ratios (one ratio per parameter, or a '
                         'preset: r578, sensity)')

    from ppdet.engine import Trainer
    from ppdet.slim.distill import (DistillStep, check_resume_distillation,
                                    recorded_distillation)
    meta = recorded = None
    if args.resume:   # the run it continues: its teacher unless -t / --teacher_pretrained
        from ppdet.utils.checkpoint import read_meta
        meta = read_meta(args.resume)
        recorded = recorded_distillation(meta, args.resume)
        args.teacher_config = args.teacher_config or recorded['teacher_config']
        args.teacher_pretrained = args.teacher_pretrained or recorded['teacher_weights']
    step = DistillStep.from_config(cfg, args.teacher_config, args.teacher_pretrained)
    step.check()  # bad teacher/student pairs fail before any weights are read

    trainer = Trainer(cfg, mode='train')
    student = args.resume or cfg.get('pretrain_weights')
    if student:  # restores a pruned structure from the file's record (refused if it does
        trainer.load_weights(student)  # not fit: a checkpoint of another backbone)
    if args.resume:   # another teacher, weight or pruning plan would be taken without a word
        check_resume_distillation(recorded, step, trainer.model, args.resume)
        if args.pruned_params or args.pruned_ratios:
            _check_resume_pruning(meta, args, trainer.model)
    # this run's teacher replaces any distillation recorded in the student's checkpoint
    trainer.steps = [s for s in trainer.steps if s.get('kind') != DistillStep.kind]
    if args.pruned_ratios:
        _prune(trainer, args, cfg)
    trainer.apply_step(step)
    if args.resume:
        trainer.resume(args.resume)
    trainer.train(validate=args.eval)

    if out:  # from the saved model_final, as tools/export_model.py: its
        # record names it as the parent (it named the student's start, the pruned checkpoint)
        from ppdet.engine.export import export_trained
        export_trained(cfg, trainer.save_dir, out)
        print('exported to %s' % out)


if __name__ == '__main__':
    run_main(main)
