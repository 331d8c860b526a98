// Copyright (c) Quiver authors.
//
// Everything SQLite: the schema, the catalog of collections with their
// manifest rows, the records (with their float32 embeddings) and the change
// log. The only module that includes sqlite3.h.
//
// Schema (format version 1):
//   quiver_meta(key, value)                 format_version, created_by
//   collections(id, name, <config>, <manifest>)
//       id is AUTOINCREMENT: a dropped collection's id (and so its index
//       directory name) is never reused.
//   records_<id>(key INTEGER PRIMARY KEY, id TEXT UNIQUE, text, metadata, embedding BLOB)
//       one table per collection; the table name is built from the numeric
//       id only. key is the uint64 record key bit-cast to int64.
//   changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, collection_id, key, op)
//       the change log; seq is store-wide and never reused, even after trims.
//   records_<id>_fts                        FTS5 over records_<id>.text
//       an external-content FTS5 table (content='records_<id>',
//       content_rowid='key', tokenizer 'unicode61 remove_diacritics 2'; shadow
//       tables records_<id>_fts_data/_idx/_docsize/_config), kept exact by three
//       triggers on records_<id> (records_<id>_fts_insert/_delete/_update), so
//       every write that changes a record's text changes its full-text entry in
//       the same transaction. Every record has an entry, an empty text one with
//       no tokens. See docs/text.md, "Full-text and hybrid search".
//
// Thread safety: one writer connection (serialized by a mutex) and a pool of
// reader connections; all methods may be called from any thread. Readers see
// the last committed state (WAL snapshot isolation).

#ifndef QUIVER_STORAGE_DATABASE_H_
#define QUIVER_STORAGE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "quiver/options.h"
#include "quiver/record.h"
#include "quiver/status.h"
#include "storage/filter_sql.h"

struct sqlite3;

