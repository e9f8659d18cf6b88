"""Write the built-in face set in the WIDER FACE layout (images, bbx_gt.txt, eval .mat files):
python tools/gen_face_dataset.py --output_dir dataset/wider_face_builtin [--num_train N]

A directory that already holds the set with the same parameters is left as it is; one
made with other parameters is rewritten (the changes are named).  A non-empty directory
that holds no generated set (e.g. the real WIDER FACE) is refused unless --force."""
import json

from ppdet.utils.cli import run_main
from ppdet.utils.fileio import check_output_dir


def main():
    from ppdet.data.synthetic_faces import DEFAULTS, generate_face_dataset
    from ppdet.data.synthetic.outdir import generator_parser
    parser = generator_parser(__doc__, DEFAULTS, 'dataset/wider_face_builtin',
                              'WIDER_{train,val}/, wider_face_split/, eval_tools/ and '
                              'manifest.json')
    parser.add_argument('--min_side', type=int, default=DEFAULTS['min_side'],
                        help='smallest image side in pixels (128 <= min_side <= max_side)')
    parser.add_argument('--max_side', type=int, default=DEFAULTS['max_side'],
                        help='largest image side in pixels (>= min_side)')
    parser.add_argument('--max_faces', type=int, default=DEFAULTS['max_faces'],
                        help='most faces in a crowd image (>= 1)')
    parser.add_argument('--jpeg_quality', type=int, default=DEFAULTS['jpeg_quality'],
                        help='JPEG quality of the images (50..100)')
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
