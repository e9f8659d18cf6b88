"""Train a detector: python tools/train.py -c CONFIG [--eval] [-r CKPT] [-o key=value]."""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main
from ppdet.utils.fileio import check_output_dir


def main():
    parser = ArgsParser('train a detector')
    parser.add_argument('--eval', action='store_true', help='evaluate after each snapshot epoch')
    parser.add_argument('-r', '--resume', default=None, help='checkpoint prefix to resume from')
    args, cfg = parse_and_load(parser)
    from ppdet.engine import Trainer
    from ppdet.engine.trainer import check_resumable_without_teacher
    if args.resume:   # before the model is built
        check_resumable_without_teacher(args.resume)
    trainer = Trainer(cfg, mode='train')
    check_output_dir(trainer.save_dir, 'save_dir (-o save_dir=DIR)')
    if args.resume:
        trainer.resume(args.resume)
        trainer.check_epochs_left()   # a run's own latest at its last epoch writes model_final
    elif cfg.get('pretrain_weights'):
        trainer.load_weights(cfg['pretrain_weights'])
    trainer.train(validate=args.eval)


if __name__ == '__main__':
    run_main(main)
