"""Quiver: a local-first vector store, in-process, with NumPy in and out.

    import numpy as np, quiver

    with quiver.open("data/store") as store:
        col = store.get_or_create_collection("docs", dims=384, metric="cos")
        col.upsert(ids=["a", "b"], embeddings=np.random.rand(2, 384).astype(np.float32),
                   texts=["first", "second"], metadatas=[{"page": 1}, {"page": 2}])
        result = col.query(np.random.rand(1, 384).astype(np.float32), k=2, include=["ids"])
        result.keys, result.distances, result.ids    # (1, 2) uint64, (1, 2) float32, [[...]]

SQLite is the source of truth: an upsert that returned is durable (committed
and fsynced) and searchable. See docs/python.md for the whole guide.

Arrays of vectors (``embeddings``) are 2-D ``(n, dims)``. The dtype rule:
float32 is used as is (no copy when C-contiguous, one copy otherwise);
float16, int8, uint8, int16 and uint16 arrays are converted to float32 once
(exactly); float64 and wider integer arrays are refused with
InvalidArgumentError (converting them silently would round every value: call
``.astype(numpy.float32)`` yourself); Python lists are converted to float32 once.

Thread safety: a Store and its Collections may be used from many threads at
once. The GIL is released while the library searches, writes, checkpoints,
rebuilds and backs up, so Python threads search in parallel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from quiver._errors import (
    AlreadyExistsError,
    BusyError,
    CorruptionError,
    Error,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    NotSupportedError,
    StorageIOError,
    UnavailableError,
)
from quiver import _quiver

__all__ = [
    "open", "Store", "Collection", "CollectionInfo", "QueryResult", "GetResult", "VerifyReport",
    "key_for_id", "version", "usearch_version", "simd_capabilities", "NO_KEY", "MAX_K", "MAX_BATCH",
    "Error", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "CorruptionError",
    "StorageIOError", "BusyError", "NotSupportedError", "FailedPreconditionError", "InternalError",
    "UnavailableError",
]

#: Key that pads query rows with fewer than k matches (2**64 - 1; no record has it).
NO_KEY: int = _quiver.NO_KEY
#: Largest k a query accepts.
MAX_K: int = _quiver.MAX_K
#: Largest number of records one upsert, get or delete accepts.
MAX_BATCH: int = _quiver.MAX_BATCH

__version__: str = _quiver.version()

Ids = Union[Sequence[Union[str, int]], np.ndarray]
"""Record ids: str (Chroma-style; key = :func:`key_for_id`) or int keys in
0..2**63-1, or a 1-D NumPy integer array of keys."""

_EXACT_DTYPES = frozenset(np.dtype(t) for t in (np.float16, np.int8, np.uint8, np.int16, np.uint16))
_QUERY_FIELDS = ("ids", "texts", "metadatas")


def version() -> str:
    """Quiver's library version, e.g. ``"0.1.0"``."""
    return _quiver.version()


def usearch_version() -> str:
    """Version of USearch the library was built with."""
    return _quiver.usearch_version()


def simd_capabilities() -> str:
    """SIMD targets detected on this CPU, e.g. ``"serial haswell skylake"``."""
    return _quiver.simd_capabilities()


def key_for_id(id: str) -> int:
    """The key a string id is stored under: FNV-1a-64 of its UTF-8 bytes with the
    top bit cleared, the same mapping as the HTTP API, so a record written by
    either face is found by the other."""
    return _quiver.key_for_id(id)


