"""Python threads search in parallel while one thread writes."""

import threading
import time

import numpy as np


def test_searches_alongside_a_writer(store):
    rng = np.random.default_rng(3)
    dims = 24
    base = rng.standard_normal((2000, dims)).astype(np.float32)
    col = store.create_collection("v", dims=dims, metric="l2sq")
    col.upsert(np.arange(2000), base)
    extra = rng.standard_normal((1500, dims)).astype(np.float32)
    errors = []
    written = threading.Event()
    self_hits, self_total = [0] * 4, [0] * 4

    def writer():
        try:
            for start in range(0, 1500, 50):
                col.upsert(np.arange(2000 + start, 2050 + start), extra[start:start + 50])
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            written.set()

    def searcher(seed):
        local = np.random.default_rng(seed)
        try:
            rounds = 0
            while not written.is_set() or rounds < 20:
                rows = local.integers(0, 2000, 16)
                result = col.query(base[rows], k=5, ef=64)
                # Every key returned is one that was written; each query is a
                # stored vector, so (HNSW being approximate) nearly always finds
                # itself at distance 0.
                assert (result.keys < 3500).all()
                self_hits[seed] += int((result.keys[:, 0] == rows).sum())
                self_total[seed] += len(rows)
                assert (result.distances[result.keys[:, 0] == rows, 0] == 0).all()
                assert (np.diff(result.distances, axis=1) >= 0).all()
                rounds += 1
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=writer)]
    threads += [threading.Thread(target=searcher, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(self_hits) >= 0.99 * sum(self_total) and min(self_total) >= 20 * 16
    assert col.count() == 3500
    assert col.verify().clean
    found = col.query(extra, k=1)
    assert (found.keys[:, 0] == np.arange(2000, 3500)).mean() > 0.99


def test_threads_share_one_collection_for_queries(store):
    rng = np.random.default_rng(4)
    data = rng.standard_normal((1000, 8)).astype(np.float32)
    col = store.create_collection("v", dims=8, metric="l2sq")
    col.upsert(np.arange(1000), data)
    expected = col.query(data, k=3, ef=128).keys
    results = [None] * 4

    def run(i):
        results[i] = col.query(data, k=3, ef=128).keys

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for keys in results:
        np.testing.assert_array_equal(keys, expected)


def python_ran_during(call):
    """Runs call() while another Python thread samples the clock; True when that
    thread ran in the middle half of the call, which it cannot while the GIL is held."""
    samples, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            samples.append(time.perf_counter())
            time.sleep(0.0005)

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.01)
    start = time.perf_counter()
    call()
    end = time.perf_counter()
    stop.set()
    thread.join()
    assert end - start > 0.02, "the call is too short to tell"
    quarter = (end - start) / 4
    return any(start + quarter < t < end - quarter for t in samples)


def test_the_gil_is_released_while_the_library_works(store):
    rng = np.random.default_rng(6)
    # Large enough that even a checkpoint on a fast disk takes well over 20 ms.
    data = rng.standard_normal((60000, 64)).astype(np.float32)
    col = store.create_collection("v", dims=64, metric="l2sq")
    assert python_ran_during(lambda: col.upsert(np.arange(60000), data))
    assert python_ran_during(store.checkpoint)  # writes and fsyncs about 27 MB
    assert python_ran_during(lambda: col.query_exact(data[:300], k=10))
    assert python_ran_during(lambda: col.query(data[:20000], k=10, threads=2))
    assert python_ran_during(lambda: col.rebuild(connectivity=8))
