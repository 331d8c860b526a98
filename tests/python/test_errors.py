"""Each library status code maps to one exception class, with the library's message."""

import numpy as np
import pytest

import quiver
from quiver import _errors


def test_every_code_has_a_class_deriving_from_error():
    codes = {"invalid_argument", "not_found", "already_exists", "corruption", "io_error", "busy",
             "not_supported", "failed_precondition", "internal", "unavailable"}
    assert set(_errors.STATUS_CLASSES) == codes
    for code, cls in _errors.STATUS_CLASSES.items():
        assert issubclass(cls, quiver.Error) and cls.code == code
    assert issubclass(quiver.InvalidArgumentError, ValueError)
    assert issubclass(quiver.NotFoundError, KeyError)
    assert issubclass(quiver.StorageIOError, OSError)
    assert issubclass(quiver.UnavailableError, ConnectionError)


def test_invalid_argument(store):
    with pytest.raises(quiver.InvalidArgumentError, match="name") as info:
        store.create_collection("bad name!", dims=4)
    assert info.value.code == "invalid_argument"
    with pytest.raises(ValueError, match="dimensions"):
        store.create_collection("ok", dims=0)
    with pytest.raises(ValueError, match="metric"):
        store.create_collection("ok", dims=4, metric="hamming")
    with pytest.raises(ValueError, match="dims: -1 is out of range"):
        store.create_collection("ok", dims=-1)
    assert store.list_collections() == []


def test_not_found_prints_the_message_unquoted(store):
    with pytest.raises(KeyError) as info:
        store.get_collection("nope")
    assert isinstance(info.value, quiver.NotFoundError)
    assert "nope" in str(info.value) and not str(info.value).startswith("'")
    with pytest.raises(quiver.NotFoundError):
        store.drop_collection("nope")


def test_not_found_for_a_missing_store(tmp_path):
    with pytest.raises(quiver.NotFoundError):
        quiver.open(str(tmp_path / "none"), create=False, log_level="off")


def test_dropped_collection_handle(store):
    col = store.create_collection("v", dims=2)
    store.drop_collection("v")
    with pytest.raises(quiver.NotFoundError):
        col.count()


def test_already_exists(store):
    store.create_collection("v", dims=2)
    with pytest.raises(quiver.AlreadyExistsError, match="v"):
        store.create_collection("v", dims=2)


def test_busy_second_writer(tmp_path):
    path = str(tmp_path / "s")
    with quiver.open(path, log_level="off"):
        with pytest.raises(quiver.BusyError):
            quiver.open(path, log_level="off")
        # A read-only open works beside the writer.
        with quiver.open(path, read_only=True, log_level="off") as reader:
            assert reader.list_collections() == []


def test_not_supported_on_read_only(tmp_path):
    path = str(tmp_path / "s")
    with quiver.open(path, log_level="off") as store:
        store.create_collection("v", dims=2).upsert([1], np.ones((1, 2), np.float32))
    with quiver.open(path, read_only=True, log_level="off") as store:
        col = store.get_collection("v")
        with pytest.raises(quiver.NotSupportedError):
            col.upsert([2], np.ones((1, 2), np.float32))
        with pytest.raises(quiver.NotSupportedError):
            col.delete([1])
        with pytest.raises(quiver.NotSupportedError):
            store.create_collection("w", dims=2)
        assert col.count() == 1


def test_failed_precondition(store):
    store.create_collection("v", dims=4, metric="cos")
    with pytest.raises(quiver.FailedPreconditionError, match="l2sq"):
        store.get_or_create_collection("v", dims=4, metric="l2sq")


def test_corruption(tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    (path / "quiver.db").write_bytes(b"this is not a SQLite database" * 200)
    with pytest.raises((quiver.CorruptionError, quiver.StorageIOError)) as info:
        quiver.open(str(path), log_level="off")
    assert isinstance(info.value, quiver.Error)


def test_bad_open_options(tmp_path):
    with pytest.raises(quiver.InvalidArgumentError, match="synchronous"):
        quiver.open(str(tmp_path / "s"), synchronous="sometimes")
    with pytest.raises(quiver.InvalidArgumentError, match="log_level"):
        quiver.open(str(tmp_path / "s"), log_level="loud")
    assert not (tmp_path / "s").exists()