def _as_matrix(value: Any, field: str) -> np.ndarray:
    """``value`` as a C-contiguous float32 array, by the module's dtype rule.
    Shape and width are checked by the native layer."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.float32:
            return value if value.flags.c_contiguous else np.ascontiguousarray(value)
        if value.dtype in _EXACT_DTYPES:
            return np.ascontiguousarray(value, dtype=np.float32)
        raise InvalidArgumentError(
            f"{field}: dtype {value.dtype} is not accepted; expected float32 (or float16, int8, "
            f"uint8, int16, uint16, converted exactly): convert with .astype(numpy.float32)")
    try:
        return np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{field}: expected a 2-D array of numbers: {error}") from None


def _metadata_json(metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]]) -> Optional[list]:
    """Each metadata dict as a JSON object string (None stays None = no metadata)."""
    if metadatas is None:
        return None
    if isinstance(metadatas, (str, bytes, Mapping)):
        raise InvalidArgumentError("metadatas: expected a list with one dict (or None) per record")
    out = []
    for i, item in enumerate(metadatas):
        if item is None:
            out.append(None)
            continue
        if not isinstance(item, Mapping):
            raise InvalidArgumentError(
                f"metadatas[{i}]: expected a dict or None, got {type(item).__name__}")
        try:
            out.append(json.dumps(item, allow_nan=False, separators=(",", ":")))
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"metadatas[{i}]: not JSON-serializable: {error}") from None
    return out


def _parse_metadata(text: str) -> dict:
    return json.loads(text) if text else {}


def _where_json(where: Optional[Mapping[str, Any]]) -> str:
    """A filter as the JSON text the library parses ("" = none); docs/filters.md."""
    if where is None:
        return ""
    if not isinstance(where, Mapping):
        raise InvalidArgumentError(
            f"where: is a {type(where).__name__}; expected a dict such as {{'color': 'red'}}")
    return json.dumps(where)


@dataclass(frozen=True)
class QueryResult:
    """Result of :meth:`Collection.query` for q query vectors.

    ``keys`` (q, k) uint64 and ``distances`` (q, k) float32, closest first
    (ascending distance in the collection's metric: lower is closer). A row with
    fewer than k matches (a small collection) is padded with :data:`NO_KEY` and
    ``inf``; ``counts`` (q,) int64 says how many entries of each row are real.
    ``ids`` (string id or None per match), ``texts`` and ``metadatas`` (dicts)
    are lists of q lists of ``counts[i]`` items, or None unless asked for with
    ``include=``. Unpacks as ``keys, distances = result``.
    """

    keys: np.ndarray
    distances: np.ndarray
    counts: np.ndarray
    ids: Optional[list] = None
    texts: Optional[list] = None
    metadatas: Optional[list] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.keys, self.distances))

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class GetResult:
    """Result of :meth:`Collection.get` for n ids, in the order asked.

    ``keys`` (n,) uint64; ``found`` (n,) bool; ``embeddings`` (n, dims) float32
    (rows of records not found are NaN); ``ids`` (string id or None), ``texts``
    (str, or None when not found) and ``metadatas`` (dict, or None when not found)
    are lists of n items.
    """

    keys: np.ndarray
    found: np.ndarray
    ids: list
    texts: list
    metadatas: list
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :meth:`Collection.verify`: every difference found between
    SQLite and the index (``problems`` empty = clean)."""

    collection: str
    records_checked: int
    index_vectors_checked: int
    problems: list

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class CollectionInfo:
    """Catalog entry: name, numeric id and configuration (as :attr:`Collection.config`)."""

    name: str
    id: int
    config: dict


class Collection:
    """Records with embeddings of one fixed configuration (dims, metric, ...).

    Obtained from a :class:`Store`. All methods may be called from many threads
    at once; searches run in parallel with each other and with writes; writes
    to one collection are serialized. After the store is closed, or the
    collection dropped, every call raises FailedPreconditionError or NotFoundError.
    """

    __slots__ = ("_native", "_config")

    def __init__(self, native: "_quiver.Collection") -> None:
        self._native = native
        self._config = json.loads(native.config_json())

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._native.name

    @property
    def dims(self) -> int:
        """float32 components of every embedding."""
        return self._native.dims

    @property
    def config(self) -> dict:
        """The fixed configuration: dimensions, metric, scalar, connectivity,
        expansion_add, expansion_search, model_id, model_version (the field names
        of ``quiver stats --json``)."""
        return dict(self._config)

    def __repr__(self) -> str:
        return f"<quiver.Collection {self.name!r} dims={self.dims} metric={self._config['metric']}>"

    def upsert(self, ids: Ids, embeddings: Any, texts: Optional[Sequence[Optional[str]]] = None,
               metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]] = None) -> None:
        """Inserts or replaces n records, atomically and durably.

        ``ids``: n str or int ids (see :data:`Ids`); ``embeddings``: (n, dims)
        array (dtype rule in the module docstring), all finite; ``texts``: None or
        n str/None; ``metadatas``: None or n JSON-serializable dicts/None. 1 <= n <=
        :data:`MAX_BATCH`. On return the batch is committed (fsynced) and
        searchable. InvalidArgumentError names the first bad argument or record
        (wrong shape, dtype, dimensions, NaN, a repeated id, a string id that
        collides with another) and nothing is written; NotSupportedError on a
        read-only store; StorageIOError: indeterminate.
        """
        self._native.upsert(ids, _as_matrix(embeddings, "embeddings"), texts,
                            _metadata_json(metadatas))

    def insert(self, embeddings: Any, texts: Optional[Sequence[Optional[str]]] = None,
               metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]] = None) -> np.ndarray:
        """Inserts n new records under fresh consecutive keys and returns them,
        (n,) uint64. Same arguments (without ids), validation and durability as
        :meth:`upsert`."""
        return self._native.insert(_as_matrix(embeddings, "embeddings"), texts,
                                   _metadata_json(metadatas))

    def query(self, embeddings: Any, k: int = 10, *, ef: int = 0, threads: int = 1,
              include: Iterable[str] = (), where: Optional[Mapping[str, Any]] = None) -> QueryResult:
        """Approximate k nearest neighbours of each of q query vectors.

        ``embeddings``: (q, dims) array (dtype rule in the module docstring);
        ``k``: 1..:data:`MAX_K`; ``ef``: HNSW candidate list size for this call
        (0 = the collection's expansion_search; raised to k when lower);
        ``threads``: split the q queries over this many native threads (1 = the
        calling thread only; capped at q and at 4 per core); ``include``: any of ``"ids"``, ``"texts"``, ``"metadatas"``
        (each costs one SQLite lookup per match); ``where``: a metadata filter
        (dict, docs/filters.md, e.g. ``{"color": "red", "price": {"$lt": 10}}``):
        the k nearest *matching* records at any selectivity.
        Returns a :class:`QueryResult`. InvalidArgumentError for bad shapes,
        dtypes, dimensions, NaN or k.
        """
        wanted = set(include)
        if not wanted.issubset(_QUERY_FIELDS):
            raise InvalidArgumentError(
                f"include: {sorted(wanted - set(_QUERY_FIELDS))} not known; expected any of "
                f"{list(_QUERY_FIELDS)}")
        keys, distances, counts, ids, texts, metadatas = self._native.search(
            _as_matrix(embeddings, "embeddings"), k, ef, threads, "ids" in wanted,
            "texts" in wanted, "metadatas" in wanted, _where_json(where))
        if ids is not None:
            ids = [[i or None for i in row] for row in ids]
        if metadatas is not None:
            metadatas = [[_parse_metadata(m) for m in row] for row in metadatas]
        return QueryResult(keys, distances, counts, ids, texts, metadatas)

    def query_exact(self, embeddings: Any, k: int = 10) -> QueryResult:
        """Exact (brute-force) k nearest neighbours over the index's vectors, for
        measuring recall: O(n) per query. Same shapes and errors as :meth:`query`."""
        return QueryResult(*self._native.search_exact(_as_matrix(embeddings, "embeddings"), k))

    def get(self, ids: Ids) -> GetResult:
        """Reads n records by id from SQLite (the source of truth), in the order
        given; ids that do not exist have ``found[i] == False``. Returns a
        :class:`GetResult`. To read records by filter, use :meth:`scan`."""
        keys, found, names, texts, metadatas, embeddings = self._native.get(ids)
        return GetResult(
            keys, found, [n or None for n in names],
            [t if f else None for t, f in zip(texts, found)],
            [_parse_metadata(m) if f else None for m, f in zip(metadatas, found)], embeddings)

    def delete(self, ids: Optional[Ids] = None, *,
               where: Optional[Mapping[str, Any]] = None) -> int:
        """Deletes the records with these ids, or every record that matches
        ``where`` (exactly one of the two; ``{}`` matches every record),
        atomically and durably; ids that do not exist are ignored. Returns the
        number deleted. InvalidArgumentError for a bad filter (nothing is
        deleted); NotSupportedError on a read-only store."""
        if (ids is None) == (where is None):
            raise InvalidArgumentError("delete: give exactly one of ids or where")
        if where is not None:
            return self._native.delete_where(_where_json(where))
        return self._native.delete(ids)

    def count(self, *, where: Optional[Mapping[str, Any]] = None) -> int:
        """Number of live records (from SQLite), or of those that match ``where``."""
        return self._native.count(_where_json(where))

    def scan(self, *, where: Optional[Mapping[str, Any]] = None,
             page_size: int = 1000) -> Iterator[GetResult]:
        """Pages of the records that match ``where`` (every record without it),
        in key order, each a :class:`GetResult` of at most ``page_size`` records
        (every ``found`` True) with their embeddings. Pages follow a cursor, so a
        scan is stable under concurrent writes and costs O(log n) per page."""
        cursor = ""
        filter_json = _where_json(where)
        while True:
            keys, names, texts, metadatas, embeddings, cursor = self._native.scan(
                filter_json, page_size, cursor)
            yield GetResult(keys, np.ones(len(keys), dtype=bool), [n or None for n in names],
                            list(texts), [_parse_metadata(m) for m in metadatas], embeddings)
            if cursor is None:
                return

    def __len__(self) -> int:
        """``len(col)``: :meth:`count`, one SQLite query."""
        return self.count()

    def stats(self) -> dict:
        """Counters, as ``quiver stats --json`` prints them: records,
        index_vectors, index_memory_bytes, applied_seq, change_log_length,
        checkpoint_generation, checkpoint_bytes, last_checkpoint_ms, simd_kernel,
        fatal_error, config, ..."""
        return json.loads(self._native.stats_json())

    def checkpoint(self) -> None:
        """Writes the in-memory index to a new checkpoint file (atomically, with a
        checksum) so the next open replays nothing. A no-op when nothing changed.
        StorageIOError latches the collection read-only until the store is reopened."""
        self._native.checkpoint()

    def rebuild(self, *, scalar: Optional[str] = None, connectivity: Optional[int] = None,
                expansion_add: Optional[int] = None,
                expansion_search: Optional[int] = None) -> None:
        """Rebuilds the index from the embeddings in SQLite, optionally with new
        index parameters (None keeps the current value; scalar is "f32", "f16",
        "bf16" or "i8"), and swaps it in atomically. Searches keep using the old
        index meanwhile; writes wait. InvalidArgumentError for values out of range."""
        self._native.rebuild(scalar, connectivity, expansion_add, expansion_search)

    def verify(self) -> VerifyReport:
        """Checks that SQLite's live keys equal the index's (I7), every stored
        embedding has the collection's dims, and the checkpoint matches its
        checksum. Returns a :class:`VerifyReport`."""
        return VerifyReport(*self._native.verify())