namespace quiver::storage {

/// Where a collection's current index checkpoint is and what it covers.
/// Lives in the collection's catalog row ("the manifest").
struct Manifest {
  /// File name is "<generation>.usearch"; 0 = no checkpoint yet.
  std::uint64_t generation = 0;
  /// Every change with seq <= applied_seq is in the checkpoint.
  std::uint64_t applied_seq = 0;
  /// Checksum64 of the checkpoint's payload (format: index/checkpoint_file.h).
  std::uint64_t checksum = 0;
  std::uint64_t vector_count = 0;
  std::uint64_t file_bytes = 0;
  std::string usearch_version;
};

/// One catalog row.
struct CatalogEntry {
  std::int64_t id = 0;
  std::string name;
  CollectionConfig config;
  Manifest manifest;
  /// Empty when the row is sound; else what is wrong with it (an unknown
  /// metric or scalar kind, or a configuration that does not match the
  /// row's config_checksum: edited outside Quiver). The store quarantines
  /// such a collection (docs/durability.md §4).
  std::string damage;
};

/// XXH3-64 of the collection id and of every field of `config` that shapes
/// its index (dimensions, metric, scalar kind, M, expansion_add,
/// expansion_search, model tag), in a fixed text form: the catalog row's
/// config_checksum. Reentrant.
std::uint64_t ConfigChecksum(std::int64_t id, const CollectionConfig& config);

/// A change to replay into the index: the record's latest embedding, or
/// nullopt when the record no longer exists (deleted).
struct PendingChange {
  Key key = 0;
  std::optional<std::vector<float>> embedding;
};

/// One match of a full-text search.
struct FullTextHit {
  Key key = 0;
  /// BM25 relevance: SQLite FTS5's bm25() negated, so HIGHER IS MORE
  /// RELEVANT and every match scores > 0 (FTS5 floors a term's IDF at 1e-6).
  double score = 0;
};

/// A collection whose full-text index was created at open (a store made
/// before full-text search): what EnsureFullTextIndexes did.
struct FullTextMigration {
  std::int64_t collection_id = 0;
  /// Records indexed by the rebuild.
  std::uint64_t records = 0;
  /// Wall time of the transaction (create, rebuild, commit), milliseconds.
  double ms = 0;
};

/// What VerifyFullText found; empty vectors and an empty integrity_error = clean.
struct FullTextReport {
  /// False when the collection has no full-text table at all (a store made
  /// before full-text search, opened read-only since).
  bool present = true;
  /// Entries of the full-text index (its _docsize rows): one per record.
  std::uint64_t indexed = 0;
  /// Records without an entry, and entries without a record (ascending, as int64).
  std::vector<Key> missing;
  std::vector<Key> extra;
  /// Sampled records whose current text the index does not hold.
  std::vector<Key> stale;
  /// Records whose text was checked against the index by a phrase query.
  std::uint64_t sampled = 0;
  /// Whether FTS5's own 'integrity-check' ran (writable stores only: it is an
  /// INSERT), and what it reported (empty = consistent).
  bool integrity_checked = false;
  std::string integrity_error;
};

/// Outcome of a committed write.
struct WriteResult {
  /// seq of the last change-log entry written (0 if none was written).
  std::uint64_t last_seq = 0;
  /// Number of records actually changed (deletes of absent keys are not counted).
  std::size_t changed = 0;
};

class Database {
 public:
  /// Opens or creates the database file at `path` in WAL mode, creating the
  /// schema if needed. read_only opens with SQLITE_OPEN_READONLY.
  /// Errors: NotFound (read_only and missing), Corruption (not a Quiver
  /// database or a newer format), IOError.
  static Result<std::unique_ptr<Database>> Open(const std::string& path, bool read_only,
                                                Synchronous synchronous);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // --- Catalog -----------------------------------------------------------
  Result<std::vector<CatalogEntry>> ListCollections();
  /// NotFound if there is no such collection.
  Result<CatalogEntry> GetCollection(const std::string& name);
  /// Inserts the catalog row and creates the records table, in one
  /// transaction. AlreadyExists if the name is taken.
  Result<CatalogEntry> CreateCollection(const std::string& name, const CollectionConfig& config);
  /// Deletes the catalog row, the records table and the change-log entries.
  Status DropCollection(std::int64_t id);
  /// In one transaction: renames collection `old_id` to `retired_name` and
  /// collection `new_id` to `name` (a re-embedding's swap: either both happen
  /// or neither). Names are not validated here.
  Status SwapCollectionNames(std::int64_t old_id, const std::string& retired_name,
                             std::int64_t new_id, const std::string& name);
  /// Points the collection at a new checkpoint (one transaction). With
  /// `config`, also replaces the stored index parameters (scalar,
  /// connectivity, expansion_add, expansion_search) in the same transaction.
  Status CommitManifest(std::int64_t id, const Manifest& manifest,
                        const CollectionConfig* config = nullptr);
  /// Deletes change-log entries of the collection with seq <= up_to_seq.
  Status TrimChangeLog(std::int64_t id, std::uint64_t up_to_seq);

  // --- Writes (each one transaction; all-or-nothing) ----------------------
  /// Inserts or replaces `records` (already validated by the caller: dims,
  /// finite, JSON) and appends one change per record. InvalidArgument when a
  /// record's external id is held by another key (or the key holds another id).
  Result<WriteResult> UpsertRecords(std::int64_t id, std::uint32_t dimensions,
                                    const std::vector<Record>& records);
  /// Inserts `records` under fresh keys (one above the largest key below
  /// 2^63 in the collection, or from 1 when there is none), writing the
  /// chosen keys into `*keys`.
  Result<WriteResult> AppendRecords(std::int64_t id, std::uint32_t dimensions,
                                    const std::vector<Record>& records, std::vector<Key>* keys);
  /// Deletes the records that exist among `keys`; appends a change for each.
  Result<WriteResult> DeleteRecords(std::int64_t id, const std::vector<Key>& keys);

