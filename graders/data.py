"""Offline Fashion-MNIST: verify the Keras cache's files and load them.

The notebook loads data the course's way, ``tf.keras.datasets.fashion_mnist.load_data()``,
which reads ``$KERAS_HOME/datasets/fashion-mnist/`` and only downloads missing files,
without any hash check. So the graders pin SHA-256 digests of the *uncompressed*
official files (Debian re-gzipped them, so the .gz bytes differ from upstream while the
contents are identical) and refuse to grade against anything else.

Filling the cache (``make data``) is the instructor's side: course/data.py.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

# name -> (sha256 of the uncompressed idx file, its size in bytes)
OFFICIAL_FILES = {
    "train-labels-idx1-ubyte.gz": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        60_008,
    ),
    "train-images-idx3-ubyte.gz": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        47_040_016,
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        10_008,
    ),
    "t10k-images-idx3-ubyte.gz": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        7_840_016,
    ),
}
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FIX = "Fix: run `make data` (it copies the official files from Debian's dataset-fashion-mnist)."


class DataError(RuntimeError):
    """The Fashion-MNIST files are missing or not the official ones."""


def keras_dataset_dir() -> Path:
    """Where ``fashion_mnist.load_data()`` looks, resolved as Keras does (without importing it)."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        # Keras silently falls back to /tmp/.keras when its home is read-only.
        home = Path("/tmp/.keras")
    return home / "datasets" / "fashion-mnist"


def _read_verified(path: Path) -> bytes:
    """Return the uncompressed bytes of one official file, or raise DataError naming it."""
    name = path.name
    digest, size = OFFICIAL_FILES[name]
    if not path.is_file():
        raise DataError(f"Fashion-MNIST file {name} is missing from {path.parent}. {FIX}")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(
            f"Fashion-MNIST file {name} in {path.parent} is damaged or truncated ({exc}). {FIX}"
        ) from exc
    if len(raw) != size:
        raise DataError(
            f"Fashion-MNIST file {name} in {path.parent} has {len(raw):,} bytes after "
            f"decompression, the official file has {size:,}: it is truncated or not "
            f"Fashion-MNIST. {FIX}"
        )
    if hashlib.sha256(raw).hexdigest() != digest:
        raise DataError(
            f"Fashion-MNIST file {name} in {path.parent} is not the official file "
            f"(SHA-256 differs from the pinned digest). Grading against it would give "
            f"wrong grades. {FIX}"
        )
    return raw


def verify(directory: Path | None = None) -> Path:
    """Check all four files; return the directory or raise DataError for the first bad one."""
    directory = Path(directory) if directory else keras_dataset_dir()
    for name in OFFICIAL_FILES:
        _read_verified(directory / name)
    return directory


def _idx_to_array(raw: bytes) -> np.ndarray:
    """Parse an idx file (big-endian header: magic, dims) into a uint8 array."""
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split: str, directory: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of 'train' or 'test', digest-checked.

    Same arrays as ``fashion_mnist.load_data()``; used by the graders' child process so a
    student's kernel cannot hand it different data.
    """
    directory = Path(directory) if directory else keras_dataset_dir()
    images_name, labels_name = SPLITS[split]
    images = _idx_to_array(_read_verified(directory / images_name))
    labels = _idx_to_array(_read_verified(directory / labels_name))
    return images, labels
