"""Importing ppdet, then paddle, leaves PNG decoding working (ppdet/__init__.py loads numpy
before paddle; with paddle first, OpenCV and PIL crash in zlib on a PNG)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = '''
import os
import ppdet
import paddle
import cv2, skimage.data
from PIL import Image
png = os.path.join(os.path.dirname(skimage.data.__file__), 'astronaut.png')
print(cv2.imread(png).shape, Image.open(png).convert('RGB').size)
'''


def test_png_decodes_after_ppdet_then_paddle():
    proc = subprocess.run([sys.executable, '-c', CHILD], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout[-1500:]
    assert '(512, 512, 3) (512, 512)' in proc.stdout
