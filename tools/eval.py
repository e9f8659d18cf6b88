"""Evaluate: python tools/eval.py -c CONFIG -o weights=output/x/model_final [--output_eval DIR]."""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main


def main():
    parser = ArgsParser('evaluate a detector (COCO AP or VOC mAP)')
    parser.add_argument('--output_eval', default=None, help='directory for bbox.json detections')
    parser.add_argument('--json_eval', default=None,
                        help='evaluate an existing COCO detections json instead of running the model')
    args, cfg = parse_and_load(parser)
    if args.json_eval:
        from ppdet.data import build_dataset
        from ppdet.metrics.coco_utils import cocoapi_eval
        cocoapi_eval(args.json_eval, build_dataset(cfg, 'EvalDataset').get_anno())
        return
    if not cfg.get('weights'):
        raise ValueError('no weights given: add -o weights=PATH (a .pdparams file or its prefix)')
    from ppdet.engine import Trainer
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'])
    trainer.evaluate(output_eval=args.output_eval)


if __name__ == '__main__':
    run_main(main)
