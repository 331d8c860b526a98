"""Metadata filters from Python: query, count, scan and delete by `where`
(docs/filters.md), checked against a filter evaluated here in Python."""

from types import SimpleNamespace

import numpy as np
import pytest

import quiver


COLORS = ["red", "green", "blue"]


@pytest.fixture
def data(store):
    col = store.create_collection("f", dims=8, metric="l2sq")
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    metadatas = [{"color": COLORS[i % 3], "price": i % 50} for i in range(300)]
    col.upsert(list(range(300)), vectors, metadatas=metadatas)
    return SimpleNamespace(col=col, vectors=vectors, metadatas=metadatas)


def matching(data, predicate):
    return [i for i, m in enumerate(data.metadatas) if predicate(m)]


def test_count_and_scan_match_a_python_evaluation(data):
    col = data.col
    where = {"$or": [{"color": "red"}, {"price": {"$gte": 45}}]}
    expected = matching(data, lambda m: m["color"] == "red" or m["price"] >= 45)
    assert col.count(where=where) == len(expected)
    assert col.count() == 300
    keys = np.concatenate([page.keys for page in col.scan(where=where, page_size=7)])
    assert sorted(keys.tolist()) == expected
    first = next(col.scan(where={"price": 3}, page_size=100))
    assert first.metadatas[0]["price"] == 3
    np.testing.assert_array_equal(first.embeddings[0], data.vectors[first.keys[0]])


def test_filtered_query_returns_the_nearest_matching_records(data):
    col = data.col
    queries = data.vectors[:20] + 0.01
    where = {"color": "green", "price": {"$lt": 10}}
    allowed = np.array(matching(data, lambda m: m["color"] == "green" and m["price"] < 10))
    result = col.query(queries, k=5, where=where)
    for q in range(len(queries)):
        d = ((data.vectors[allowed] - queries[q]) ** 2).sum(axis=1)
        truth = set(allowed[np.argsort(d)[:5]].tolist())
        got = set(result.keys[q, :result.counts[q]].tolist())
        assert got == truth


def test_delete_by_filter_is_atomic_and_counted(data):
    col = data.col
    assert col.delete(where={"color": "blue"}) == 100
    assert col.count() == 200
    assert col.count(where={"color": "blue"}) == 0
    assert col.delete(where={"color": "black"}) == 0
    with pytest.raises(quiver.InvalidArgumentError):
        col.delete([1], where={"color": "red"})


@pytest.mark.parametrize("where, message", [
    ({"price": {"$gt": [1]}}, r"where\.price\.\$gt"),
    ({"$and": []}, r"where\.\$and"),
    ({"price": {"$between": 1}}, "unknown operator"),
    ("color = red", "expected a dict"),
])
def test_bad_filters_raise_and_write_nothing(data, where, message):
    col = data.col
    with pytest.raises(quiver.InvalidArgumentError, match=message):
        col.count(where=where)
    with pytest.raises(quiver.InvalidArgumentError, match=message):
        col.delete(where=where)
    assert col.count() == 300
