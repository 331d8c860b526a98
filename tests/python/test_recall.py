"""Search quality: recall@10 against NumPy brute force, on fixed seeds."""

import numpy as np
import pytest


def embeddings(rng, n, dims, projection, clusters=20):
    """Embedding-like data: clustered points of an 8-d latent space, projected to
    `dims` dimensions, plus a little noise (real embeddings have a low intrinsic
    dimension; isotropic 48-d noise would measure the curse of dimensionality)."""
    centers = np.random.default_rng(99).standard_normal((clusters, 8)) * 3
    latent = centers[rng.integers(0, clusters, n)] + rng.standard_normal((n, 8))
    noise = 0.05 * rng.standard_normal((n, dims))
    return (latent @ projection + noise).astype(np.float32)


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
    projection = rng.standard_normal((8, 48))
    data = embeddings(rng, 4000, 48, projection)
    queries = embeddings(rng, 200, 48, projection)
    col = store.create_collection("v", dims=48, metric=metric)
    for start in range(0, len(data), 1000):
        col.upsert(np.arange(start, start + 1000), data[start:start + 1000])
    truth, truth_distances = brute_force(data, queries, 10, metric)
    result = col.query(queries, k=10, threads=2)  # the collection's default ef (64)
    hits = sum(len(set(row.tolist()) & set(t.tolist())) for row, t in zip(result.keys, truth))
    recall = hits / truth.size
    assert recall >= 0.95, f"recall@10 {recall:.3f}"
    # Distances are in the metric's own units (lower is closer): where the first
    # match is the true nearest, its distance is the exact one.
    same = result.keys[:, 0] == truth[:, 0]
    assert same.mean() >= 0.95
    np.testing.assert_allclose(result.distances[same, 0], truth_distances[same, 0], rtol=1e-3,
                               atol=1e-4)
