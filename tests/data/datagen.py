"""Writers of tiny COCO / VOC datasets for the data tests (real files, in tmp dirs)."""
import json
import os

import cv2
import numpy as np


def write_jpg(path, h=64, w=80, color=None, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    im = rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if color is None else \
        np.full((h, w, 3), color, np.uint8)
    ok, buf = cv2.imencode('.jpg', im)
    assert ok
    with open(path, 'wb') as f:
        f.write(buf.tobytes())
    return path


def write_coco(root, images, annotations, categories, image_dir='images',
               anno='annotations/instances.json', write_images=True):
    """images: [(id, file_name, w, h)]; annotations: [(image_id, category_id, [x,y,w,h])]."""
    if write_images:
        for im_id, name, w, h in images:
            write_jpg(os.path.join(root, image_dir, name), h=h, w=w, seed=im_id)
    data = {'images': [{'id': i, 'file_name': n, 'width': w, 'height': h} for i, n, w, h in images],
            'annotations': [{'id': k + 1, 'image_id': i, 'category_id': c, 'bbox': list(b),
                             'area': float(b[2] * b[3]), 'iscrowd': 0}
                            for k, (i, c, b) in enumerate(annotations)],
            'categories': [{'id': c, 'name': n} for c, n in categories]}
    path = os.path.join(root, anno)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def voc_xml(name, w, h, objects):
    """objects: [(class_name, (x1, y1, x2, y2), difficult)]."""
    objs = ''.join(
        '<object><name>%s</name><difficult>%d</difficult><bndbox><xmin>%s</xmin><ymin>%s</ymin>'
        '<xmax>%s</xmax><ymax>%s</ymax></bndbox></object>' % ((n, d) + tuple(b))
        for n, b, d in objects)
    return ('<annotation><filename>%s</filename><size><width>%d</width><height>%d</height>'
            '<depth>3</depth></size>%s</annotation>' % (name, w, h, objs))


def write_voc(root, entries, labels, list_name='trainval.txt', write_images=True):
    """entries: [(stem, w, h, objects)] with objects as in voc_xml (None: no xml written)."""
    os.makedirs(os.path.join(root, 'Annotations'), exist_ok=True)
    lines = []
    for k, (stem, w, h, objects) in enumerate(entries):
        if write_images:
            write_jpg(os.path.join(root, 'JPEGImages', stem + '.jpg'), h=h, w=w, seed=k)
        if objects is not None:
            with open(os.path.join(root, 'Annotations', stem + '.xml'), 'w') as f:
                f.write(voc_xml(stem + '.jpg', w, h, objects))
        lines.append('JPEGImages/%s.jpg Annotations/%s.xml\n' % (stem, stem))
    with open(os.path.join(root, list_name), 'w') as f:
        f.writelines(lines)
    with open(os.path.join(root, 'label_list.txt'), 'w') as f:
        f.write('\n'.join(labels) + '\n')
    return os.path.join(root, list_name)
