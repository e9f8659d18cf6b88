"""Write the built-in face set in the WIDER FACE layout (images, bbx_gt.txt, eval .mat files):
python tools/gen_face_dataset.py --output_dir dataset/wider_face_builtin [--num_train N]"""
import argparse
import json

from ppdet.utils.cli import run_main


def main():
    from ppdet.data.synthetic_faces import DEFAULTS, generate_face_dataset
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default='dataset/wider_face_builtin')
    parser.add_argument('--num_train', type=int, default=DEFAULTS['num_train'])
    parser.add_argument('--num_val', type=int, default=DEFAULTS['num_val'])
    parser.add_argument('--min_side', type=int, default=DEFAULTS['min_side'],
                        help='smallest image side in pixels')
    parser.add_argument('--max_side', type=int, default=DEFAULTS['max_side'],
                        help='largest image side in pixels')
    parser.add_argument('--max_faces', type=int, default=DEFAULTS['max_faces'],
                        help='most faces in a crowd image')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    parser.add_argument('--jpeg_quality', type=int, default=DEFAULTS['jpeg_quality'])
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    args = parser.parse_args()
    manifest = generate_face_dataset(args.output_dir, num_train=args.num_train,
                                     num_val=args.num_val, min_side=args.min_side,
                                     max_side=args.max_side, seed=args.seed,
                                     max_faces=args.max_faces, jpeg_quality=args.jpeg_quality,
                                     force=args.force)
    print(json.dumps(manifest['statistics'], indent=1))


if __name__ == '__main__':
    run_main(main)
