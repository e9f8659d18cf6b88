"""Train a detector: python tools/train.py -c CONFIG [--eval] [-r CKPT] [-o key=value]."""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def main():
    parser = ArgsParser('train a detector')
    parser.add_argument('--eval', action='store_true', help='evaluate after each snapshot epoch')
    parser.add_argument('-r', '--resume', default=None, help='checkpoint prefix to resume from')
    args, cfg = parse_and_load(parser)
    from ppdet.engine import Trainer
    trainer = Trainer(cfg, mode='train')
    if args.resume:
        trainer.resume(args.resume)
    elif cfg.get('pretrain_weights'):
        trainer.load_weights(cfg['pretrain_weights'])
    trainer.train(validate=args.eval)


if __name__ == '__main__':
    run_main(main)
