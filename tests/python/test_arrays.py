"""NumPy shapes, dtypes and memory layouts: what is accepted, converted or refused.

Every refusal must happen before anything is written (count unchanged).
"""

import numpy as np
import pytest

import quiver


@pytest.fixture
def col(store):
    return store.create_collection("v", dims=4, metric="l2sq")


BASE = np.array([[0, 0, 0, 0], [1, 2, 3, 4], [4, 3, 2, 1]], dtype=np.float32)


def test_c_contiguous_float32_is_passed_without_a_copy():
    a = np.zeros((3, 4), np.float32)
    assert quiver._as_matrix(a, "embeddings") is a


@pytest.mark.parametrize("layout", ["fortran", "strided", "list"])
def test_other_layouts_are_copied_once_and_agree(col, layout):
    if layout == "fortran":
        data = np.asfortranarray(BASE)
    elif layout == "strided":
        data = np.repeat(BASE, 2, axis=0)[::2]
        assert not data.flags.c_contiguous
    else:
        data = BASE.tolist()
    col.upsert([1, 2, 3], data)
    np.testing.assert_array_equal(col.get([1, 2, 3]).embeddings, BASE)
    np.testing.assert_array_equal(col.query(data, k=1).keys[:, 0], [1, 2, 3])


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.uint8, np.int16, np.uint16])
def test_exact_dtypes_are_converted(col, dtype):
    col.upsert([1, 2, 3], BASE.astype(dtype))
    np.testing.assert_array_equal(col.get([1, 2, 3]).embeddings, BASE)
    assert col.query(BASE.astype(dtype), k=1).keys[:, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64, np.complex64, object])
def test_lossy_dtypes_are_refused(col, dtype):
    with pytest.raises(quiver.InvalidArgumentError, match=r"embeddings: dtype .* float32"):
        col.upsert([1, 2, 3], BASE.astype(dtype))
    with pytest.raises(quiver.InvalidArgumentError, match="embeddings: dtype"):
        col.query(BASE.astype(dtype))
    assert col.count() == 0


@pytest.mark.parametrize("shape", [(4,), (1, 1, 4), (3, 5), (3, 3), (0, 4)])
def test_bad_shapes_are_refused_before_writing(col, shape):
    bad = np.ones(shape, np.float32)
    with pytest.raises(quiver.InvalidArgumentError, match="embeddings"):
        col.upsert(list(range(max(1, shape[0]))), bad)
    with pytest.raises(ValueError, match="embeddings"):
        col.query(bad)
    assert col.count() == 0


def test_one_d_error_says_how_to_fix(col):
    with pytest.raises(quiver.InvalidArgumentError, match=r"2-D .*reshape\(1, -1\)"):
        col.query(np.ones(4, np.float32))


def test_wrong_dims_message_names_both_values(col):
    with pytest.raises(quiver.InvalidArgumentError, match="rows have 5 components, expected 4"):
        col.upsert([1], np.ones((1, 5), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_write_nothing(col, bad):
    data = BASE.copy()
    data[2, 1] = bad
    with pytest.raises(quiver.InvalidArgumentError):
        col.upsert([1, 2, 3], data)
    assert col.count() == 0
    with pytest.raises(quiver.InvalidArgumentError):
        col.query(data)


def test_ragged_lists_are_refused(col):
    with pytest.raises(quiver.InvalidArgumentError, match="embeddings"):
        col.upsert([1, 2], [[1, 2, 3, 4], [1, 2]])


@pytest.mark.parametrize("ids, message", [
    ([1, 2], "ids: 2 ids for 3 embeddings"),
    ([1, 2, -1], r"ids\[2\]: -1 is out of range"),
    ([1, 2, 2**63], r"ids\[2\]: 9223372036854775808 is out of range"),
    ([1, 2.0, 3], r"ids\[1\]: expected str or int, got float"),
    ([1, True, 3], r"ids\[1\]: expected str or int, got bool"),
    (["a", "", "c"], r"ids\[1\]: a string id must not be empty"),
    ("abc", "ids: expected a list"),
    (np.array([1.0, 2.0, 3.0]), "ids: expected a 1-D integer array"),
    (np.array([1, -2, 3]), r"ids\[1\]: -2 is out of range"),
    (np.array([1, 2**63, 3], dtype=np.uint64), r"ids\[1\]: .* is out of range"),
])
def test_bad_ids_are_refused(col, ids, message):
    with pytest.raises(quiver.InvalidArgumentError, match=message):
        col.upsert(ids, BASE)
    assert col.count() == 0


def test_repeated_id_in_a_batch_writes_nothing(col):
    with pytest.raises(quiver.InvalidArgumentError):
        col.upsert([1, 2, 1], BASE)
    assert col.count() == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"texts": ["a", "b"]}, "texts: 2 entries for 3 records"),
    ({"texts": ["a", 5, "c"]}, r"texts\[1\]: expected str or None, got int"),
    ({"metadatas": [{}, {}]}, "metadatas: 2 entries for 3 records"),
    ({"metadatas": [{}, [1], {}]}, r"metadatas\[1\]: expected a dict or None, got list"),
    ({"metadatas": [{}, {"x": float("nan")}, {}]}, r"metadatas\[1\]: not JSON-serializable"),
    ({"metadatas": [{}, {"x": object()}, {}]}, r"metadatas\[1\]: not JSON-serializable"),
    ({"metadatas": {"x": 1}}, "metadatas: expected a list"),
])
def test_bad_texts_and_metadatas_are_refused(col, kwargs, message):
    with pytest.raises(quiver.InvalidArgumentError, match=message):
        col.upsert([1, 2, 3], BASE, **kwargs)
    assert col.count() == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k"), ({"k": -3}, "k: -3 is out of range"), ({"k": 10001}, "k"),
    ({"ef": -1}, "ef: -1 is out of range"), ({"threads": -2}, "threads: -2 is out of range"),
    ({"include": ["embeddings"]}, r"include: \['embeddings'\] not known"),
])
def test_bad_query_arguments(col, kwargs, message):
    col.upsert([1, 2, 3], BASE)
    with pytest.raises(quiver.InvalidArgumentError, match=message):
        col.query(BASE, **kwargs)
