"""Export: python tools/export_model.py -c CONFIG -o weights=W --output_dir DIR [--exclude_nms]
[--fuse_preprocess] (or -o fuse_preprocess=true)."""
import os

from ppdet.utils.cli import ArgsParser, parse_and_load, run_main, said_on_interrupt


def main():
    parser = ArgsParser('export an inference model (model.pdmodel/.pdiparams + infer_cfg.yml)')
    parser.add_argument('--output_dir', default='output/inference')
    parser.add_argument('--exclude_nms', action='store_true',
                        help='export decoded boxes and scores without NMS')
    parser.add_argument('--fuse_preprocess', action='store_true', default=None,
                        help='normalise and permute inside the graph: it takes the resized '
                             'uint8 HWC image (default: the config key fuse_preprocess)')
    args, cfg = parse_and_load(parser)
    if not cfg.get('weights'):
        raise ValueError('no weights given: add -o weights=PATH')
    from ppdet.engine.export import export_checkpoint
    name = os.path.splitext(os.path.basename(args.config))[0]
    out = os.path.join(args.output_dir, name)     # export_checkpoint checks it first thing
    with said_on_interrupt('the export was not finished: %s is as it was (an export is '
                           'written beside it and moved in complete); run the same command '
                           'again' % out):
        export_checkpoint(cfg, cfg['weights'], out, exclude_nms=args.exclude_nms,
                          fuse_preprocess=args.fuse_preprocess)
    print('exported to %s' % out)


if __name__ == '__main__':
    run_main(main)
