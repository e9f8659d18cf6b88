"""Import MediaPipe's short-range BlazeFace weights (the committed ONNX file) into a checkpoint:
python tools/import_mediapipe_blazeface.py [-c configs/face_detection/mediapipe_blazeface_128.yml]
    [--onnx third_party/mediapipe_blazeface/face_detection_front_128x128_barracuda.onnx]
    [--output output/mediapipe_blazeface_128/model_final] [--force]
then -o weights=<output> for tools/infer.py, eval.py and export_model.py."""
from ppdet.utils.cli import ArgsParser, parse_and_load, run_main

DEFAULT_CONFIG = 'configs/face_detection/mediapipe_blazeface_128.yml'


def main():
    from ppdet.modeling.importers.mediapipe_blazeface import (
        DEFAULT_ONNX, check_config, check_output_prefix, save_imported_checkpoint)
    parser = ArgsParser('map the MediaPipe BlazeFace ONNX weights onto MediaPipeBlazeFace and '
                        'save a checkpoint', config_required=False)
    parser.add_argument('--onnx', default=DEFAULT_ONNX, help='the ONNX file to read')
    parser.add_argument('--output', default='output/mediapipe_blazeface_128/model_final',
                        help='checkpoint prefix to write (.pdparams is added; a directory is '
                             'refused: give DIR/model_final)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing PREFIX.pdparams (the .pdopt / .pdema a '
                             'training left beside it are removed)')
    parser.set_defaults(config=DEFAULT_CONFIG)
    args, cfg = parse_and_load(parser)
    check_config(cfg)
    prefix = check_output_prefix(args.output, overwrite=args.force)
    path, report = save_imported_checkpoint(cfg, prefix, args.onnx)
    print('mapped %d initializers (graph outputs: %s; never read by the graph: %s)' % (
        report['mapped'], ', '.join('%s.%d=%s' % o for o in report['outputs']),
        ', '.join(report['unread']) or 'none'))
    print('saved %s' % path)


if __name__ == '__main__':
    run_main(main)