class Store:
    """An open store: one directory holding collections. Use :func:`open`.

    A context manager: leaving the ``with`` block closes the store. May be used
    from many threads at once.
    """

    __slots__ = ("_native", "_closed")

    def __init__(self, native: "_quiver.Store") -> None:
        self._native = native
        self._closed = False

    @property
    def path(self) -> str:
        """The store's directory."""
        return self._native.dir

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or the ``with`` block left)."""
        return self._closed

    def __repr__(self) -> str:
        return f"<quiver.Store {self.path!r}{' closed' if self._closed else ''}>"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def create_collection(self, name: str, dims: int, metric: str = "cos", *, scalar: str = "f32",
                          connectivity: Optional[int] = None, expansion_add: Optional[int] = None,
                          expansion_search: Optional[int] = None, model_id: str = "",
                          model_version: str = "") -> Collection:
        """Creates a collection. ``name``: 1..64 of [A-Za-z0-9_-]; ``dims``:
        1..65536; ``metric``: "cos", "ip" or "l2sq" (all reported as distances,
        lower is closer); ``scalar``: index element type "f32", "f16", "bf16" or
        "i8"; ``connectivity`` (HNSW M, default 16), ``expansion_add`` (default
        128), ``expansion_search`` (default 64): None keeps the library default;
        ``model_id``/``model_version``: optional embedding-model tag.
        InvalidArgumentError (bad name or value), AlreadyExistsError."""
        return Collection(self._native.create_collection(
            name, dims, metric, scalar, connectivity, expansion_add, expansion_search, model_id,
            model_version, False))

    def get_or_create_collection(self, name: str, dims: int, metric: str = "cos", *,
                                 scalar: str = "f32", connectivity: Optional[int] = None,
                                 expansion_add: Optional[int] = None,
                                 expansion_search: Optional[int] = None, model_id: str = "",
                                 model_version: str = "") -> Collection:
        """Returns the collection ``name``, creating it as :meth:`create_collection`
        would if it does not exist. An existing one must match dims, metric,
        scalar, connectivity, expansion_add and model tag, else
        FailedPreconditionError naming both values."""
        return Collection(self._native.create_collection(
            name, dims, metric, scalar, connectivity, expansion_add, expansion_search, model_id,
            model_version, True))

    def get_collection(self, name: str) -> Collection:
        """An existing collection; NotFoundError naming it when there is none."""
        return Collection(self._native.get_collection(name))

    def list_collections(self) -> list:
        """Every collection as a :class:`CollectionInfo`, ordered by name."""
        return [CollectionInfo(name, id, json.loads(config))
                for name, id, config in self._native.list_collections()]

    def drop_collection(self, name: str) -> None:
        """Deletes a collection, its records and its index files. NotFoundError if
        there is none; its existing handles then raise NotFoundError."""
        self._native.drop_collection(name)

    def checkpoint(self) -> None:
        """Checkpoints every collection with unsaved changes (see Collection.checkpoint)."""
        self._native.checkpoint()

    def backup(self, path: str) -> None:
        """Writes a consistent copy of the store into directory ``path`` (new or
        empty, else AlreadyExistsError) while the store stays in use. The copy
        holds every record committed before the call and opens with :func:`open`."""
        self._native.backup(str(path))

    def close(self) -> None:
        """Checkpoints (unless opened with checkpoint_on_close=False) and releases
        the write LOCK. Later calls on the store or its collections raise
        FailedPreconditionError. Idempotent."""
        self._closed = True
        self._native.close()


def open(path: str, *, create: bool = True, read_only: bool = False, synchronous: str = "full",
         checkpoint_every_changes: Optional[int] = None,
         checkpoint_interval_seconds: Optional[int] = None,
         checkpoint_on_close: Optional[bool] = None, insert_threads: Optional[int] = None,
         max_concurrent_searches: Optional[int] = None, log_level: str = "warn") -> Store:
    """Opens (by default creating) the store in directory ``path`` and recovers
    its collections (loads each checkpoint, replays the change log).

    ``read_only``: open without the write LOCK, beside a writer process (the
    CLI, ``quiver serve``, another Python process); every write then raises
    NotSupportedError. ``synchronous``: "full" (default: every commit survives
    power loss) or "normal" (survives a process crash only; faster bulk loads).
    ``checkpoint_every_changes`` (default 100000), ``checkpoint_interval_seconds``
    (default 300), ``checkpoint_on_close`` (default True), ``insert_threads``
    (threads adding one batch to the graph; default 0 = all cores) and
    ``max_concurrent_searches`` (default 0 = 2 x cores): None keeps the library
    default (include/quiver/options.h). ``log_level``: "debug", "info", "warn"
    (default), "error" or "off"; lines go to standard error.

    Errors: BusyError (another process holds the write LOCK), NotFoundError
    (missing and ``create=False``), StorageIOError, CorruptionError.
    """
    return Store(_quiver.Store.open(
        str(path), create, read_only, synchronous, checkpoint_every_changes,
        checkpoint_interval_seconds, checkpoint_on_close, insert_threads, max_concurrent_searches,
        log_level))
