"""Write the built-in face set in the WIDER FACE layout (images, bbx_gt.txt, eval .mat files):
python tools/gen_face_dataset.py --output_dir dataset/wider_face_builtin [--num_train N]

A directory that already holds the set with the same parameters is left as it is; one
made with other parameters is rewritten (the changes are named).  A non-empty directory
that holds no generated set (e.g. the real WIDER FACE) is refused unless --force."""
import argparse
import json

from ppdet.utils.cli import run_main
from ppdet.utils.fileio import check_output_dir


def main():
    from ppdet.data.synthetic_faces import DEFAULTS, generate_face_dataset
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default='dataset/wider_face_builtin',
                        help='where WIDER_{train,val}/, wider_face_split/, eval_tools/ and '
                             'manifest.json go: new, empty or a set this script made')
    parser.add_argument('--num_train', type=int, default=DEFAULTS['num_train'],
                        help='training images (>= 1)')
    parser.add_argument('--num_val', type=int, default=DEFAULTS['num_val'],
                        help='validation images (>= 1)')
    parser.add_argument('--min_side', type=int, default=DEFAULTS['min_side'],
                        help='smallest image side in pixels (128 <= min_side <= max_side)')
    parser.add_argument('--max_side', type=int, default=DEFAULTS['max_side'],
                        help='largest image side in pixels (>= min_side)')
    parser.add_argument('--max_faces', type=int, default=DEFAULTS['max_faces'],
                        help='most faces in a crowd image (>= 1)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'],
                        help='any integer; image i of a split is the same at every '
                             '--num_train / --num_val')
    parser.add_argument('--jpeg_quality', type=int, default=DEFAULTS['jpeg_quality'],
                        help='JPEG quality of the images (50..100)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if up to date, and write into a non-empty '
                             '--output_dir that holds no generated set (files of the same '
                             'names are overwritten)')
    args = parser.parse_args()
    check_output_dir(args.output_dir, '--output_dir')
    manifest = generate_face_dataset(args.output_dir, num_train=args.num_train,
                                     num_val=args.num_val, min_side=args.min_side,
                                     max_side=args.max_side, seed=args.seed,
                                     max_faces=args.max_faces, jpeg_quality=args.jpeg_quality,
                                     force=args.force)
    print(json.dumps(manifest['statistics'], indent=1))


if __name__ == '__main__':
    run_main(main)
