"""Run a Paddle-Lite ``.nb`` model with ``paddlelite.lite.MobileConfig``.

Executed by the lite chroot's Python 3.9 (``/opt/lite/bin/python``), so it imports only
numpy and paddlelite and nothing from ppdet.  Arrays go in and out as ``.npy`` files.

One shot::

    python lite_runner.py --model m.nb --io_dir DIR --inputs image,im_shape,scale_factor

reads ``DIR/in_<name>.npy`` and writes ``DIR/out_<k>.npy``.  With ``--serve`` it loads the
model once and then answers one JSON request per stdin line
(``{"io_dir": ..., "inputs": [...]}``) with a line ``@@lite {"ok": true, "outputs": k}``.
"""
import argparse
import json
import os
import sys

import numpy as np

REPLY = '@@lite '


def load_predictor(model, threads):
    from paddlelite.lite import MobileConfig, create_paddle_predictor
    config = MobileConfig()
    config.set_model_from_file(model)
    if hasattr(config, 'set_threads'):  # ARM builds; the x86 Python API has no thread knob
        config.set_threads(int(threads))
    return create_paddle_predictor(config)


def run_once(predictor, io_dir, input_names):
    for name in input_names:
        arr = np.load(os.path.join(io_dir, 'in_%s.npy' % name))
        predictor.get_input_by_name(name).from_numpy(np.ascontiguousarray(arr))
    predictor.run()
    names = predictor.get_output_names()
    for k in range(len(names)):
        np.save(os.path.join(io_dir, 'out_%d.npy' % k), predictor.get_output(k).numpy())
    return len(names)


def serve(predictor):
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            reply = {'ok': True, 'outputs': run_once(predictor, req['io_dir'], req['inputs'])}
        except Exception as e:  # report any failure to the caller instead of dying
            reply = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        sys.stdout.write(REPLY + json.dumps(reply) + '\n')
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', required=True, help='.nb file')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--serve', action='store_true')
    parser.add_argument('--io_dir')
    parser.add_argument('--inputs', default='image,im_shape,scale_factor')
    args = parser.parse_args()
    predictor = load_predictor(args.model, args.threads)
    if args.serve:
        sys.stdout.write(REPLY + json.dumps({'ok': True, 'ready': True}) + '\n')
        sys.stdout.flush()
        serve(predictor)
    else:
        n = run_once(predictor, args.io_dir, args.inputs.split(','))
        print('%d outputs written to %s' % (n, args.io_dir))


if __name__ == '__main__':
    main()
