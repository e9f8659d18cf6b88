"""Post-training int8 quantization of an exported detector, with a per-layer error report.

    python slim/quantization/post_quant.py -c CONFIG --model_dir output/inference/NAME \
        --output_dir output/int8/NAME [--algo hist] [--batch_nums 10] [--batch_size 1] \
        [--skip_layers L1,L2] [--keep_worst K] [--quantize_residual_adds] [--report] [--bench]
    python slim/quantization/post_quant.py -c CONFIG -o weights=CKPT --output_dir DIR ...

Calibration images come from the config's TrainDataset (``--calib_dataset eval``: from
EvalDataset, the images the model is then scored on; only when asked), preprocessed as
the exported ``infer_cfg.yml`` says (the eval/test transforms, no augmentation).  The
layers the architecture declares float-only (its output convs, as in QAT) stay fp32
unless ``--quantize_float_only``; the infer_cfg's quant record lists them.  Without
``--model_dir`` the checkpoint given by ``-o weights=`` is exported first (to
``OUTPUT_DIR_fp32``).
``--report`` prints each quantized layer's error against fp32 (cosine, SNR in dB),
worst first, and writes ``quant_report.{json,md}``, then the same layers in the deployed
graph (oneDNN int8 vs the simulation vs fp32: ``quant_report_deployed.{json,md}``, naming
the first layer where execution departs from simulation); ``--keep_worst K`` re-runs PTQ
with the K layers adding the most deployed error kept in fp32 (fewer than the layers PTQ
quantizes: a K that keeps them all is refused).  A new model written into OUTPUT_DIR removes
the ``quant_report*`` files of the one it replaces (and nothing else).  ``--bench`` runs fp32
and int8 (Paddle oneDNN int8 and onnxruntime) on held-out eval images and reports the
speed-up only if the detections agree.
"""
import json
import os

from ppdet.utils.cli import (ArgsParser, check_range, parse_and_load, run_main,
                             said_on_interrupt)
from ppdet.utils.logger import setup_logger

logger = setup_logger('post_quant')


CALIB_SECTIONS = {'train': 'TrainDataset', 'eval': 'EvalDataset'}


def dataset_images(cfg, limit, section='TrainDataset'):
    """Image files of the config's ``section``, at most ``limit``."""
    from ppdet.data import build_dataset
    if not cfg.get(section):
        raise ValueError('no calibration images: the config has no %s (generate the built-in '
                         'dataset with tools/gen_dataset.py, or pick another --calib_dataset)'
                         % section)
    ds = build_dataset(cfg, section)
    ds.probe_images()  # undecodable images are named and left out, not calibrated on
    files = [r['im_file'] for r in ds.roidbs[:limit]]
    if not files:
        raise ValueError('no calibration images in %s (%s)' % (
            section, cfg[section].get('dataset_dir')))
    return files


def export_first(cfg, out):
    """Export ``-o weights=`` to ``OUT_fp32``; -> that directory."""
    if not cfg.get('weights'):
        raise ValueError('give --model_dir (an exported model) or -o weights=CKPT to export one')
    from ppdet.data import build_dataset
    from ppdet.engine import Trainer
    from ppdet.engine.export import export_model
    if any(s.get('kind') == 'quant' for s in _steps(cfg['weights'])):
        raise ValueError('%s is a quantization-aware-trained checkpoint: export it with '
                         'slim/quantization/train.py --save_inference (no PTQ needed)'
                         % cfg['weights'])
    trainer = Trainer(cfg, mode='test')
    meta = trainer.load_weights(cfg['weights'])
    fp32 = out.rstrip('/') + '_fp32'
    labels = build_dataset(cfg, 'TestDataset').label_list()
    export_model(trainer.model, cfg, fp32, labels,
                 meta=dict(meta, parent=os.path.abspath(cfg['weights'])))
    return fp32


def _steps(weights):
    from ppdet.utils.checkpoint import read_meta
    return read_meta(weights).get('steps') or []


POST_QUANT_DEFAULTS = {'algo': 'hist', 'batch_nums': 10, 'batch_size': 1, 'skip_layers': None,
                       'keep_worst': 0}


