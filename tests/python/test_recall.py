"""Search quality: recall@10 against NumPy brute force, on fixed seeds."""

import numpy as np
import pytest

import quiver


def clustered(rng, n, dims, clusters=20):
    centers = rng.standard_normal((clusters, dims)).astype(np.float32) * 4
    labels = rng.integers(0, clusters, n)
    return (centers[labels] + rng.standard_normal((n, dims)).astype(np.float32)).astype(np.float32)


def brute_force(data, queries, k, metric):
    if metric == "l2sq":
        d = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(axis=2)
    else:  # cos
        dn = data / np.linalg.norm(data, axis=1, keepdims=True)
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        d = 1 - qn @ dn.T
    return np.argsort(d, axis=1, kind="stable")[:, :k], np.sort(d, axis=1)[:, :k]


@pytest.mark.parametrize("metric", ["l2sq", "cos"])
def test_recall_at_10(store, metric):
    rng = np.random.default_rng(7)
    data = clustered(rng, 4000, 48)
    queries = clustered(rng, 200, 48)
    col = store.create_collection("v", dims=48, metric=metric)
    for start in range(0, len(data), 1000):
        col.upsert(np.arange(start, start + 1000), data[start:start + 1000])
    truth, truth_distances = brute_force(data, queries, 10, metric)
    result = col.query(queries, k=10, threads=2)
    hits = sum(len(set(row.tolist()) & set(t.tolist())) for row, t in zip(result.keys, truth))
    recall = hits / truth.size
    assert recall >= 0.95, f"recall@10 {recall:.3f}"
    # Distances are in the metric's own units (lower is closer).
    np.testing.assert_allclose(result.distances[:, 0], truth_distances[:, 0], rtol=1e-3, atol=1e-4)
