"""Write the built-in dataset (COCO + VOC layouts of the same images):
python tools/gen_dataset.py --output_dir dataset/builtin [--num_train N --min_size PX]

A directory that already holds the set with the same parameters is left as it is; one
made with other parameters is rewritten (the changes are named).  A non-empty directory
that holds no generated set (your own data) is refused unless --force."""
import argparse
import json

from ppdet.utils.cli import run_main
from ppdet.utils.fileio import check_output_dir


def main():
    from ppdet.data.synthetic import DEFAULTS, generate_dataset
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default='dataset/builtin',
                        help='where coco/, voc/ and manifest.json go: new, empty or a '
                             'set this script made')
    parser.add_argument('--num_train', type=int, default=DEFAULTS['num_train'],
                        help='training images (>= 1)')
    parser.add_argument('--num_val', type=int, default=DEFAULTS['num_val'],
                        help='validation images (>= 1)')
    parser.add_argument('--image_size', type=int, default=DEFAULTS['image_size'],
                        help='side of the square images in pixels (>= 64)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'],
                        help='any integer; image i of a split is the same at every '
                             '--num_train / --num_val')
    parser.add_argument('--min_size', type=float, default=DEFAULTS['min_size'],
                        help='smallest object extent in pixels, in [4, image_size/2) '
                             '(larger: easier)')
    parser.add_argument('--max_objects', type=int, default=DEFAULTS['max_objects'],
                        help='most objects per image (1..8)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if up to date, and write into a non-empty '
                             '--output_dir that holds no generated set (files of the same '
                             'names are overwritten)')
    args = parser.parse_args()
    check_output_dir(args.output_dir, '--output_dir')
    manifest = generate_dataset(args.output_dir, num_train=args.num_train, num_val=args.num_val,
                                image_size=args.image_size, seed=args.seed, min_size=args.min_size,
                                max_objects=args.max_objects, force=args.force)
    print(json.dumps(manifest['statistics'], indent=1))


if __name__ == '__main__':
    run_main(main)