  // --- Reads --------------------------------------------------------------
  /// Entry i is the record with keys[i], or nullopt.
  Result<std::vector<std::optional<Record>>> GetRecords(std::int64_t id,
                                                        const std::vector<Key>& keys,
                                                        bool with_embedding);
  /// Fills id/text/metadata of each match whose record exists; sets
  /// `(*found)[i]` to whether match i still exists.
  Status FillMatches(std::int64_t id, std::vector<Match>* matches, bool want_text,
                     bool want_metadata, std::vector<bool>* found);
  /// Whether any record of the collection has a string id (one probe of the
  /// id column's UNIQUE index: O(log n)).
  Result<bool> HasStringIds(std::int64_t id);
  Result<std::uint64_t> CountRecords(std::int64_t id);
  Result<std::uint64_t> ChangeLogLength(std::int64_t id);

  /// Calls `visit(key, embedding)` for every record, in key order, inside one
  /// read transaction; `*snapshot_seq` = the store's last seq in that snapshot
  /// (every change up to it is reflected). `visit` returning non-OK stops the scan.
  Status ScanEmbeddings(std::int64_t id, std::uint32_t dimensions,
                        const std::function<Status(Key, const float*)>& visit,
                        std::uint64_t* snapshot_seq);
  /// All live keys of the collection, ascending by their int64 form.
  Result<std::vector<Key>> ListKeys(std::int64_t id);
  /// The latest state of every key changed after `after_seq`, and the highest
  /// seq seen (`*last_seq`, = after_seq if none), read in one snapshot.
  Result<std::vector<PendingChange>> ChangesSince(std::int64_t id, std::uint32_t dimensions,
                                                  std::uint64_t after_seq, std::uint64_t* last_seq);

  // --- Filtered reads and writes (filter_sql.h) ---------------------------
  // --- Full-text search (FTS5) ---------------------------------------------
  /// The `limit` records whose text best matches `match_query` (FTS5 query
  /// syntax: https://sqlite.org/fts5.html#full_text_query_syntax) among those
  /// that match `where`, most relevant first (BM25 descending; ties by key as
  /// uint64, ascending), in one snapshot. The filter is applied in the same
  /// statement, so a record is never ranked out of the top `limit` by
  /// records the filter rejects. Errors: InvalidArgument for a query FTS5
  /// refuses ("fts5: syntax error near \"AND\"", "fts5: no such column: x",
  /// a leading '*', which FTS5 reads as an internal command);
  /// FailedPrecondition when the collection has no full-text table (a store
  /// made before full-text search that was never opened for writing since).
  /// Cost: every record that matches the query is scored, then sorted.
  Result<std::vector<FullTextHit>> FullTextSearch(std::int64_t id, const std::string& match_query,
                                                  const SqlFilter& where, std::uint64_t limit);

  /// Gives every collection whose records table has no full-text table (or
  /// is missing one of its triggers) a fresh one: one transaction per
  /// collection creates the FTS5 table and its triggers and fills it with
  /// FTS5's 'rebuild' from the records, so a crash leaves either the old
  /// schema (and the next open does it again) or the complete index. Also
  /// drops full-text tables whose records table is gone (a collection dropped
  /// by an older Quiver). Returns what it built. NotSupported when read-only.
  Result<std::vector<FullTextMigration>> EnsureFullTextIndexes();

  /// Checks the collection's full-text index against its records: (1) the
  /// set of indexed rowids equals the set of record keys, exactly (O(n log n));
  /// (2) for up to `max_samples` records spread over the key range, the
  /// index holds the record's current text: a phrase query of the whole text
  /// (cut at 4 KiB, the last token then a prefix) matches that rowid, when
  /// the index holds at least one token for it; (3) on a writable store,
  /// FTS5's 'integrity-check' with rank 1, which re-tokenizes every record
  /// and compares it with the index (measured to compare against the
  /// external content table on SQLite 3.40.1; the form without rank checks
  /// only the index's internal consistency). (1) and (2) run in one read
  /// snapshot; (3) holds the writer connection, so writes to the store wait
  /// for it: ~0.3 s per 100,000 records of 30 words on the 2-core machine.
  Result<FullTextReport> VerifyFullText(std::int64_t id, std::size_t max_samples);

