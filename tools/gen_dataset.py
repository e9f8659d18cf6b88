"""Write the built-in dataset (COCO + VOC layouts of the same images):
python tools/gen_dataset.py --output_dir dataset/builtin [--num_train N --min_size PX]

A directory that already holds the set with the same parameters is left as it is; one
made with other parameters is rewritten (the changes are named).  A non-empty directory
that holds no generated set (your own data) is refused unless --force."""
import json

from ppdet.utils.cli import run_main
from ppdet.utils.fileio import check_output_dir


def main():
    from ppdet.data.synthetic import DEFAULTS, generate_dataset
    from ppdet.data.synthetic.outdir import generator_parser
    parser = generator_parser(__doc__, DEFAULTS, 'dataset/builtin',
                              'coco/, voc/ and manifest.json')
    parser.add_argument('--image_size', type=int, default=DEFAULTS['image_size'],
                        help='side of the square images in pixels (>= 64)')
    parser.add_argument('--min_size', type=float, default=DEFAULTS['min_size'],
                        help='smallest object extent in pixels, in [4, image_size/2) '
                             '(larger: easier)')
    parser.add_argument('--max_objects', type=int, default=DEFAULTS['max_objects'],
                        help='most objects per image (1..8)')
    args = parser.parse_args()
    check_output_dir(args.output_dir, '--output_dir')
    manifest = generate_dataset(args.output_dir, num_train=args.num_train, num_val=args.num_val,
                                image_size=args.image_size, seed=args.seed, min_size=args.min_size,
                                max_objects=args.max_objects, force=args.force)
    print(json.dumps(manifest['statistics'], indent=1))


if __name__ == '__main__':
    run_main(main)
