"""The data check accepts the official Fashion-MNIST files and rejects anything else by name."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from course import data as seeding
from graders import data


@pytest.fixture
def official_copy(tmp_path):
    """A private copy of the verified Keras cache that a test may damage."""
    source = data.verify()
    for name in data.OFFICIAL_FILES:
        shutil.copyfile(source / name, tmp_path / name)
    return tmp_path


@pytest.mark.system
def test_real_files_are_accepted():
    """verify() passes, and what it passed is, hashed here on its own, the pinned files."""
    where = data.verify()
    for name, (digest, size) in data.OFFICIAL_FILES.items():
        raw = gzip.decompress((where / name).read_bytes())
        assert (len(raw), hashlib.sha256(raw).hexdigest()) == (size, digest), name


@pytest.mark.system
def test_load_split_matches_the_official_arrays():
    images, labels = data.load_split("train")
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60_000,) and labels[0] == 9  # the ankle boot every tutorial shows
    test_images, test_labels = data.load_split("test")
    assert test_images.shape == (10_000, 28, 28)
    assert np.bincount(test_labels).tolist() == [1000] * 10


@pytest.mark.system
def test_same_arrays_as_keras_load_data():
    from keras.datasets import fashion_mnist

    (x, y), (xt, yt) = fashion_mnist.load_data()
    images, labels = data.load_split("test")
    assert np.array_equal(xt, images) and np.array_equal(yt, labels)


@pytest.mark.system
def test_truncated_file_is_rejected_with_its_name(official_copy):
    path = official_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(data.DataError) as err:
        data.verify(official_copy)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "truncated" in message and "make data" in message


@pytest.mark.system
def test_corrupted_file_is_rejected_even_with_the_right_size(official_copy):
    path = official_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[200] = (raw[200] + 1) % 10  # one label changed: same size, different content
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz.*not the official file"):
        data.verify(official_copy)


@pytest.mark.system
def test_missing_file_is_named(official_copy):
    (official_copy / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte.gz is missing"):
        data.verify(official_copy)


@pytest.mark.system
def test_not_gzip_is_rejected(official_copy):
    (official_copy / "train-images-idx3-ubyte.gz").write_text("<html>proxy error</html>")
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz.*damaged or truncated"):
        data.verify(official_copy)


def test_check_command_exit_codes(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "datasets" / "fashion-mnist"
    seeding.seed(cache)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert seeding.main(["check"]) == 0
    assert "4 official files verified" in capsys.readouterr().out
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    assert seeding.main(["check"]) == 1
    assert "DATA ERROR: Fashion-MNIST file t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_seed_copies_into_an_empty_cache(tmp_path):
    target = tmp_path / "datasets" / "fashion-mnist"
    assert seeding.seed(target) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(data.OFFICIAL_FILES)
