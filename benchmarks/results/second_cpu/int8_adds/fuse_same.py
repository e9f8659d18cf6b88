import sys
import numpy as np
import ppdet.deploy.predictors as P
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos, no_face_photos
photos = dict(face_photos()); photos.update(no_face_photos())
images = [photos[k] for k in sorted(photos)]
fuse = P._fuse_elementwise_activations
for d in sys.argv[1:]:
    P._fuse_elementwise_activations = lambda c: None
    a = Detector(d, 'paddle', cpu_threads=1)
    P._fuse_elementwise_activations = fuse
    b = Detector(d, 'paddle', cpu_threads=1)
    diffs = []
    for im in images:
        x, y = a.predict([im])[0], b.predict([im])[0]
        diffs.append((float(np.abs(x - y).max()) if x.size else 0.0) if x.shape == y.shape else 'shape %s vs %s' % (x.shape, y.shape))
    print(d.split('/')[-1], 'max |fused - unfused| per photo:', diffs)
