"""Write the built-in dataset (COCO + VOC layouts of the same images):
python tools/gen_dataset.py --output_dir dataset/builtin [--num_train N --min_size PX]"""
import argparse
import json

from ppdet.utils.cli import run_main


def main():
    from ppdet.data.synthetic import DEFAULTS, generate_dataset
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default='dataset/builtin')
    parser.add_argument('--num_train', type=int, default=DEFAULTS['num_train'])
    parser.add_argument('--num_val', type=int, default=DEFAULTS['num_val'])
    parser.add_argument('--image_size', type=int, default=DEFAULTS['image_size'])
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    parser.add_argument('--min_size', type=float, default=DEFAULTS['min_size'],
                        help='smallest object extent in pixels (larger: easier)')
    parser.add_argument('--max_objects', type=int, default=DEFAULTS['max_objects'],
                        help='most objects per image (1..8)')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    args = parser.parse_args()
    manifest = generate_dataset(args.output_dir, num_train=args.num_train, num_val=args.num_val,
                                image_size=args.image_size, seed=args.seed, min_size=args.min_size,
                                max_objects=args.max_objects, force=args.force)
    print(json.dumps(manifest['statistics'], indent=1))


if __name__ == '__main__':
    run_main(main)
