#!/usr/bin/python3
"""Generate the clustered benchmark data set (reproducible, fixed seed).

A Gaussian mixture in d dimensions, meant to look more like real embeddings
than uniform noise does: a few thousand centres whose spread decays along the
dimensions (so the data has a lower intrinsic dimension than d), clusters of
very unequal sizes (log-normal weights), and anisotropic clusters (per-cluster,
per-axis scales, in one of a few random rotations each). Queries are drawn from
the same mixture, independently of the base (no query is a base vector).

Writes, in the layout of bench/prepare_fashion_mnist.py (data/fashion-mnist):

  data/clustered-<n>x<d>/base.fbin           n x d float32
  data/clustered-<n>x<d>/query.fbin          queries x d float32
  data/clustered-<n>x<d>/gt_l2sq.ibin        exact top-k ids by squared L2, nearest first
  data/clustered-<n>x<d>/gt_l2sq.dist.fbin   the matching distances (float32)
  data/clustered-<n>x<d>/meta.json           every parameter, to validate the cache

File formats (little-endian):
  .fbin   int32 n, int32 d, then n*d float32, row-major
  .ibin   int32 n, int32 k, then n*k int32, row-major (0-based rows of base.fbin)

Ground truth is exact. For each block of queries, a float32 matrix product
ranks all base vectors (||x||^2 - 2 x.q); the best `--candidates` of each query
are re-ranked with float64 distances computed from the float32 vectors. A
query's result is accepted only if its k-th exact distance is below what any
vector outside the candidates can reach given a rigorous bound on the float32
rounding error; otherwise that query is recomputed by a full float64 scan. Ties
are broken by the lower base index, as in prepare_fashion_mnist.py.

The outputs are reused when meta.json matches the requested parameters; any
difference (or --force) regenerates them. Generation is deterministic for a
given seed and numpy version (recorded in meta.json).

  /usr/bin/python3 bench/prepare_clustered.py [--n 1000000] [--dims 96] [--queries 10000]
      [--k 100] [--seed 20261122] [--clusters AUTO] [--out DIR] [--threads N] [--force]
"""

import argparse
import json
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prepare_fashion_mnist import bin_header, read_bin, write_bin  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Bump when the generator or the ground-truth method changes, to invalidate caches.
GENERATOR_VERSION = 1
# Rows generated per step. Part of the random stream's definition: changing it
# changes the data, so it is fixed (and recorded in meta.json).
GEN_CHUNK = 65536
N_ROTATIONS = 16

_T0 = time.monotonic()


class PrepareError(Exception):
    """A failure with a message meant for the user."""


def log(msg):
    print("[%7.1fs] %s" % (time.monotonic() - _T0, msg), file=sys.stderr, flush=True)


