#!/usr/bin/python3
"""Prepare the Fashion-MNIST benchmark data set for Quiver.

Reads the gzip'd IDX image files shipped by the Debian package
``dataset-fashion-mnist`` and writes, in the layout used by
ann-benchmarks' ``fashion-mnist-784-euclidean``:

  base.fbin            60,000 training images, 784-d float32, raw pixels 0..255
  query.fbin           10,000 test images, same encoding
  gt_l2sq.ibin         exact top-k neighbours by squared Euclidean distance
  gt_l2sq.dist.fbin    the matching distances
  gt_cos.ibin          exact top-k neighbours by cosine distance (1 - cos sim)
  gt_cos.dist.fbin     the matching distances

File formats (all little-endian):

  .fbin   int32 n, int32 d, then n*d float32, row-major
  .ibin   int32 n, int32 k, then n*k int32, row-major; neighbour ids are
          0-based row numbers of base.fbin, nearest first

Ground truth is exact: pixel values are integers, so every dot product and
squared norm is an integer far below 2**53 and float64 BLAS computes the
squared Euclidean distances without any rounding. Ties are broken by the lower
base index. Distances are stored as float32.

This script needs only Debian's python3 and python3-numpy:

  /usr/bin/python3 bench/prepare_fashion_mnist.py [--src DIR] [--out DIR] [--k 100]
"""

import argparse
import gzip
import os
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "data", "fashion-mnist")

TRAIN_FILE = "train-images-idx3-ubyte.gz"
TEST_FILE = "t10k-images-idx3-ubyte.gz"
IDX_UBYTE_3D_MAGIC = 0x00000803
IMAGE_SHAPE = (28, 28)
N_TRAIN = 60000
N_TEST = 10000

METRICS = ("l2sq", "cos")

_T0 = time.monotonic()


class PrepareError(Exception):
    """A failure with a message meant for the user."""


def missing_input(path):
    return PrepareError(
        "%s not found.\nInstall the data set with: apt-get install dataset-fashion-mnist\n"
        "(or point --src at a directory holding %s and %s)" % (path, TRAIN_FILE, TEST_FILE))


