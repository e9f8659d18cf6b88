"""Channel pruning + fine-tuning on the normal trainer:

python slim/prune/prune.py -c configs/yolov3_mobilenet_v1.yml -o pretrain_weights=W \
    --pruned_params "yolo_block.0.0.0.conv.weights,..." --pruned_ratios "0.5,..." [--eval]
python slim/prune/prune.py -c CONFIG --pruned_ratios r578        # seed preset over its 18 params
python slim/prune/prune.py -c CONFIG -P                          # list prunable parameters
python slim/prune/prune.py -c CONFIG --target_flops 0.3 -s sensitivities.json
python slim/prune/prune.py -c CONFIG --pruned_ratios r578 --round_channels 16   # SIMD-friendly
python slim/prune/prune.py -c CONFIG -r output/NAME/latest     # resume a pruning run (its plan)

pretrain_weights are unpruned float weights (a pruned or quantization-aware checkpoint is
refused: start from its parent); -r takes only a pruning run's checkpoint.
"""
from ppdet.slim.presets import add_criterion_arg
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def build_parser():
    parser = ArgsParser('prune conv filters, then fine-tune with the normal trainer')
    parser.add_argument('-p', '--pruned_params', default=None,
                        help='comma-separated names (default with a preset: the seed\'s 18)')
    parser.add_argument('--pruned_ratios', default=None,
                        help='comma-separated ratios, or a preset: r578, sensity (YOLOv3 only)')
    # default None: with -r the checkpoint's, with --target_flops the sensitivities file's
    add_criterion_arg(parser, default=None)
    parser.add_argument('--round_channels', type=int, default=None,
                        help='round the kept channels of each pruned conv down to a multiple '
                             'of N (8/16/32; default 0: off); recorded in the plan')
    parser.add_argument('-P', '--print_params', action='store_true',
                        help='list prunable parameters with shape, own FLOPs share and the share '
                             'pruning each alone by 0.5 removes, then exit')
    parser.add_argument('--target_flops', type=float, default=None,
                        help='remove this fraction of FLOPs, ratios from -s sensitivities')
    parser.add_argument('-s', '--sensitivities_file', default=None,
                        help='with --target_flops: the JSON file slim/sensitive/sensitive.py '
                             'wrote for this config (finished, same --prune_criterion)')
    parser.add_argument('--max_loss', type=float, default=None,
                        help='with --target_flops: no parameter pruned past this loss')
    parser.add_argument('--max_ratio', type=float, default=None,
                        help='with --target_flops: no parameter pruned past this ratio')
    parser.add_argument('--eval', action='store_true',
                        help='evaluate right after pruning and during fine-tuning')
    parser.add_argument('-r', '--resume_checkpoint', default=None,
                        help='resume fine-tuning from a checkpoint of a pruning run (its '
                             'recorded plan is used: no pruning flags needed)')
    parser.add_argument('--output_eval', default=None, help='directory for bbox.json')
    return parser


def _check_outputs(cfg, args):
    """Every output path, before any model is built (they used to fail after pruning)."""
    import os
    from ppdet.utils.fileio import check_output_dir
    name = os.path.splitext(os.path.basename(cfg.get('_config_path', 'model')))[0]
    check_output_dir(os.path.join(cfg.get('save_dir', 'output'), name),
                     'save_dir (-o save_dir=DIR)')
    check_output_dir(args.output_eval, '--output_eval')


def main():
    args, cfg = parse_and_load(build_parser())
    from ppdet.engine import Trainer
    from ppdet.slim import pruning_job as job
    if args.print_params:
        job.print_params(cfg)
        return
    _check_outputs(cfg, args)
    if args.resume_checkpoint:  # a pruning run's checkpoint: its plan, not the flags
        meta = job.check_resume_checkpoint(args.resume_checkpoint, cfg.get('epoch'))
        from ppdet.engine.trainer import check_resumable_without_teacher
        check_resumable_without_teacher(args.resume_checkpoint, meta, 'slim/prune/prune.py')
        trainer = Trainer(cfg, mode='train')
        job.check_resume_flags(meta, args.resume_checkpoint, trainer.model, args.pruned_params,
                               args.pruned_ratios, args.prune_criterion, args.round_channels,
                               args.target_flops, args.sensitivities_file, args.max_loss,
                               args.max_ratio)
        trainer.resume(args.resume_checkpoint)  # the checkpoint carries its pruning plan
        trainer.check_epochs_left()
    else:  # before the model is built
        job.check_plan_flags(args.pruned_params, args.pruned_ratios, args.target_flops,
                             args.sensitivities_file, args.max_loss, args.max_ratio)
        if args.pruned_ratios is None and args.target_flops is None:
            raise ValueError('give --pruned_ratios (a list or r578/sensity) or --target_flops '
                             '(with -s), or -P to list the prunable parameters')
        if args.target_flops is not None:
            job.check_sensitivities_for_pruning(args.sensitivities_file, args.prune_criterion)
        pretrain = cfg.get('pretrain_weights')
        state = None
        if pretrain:   # read once for both checks
            from ppdet.utils.checkpoint import read_state
            state = read_state(pretrain)
            job.check_prune_start(pretrain, state=state)  # not pruned already, not QAT
        trainer = Trainer(cfg, mode='train')
        plan = job.build_plan(trainer.model, cfg, args.pruned_params, args.pruned_ratios,
                              args.prune_criterion, args.target_flops, args.sensitivities_file,
                              max_loss=args.max_loss, max_ratio=args.max_ratio,
                              round_channels=args.round_channels, weights_loaded=False)
        if pretrain:
            job.check_prunable_weights_loaded(trainer.model, pretrain, plan, state)
            state = None
            trainer.load_weights(pretrain)
            trainer.check_start_not_overwritten()  # output/C/model_final into output/C
            if args.target_flops is not None:   # now that the model holds them
                from ppdet.slim.sensitivity import warn_other_weights
                warn_other_weights(args.sensitivities_file, trainer.model)
        else:  # before filters are chosen on random weights (and evaluated)
            trainer.check_start_weights('prune')
        before, after = job.prune_trainer(trainer, plan)
        print('GFLOPs %.3f -> %.3f (-%.2f%%)  size %.2f -> %.2f MB (-%.2f%%)' % (
            before['GFLOPs'], after['GFLOPs'], 100 * (1 - after['GFLOPs'] / before['GFLOPs']),
            before['size_MB'], after['size_MB'], 100 * (1 - after['size_MB'] / before['size_MB'])))
        trainer.check_no_other_run_overwritten(args.eval)  # before the evaluation, not after
        if args.eval:
            res = trainer.evaluate(output_eval=args.output_eval)
            print('%s right after pruning: %.4f' % (res.primary_name, res.primary))
    # resumed: check_epochs_left let it through (a run's own latest at its last epoch is
    # finished by train(): it writes model_final)
    if int(cfg.get('epoch', 0)) > trainer.start_epoch or args.resume_checkpoint:
        trainer.train(validate=args.eval)


if __name__ == '__main__':
    run_main(main)
