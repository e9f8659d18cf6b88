"""Which image files a script runs on: one file, or every image directly inside a folder.

Only the standard library: the deployment scripts use it without paddle.
"""
import glob
import os

__all__ = ['IMAGE_EXTS', 'collect_images']

# what the inference scripts pick up from a folder (case-insensitive), the datasets' image
# folders (ppdet.data.source.ImageFolder) too: every format OpenCV decodes in this build that
# detection sets come in; one list, so that an error names all of them
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def collect_images(image_file=None, image_dir=None, flags=('--image_file', '--image_dir')):
    """``[image_file]``, or the images (:data:`IMAGE_EXTS`) in ``image_dir``, sorted.

    ``flags`` are the script's names for the two arguments, so that an error says which
    one to fix.
    """
    file_flag, dir_flag = flags
    if image_file and image_dir:
        raise ValueError('give %s FILE or %s DIR, not both (got %s and %s)'
                         % (file_flag, dir_flag, image_file, image_dir))
    if image_file:
        if os.path.isdir(image_file):
            raise ValueError('%s %s is a directory; give it as %s %s'
                             % (file_flag, image_file, dir_flag, image_file))
        if not os.path.isfile(image_file):
            raise FileNotFoundError('image not found: %s (%s)' % (image_file, file_flag))
        return [image_file]
    if not image_dir:
        raise ValueError('give %s FILE or %s DIR' % (file_flag, dir_flag))
    if os.path.isfile(image_dir):
        raise ValueError('%s %s is a file; give it as %s %s'
                         % (dir_flag, image_dir, file_flag, image_dir))
    if not os.path.isdir(image_dir):
        raise FileNotFoundError('image directory not found: %s (%s)' % (image_dir, dir_flag))
    images = sorted(p for p in glob.glob(os.path.join(image_dir, '*'))
                    if p.lower().endswith(IMAGE_EXTS))
    if not images:
        raise ValueError('no images (%s) in %s (%s)' % ('/'.join(IMAGE_EXTS), image_dir,
                                                        dir_flag))
    return images