def log(msg):
    print("[%7.1fs] %s" % (time.monotonic() - _T0, msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Input: IDX files
# --------------------------------------------------------------------------

def read_idx_images(path, expected_n):
    """Return the images of a gzip'd IDX3 ubyte file as an (n, 784) uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise missing_input(path)
    except (OSError, EOFError) as e:
        raise PrepareError("%s: cannot decompress: %s" % (path, e))

    if len(raw) < 16:
        raise PrepareError("%s: truncated IDX header (%d bytes)" % (path, len(raw)))
    magic, n, rows, cols = struct.unpack(">4I", raw[:16])
    if magic != IDX_UBYTE_3D_MAGIC:
        raise PrepareError("%s: bad IDX magic 0x%08x (expected 0x%08x: unsigned byte, 3 dims)"
                           % (path, magic, IDX_UBYTE_3D_MAGIC))
    if (n, rows, cols) != (expected_n,) + IMAGE_SHAPE:
        raise PrepareError("%s: unexpected dimensions %dx%dx%d (expected %dx%dx%d)"
                           % ((path, n, rows, cols, expected_n) + IMAGE_SHAPE))
    payload = len(raw) - 16
    if payload != n * rows * cols:
        raise PrepareError("%s: payload is %d bytes, header promises %d"
                           % (path, payload, n * rows * cols))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


# --------------------------------------------------------------------------
# Output: .fbin / .ibin
# --------------------------------------------------------------------------

def write_bin(path, array, dtype):
    """Write a 2-d array as int32 n, int32 d, then the data; atomically."""
    array = np.ascontiguousarray(array, dtype=dtype)
    n, d = array.shape
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<ii", n, d))
        array.tofile(f)
    os.replace(tmp, path)


def read_bin(path, dtype):
    """Read a .fbin/.ibin file written by write_bin (or any conforming writer)."""
    with open(path, "rb") as f:
        n, d = struct.unpack("<ii", f.read(8))
        data = np.fromfile(f, dtype=dtype)
    if data.size != n * d:
        raise PrepareError("%s: expected %d values, found %d" % (path, n * d, data.size))
    return data.reshape(n, d)


def bin_header(path):
    """Return (n, d) from a .fbin/.ibin header if the file size matches it, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        size = os.path.getsize(path)
    except OSError:
        return None
    if len(head) != 8:
        return None
    n, d = struct.unpack("<ii", head)
    return (n, d) if size == 8 + 4 * n * d else None


def output_paths(out_dir):
    paths = {"base": os.path.join(out_dir, "base.fbin"),
             "query": os.path.join(out_dir, "query.fbin")}
    for m in METRICS:
        paths["gt_" + m] = os.path.join(out_dir, "gt_%s.ibin" % m)
        paths["dist_" + m] = os.path.join(out_dir, "gt_%s.dist.fbin" % m)
    return paths


def up_to_date(outputs, inputs, k):
    """True if every output exists, is well-formed for this k, and is newer than all inputs."""
    expected = {"base": (N_TRAIN, IMAGE_SHAPE[0] * IMAGE_SHAPE[1]),
                "query": (N_TEST, IMAGE_SHAPE[0] * IMAGE_SHAPE[1])}
    for m in METRICS:
        expected["gt_" + m] = expected["dist_" + m] = (N_TEST, k)
    for name, path in outputs.items():
        if bin_header(path) != expected[name]:
            return False
    newest_input = max(os.path.getmtime(p) for p in inputs)
    return min(os.path.getmtime(p) for p in outputs.values()) >= newest_input


# --------------------------------------------------------------------------
# Exact ground truth
# --------------------------------------------------------------------------

def top_k_rows(dist, k):
    """Indices and values of the k smallest entries of each row of dist.

    Ordered by (distance, index): among equal distances the lower index wins,
    including at the k-th position, where argpartition alone would pick an
    arbitrary member of a tie.
    """
    b = dist.shape[0]
    part = np.argpartition(dist, k - 1, axis=1)[:, :k]
    part_d = np.take_along_axis(dist, part, axis=1)
    kth = part_d.max(axis=1)

    ids = np.empty((b, k), dtype=np.int64)
    vals = np.empty((b, k), dtype=dist.dtype)
    # Rows where more than k entries are <= the k-th distance have a tie
    # straddling the boundary; resolve those from the full candidate set.
    n_le = np.count_nonzero(dist <= kth[:, None], axis=1)
    tied = n_le > k
    plain = ~tied
    if plain.any():
        p_ids, p_d = part[plain], part_d[plain]
        order = np.lexsort((p_ids, p_d), axis=1)
        ids[plain] = np.take_along_axis(p_ids, order, axis=1)
        vals[plain] = np.take_along_axis(p_d, order, axis=1)
    for r in np.flatnonzero(tied):
        cand = np.flatnonzero(dist[r] <= kth[r])
        cand_d = dist[r, cand]
        order = np.lexsort((cand, cand_d))[:k]
        ids[r], vals[r] = cand[order], cand_d[order]
    return ids, vals


def ground_truth(base, query, k, block, threads):
    """Exact top-k for squared L2 and cosine distance; returns {metric: (ids, dists)}."""
    x = base.astype(np.float64)
    x_sq = np.einsum("ij,ij->i", x, x)
    x_norm = np.sqrt(x_sq)
    q_all = query.astype(np.float64)
    q_sq_all = np.einsum("ij,ij->i", q_all, q_all)
    q_norm_all = np.sqrt(q_sq_all)

    n_zero = int(np.count_nonzero(x_norm == 0) + np.count_nonzero(q_norm_all == 0))
    if n_zero:
        log("warning: %d all-zero vectors; their cosine distance is taken as 1" % n_zero)
    x_norm_safe = np.where(x_norm == 0, np.inf, x_norm)

    nq = query.shape[0]
    result = {m: (np.empty((nq, k), np.int32), np.empty((nq, k), np.float64)) for m in METRICS}
    done = [0]
    lock = threading.Lock()
    t_start = time.monotonic()

    def run_block(lo):
        hi = min(lo + block, nq)
        q = q_all[lo:hi]
        # x (N, d) @ q.T (d, b), both C-contiguous, is the fastest layout for
        # the reference BLAS Debian installs by default.
        dots = np.ascontiguousarray((x @ np.ascontiguousarray(q.T)).T)   # (b, N)

        l2 = q_sq_all[lo:hi, None] - 2.0 * dots
        l2 += x_sq[None, :]
        ids, vals = top_k_rows(l2, k)
        result["l2sq"][0][lo:hi], result["l2sq"][1][lo:hi] = ids, vals
        del l2

        q_norm = np.where(q_norm_all[lo:hi] == 0, np.inf, q_norm_all[lo:hi])
        cos = dots
        cos /= q_norm[:, None] * x_norm_safe[None, :]
        np.subtract(1.0, cos, out=cos)
        ids, vals = top_k_rows(cos, k)
        result["cos"][0][lo:hi], result["cos"][1][lo:hi] = ids, vals

        with lock:
            done[0] += hi - lo
            log("  ground truth: %5d/%d queries (%.1fs)"
                % (done[0], nq, time.monotonic() - t_start))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # list() re-raises any exception from a worker.
        list(pool.map(run_block, range(0, nq, block)))
    return result


def cosine_distance(a, b):
    """Cosine distance of two vectors, computed the same way as in ground_truth."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    na, nb = np.sqrt(a @ a), np.sqrt(b @ b)
    if na == 0 or nb == 0:
        return 1.0
    return 1.0 - (a @ b) / (na * nb)


def sanity_check(paths, base, query, k, n_check=3):
    """Re-read the outputs and verify a few queries against a brute-force scan."""
    base_f = read_bin(paths["base"], "<f4")
    query_f = read_bin(paths["query"], "<f4")
    if not (np.array_equal(base_f, base) and np.array_equal(query_f, query)):
        raise PrepareError("base.fbin/query.fbin do not round-trip to the source pixels")

    x = base.astype(np.float64)
    checks = sorted({0, query.shape[0] // 2, query.shape[0] - 1})[:n_check]
    for m in METRICS:
        ids = read_bin(paths["gt_" + m], "<i4")
        dists = read_bin(paths["dist_" + m], "<f4")
        # 1. query 0's first neighbour, recomputed directly from the pixels.
        q0, nn = query[0], int(ids[0, 0])
        if m == "l2sq":
            diff = q0.astype(np.float64) - base[nn]
            direct = diff @ diff
        else:
            direct = cosine_distance(q0, base[nn])
        if np.float32(direct) != dists[0, 0]:
            raise PrepareError("%s: query 0 -> %d: stored distance %r, recomputed %r"
                               % (m, nn, float(dists[0, 0]), float(direct)))
        log("  %s: query 0 nearest = %d, stored distance %r == float32(recomputed %r)"
            % (m, nn, float(dists[0, 0]), float(direct)))
        # 2. full top-k of a few queries by a plain scan with a total sort.
        for qi in checks:
            q = query[qi].astype(np.float64)
            if m == "l2sq":
                diff = x - q
                d = np.einsum("ij,ij->i", diff, diff)
            else:
                # Same operations as cosine_distance(), one row at a time.
                x_norm = np.sqrt(np.einsum("ij,ij->i", x, x))
                with np.errstate(divide="ignore", invalid="ignore"):
                    d = 1.0 - (x @ q) / (np.sqrt(q @ q) * x_norm)
                d[~np.isfinite(d)] = 1.0
            # All dot products and squared norms are exact integers in float64,
            # so this scan must reproduce the stored ids and distances exactly.
            order = np.lexsort((np.arange(d.size), d))[:k]
            if not (np.array_equal(order, ids[qi])
                    and np.array_equal(d[order].astype(np.float32), dists[qi])):
                raise PrepareError("%s: brute-force top-%d of query %d disagrees" % (m, k, qi))
        log("  %s: top-%d of queries %s match a brute-force scan" % (m, k, checks))


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert Debian's Fashion-MNIST (dataset-fashion-mnist) into .fbin "
                    "base/query files plus exact top-k ground truth (squared L2 and cosine).",
        epilog="Example: /usr/bin/python3 bench/prepare_fashion_mnist.py "
               "--out data/fashion-mnist")
    ap.add_argument("--src", default=DEFAULT_SRC,
                    help="directory with %s and %s (default: %%(default)s)"
                         % (TRAIN_FILE, TEST_FILE))
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="output directory (default: data/fashion-mnist under the repo root)")
    ap.add_argument("--k", type=int, default=100,
                    help="neighbours per query in the ground truth (default: %(default)s)")
    ap.add_argument("--force", action="store_true",
                    help="rebuild even if the outputs are newer than the inputs")
    ap.add_argument("--block", type=int, default=500,
                    help="queries per ground-truth block; peak memory grows with "
                         "block * threads (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="blocks computed concurrently (default: CPUs available, %(default)s)")
    args = ap.parse_args(argv)

    if not 1 <= args.k <= N_TRAIN:
        ap.error("--k must be between 1 and %d" % N_TRAIN)
    if args.block < 1 or args.threads < 1:
        ap.error("--block and --threads must be positive")

    inputs = [os.path.join(args.src, TRAIN_FILE), os.path.join(args.src, TEST_FILE)]
    paths = output_paths(args.out)
    try:
        for p in inputs:
            if not os.path.isfile(p):
                raise missing_input(p)
        if not args.force and up_to_date(paths, inputs, args.k):
            log("outputs in %s are up to date (use --force to rebuild)" % args.out)
            return 0

        t = time.monotonic()
        base = read_idx_images(inputs[0], N_TRAIN).astype(np.float32)
        query = read_idx_images(inputs[1], N_TEST).astype(np.float32)
        log("read %s: base %dx%d, query %dx%d (%.1fs)"
            % (args.src, base.shape[0], base.shape[1], query.shape[0], query.shape[1],
               time.monotonic() - t))

        t = time.monotonic()
        os.makedirs(args.out, exist_ok=True)
        write_bin(paths["base"], base, "<f4")
        write_bin(paths["query"], query, "<f4")
        log("wrote %s, %s (%.1fs)" % (paths["base"], paths["query"], time.monotonic() - t))

        t = time.monotonic()
        log("computing exact top-%d ground truth (%d threads, %d queries per block)"
            % (args.k, args.threads, args.block))
        gt = ground_truth(base, query, args.k, args.block, args.threads)
        log("ground truth done (%.1fs)" % (time.monotonic() - t))

        t = time.monotonic()
        big = gt["l2sq"][1].max()
        if big > 2 ** 24:
            log("warning: squared L2 distances up to %.0f exceed 2^24 and are rounded "
                "in float32 storage" % big)
        for m in METRICS:
            ids, dists = gt[m]
            write_bin(paths["gt_" + m], ids, "<i4")
            write_bin(paths["dist_" + m], dists, "<f4")
        log("wrote ground truth files (%.1fs)" % (time.monotonic() - t))

        t = time.monotonic()
        log("sanity check")
        sanity_check(paths, base, query, args.k)
        log("sanity check passed (%.1fs)" % (time.monotonic() - t))
    except PrepareError as e:
        print("prepare_fashion_mnist.py: error: %s" % e, file=sys.stderr)
        return 1

    for name in sorted(paths):
        log("  %-22s %12d bytes" % (os.path.basename(paths[name]), os.path.getsize(paths[name])))
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
