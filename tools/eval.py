"""Evaluate: python tools/eval.py -c CONFIG -o weights=output/x/model_final [--output_eval DIR].

The config's ``metric`` decides what is scored: COCO AP, VOC mAP or the WIDER FACE
Easy / Medium / Hard AP.

An exported model, through a deployment runtime (the same eval reader and metric):
python tools/eval.py -c CONFIG --model_dir output/x/inference/baseline
    [--run_mode paddle|onnx] [--cpu_threads 2] [--enable_mkldnn_bfloat16]
(CONFIG: the one it was exported with).  A COCO detections file made elsewhere (COCO-metric
configs): python tools/eval.py -c CONFIG --json_eval bbox.json
"""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main, str2bool
from ppdet.utils.fileio import check_output_dir

METRIC_SCORES = {'COCO': 'COCO AP', 'VOC': 'VOC mAP',
                 'WiderFace': 'the WIDER FACE Easy / Medium / Hard AP'}


def check_json_eval(cfg):
    """--json_eval reads a COCO results file and scores it with pycocotools: refuse a
    config of another metric (its annotation file is no COCO json)."""
    metric = cfg.get('metric', 'COCO')
    if metric != 'COCO':
        raise ValueError('--json_eval scores a COCO bbox json against COCO annotations; this '
                         'config\'s metric is %s (%s): evaluate the model instead, with -o '
                         'weights=W or --model_dir DIR (--output_eval DIR keeps its detections)'
                         % (metric, METRIC_SCORES.get(metric, 'not COCO AP')))


def main():
    parser = ArgsParser('evaluate a detector with the config\'s metric: COCO AP (metric: COCO), '
                        'VOC mAP (VOC) or the WIDER FACE Easy / Medium / Hard AP (WiderFace)')
    parser.add_argument('--output_eval', default=None,
                        help='directory for the detections: COCO writes bbox.json, WiderFace the '
                             'official per-image files <event>/<image>.txt, VOC nothing')
    parser.add_argument('--json_eval', default=None,
                        help='score an existing COCO detections json (bbox.json) instead of '
                             'running the model (COCO-metric configs only)')
    parser.add_argument('--model_dir', default=None,
                        help='evaluate this exported model (tools/export_model.py) instead of '
                             'weights, with -c the config it was exported with (its '
                             'architecture, metric and classes are checked); a quantized one '
                             'runs oneDNN int8 kernels')
    parser.add_argument('--run_mode', default='paddle', choices=['paddle', 'onnx'],
                        help='runtime of --model_dir')
    parser.add_argument('--cpu_threads', type=int, default=2,
                        help='threads of --model_dir\'s runtime')
    parser.add_argument('--enable_mkldnn_bfloat16', type=str2bool, nargs='?', const=True,
                        default=False, help='--model_dir in bf16 (Paddle oneDNN, a CPU with '
                                            'AVX512-BF16 or AMX-BF16)')
    args, cfg = parse_and_load(parser)
    check_output_dir(args.output_eval, '--output_eval')
    if args.json_eval:
        check_json_eval(cfg)
        from ppdet.data import build_dataset
        from ppdet.metrics.coco_utils import cocoapi_eval, format_coco_stats
        ds = build_dataset(cfg, 'EvalDataset')
        stats = cocoapi_eval(args.json_eval, ds.get_anno(), image_dir=ds.get_image_root())
        print(format_coco_stats(stats))     # the line every other evaluation prints
        return
    if args.model_dir:
        from ppdet.engine.infer_eval import evaluate_exported
        res = evaluate_exported(cfg, args.model_dir, run_mode=args.run_mode,
                                cpu_threads=args.cpu_threads,
                                enable_mkldnn_bfloat16=args.enable_mkldnn_bfloat16,
                                output_eval=args.output_eval)
        print('%s: %r' % (args.model_dir, res))
        return
    if not cfg.get('weights'):
        raise ValueError('no weights given: add -o weights=PATH (a .pdparams file or its prefix), '
                         'or --model_dir for an exported model')
    from ppdet.engine import Trainer
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'], complete=True)  # no AP of a half-random model
    trainer.evaluate(output_eval=args.output_eval)


if __name__ == '__main__':
    run_main(main)
