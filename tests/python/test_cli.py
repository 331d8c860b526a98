"""The binding and the `quiver` CLI on one store: one writer, read-only readers."""

import json
import subprocess

import numpy as np
import pytest

import quiver


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120)


def test_cli_reads_beside_a_python_writer(tmp_path, cli):
    path = str(tmp_path / "store")
    with quiver.open(path, log_level="off") as store:
        col = store.create_collection("v", dims=3, metric="l2sq")
        col.upsert([10, 11], np.array([[1, 0, 0], [0, 1, 0]], np.float32),
                   texts=["ten", "eleven"], metadatas=[{"n": 10}, None])
        # The Python writer holds the LOCK; the CLI's readers work beside it.
        got = run(cli, "get", "--data", path, "--collection", "v", "10")
        assert got.returncode == 0, got.stderr
        line = json.loads(got.stdout)
        assert (line["key"], line["text"], line["metadata"]) == (10, "ten", {"n": 10})
        found = run(cli, "search", "--data", path, "--collection", "v", "--vector", "0,1,0",
                    "-k", "2", "--json")
        assert found.returncode == 0, found.stderr
        matches = json.loads(found.stdout.splitlines()[0])["matches"]
        assert [m["key"] for m in matches] == [11, 10]
        # A second writer is refused, and writes nothing.
        refused = run(cli, "delete", "--data", path, "--collection", "v", "10")
        assert refused.returncode != 0
        assert "LOCK" in refused.stderr or "another process" in refused.stderr
        assert col.count() == 2


def test_python_reads_beside_and_after_the_cli(tmp_path, cli):
    path = str(tmp_path / "store")
    data = np.random.default_rng(5).standard_normal((300, 16)).astype(np.float32)
    npy = tmp_path / "vectors.npy"
    np.save(npy, data)
    imported = run(cli, "import", str(npy), "--data", path, "--collection", "v", "--create",
                   "--metric", "l2sq")
    assert imported.returncode == 0, imported.stderr
    queries = tmp_path / "queries.npy"
    np.save(queries, data[:5])
    found = run(cli, "search", str(queries), "--data", path, "--collection", "v", "-k", "3",
                "--json")
    assert found.returncode == 0, found.stderr
    cli_keys = [[m["key"] for m in json.loads(line)["matches"]]
                for line in found.stdout.splitlines()]
    # A Python writer and a Python read-only reader at once, beside the CLI's readers.
    with quiver.open(path, log_level="off") as writer:
        with quiver.open(path, read_only=True, log_level="off") as reader:
            col = reader.get_collection("v")
            assert col.count() == 300
            np.testing.assert_array_equal(col.get(np.arange(300)).embeddings, data)
            assert col.query(data[:5], k=3).keys.tolist() == cli_keys
            with pytest.raises(quiver.NotSupportedError):
                col.delete([0])
        assert writer.get_collection("v").delete([0]) == 1
    listed = run(cli, "get", "--data", path, "--collection", "v", "0")
    assert listed.returncode != 0  # deleted through Python, gone for the CLI
