"""Fixtures of the quiver pytest suite (run by CTest as test python_pytest, label python).

The package under test is the one on PYTHONPATH (build/release/python when
CTest runs it). QUIVER_CLI names the `quiver` binary for the CLI tests.
"""

import os

import numpy as np
import pytest

import quiver


@pytest.fixture
def store(tmp_path):
    """An open, empty store in a temporary directory; closed after the test."""
    with quiver.open(str(tmp_path / "store"), log_level="error") as opened:
        yield opened


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cli():
    """Path of the `quiver` binary; the test is skipped when QUIVER_CLI is unset."""
    path = os.environ.get("QUIVER_CLI", "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("QUIVER_CLI does not name the quiver binary")
    return path
