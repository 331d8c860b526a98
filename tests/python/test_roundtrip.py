"""Round trips of every call of the Python API."""

import numpy as np
import pytest

import quiver


def fnv1a63(text):
    """The documented string-id mapping, computed independently of the binding."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return h & (2**63 - 1)


def test_collection_catalog(store):
    col = store.create_collection("docs", dims=4, metric="l2sq", expansion_search=80)
    assert (col.name, col.dims) == ("docs", 4)
    assert col.config["metric"] == "l2sq" and col.config["expansion_search"] == 80
    assert col.config["connectivity"] == 16  # the library default
    store.create_collection("a_first", dims=2)
    infos = store.list_collections()
    assert [i.name for i in infos] == ["a_first", "docs"]
    assert infos[1].config == col.config
    assert store.get_collection("docs").config == col.config
    assert store.get_or_create_collection("docs", dims=4, metric="l2sq").name == "docs"
    store.drop_collection("a_first")
    assert [i.name for i in store.list_collections()] == ["docs"]


def test_upsert_get_query_with_string_ids(store, rng):
    col = store.create_collection("docs", dims=8, metric="cos")
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    col.upsert(ids=["a", "b", "c"], embeddings=vectors, texts=["alpha", None, "gamma"],
               metadatas=[{"page": 1, "tags": ["x"]}, None, {"page": 3}])
    assert col.count() == 3 and len(col) == 3

    got = col.get(["c", "missing", "a"])
    assert got.found.tolist() == [True, False, True]
    assert got.keys.tolist() == [fnv1a63("c"), fnv1a63("missing"), fnv1a63("a")]
    assert got.ids == ["c", None, "a"]
    assert got.texts == ["gamma", None, "alpha"]
    assert got.metadatas == [{"page": 3}, None, {"page": 1, "tags": ["x"]}]
    np.testing.assert_array_equal(got.embeddings[0], vectors[2])
    np.testing.assert_array_equal(got.embeddings[2], vectors[0])
    assert np.isnan(got.embeddings[1]).all()

    result = col.query(vectors, k=2, include=["ids", "texts", "metadatas"])
    assert result.keys.shape == (3, 2) and result.keys.dtype == np.uint64
    assert result.distances.shape == (3, 2) and result.distances.dtype == np.float32
    assert [row[0] for row in result.ids] == ["a", "b", "c"]
    assert result.texts[0][0] == "alpha" and result.texts[1][0] == ""
    assert result.metadatas[2][0] == {"page": 3} and result.metadatas[1][0] == {}
    assert np.all(result.distances[:, 0] < 1e-5)
    assert np.all(np.diff(result.distances, axis=1) >= 0)
    keys, distances = result
    assert keys is result.keys and distances is result.distances
    bare = col.query(vectors[:1], k=1)
    assert bare.ids is None and bare.texts is None and bare.metadatas is None

    assert quiver.key_for_id("a") == fnv1a63("a")
    assert quiver.key_for_id("é") == fnv1a63("é")


def test_upsert_replaces_and_integer_ids(store):
    col = store.create_collection("v", dims=2, metric="l2sq")
    col.upsert(np.array([5, 7], dtype=np.int64), np.array([[0, 0], [1, 1]], np.float32),
               texts=["five", "seven"])
    col.upsert([5], np.array([[3, 3]], np.float32), texts=["five again"])
    got = col.get(np.array([5, 7], dtype=np.uint64))
    assert got.texts == ["five again", "seven"] and got.ids == [None, None]
    np.testing.assert_array_equal(got.embeddings, [[3, 3], [1, 1]])
    assert col.count() == 2


def test_insert_delete_count(store):
    col = store.create_collection("v", dims=2, metric="l2sq")
    keys = col.insert(np.array([[0, 0], [1, 0], [2, 0]], np.float32), texts=["a", "b", "c"])
    assert keys.dtype == np.uint64 and keys.tolist() == [1, 2, 3]
    assert col.delete([int(keys[1]), 999]) == 1
    assert col.count() == 2
    assert col.get([int(keys[1])]).found.tolist() == [False]
    hits = col.query(np.array([[1, 0]], np.float32), k=3)
    assert 2 not in hits.keys[0].tolist()


def test_query_pads_short_rows(store):
    col = store.create_collection("v", dims=2, metric="l2sq")
    col.upsert([1, 2], np.array([[0, 0], [1, 1]], np.float32))
    result = col.query(np.array([[0, 0]], np.float32), k=5, include=["ids"])
    assert result.counts.tolist() == [2]
    assert result.keys[0].tolist() == [1, 2, quiver.NO_KEY, quiver.NO_KEY, quiver.NO_KEY]
    assert np.isinf(result.distances[0, 2:]).all()
    assert result.distances[0, :2].tolist() == [0.0, 2.0]
    assert len(result.ids[0]) == 2


def test_query_threads_and_ef_give_the_same_answers(store, rng):
    col = store.create_collection("v", dims=16, metric="l2sq")
    data = rng.standard_normal((500, 16)).astype(np.float32)
    col.upsert(np.arange(500), data)
    queries = rng.standard_normal((37, 16)).astype(np.float32)
    one = col.query(queries, k=5, ef=200)
    two = col.query(queries, k=5, ef=200, threads=2)
    many = col.query(queries, k=5, ef=200, threads=64)  # more threads than queries
    np.testing.assert_array_equal(one.keys, two.keys)
    np.testing.assert_array_equal(one.keys, many.keys)
    # 500 points at ef=200 are searched almost exactly; not always exactly, since
    # a graph built by concurrent inserts may leave a node hard to reach
    # (USearch issue #735, options.h insert_threads).
    exact = col.query_exact(queries, k=5)
    assert exact.counts.tolist() == [5] * 37
    overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact.keys, one.keys))
    assert overlap >= 0.97 * exact.keys.size


def test_stats_checkpoint_rebuild_verify(store, rng):
    col = store.create_collection("v", dims=8, metric="l2sq")
    col.upsert(np.arange(100), rng.standard_normal((100, 8)).astype(np.float32))
    stats = col.stats()
    assert stats["records"] == 100 and stats["index_vectors"] == 100
    assert stats["change_log_length"] == 100 and stats["checkpoint_generation"] == 0
    col.checkpoint()
    stats = col.stats()
    assert stats["checkpoint_generation"] == 1 and stats["change_log_length"] == 0
    col.upsert([100], np.zeros((1, 8), np.float32))
    store.checkpoint()
    assert col.stats()["checkpoint_generation"] == 2

    col.rebuild(scalar="f16", expansion_search=99)
    assert col.stats()["config"]["scalar"] == "f16"
    assert store.get_collection("v").config["expansion_search"] == 99
    report = col.verify()
    assert report.clean and report.records_checked == 101 and report.problems == []
    hit = col.query(np.zeros((1, 8), np.float32), k=1)
    assert hit.keys[0, 0] == 100


def test_backup_and_reopen(tmp_path, rng):
    data = rng.standard_normal((50, 4)).astype(np.float32)
    with quiver.open(str(tmp_path / "s"), log_level="error") as store:
        col = store.create_collection("v", dims=4, metric="l2sq")
        col.upsert(np.arange(50), data, metadatas=[{"i": i} for i in range(50)])
        store.backup(str(tmp_path / "copy"))
        with pytest.raises(quiver.AlreadyExistsError):
            store.backup(str(tmp_path / "copy"))
    for path in ("s", "copy"):
        with quiver.open(str(tmp_path / path), create=False, read_only=True,
                         log_level="error") as reopened:
            col = reopened.get_collection("v")
            assert col.count() == 50
            got = col.get(list(range(50)))
            np.testing.assert_array_equal(got.embeddings, data)
            assert got.metadatas[7] == {"i": 7}
            assert col.verify().clean


def test_context_manager_closes(tmp_path):
    with quiver.open(str(tmp_path / "s"), log_level="error") as store:
        col = store.create_collection("v", dims=2)
    assert store.closed
    with pytest.raises(quiver.FailedPreconditionError):
        col.count()
    with pytest.raises(quiver.FailedPreconditionError):
        store.list_collections()
    store.close()  # idempotent
    # The LOCK was released: a second writer can open it now.
    quiver.open(str(tmp_path / "s"), log_level="error").close()


def test_module_metadata():
    assert quiver.__version__ == quiver.version() and quiver.version().count(".") == 2
    assert quiver.usearch_version()
    assert "serial" in quiver.simd_capabilities()
    assert quiver.MAX_K == 10000 and quiver.NO_KEY == 2**64 - 1