def _apply_section_defaults(args, cfg):
    """Flags win; then the config's ``PostQuant`` section; then the defaults."""
    section = dict(cfg.get('PostQuant') or {})
    unknown = set(section) - set(POST_QUANT_DEFAULTS)
    if unknown:
        raise ValueError('unknown key(s) %s in section PostQuant (valid keys: %s)' % (
            ', '.join(sorted(unknown)), ', '.join(sorted(POST_QUANT_DEFAULTS))))
    for key, default in POST_QUANT_DEFAULTS.items():
        if getattr(args, key) is None:
            value = section.get(key, default)
            if key == 'skip_layers' and isinstance(value, (list, tuple)):
                if not all(isinstance(v, str) for v in value):
                    raise ValueError('PostQuant.skip_layers must be a list of layer names, got '
                                     '%r' % (value,))
                value = ','.join(value)
            elif key == 'skip_layers' and value is not None and not isinstance(value, str):
                raise ValueError('PostQuant.skip_layers must be a list of layer names, got %r'
                                 % (value,))
            elif isinstance(default, int) and (isinstance(value, bool) or
                                               not isinstance(value, int)):
                raise ValueError('PostQuant.%s must be an integer, got %r (e.g. -o '
                                 'PostQuant.%s=%d, or --%s)' % (key, value, key, default, key))
            elif key == 'algo' and not isinstance(value, str):
                raise ValueError('PostQuant.algo must be a name, got %r' % (value,))
            setattr(args, key, value)


def main():
    parser = ArgsParser('post-training int8 quantization of an exported detector')
    parser.add_argument('--model_dir', default=None, help='exported fp32 model directory')
    parser.add_argument('--output_dir', default='output/int8', help='where the int8 model goes')
    parser.add_argument('--algo', default=None,
                        help='abs_max, avg, hist, KL, mse or emd (default: PostQuant.algo, hist)')
    parser.add_argument('--batch_nums', type=int, default=None,
                        help='calibration batches (default: PostQuant.batch_nums, 10)')
    parser.add_argument('--batch_size', type=int, default=None,
                        help='calibration batch size (default: PostQuant.batch_size, 1)')
    parser.add_argument('--per_tensor_weights', action='store_true',
                        help='one weight scale per tensor (default: per output channel)')
    parser.add_argument('--skip_layers', default=None,
                        help='comma-separated layers kept in fp32 (names from --report)')
    parser.add_argument('--keep_worst', type=int, default=None,
                        help='re-run PTQ keeping the K layers with the worst error in fp32')
    parser.add_argument('--calib_dataset', choices=sorted(CALIB_SECTIONS), default='train',
                        help='calibration images: TrainDataset (default) or EvalDataset (the '
                             'images the model is scored on: only for a deliberate check)')
    parser.add_argument('--quantize_float_only', action='store_true',
                        help="also quantize the layers the architecture declares float-only "
                             "(its output convs; kept fp32 by default, as in QAT)")
    parser.add_argument('--quantize_residual_adds', action='store_true',
                        help='also quantize the residual adds oneDNN cannot fold into a conv '
                             '(BlazeFace blocks: shortcut + ReLU output), so the backbone runs '
                             'as one int8 chain')
    parser.add_argument('--report', action='store_true', help='per-layer error report')
    parser.add_argument('--report_images', type=int, default=4,
                        help='calibration images the report runs on')
    parser.add_argument('--bench', action='store_true',
                        help='compare int8 with fp32 (detections, then speed) on held-out images')
    parser.add_argument('--bench_images', type=int, default=8)
    args, cfg = parse_and_load(parser)
    _apply_section_defaults(args, cfg)
    check_range('--keep_worst', args.keep_worst, 0,
                hint='the layers with the worst error kept in fp32 by a second PTQ pass')
    for flag, what in (('batch_nums', 'calibration batches'), ('batch_size', 'images a batch'),
                       ('report_images', 'images the --report runs on'),
                       ('bench_images', 'held-out images --bench compares on')):
        check_range('--' + flag, int(getattr(args, flag)), 1, hint='the number of ' + what)

    from ppdet.slim.quant import check_algo, check_dirs, check_keep_worst, resolve_skip_layers
    from ppdet.utils.fileio import check_output_dir
    check_algo(args.algo)
    # before any export, calibration or write: a file where the model goes used to fail
    # with [Errno 17] after the whole calibration (and leave the fp32 export behind)
    check_output_dir(args.output_dir, '--output_dir')
    if not args.model_dir:
        check_output_dir(args.output_dir.rstrip('/') + '_fp32',
                         '--output_dir (the fp32 export of -o weights goes to OUTPUT_DIR_fp32)')
    layer_kw = dict(skip_tensors=args.skip_layers, quantize_float_only=args.quantize_float_only)
    if args.model_dir:  # before any image is read or anything written
        check_dirs(args.model_dir, args.output_dir)
        if args.skip_layers:    # a typo, before the images are read
            resolve_skip_layers(args.model_dir, args.skip_layers)
        check_keep_worst(args.model_dir, args.keep_worst, **layer_kw)
    from ppdet.slim.quant_report import compare_int8
    out = args.output_dir
    with said_on_interrupt('the int8 model was not written: %s is as it was (it is written '
                           'beside it and moved in complete); run the same command again'
                           % out):
        fp32, calib, held_out = _calibrate_and_write(args, cfg, out, layer_kw)
    print('int8 model: %s' % out)

    if args.bench:
        from ppdet.deploy.preprocess import decode_image
        if not held_out:
            raise ValueError('--bench needs eval images beyond the calibration ones')
        with said_on_interrupt('the int8 model in %s is complete; --bench was not finished '
                               '(run the same command again for it)' % out):
            images = [decode_image(f) for f in held_out]
            result = compare_int8(fp32, out, images,
                                  calib_images=[decode_image(f) for f in calib])
        print(json.dumps(result, indent=1, sort_keys=True))


