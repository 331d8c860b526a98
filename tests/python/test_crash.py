"""Durability from Python: a writer killed with SIGKILL loses no acknowledged write.

A child process upserts batches (and deletes some records) and prints a line
after each call returns; the parent kills it with os.kill(pid, SIGKILL) at an
arbitrary point, reopens the store and checks that every acknowledged upsert is
present and searchable (I1) and every acknowledged delete stays deleted (I2).
"""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

import quiver

BATCH = 20
DIMS = 8

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import quiver

    path, first = sys.argv[1], int(sys.argv[2])
    store = quiver.open(path, log_level="off", checkpoint_every_changes=150)
    col = store.get_or_create_collection("v", dims=%(dims)d, metric="l2sq")
    batch = first
    while True:
        keys = np.arange(batch * %(batch)d, (batch + 1) * %(batch)d)
        vectors = np.random.default_rng(batch).standard_normal((%(batch)d, %(dims)d))
        col.upsert(keys, vectors.astype(np.float32), texts=[f"t{k}" for k in keys])
        print("U", batch, flush=True)
        if batch %% 4 == 3:
            col.delete([int(keys[0]), int(keys[1])])
            print("D", batch, flush=True)
        batch += 1
""") % {"dims": DIMS, "batch": BATCH}


def vectors_of(batch):
    return np.random.default_rng(batch).standard_normal((BATCH, DIMS)).astype(np.float32)


def run_and_kill(path, first, batches_before_kill):
    """Runs the child from batch `first`, kills it with SIGKILL after it has
    acknowledged `batches_before_kill` upserts; returns (upserted, deleted) batches."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(first)],
                             stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    upserted, deleted = [], []
    try:
        for line in child.stdout:
            op, batch = line.split()
            (upserted if op == "U" else deleted).append(int(batch))
            if len(upserted) >= batches_before_kill:
                break
        assert len(upserted) >= batches_before_kill, "child stopped early"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        # Lines already written before the kill are acknowledgements too.
        rest = child.stdout.read()
        child.wait()
    for line in rest.splitlines():
        op, batch = line.split()
        (upserted if op == "U" else deleted).append(int(batch))
    assert child.returncode == -signal.SIGKILL
    return upserted, deleted


def check_store(path, upserted, deleted, in_flight):
    with quiver.open(path, log_level="off") as store:
        col = store.get_collection("v")
        for batch in upserted:
            keys = np.arange(batch * BATCH, (batch + 1) * BATCH)
            got = col.get(keys)
            if batch in deleted:
                assert not got.found[:2].any(), batch  # acknowledged delete: gone (I2)
            elif batch % 4 == 3 and batch in in_flight:
                pass  # a delete in flight at a kill: either outcome is correct
            else:
                assert got.found[:2].all(), batch
            assert got.found[2:].all(), batch  # acknowledged upsert: present (I1)
            live = got.found
            np.testing.assert_array_equal(got.embeddings[live], vectors_of(batch)[live])
            assert got.texts[2] == f"t{keys[2]}"
            hits = col.query(vectors_of(batch)[live], k=1, ef=128)
            assert (hits.keys[:, 0] == keys[live]).all(), batch
        assert col.verify().clean


def test_sigkill_loses_no_acknowledged_write(tmp_path):
    path = str(tmp_path / "store")
    upserted, deleted = run_and_kill(path, 0, 12)
    in_flight = {max(upserted)}  # its delete (if any) may or may not have committed
    check_store(path, upserted, deleted, in_flight)
    # A second run continues on the recovered store and is killed again.
    more, more_deleted = run_and_kill(path, max(upserted) + 1, 9)
    in_flight.add(max(more))
    check_store(path, upserted + more, deleted + more_deleted, in_flight)