  /// Keys of the records that match `where`, in the key column's order (keys
  /// as int64: those >= 2^63 first), at most `limit` of them, in one snapshot.
  Result<std::vector<Key>> SelectKeys(std::int64_t id, const SqlFilter& where,
                                      std::uint64_t limit = ~std::uint64_t{0});
  /// Number of records that match `where`.
  Result<std::uint64_t> CountWhere(std::int64_t id, const SqlFilter& where);
  /// A page of the records that match `where`, ordered by the key column
  /// (int64 order), starting after the int64 key `*after` when given, skipping
  /// `offset` matches, at most `limit` records. Text, metadata and embedding
  /// are filled only when asked for.
  Result<std::vector<Record>> ScanRecords(std::int64_t id, const SqlFilter& where,
                                          const std::optional<std::int64_t>& after,
                                          std::uint64_t offset, std::uint64_t limit, bool with_text,
                                          bool with_metadata, bool with_embedding);
  /// Deletes every record that matches `where` in one transaction, appending
  /// a change for each; `*deleted` = their keys. All or nothing.
  Result<WriteResult> DeleteWhere(std::int64_t id, const SqlFilter& where,
                                  std::vector<Key>* deleted);
  /// The float32 embeddings of `keys` (entry i = keys[i]'s, or empty when the
  /// record does not exist), in one snapshot. Corruption for a stored blob of
  /// the wrong size.
  Result<std::vector<std::vector<float>>> GetEmbeddings(std::int64_t id, std::uint32_t dimensions,
                                                        const std::vector<Key>& keys);

  // --- Indexed metadata fields ----------------------------------------------
  /// Creates an SQLite expression index on json_extract(metadata, <path>) of
  /// the collection's records, named after the field (hex-encoded), so that
  /// filters on it are index lookups. Idempotent. Cost: one pass over the
  /// records, inside one write transaction.
  Status CreateFieldIndex(std::int64_t id, const std::string& field,
                          const std::vector<std::string>& segments);
  /// Drops the index of `field`; NotFound if there is none.
  Status DropFieldIndex(std::int64_t id, const std::string& field);
  /// The fields that have an index, sorted.
  Result<std::vector<std::string>> ListFieldIndexes(std::int64_t id);

  /// Copies the whole database into a new file at `dest_path` with SQLite's
  /// online backup API (a consistent snapshot; writers are not blocked for
  /// long), then syncs it.
  Status BackupTo(const std::string& dest_path);

  /// Checkpoints SQLite's WAL into the main database file (PRAGMA wal_checkpoint(TRUNCATE)).
  Status CheckpointWal();

  /// SQLite's `PRAGMA quick_check` limited to collection `id`'s records table
  /// and its indexes: every page of it is read and its b-tree structure
  /// checked (not the contents of the full-text index). Cost: one read of the
  /// table, O(records). Corruption naming the first problems SQLite reports;
  /// OK when the table is sound.
  Status QuickCheckRecords(std::int64_t id);

  /// Opaque SQLite connection (defined in database.cc).
  class Connection;

 private:
  /// Deletes `keys` from `table` and logs one delete per record that existed
  /// (keys that do not exist are skipped), inside the caller's transaction.
  /// Needs writer_mu_.
  Result<WriteResult> DeleteAndLogLocked(std::int64_t id, const std::string& table,
                                         const std::vector<Key>& keys);

  class ReaderLease;
  Database(std::string path, bool read_only, Synchronous synchronous);
  Status Initialize();
  Result<std::unique_ptr<Connection>> Connect(bool writer);
  Result<ReaderLease> AcquireReader();
  void ReleaseReader(std::unique_ptr<Connection> connection);
  Result<WriteResult> WriteRecords(std::int64_t id, std::uint32_t dimensions,
                                   const std::vector<Record>& records, bool append,
                                   std::vector<Key>* keys);

  const std::string path_;
  const bool read_only_;
  /// The catalog has the config_checksum column (false only for a read-only
  /// open of a store written before it existed).
  bool has_config_checksum_ = true;
  const Synchronous synchronous_;
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
};

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_DATABASE_H_
