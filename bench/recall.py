#!/usr/bin/python3
"""Compute recall@k of Quiver search results against exact ground truth.

Usage:

  /usr/bin/python3 bench/recall.py --truth data/fashion-mnist/gt_l2sq.ibin [-k 10] RESULTS.jsonl

RESULTS is the output of ``quiver search --json`` (``-`` reads stdin): one JSON
object per line,

  {"query": i, "matches": [{"key": <int>, "distance": <float>}, ...]}

where ``i`` is the 0-based row of the query in query.fbin and the keys are the
0-based rows of base.fbin. Matches are taken in the order given (nearest first);
only the first k count. Blank lines are ignored.

The truth file is an .ibin as written by prepare_fashion_mnist.py: int32 n,
int32 k, then n*k int32 neighbour ids, row-major, little-endian.

recall@k = mean over queries of |first k returned keys & true top k| / k.
Queries missing from RESULTS are skipped (the number evaluated is reported),
or count as 0 with --strict.

Other scripts can ``from recall import recall_at_k, read_ibin, read_results``.

Exit status: 0 on success, 2 on bad arguments or malformed input.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np


class InputError(Exception):
    """Malformed input; the message says where."""


def read_ibin(path):
    """Read an .ibin file into an (n, k) int32 array."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise InputError("%s: truncated header" % path)
            n, k = struct.unpack("<ii", head)
            if n < 0 or k < 0:
                raise InputError("%s: bad header n=%d k=%d" % (path, n, k))
            expected = 8 + 4 * n * k
            size = os.fstat(f.fileno()).st_size
            if size != expected:
                raise InputError("%s: header says %d x %d (%d bytes) but the file has %d bytes"
                                 % (path, n, k, expected, size))
            data = np.fromfile(f, dtype="<i4", count=n * k)
    except OSError as e:
        raise InputError("cannot read %s: %s" % (path, e.strerror or e))
    return data.reshape(n, k)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def read_results(lines, name="<results>", n_queries=None):
    """Parse `quiver search --json` lines into {query: [key, ...]}.

    Raises InputError naming the line for anything malformed, for a duplicate
    query, or for a query id outside [0, n_queries) when n_queries is given.
    """
    results = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = "%s:%d" % (name, lineno)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError("%s: invalid JSON: %s at column %d" % (where, e.msg, e.pos + 1))
        if not isinstance(obj, dict):
            raise InputError("%s: expected a JSON object" % where)
        q = obj.get("query")
        if not _is_int(q):
            raise InputError("%s: \"query\" must be an integer, got %s" % (where, json.dumps(q)))
        if q < 0:
            raise InputError("%s: query id %d is negative" % (where, q))
        if n_queries is not None and q >= n_queries:
            raise InputError("%s: query id %d is out of range (the ground truth has %d queries)"
                             % (where, q, n_queries))
        if q in results:
            raise InputError("%s: query %d appears more than once" % (where, q))
        matches = obj.get("matches")
        if not isinstance(matches, list):
            raise InputError("%s: \"matches\" must be a list" % where)
        keys = []
        for j, m in enumerate(matches):
            if not isinstance(m, dict) or not _is_int(m.get("key")):
                raise InputError("%s: matches[%d] must be an object with an integer \"key\""
                                 % (where, j))
            dist = m.get("distance")
            if dist is not None and (isinstance(dist, bool) or not isinstance(dist, (int, float))):
                raise InputError("%s: matches[%d].distance must be a number" % (where, j))
            keys.append(m["key"])
        results[q] = keys
    return results


def recall_at_k(truth, results, k, strict=False):
    """Mean recall@k of `results` ({query: [key, ...]}) against `truth` ((n, >=k) ids).

    Each query scores |set(first k keys) & set(truth[q, :k])| / k; duplicate keys
    count once and short result lists are not padded. By default only queries
    present in `results` are averaged; with strict=True every row of `truth` is,
    absent queries scoring 0.
    """
    truth = np.asarray(truth)
    if truth.ndim != 2:
        raise ValueError("truth must be a 2-d array")
    if not 1 <= k <= truth.shape[1]:
        raise ValueError("k=%d must be between 1 and the ground truth's k=%d"
                         % (k, truth.shape[1]))
    queries = range(truth.shape[0]) if strict else results.keys()
    if len(queries) == 0:
        raise ValueError("no queries to evaluate")
    total = 0
    for q in queries:
        if not 0 <= q < truth.shape[0]:
            raise ValueError("query %d is outside the ground truth (%d queries)"
                             % (q, truth.shape[0]))
        keys = results.get(q)
        if keys:
            total += len(set(keys[:k]).intersection(truth[q, :k].tolist()))
    return total / (k * len(queries))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="recall@k of `quiver search --json` output against an .ibin ground truth.",
        epilog="Example: quiver search --json ... | /usr/bin/python3 bench/recall.py "
               "--truth data/fashion-mnist/gt_l2sq.ibin -k 10 -")
    ap.add_argument("results", metavar="RESULTS",
                    help="JSON-lines file from `quiver search --json`, or - for stdin")
    ap.add_argument("--truth", required=True, help="ground-truth .ibin (e.g. gt_l2sq.ibin)")
    ap.add_argument("-k", type=int, default=10, help="recall cut-off (default: %(default)s)")
    ap.add_argument("--strict", action="store_true",
                    help="average over every query in the truth; absent queries score 0")
    ap.add_argument("--json", action="store_true",
                    help='print {"recall_at_k": ..., "k": ..., "queries": ...} instead of text')
    args = ap.parse_args(argv)

    try:
        truth = read_ibin(args.truth)
        if args.k < 1:
            raise InputError("-k must be at least 1")
        if args.k > truth.shape[1]:
            raise InputError("-k %d is larger than the ground truth's k=%d (%s)"
                             % (args.k, truth.shape[1], args.truth))
        source = "<stdin>" if args.results == "-" else args.results
        if args.results == "-":
            results = read_results(sys.stdin, source, truth.shape[0])
        else:
            try:
                with open(args.results, encoding="utf-8") as f:
                    results = read_results(f, args.results, truth.shape[0])
            except OSError as e:
                raise InputError("cannot read %s: %s" % (args.results, e.strerror or e))
            except UnicodeDecodeError as e:
                raise InputError("%s: not UTF-8 text: %s" % (args.results, e))
        if not results and not args.strict:
            raise InputError("%s contains no results" % source)
        recall = recall_at_k(truth, results, args.k, strict=args.strict)
    except InputError as e:
        print("recall.py: error: %s" % e, file=sys.stderr)
        return 2

    n = truth.shape[0] if args.strict else len(results)
    missing = truth.shape[0] - len(results)
    if missing and not args.strict:
        print("recall.py: note: %d of %d ground-truth queries are absent from the results "
              "(--strict counts them as 0)" % (missing, truth.shape[0]), file=sys.stderr)
    if args.json:
        print(json.dumps({"recall_at_k": recall, "k": args.k, "queries": n}))
    else:
        print("recall@%d = %.4f over %d queries" % (args.k, recall, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
