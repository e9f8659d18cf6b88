"""Quantization-aware training on the one Trainer (PaddleDetection 1.x command line).

    python slim/quantization/train.py -c CONFIG [-o pretrain_weights=CKPT] \
        [--not_quant_pattern yolo_head.yolo_output] [--use_pact] [--quantize_residual_adds] \
        [--eval] [-r CKPT] [--save_inference [DIR]] [--output_dir output/inference]

The ``Quant`` section of the config (keys of ``ppdet.slim.qat.QAT_DEFAULTS``) sets
the quantization; the flags override it.  A pruned and/or distilled checkpoint given
as ``pretrain_weights`` is rebuilt from its own record (no pruning flags), then
quantized; checkpoints record the quantization too, so ``-r`` and
``tools/eval.py -o weights=`` need nothing else.  ``--save_inference`` writes the
int8-ready inference model (NMS inside, ``infer_cfg.yml`` with ``quantized: true``) for
Paddle Inference with ``enable_mkldnn_int8``: to ``--output_dir/CONFIG_NAME`` as
distill.py and tools/export_model.py do, or into ``DIR`` with ``--save_inference DIR``.
"""
from ppdet.utils.cli import (ArgsParser, add_save_inference_args, parse_and_load, run_main,
                             save_inference_dir)


def build_parser():
    parser = ArgsParser('quantization-aware training')
    parser.add_argument('--not_quant_pattern', default=None,
                        help='comma-separated layer-name patterns kept in float '
                             '(default: Quant.not_quant_pattern, else the layers the '
                             'architecture declares float-only: its output convs)')
    parser.add_argument('--use_pact', action='store_true', default=None,
                        help='PACT clipping of activations during training')
    parser.add_argument('--quantize_residual_adds', action='store_true', default=None,
                        help="also the residual adds oneDNN cannot fold into a conv "
                             "(BlazeFace's blocks), as post_quant.py's flag does")
    parser.add_argument('--eval', action='store_true', help='evaluate after each snapshot epoch')
    parser.add_argument('-r', '--resume', default=None, help='QAT checkpoint to resume from')
    add_save_inference_args(parser, 'the int8-ready model')
    return parser


def main():
    args, cfg = parse_and_load(build_parser())
    out = save_inference_dir(args)   # checked now, before training, not after it

    from ppdet.engine import Trainer
    from ppdet.slim.qat import QATStep, check_resume_quant, quant_record
    step = QATStep.from_config(cfg, args.not_quant_pattern, args.use_pact,
                                args.quantize_residual_adds)
    trainer = Trainer(cfg, mode='train')
    if args.resume:
        trainer.resume(args.resume)  # restores the recorded QAT (and pruning) structure
        recorded = quant_record(trainer.steps)
        if recorded is None:
            raise ValueError('%s is not a QAT checkpoint; start from it with '
                             '-o pretrain_weights=%s' % (args.resume, args.resume))
        check_resume_quant(recorded, step, args.resume)
    else:
        if cfg.get('pretrain_weights'):
            trainer.load_weights(cfg['pretrain_weights'])  # pruned/distilled structure restored
        if quant_record(trainer.steps) is not None:
            raise ValueError('%s is already quantization-aware trained: continue it with '
                             '-r %s' % (cfg['pretrain_weights'], cfg['pretrain_weights']))
        trainer.apply_step(step)
    trainer.train(validate=args.eval)

    if out:  # from the saved model_final, as tools/export_model.py: its record names it as
        # the parent (it named where the training started)
        from ppdet.engine.export import export_trained
        export_trained(cfg, trainer.save_dir, out)
        print('exported int8-ready model to %s' % out)


if __name__ == '__main__':
    run_main(main)
