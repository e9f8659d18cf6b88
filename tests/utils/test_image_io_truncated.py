"""A truncated image that still decodes gives the same pixels in every process."""
import hashlib
import subprocess
import sys

import cv2
import numpy as np

from ppdet.utils.image_io import decode_rgb

SCRIPT = '''
import hashlib, sys
from ppdet.utils.image_io import decode_rgb
print(hashlib.md5(decode_rgb(sys.argv[1]).tobytes()).hexdigest())
'''


def test_truncated_jpeg_decodes_identically_in_every_process(tmp_path):
    from skimage import data
    ok, buf = cv2.imencode('.jpg', data.astronaut()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    path = str(tmp_path / 'cut.jpg')
    with open(path, 'wb') as f:
        f.write(buf.tobytes()[:len(buf) // 3])
    here = decode_rgb(path)
    assert here.shape == (512, 512, 3)
    assert np.all(here[-8:] == 128)  # the missing rows: a fixed grey, not leftover memory
    digests = {subprocess.run([sys.executable, '-c', SCRIPT, path], capture_output=True,
                              text=True, check=True).stdout.split()[-1] for _ in range(2)}
    assert digests == {hashlib.md5(here.tobytes()).hexdigest()}