def default_clusters(n):
    """About 250 base vectors per cluster, between 64 and 4096 clusters."""
    return int(min(4096, max(64, n // 250)))


# --------------------------------------------------------------------------
# The mixture
# --------------------------------------------------------------------------

class Mixture:
    """Parameters of the Gaussian mixture; depends only on (seed, dims, clusters)."""

    def __init__(self, seed, dims, clusters):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        # Spread of the centres decays as 1/sqrt(1+j): most variance in the
        # first dimensions, like the spectrum of real embeddings.
        spectrum = (1.0 + np.arange(dims)) ** -0.5
        self.dims = dims
        self.clusters = clusters
        self.centres = rng.standard_normal((clusters, dims)) * spectrum
        # Cluster sizes: log-normal weights (a few big clusters, many small ones).
        w = rng.lognormal(0.0, 1.0, clusters)
        self.weights = w / w.sum()
        # Per-cluster overall scale (log-uniform 0.1..0.5, relative to the
        # centres' spread) times per-axis factors (log-normal): anisotropic.
        overall = np.exp(rng.uniform(math.log(0.1), math.log(0.5), clusters))
        self.axis_scales = (overall[:, None] * spectrum[None, :] *
                            np.exp(0.5 * rng.standard_normal((clusters, dims))))
        # Each cluster's axes are rotated by one of a few random orthogonal matrices.
        self.rotations = []
        for _ in range(N_ROTATIONS):
            qm, r = np.linalg.qr(rng.standard_normal((dims, dims)))
            self.rotations.append(qm * np.sign(np.diag(r)))  # uniform (Haar) rotation
        self.rotation_of = rng.integers(0, N_ROTATIONS, clusters)

    def sample(self, rng, m):
        """m points as an (m, dims) float32 array."""
        labels = rng.choice(self.clusters, size=m, p=self.weights)
        z = rng.standard_normal((m, self.dims)) * self.axis_scales[labels]
        rot = self.rotation_of[labels]
        for r in range(N_ROTATIONS):
            rows = np.flatnonzero(rot == r)
            if rows.size:
                z[rows] = z[rows] @ self.rotations[r]
        return (self.centres[labels] + z).astype(np.float32)


def generate(mixture, seed, stream, rows, path):
    """Writes `rows` samples of stream `stream` (1 = base, 2 = queries) to an .fbin; returns them."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    out = np.empty((rows, mixture.dims), dtype=np.float32)
    for lo in range(0, rows, GEN_CHUNK):
        hi = min(lo + GEN_CHUNK, rows)
        out[lo:hi] = mixture.sample(rng, hi - lo)
    write_bin(path, out, "<f4")
    return out


# --------------------------------------------------------------------------
# Exact ground truth
# --------------------------------------------------------------------------

def exact_rows(base, q, k):
    """Exact top-k (ids, float64 distances) of one query by a full float64 scan.

    Computes sum((x - q)^2) in float64 for every base row, in chunks, exactly as
    the candidate re-rank does, so both paths agree bit for bit.
    """
    q64 = q.astype(np.float64)
    d = np.empty(base.shape[0], np.float64)
    for lo in range(0, base.shape[0], GEN_CHUNK):
        diff = base[lo:lo + GEN_CHUNK].astype(np.float64) - q64
        d[lo:lo + GEN_CHUNK] = np.einsum("ij,ij->i", diff, diff)
    # Every vector as close as the k-th: a tie at the k-th place resolves by index.
    kth = np.partition(d, k - 1)[k - 1]
    cand = np.flatnonzero(d <= kth)
    order = np.lexsort((cand, d[cand]))[:k]
    return cand[order], d[cand[order]]


def ground_truth(base, query, k, candidates, block, threads):
    """Exact top-k by squared L2 for every query: (ids int32 (nq, k), dists float64 (nq, k))."""
    n, d = base.shape
    nq = query.shape[0]
    m = min(max(candidates, k), n - 1)
    base64_sq = np.empty(n, np.float64)
    for lo in range(0, n, GEN_CHUNK):
        chunk = base[lo:lo + GEN_CHUNK].astype(np.float64)
        base64_sq[lo:lo + GEN_CHUNK] = np.einsum("ij,ij->i", chunk, chunk)
    base32_sq = base64_sq.astype(np.float32)
    max_norm = math.sqrt(base64_sq.max())
    u = 2.0 ** -24
    gamma = d * u / (1 - d * u)
    ids = np.empty((nq, k), np.int32)
    dists = np.empty((nq, k), np.float64)
    fallbacks = [0]
    done = [0]
    lock = threading.Lock()
    t_start = time.monotonic()

    def run_block(lo):
        hi = min(lo + block, nq)
        q = query[lo:hi]
        # (b, n) float32: ||x||^2 - 2 x.q, the squared distance minus ||q||^2.
        approx = q @ base.T
        approx *= np.float32(-2.0)
        approx += base32_sq[None, :]
        local_fallbacks = 0
        for r in range(hi - lo):
            row = approx[r]
            part = np.argpartition(row, m)
            cand = part[:m]
            excluded_min = float(row[part[m]])  # smallest estimate outside cand
            q64 = q[r].astype(np.float64)
            q_sq = float(q64 @ q64)
            diff = base[cand].astype(np.float64) - q64
            exact = np.einsum("ij,ij->i", diff, diff)
            order = np.lexsort((cand, exact))[:k]
            # Rigorous bound on |float32 estimate - (exact - ||q||^2)|: dot product
            # (gamma_d * ||x|| ||q||, doubled), rounding of ||x||^2 and of the two
            # float32 operations; then a factor 2 of margin.
            qn = math.sqrt(q_sq)
            err = 2.0 * (2.0 * gamma * max_norm * qn + 3.0 * u * (max_norm ** 2 + 2 * max_norm * qn))
            if exact[order[-1]] < excluded_min + q_sq - err:
                ids[lo + r], dists[lo + r] = cand[order], exact[order]
            else:
                ids[lo + r], dists[lo + r] = exact_rows(base, q[r], k)
                local_fallbacks += 1
        with lock:
            fallbacks[0] += local_fallbacks
            done[0] += hi - lo
            log("  ground truth: %5d/%d queries (%.1fs)" % (done[0], nq, time.monotonic() - t_start))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run_block, range(0, nq, block)))  # list() re-raises worker errors
    return ids, dists, fallbacks[0]


def sanity_check(base, query, ids, dists, k):
    """Full brute-force float64 scans of three queries must reproduce the stored results."""
    for qi in sorted({0, query.shape[0] // 2, query.shape[0] - 1}):
        want_ids, want_d = exact_rows(base, query[qi], k)
        if not (np.array_equal(want_ids, ids[qi]) and
                np.array_equal(want_d.astype(np.float32), dists[qi])):
            raise PrepareError("brute-force top-%d of query %d disagrees with the ground truth"
                               % (k, qi))
    log("  top-%d of 3 queries match a full float64 scan" % k)


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Generate a reproducible clustered (Gaussian mixture) data set with exact "
                    "top-k squared-L2 ground truth, in .fbin/.ibin files.",
        epilog="Example: /usr/bin/python3 bench/prepare_clustered.py --n 100000 --dims 96")
    ap.add_argument("--n", type=int, default=1000000, help="base vectors (default: %(default)s)")
    ap.add_argument("--dims", type=int, default=96, help="dimensions (default: %(default)s)")
    ap.add_argument("--queries", type=int, default=10000, help="queries (default: %(default)s)")
    ap.add_argument("--k", type=int, default=100,
                    help="neighbours per query in the ground truth (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=20261122, help="random seed (default: %(default)s)")
    ap.add_argument("--clusters", type=int, default=0,
                    help="mixture components (default: n/250 clamped to 64..4096)")
    ap.add_argument("--out", default=None,
                    help="output directory (default: data/clustered-<n>x<dims> under the repo)")
    ap.add_argument("--candidates", type=int, default=256,
                    help="float32 candidates re-ranked in float64 per query (default: %(default)s)")
    ap.add_argument("--block", type=int, default=128,
                    help="queries per matrix product; memory ~ 12 * n * block bytes per thread "
                         "(default: %(default)s)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="blocks computed concurrently (default: CPUs available, %(default)s)")
    ap.add_argument("--force", action="store_true", help="regenerate even if the cache matches")
    args = ap.parse_args(argv)

    if args.n < 2 or args.dims < 1 or args.queries < 1:
        ap.error("--n must be at least 2, --dims and --queries at least 1")
    if not 1 <= args.k < args.n:
        ap.error("--k must be between 1 and n-1")
    if args.n >= 2 ** 31 or args.n * args.dims >= 2 ** 40:
        ap.error("--n too large for int32 ids")
    if args.block < 1 or args.threads < 1:
        ap.error("--block and --threads must be positive")
    clusters = args.clusters or default_clusters(args.n)
    out = args.out or os.path.join(REPO_ROOT, "data", "clustered-%dx%d" % (args.n, args.dims))
    paths = {name: os.path.join(out, name) for name in
             ("base.fbin", "query.fbin", "gt_l2sq.ibin", "gt_l2sq.dist.fbin", "meta.json")}
    meta = {"generator_version": GENERATOR_VERSION, "seed": args.seed, "n": args.n,
            "dims": args.dims, "queries": args.queries, "k": args.k, "clusters": clusters,
            "rotations": N_ROTATIONS, "gen_chunk": GEN_CHUNK, "numpy": np.__version__,
            "metric": "l2sq",
            "description": "Gaussian mixture: centres ~ N(0, diag(1/(1+j))), log-normal "
                           "weights, per-cluster log-uniform(0.1, 0.5) scale times per-axis "
                           "log-normal(0, 0.5) factors, one of 16 random rotations per cluster"}

    try:
        expected = {"base.fbin": (args.n, args.dims), "query.fbin": (args.queries, args.dims),
                    "gt_l2sq.ibin": (args.queries, args.k),
                    "gt_l2sq.dist.fbin": (args.queries, args.k)}
        if not args.force and os.path.exists(paths["meta.json"]):
            with open(paths["meta.json"]) as f:
                old = json.load(f)
            old.pop("ground_truth_seconds", None)
            old.pop("fallback_queries", None)
            if old == meta and all(bin_header(paths[p]) == shape for p, shape in expected.items()):
                log("%s is up to date (use --force to regenerate)" % out)
                return 0
            log("%s exists but was made with other parameters or is incomplete; regenerating" % out)

        os.makedirs(out, exist_ok=True)
        # Invalidate first: a crash half-way must not leave a matching meta.json.
        if os.path.exists(paths["meta.json"]):
            os.remove(paths["meta.json"])
        t = time.monotonic()
        mixture = Mixture(args.seed, args.dims, clusters)
        base = generate(mixture, args.seed, 1, args.n, paths["base.fbin"])
        query = generate(mixture, args.seed, 2, args.queries, paths["query.fbin"])
        log("generated %d base and %d query vectors, %d-d, %d clusters (%.1fs)"
            % (args.n, args.queries, args.dims, clusters, time.monotonic() - t))

        t = time.monotonic()
        log("computing exact top-%d ground truth (%d threads, %d queries per block)"
            % (args.k, args.threads, args.block))
        ids, dists, fallbacks = ground_truth(base, query, args.k, args.candidates, args.block,
                                             args.threads)
        gt_seconds = time.monotonic() - t
        log("ground truth done (%.1fs; %d queries needed a full float64 scan)"
            % (gt_seconds, fallbacks))
        write_bin(paths["gt_l2sq.ibin"], ids, "<i4")
        write_bin(paths["gt_l2sq.dist.fbin"], dists, "<f4")

        sanity_check(base, query, read_bin(paths["gt_l2sq.ibin"], "<i4"),
                     read_bin(paths["gt_l2sq.dist.fbin"], "<f4"), args.k)
        meta["ground_truth_seconds"] = round(gt_seconds, 1)
        meta["fallback_queries"] = fallbacks
        tmp = paths["meta.json"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, paths["meta.json"])
    except PrepareError as e:
        print("prepare_clustered.py: error: %s" % e, file=sys.stderr)
        return 1
    except MemoryError:
        print("prepare_clustered.py: error: out of memory; lower --block or --threads",
              file=sys.stderr)
        return 1

    for name in sorted(paths):
        log("  %-20s %12d bytes" % (name, os.path.getsize(paths[name])))
    log("done: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