def _calibrate_and_write(args, cfg, out, layer_kw):
    """Export (without --model_dir), calibrate and write the int8 model (+ its reports);
    -> (the fp32 model dir, the calibration images, --bench's held-out images)."""
    from ppdet.slim.quant import check_keep_worst, quantize_post, quantize_post_with_report
    from ppdet.slim.quant_report import (format_deployed_table, format_table,
                                         write_deployed_report, write_report)
    fp32 = args.model_dir or export_first(cfg, out)
    if not args.model_dir:  # the layers are known once the checkpoint is exported
        check_keep_worst(fp32, args.keep_worst, **layer_kw)
    n_calib = args.batch_nums * args.batch_size
    section = CALIB_SECTIONS[args.calib_dataset]
    calib = dataset_images(cfg, n_calib, section)
    logger.info('calibration: %d images of %s (%s)', len(calib), section,
                cfg[section].get('dataset_dir'))
    held_out = []
    if args.bench:  # compared on eval images the calibration did not see
        held_out = [f for f in dataset_images(cfg, n_calib + args.bench_images, 'EvalDataset')
                    if f not in set(calib)][:args.bench_images]
    kw = dict(algo=args.algo, batch_nums=args.batch_nums, batch_size=args.batch_size,
              weight_per_channel=not args.per_tensor_weights,
              quantize_float_only=args.quantize_float_only, calibration_source=section,
              quantize_residual_adds=args.quantize_residual_adds)
    if args.report or args.keep_worst:
        _, reports = quantize_post_with_report(fp32, calib, out, keep_worst=args.keep_worst,
                                               report_images=args.report_images,
                                               skip_tensors=args.skip_layers, **kw)
        rows = reports.get('final', reports['first'])
        if args.keep_worst:
            print('first pass, worst layers:\n' + format_table(reports['first'], top=10))
            print('kept in fp32: %s' % ', '.join(reports['kept_fp32']))
        print(format_table(rows, top=None if args.report else 10))
        paths = write_report(rows, out, extra={'algo': args.algo, 'model_dir': fp32,
                                               'kept_fp32': reports.get('kept_fp32', [])})
        deployed = reports.get('final_deployed', reports['deployed'])
        print(format_deployed_table(deployed))
        print('first layer where oneDNN int8 departs from the simulation: %s'
              % (deployed['first_departure'] or 'none'))
        paths += write_deployed_report(deployed, out)
        print('report: %s' % ', '.join(paths))
    else:
        quantize_post(fp32, calib, out, skip_tensors=args.skip_layers, **kw)
    return fp32, calib, held_out


if __name__ == '__main__':
    run_main(main)
