"""Remake the VTAB-1K-style tasks in examples/data/ (1,000 training and 500 test images each, 28×28,
in Fashion-MNIST's IDX layout) from Debian's packages:

    apt-get install -y dataset-fashion-mnist
    /usr/bin/python3 examples/data/make_tasks.py

- digits-1k: a new domain. The UCI optical handwritten digits (8×8, values 0..16) that
  python3-sklearn carries (fetched with `apt-get download python3-sklearn` and unpacked with
  `dpkg -x`, not installed), upscaled bilinearly to 20×20 and centred in 28×28 as MNIST is.
- rotation-1k: a structured task. Fashion-MNIST images turned by 0, 90, 180 or 270 degrees; the
  label is the turn (0..3), not the garment.
"""
import glob, gzip, os, struct, subprocess, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0


def write_idx(path, array):
    code = {1: 0x801, 3: 0x803}[array.ndim]
    head = struct.pack('>I', code) + b''.join(struct.pack('>I', d) for d in array.shape)
    with gzip.GzipFile(path, 'wb', mtime=0) as f:
        f.write(head + array.astype(np.uint8).tobytes())


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    dims = struct.unpack('>' + 'I' * raw[3], raw[4:4 + 4 * raw[3]])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def save(name, xtr, ytr, xte, yte):
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    write_idx(f'{out}/train-images-idx3-ubyte.gz', xtr)
    write_idx(f'{out}/train-labels-idx1-ubyte.gz', ytr)
    write_idx(f'{out}/t10k-images-idx3-ubyte.gz', xte)
    write_idx(f'{out}/t10k-labels-idx1-ubyte.gz', yte)
    print(f'{out}: {len(xtr)} training, {len(xte)} test images, labels {sorted(set(ytr.tolist()))}')


def bilinear(img, size):
    """Resize a 2-D array with bilinear interpolation (pixel centres aligned, as align_corners=False)."""
    h, w = img.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def digits():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(['apt-get', 'download', 'python3-sklearn'], cwd=tmp, check=True, capture_output=True)
        deb = glob.glob(f'{tmp}/python3-sklearn_*.deb')[0]
        subprocess.run(['dpkg', '-x', deb, f'{tmp}/x'], check=True)
        csv = glob.glob(f'{tmp}/x/**/sklearn/datasets/data/digits.csv.gz', recursive=True)[0]
        data = np.loadtxt(gzip.open(csv, 'rt'), delimiter=',')
    x8, y = data[:, :64].reshape(-1, 8, 8), data[:, 64].astype(np.uint8)
    x28 = np.zeros((len(x8), 28, 28))
    x28[:, 4:24, 4:24] = [bilinear(im, 20) for im in x8]
    x28 = np.round(np.clip(x28 * 255 / 16, 0, 255))
    order = np.random.default_rng(SEED).permutation(len(y))
    tr, te = order[:1000], order[1000:1500]
    save('digits-1k', x28[tr], y[tr], x28[te], y[te])


def rotation():
    images = read_idx('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')
    rng = np.random.default_rng(SEED + 1)
    pick = rng.permutation(len(images))[:1500]
    turns = rng.integers(0, 4, size=1500).astype(np.uint8)
    x = np.stack([np.rot90(images[i], k) for i, k in zip(pick, turns)])
    save('rotation-1k', x[:1000], turns[:1000], x[1000:], turns[1000:])


if __name__ == '__main__':
    digits()
    rotation()
