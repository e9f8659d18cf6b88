"""Detect and draw: python tools/infer.py -c CONFIG -o weights=W --infer_img a.jpg | --infer_dir DIR."""
import os

from ppdet.utils.cli import ArgsParser, check_range, parse_and_load, run_main
from ppdet.utils.fileio import check_output_dir
from ppdet.utils.image_files import IMAGE_EXTS, collect_images


def main():
    parser = ArgsParser('run a detector on images and save drawings')
    parser.add_argument('--infer_img', default=None,
                        help='one image to detect on (or --infer_dir)')
    parser.add_argument('--infer_dir', default=None,
                        help='a folder: every %s image directly in it (case-insensitive; '
                             'subfolders are not searched)' % '/'.join(IMAGE_EXTS))
    parser.add_argument('--output_dir', default='output/infer',
                        help='where each drawn image is saved, under its own file name')
    parser.add_argument('--draw_threshold', type=float, default=0.5,
                        help='score from which a detection is drawn and counted, in [0, 1]')
    args, cfg = parse_and_load(parser)
    check_range('--draw_threshold', args.draw_threshold, 0.0, 1.0, 'a detection score')
    check_output_dir(args.output_dir, '--output_dir')
    images = collect_images(args.infer_img, args.infer_dir, ('--infer_img', '--infer_dir'))
    if not cfg.get('weights'):
        raise ValueError('no weights given: add -o weights=PATH')
    from ppdet.engine import Trainer
    from ppdet.utils.visualizer import shown_rows
    trainer = Trainer(cfg, mode='test')
    trainer.load_weights(cfg['weights'], complete=True)
    results = trainer.predict(images, output_dir=args.output_dir,
                              draw_threshold=args.draw_threshold)
    done = {r['im_file'] for r in results}
    for path in images:
        if path not in done:
            print('%s: skipped, cannot be decoded (see the warning above)' % path)
    for r in results:
        keep = shown_rows(r['bbox'], args.draw_threshold)
        print('%s: %d detections >= %.2f -> %s' % (r['im_file'], len(keep), args.draw_threshold,
                                                   os.path.join(args.output_dir,
                                                                os.path.basename(r['im_file']))))


if __name__ == '__main__':
    run_main(main)
