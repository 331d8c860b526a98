// Copyright (c) Quiver authors.

#include "storage/database.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "util/checksum.h"
#include "util/crash_point.h"
#include "util/status_macros.h"

namespace quiver::storage {
namespace {

constexpr int kFormatVersion = 1;
constexpr int kBusyTimeoutMs = 10000;
constexpr int kOpUpsert = 0;
constexpr int kOpDelete = 1;

std::int64_t ToSql(std::uint64_t v) { return std::bit_cast<std::int64_t>(v); }
std::uint64_t FromSql(std::int64_t v) { return std::bit_cast<std::uint64_t>(v); }

std::string RecordsTable(std::int64_t id) { return "records_" + std::to_string(id); }

/// The collection's FTS5 table over records_<id>.text (see database.h).
std::string FullTextTable(std::int64_t id) { return RecordsTable(id) + "_fts"; }

/// The names of the three triggers that keep FullTextTable(id) exact.
std::array<std::string, 3> FullTextTriggers(std::int64_t id) {
  const std::string f = FullTextTable(id);
  return {f + "_insert", f + "_delete", f + "_update"};
}

/// SQL that creates the collection's full-text table and its triggers.
///
/// External content: the index stores no copy of the text; FTS5 reads
/// records_<id> when it needs the text ('rebuild', integrity-check). Its
/// entries must therefore change exactly when the records do, which the
/// triggers do inside the writing statement's transaction: an insert adds
/// the new text, a delete removes the old one (FTS5's 'delete' command needs
/// the text that was indexed, which old.text is), and an update of the key
/// or the text does both. The update trigger skips upserts that leave the
/// text alone (a new embedding or metadata).
///
/// Writes to records_<id> use INSERT ... ON CONFLICT(key) DO UPDATE, which
/// fires the update trigger. A REPLACE conflict resolution would delete the
/// old row without firing the delete trigger unless recursive_triggers is
/// on; every connection turns it on (Connect), so even such a write would
/// keep the index exact.
///
/// Tokenizer: unicode61 (Unicode 6.1 letters and digits are token
/// characters, everything else separates; case folded) with
/// remove_diacritics 2 ("crème" matches "creme").
std::string FullTextSchemaSql(std::int64_t id) {
  const std::string t = RecordsTable(id);
  const std::string f = FullTextTable(id);
  const auto triggers = FullTextTriggers(id);
  return "CREATE VIRTUAL TABLE " + f + " USING fts5(text, content='" + t +
         "', content_rowid='key', tokenize='unicode61 remove_diacritics 2');\n" +
         "CREATE TRIGGER " + triggers[0] + " AFTER INSERT ON " + t + " BEGIN\n" + "  INSERT INTO " +
         f + "(rowid, text) VALUES (new.key, new.text);\nEND;\n" + "CREATE TRIGGER " + triggers[1] +
         " AFTER DELETE ON " + t + " BEGIN\n" + "  INSERT INTO " + f + "(" + f +
         ", rowid, text) VALUES ('delete', old.key, old.text);\nEND;\n" + "CREATE TRIGGER " +
         triggers[2] + " AFTER UPDATE OF key, text ON " + t +
         " WHEN old.key IS NOT new.key OR old.text IS NOT new.text BEGIN\n" + "  INSERT INTO " + f +
         "(" + f + ", rowid, text) VALUES ('delete', old.key, old.text);\n" + "  INSERT INTO " + f +
         "(rowid, text) VALUES (new.key, new.text);\nEND;\n";
}

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(message);
    case SQLITE_CANTOPEN:
      return Status::IOError(message);
    case SQLITE_READONLY:
      return Status::NotSupported(message);
    case SQLITE_CONSTRAINT:
      return Status::InvalidArgument(message);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    default:
      return Status::IOError(message);
  }
}

}  // namespace

/// A prepared statement, reset (not finalized) when the Stmt goes out of scope
/// so that the connection's cache can reuse it.
class Stmt {
 public:
  /// `owned`: finalize instead of reset when destroyed (a statement that is
  /// not in the connection's cache).
  Stmt(sqlite3* db, sqlite3_stmt* stmt, bool owned = false) : db_(db), stmt_(stmt), owned_(owned) {}
  ~Stmt() {
    if (stmt_ && owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_), owned_(other.owned_) {
    other.stmt_ = nullptr;
  }
  Stmt(const Stmt&) = delete;

  void BindInt(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindDouble(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  /// Binds a compiled filter's parameters to ?first, ?first+1, ...; returns
  /// the index of the next parameter.
  int BindParams(int first, const std::vector<SqlParam>& params) {
    for (const SqlParam& p : params) {
      if (const auto* i = std::get_if<std::int64_t>(&p)) {
        BindInt(first, *i);
      } else if (const auto* d = std::get_if<double>(&p)) {
        BindDouble(first, *d);
      } else {
        BindText(first, std::get<std::string>(p));
      }
      ++first;
    }
    return first;
  }
  void BindText(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void BindBlob(int i, const void* data, std::size_t n) {
    sqlite3_bind_blob(stmt_, i, data, static_cast<int>(n), SQLITE_STATIC);
  }

  /// true = a row is available; false = done. Errors become a Status.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(db_, rc, "sqlite step");
  }
  Status Run() {
    auto r = Step();
    if (!r.ok()) return r.status();
    return Status::Ok();
  }
  /// Resets for another execution with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  const void* Blob(int col) const { return sqlite3_column_blob(stmt_, col); }
  std::size_t BlobBytes(int col) const {
    return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool owned_ = false;
};

/// One SQLite connection with a cache of prepared statements. Used by one
/// thread at a time.
class Database::Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  sqlite3* db() { return db_; }

  Result<Stmt> Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return Stmt(db_, it->second);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(db_, rc, "prepare '" + sql + "'");
    cache_.emplace(sql, stmt);
    return Stmt(db_, stmt);
  }

  /// Prepares a statement outside the cache (finalized when the Stmt is
  /// destroyed): for SQL that varies with each filter.
  Result<Stmt> PrepareUncached(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteStatus(db_, rc, "prepare '" + sql + "'");
    }
    return Stmt(db_, stmt, /*owned=*/true);
  }

  /// Runs one or more statements without results.
  Status Exec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      std::string message = error ? error : sqlite3_errstr(rc);
      sqlite3_free(error);
      return SqliteStatus(nullptr, rc, message);
    }
    return Status::Ok();
  }

  /// Drops cached statements that mention `table` (before DROP TABLE).
  void Forget(const std::string& table) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->first.find(table + " ") != std::string::npos ||
          it->first.find(table + "\n") != std::string::npos) {
        sqlite3_finalize(it->second);
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

/// A reader connection borrowed from the pool; returned when destroyed.
class Database::ReaderLease {
 public:
  ReaderLease(Database* owner, std::unique_ptr<Connection> c) : owner_(owner), c_(std::move(c)) {}
  ReaderLease(ReaderLease&&) = default;
  ~ReaderLease() {
    if (c_) owner_->ReleaseReader(std::move(c_));
  }
  Connection* operator->() { return c_.get(); }
  Connection* get() { return c_.get(); }

 private:
  Database* owner_;
  std::unique_ptr<Connection> c_;
};

/// BEGIN ... COMMIT that rolls back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database::Connection* c) : c_(c) {}
  ~Transaction() {
    if (open_) (void)c_->Exec("ROLLBACK");
  }
  Status Begin(bool immediate) {
    QUIVER_RETURN_IF_ERROR(c_->Exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN"));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    Status s = c_->Exec("COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  Database::Connection* c_;
  bool open_ = false;
};

Database::Database(std::string path, bool read_only, Synchronous synchronous)
    : path_(std::move(path)), read_only_(read_only), synchronous_(synchronous) {}

Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, bool read_only,
                                                 Synchronous synchronous) {
  std::unique_ptr<Database> db(new Database(path, read_only, synchronous));
  QUIVER_RETURN_IF_ERROR(db->Initialize());
  return db;
}

Result<std::unique_ptr<Database::Connection>> Database::Connect(bool writer) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only_ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &raw, flags, nullptr);
  auto connection = std::make_unique<Connection>(raw);
  if (rc != SQLITE_OK) {
    if (read_only_ && rc == SQLITE_CANTOPEN) return Status::NotFound("no database at " + path_);
    return SqliteStatus(raw, rc, "open " + path_);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // recursive_triggers: a REPLACE conflict resolution then fires delete
  // triggers, which keep the full-text index exact (FullTextSchemaSql).
  std::string pragmas =
      "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA recursive_triggers=ON;";
  if (writer) {
    // WAL: readers never block the writer. synchronous=FULL: a commit is on
    // stable storage when it returns (NORMAL can lose the last commits on
    // power loss). See docs/durability.md §2.
    pragmas += "PRAGMA journal_mode=WAL;";
    pragmas += synchronous_ == Synchronous::kFull ? "PRAGMA synchronous=FULL;"
                                                  : "PRAGMA synchronous=NORMAL;";
  }
  QUIVER_RETURN_IF_ERROR(connection->Exec(pragmas).WithContext("configure " + path_));
  return connection;
}

// --- Catalog -----------------------------------------------------------------

namespace {

constexpr const char* kCatalogColumns =
    "id, name, dimensions, metric, scalar, connectivity, expansion_add, expansion_search, "
    "model_id, model_version, generation, applied_seq, checksum, vector_count, file_bytes, "
    "usearch_version";  // then config_checksum, or 0 where the column is missing

/// Reads a row selected as kCatalogColumns + config_checksum. Never fails:
/// a damaged row comes back with CatalogEntry::damage saying what is wrong.
CatalogEntry ReadCatalogRow(const Stmt& s, bool verify) {
  CatalogEntry e;
  e.id = s.Int(0);
  e.name = s.Text(1);
  e.config.dimensions = static_cast<std::uint32_t>(s.Int(2));
  auto metric = ParseMetric(s.Text(3));
  auto scalar = ParseScalarKind(s.Text(4));
  if (!metric.ok() || !scalar.ok()) {
    e.damage = "its catalog row has metric '" + s.Text(3) + "' and scalar '" + s.Text(4) +
               "', which this Quiver does not know";
  } else {
    e.config.metric = *metric;
    e.config.scalar = *scalar;
  }
  e.config.connectivity = static_cast<std::uint32_t>(s.Int(5));
  e.config.expansion_add = static_cast<std::uint32_t>(s.Int(6));
  e.config.expansion_search = static_cast<std::uint32_t>(s.Int(7));
  e.config.model_id = s.Text(8);
  e.config.model_version = s.Text(9);
  e.manifest.generation = FromSql(s.Int(10));
  e.manifest.applied_seq = FromSql(s.Int(11));
  e.manifest.checksum = FromSql(s.Int(12));
  e.manifest.vector_count = FromSql(s.Int(13));
  e.manifest.file_bytes = FromSql(s.Int(14));
  e.manifest.usearch_version = s.Text(15);
  if (verify && e.damage.empty() && FromSql(s.Int(16)) != ConfigChecksum(e.id, e.config)) {
    e.damage = "its configuration in the catalog (" + e.config.ToString() +
               ") does not match the row's checksum: the row was changed outside Quiver";
  }
  return e;
}

}  // namespace

namespace {

/// Runs `sql` (a PRAGMA quick_check) and returns its report lines, or an
/// empty string when SQLite answered "ok".
Result<std::string> QuickCheckReport(Database::Connection* c, const std::string& sql) {
  QUIVER_ASSIGN_OR_RETURN(Stmt check, c->Prepare(sql));
  std::string report;
  while (true) {
    Result<bool> row = check.Step();
    // A page too damaged to walk fails the pragma itself.
    if (row.status().code() == StatusCode::kCorruption) return row.status().message();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const std::string line = check.Text(0);
    if (line == "ok") continue;
    if (!report.empty()) report += "; ";
    report += line;
  }
  return report;
}

/// quick_check of the tables every collection depends on (the catalog, the
/// format row, the change log): cheap, since they are small once checkpoints
/// trim the log. Damage there is damage to the whole store (Corruption).
Status QuickCheckCatalog(Database::Connection* c, const std::string& path) {
  for (const char* table : {"quiver_meta", "collections", "changes"}) {
    QUIVER_ASSIGN_OR_RETURN(std::string report,
                            QuickCheckReport(c, std::string("PRAGMA quick_check(") + table + ")"));
    if (!report.empty()) {
      return Status::Corruption(path + ": the catalog table '" + table +
                                "' is damaged (SQLite quick_check: " + report +
                                "); restore the store from a backup");
    }
  }
  return Status::Ok();
}

Result<bool> HasColumn(Database::Connection* c, const std::string& table,
                       const std::string& column) {
  QUIVER_ASSIGN_OR_RETURN(
      Stmt info, c->Prepare("SELECT 1 FROM pragma_table_info('" + table + "') WHERE name=?"));
  info.BindText(1, column);
  return info.Step();
}

/// Gives the catalog of a store made before configuration checksums its
/// config_checksum column, filled from the rows as they are (trusted once,
/// at the first writable open). In the caller's transaction.
Status AddConfigChecksums(Database::Connection* c) {
  QUIVER_ASSIGN_OR_RETURN(bool present, HasColumn(c, "collections", "config_checksum"));
  if (present) return Status::Ok();
  QUIVER_RETURN_IF_ERROR(
      c->Exec("ALTER TABLE collections ADD COLUMN config_checksum INTEGER NOT NULL DEFAULT 0"));
  std::vector<std::pair<std::int64_t, std::uint64_t>> sums;
  {
    QUIVER_ASSIGN_OR_RETURN(
        Stmt rows, c->Prepare(std::string("SELECT ") + kCatalogColumns + ", 0 FROM collections"));
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool row, rows.Step());
      if (!row) break;
      const CatalogEntry e = ReadCatalogRow(rows, /*verify=*/false);
      if (e.damage.empty()) sums.emplace_back(e.id, ConfigChecksum(e.id, e.config));
    }
  }
  for (const auto& [id, sum] : sums) {
    QUIVER_ASSIGN_OR_RETURN(Stmt update,
                            c->Prepare("UPDATE collections SET config_checksum=? WHERE id=?"));
    update.BindInt(1, ToSql(sum));
    update.BindInt(2, id);
    QUIVER_RETURN_IF_ERROR(update.Run());
  }
  return Status::Ok();
}

}  // namespace

Status Database::Initialize() {
  if (read_only_) {
    QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    QUIVER_ASSIGN_OR_RETURN(
        Stmt stmt, reader->Prepare("SELECT value FROM quiver_meta WHERE key='format_version'"));
    auto row = stmt.Step();
    if (!row.ok() || !*row) return Status::Corruption(path_ + " is not a Quiver database");
    QUIVER_RETURN_IF_ERROR(QuickCheckCatalog(reader.get(), path_));
    QUIVER_ASSIGN_OR_RETURN(has_config_checksum_,
                            HasColumn(reader.get(), "collections", "config_checksum"));
    return Status::Ok();
  }
  QUIVER_ASSIGN_OR_RETURN(writer_, Connect(/*writer=*/true));
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  QUIVER_RETURN_IF_ERROR(writer_->Exec(R"sql(
    CREATE TABLE IF NOT EXISTS quiver_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS collections(
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL UNIQUE,
      dimensions INTEGER NOT NULL,
      metric TEXT NOT NULL,
      scalar TEXT NOT NULL,
      connectivity INTEGER NOT NULL,
      expansion_add INTEGER NOT NULL,
      expansion_search INTEGER NOT NULL,
      model_id TEXT NOT NULL DEFAULT '',
      model_version TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
      generation INTEGER NOT NULL DEFAULT 0,
      applied_seq INTEGER NOT NULL DEFAULT 0,
      checksum INTEGER NOT NULL DEFAULT 0,
      vector_count INTEGER NOT NULL DEFAULT 0,
      file_bytes INTEGER NOT NULL DEFAULT 0,
      usearch_version TEXT NOT NULL DEFAULT '',
      config_checksum INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS changes(
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      collection_id INTEGER NOT NULL,
      key INTEGER NOT NULL,
      op INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS changes_by_collection ON changes(collection_id, seq);
    INSERT OR IGNORE INTO quiver_meta(key, value) VALUES ('format_version', '1');
  )sql"));
  QUIVER_ASSIGN_OR_RETURN(
      Stmt version, writer_->Prepare("SELECT value FROM quiver_meta WHERE key='format_version'"));
  QUIVER_ASSIGN_OR_RETURN(bool has_row, version.Step());
  if (!has_row || version.Text(0) != std::to_string(kFormatVersion)) {
    return Status::Corruption(path_ + " has format version '" + (has_row ? version.Text(0) : "") +
                              "'; this Quiver reads version " + std::to_string(kFormatVersion));
  }
  QUIVER_RETURN_IF_ERROR(QuickCheckCatalog(writer_.get(), path_));
  QUIVER_RETURN_IF_ERROR(AddConfigChecksums(writer_.get()));
  return txn.Commit();
}

Result<Database::ReaderLease> Database::AcquireReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(c));
    }
  }
  QUIVER_ASSIGN_OR_RETURN(auto c, Connect(/*writer=*/false));
  return ReaderLease(this, std::move(c));
}

void Database::ReleaseReader(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  idle_readers_.push_back(std::move(connection));
}

std::uint64_t ConfigChecksum(std::int64_t id, const CollectionConfig& c) {
  const std::string text =
      std::to_string(id) + "|" + std::to_string(c.dimensions) + "|" +
      std::string(MetricName(c.metric)) + "|" + std::string(ScalarKindName(c.scalar)) + "|" +
      std::to_string(c.connectivity) + "|" + std::to_string(c.expansion_add) + "|" +
      std::to_string(c.expansion_search) + "|" + c.model_id + "|" + c.model_version;
  return Checksum64(text.data(), text.size());
}

Result<std::vector<CatalogEntry>> Database::ListCollections() {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          reader->Prepare(std::string("SELECT ") + kCatalogColumns +
                                          (has_config_checksum_ ? ", config_checksum" : ", 0") +
                                          " FROM collections ORDER BY name"));
  std::vector<CatalogEntry> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadCatalogRow(s, has_config_checksum_));
  }
  return out;
}

Result<CatalogEntry> Database::GetCollection(const std::string& name) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          reader->Prepare(std::string("SELECT ") + kCatalogColumns +
                                          (has_config_checksum_ ? ", config_checksum" : ", 0") +
                                          " FROM collections WHERE name=?"));
  s.BindText(1, name);
  QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Status::NotFound("collection '" + name + "' does not exist");
  return ReadCatalogRow(s, has_config_checksum_);
}

Result<CatalogEntry> Database::CreateCollection(const std::string& name,
                                                const CollectionConfig& config) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  {
    QUIVER_ASSIGN_OR_RETURN(Stmt exists,
                            writer_->Prepare("SELECT 1 FROM collections WHERE name=?"));
    exists.BindText(1, name);
    QUIVER_ASSIGN_OR_RETURN(bool taken, exists.Step());
    if (taken) return Status::AlreadyExists("collection '" + name + "' already exists");
  }
  QUIVER_ASSIGN_OR_RETURN(
      Stmt insert,
      writer_->Prepare("INSERT INTO collections(name, dimensions, metric, scalar, connectivity, "
                       "expansion_add, expansion_search, model_id, model_version) "
                       "VALUES (?,?,?,?,?,?,?,?,?)"));
  insert.BindText(1, name);
  insert.BindInt(2, config.dimensions);
  insert.BindText(3, MetricName(config.metric));
  insert.BindText(4, ScalarKindName(config.scalar));
  insert.BindInt(5, config.connectivity);
  insert.BindInt(6, config.expansion_add);
  insert.BindInt(7, config.expansion_search);
  insert.BindText(8, config.model_id);
  insert.BindText(9, config.model_version);
  QUIVER_RETURN_IF_ERROR(insert.Run());
  CatalogEntry entry;
  entry.id = sqlite3_last_insert_rowid(writer_->db());
  entry.name = name;
  entry.config = config;
  {
    QUIVER_ASSIGN_OR_RETURN(
        Stmt sum, writer_->Prepare("UPDATE collections SET config_checksum=? WHERE id=?"));
    sum.BindInt(1, ToSql(ConfigChecksum(entry.id, config)));
    sum.BindInt(2, entry.id);
    QUIVER_RETURN_IF_ERROR(sum.Run());
  }
  QUIVER_RETURN_IF_ERROR(
      writer_->Exec("CREATE TABLE " + RecordsTable(entry.id) +
                    " (key INTEGER PRIMARY KEY, id TEXT UNIQUE, text TEXT NOT NULL, "
                    "metadata TEXT NOT NULL, embedding BLOB NOT NULL)"));
  QUIVER_RETURN_IF_ERROR(writer_->Exec(FullTextSchemaSql(entry.id)));
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return entry;
}

Status Database::DropCollection(std::int64_t id) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  writer_->Forget(RecordsTable(id));
  writer_->Forget(FullTextTable(id));
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  // The full-text table first (with its shadow tables); dropping the records
  // table drops its triggers.
  QUIVER_RETURN_IF_ERROR(writer_->Exec("DROP TABLE IF EXISTS " + FullTextTable(id)));
  QUIVER_RETURN_IF_ERROR(writer_->Exec("DROP TABLE IF EXISTS " + RecordsTable(id)));
  for (const char* sql :
       {"DELETE FROM changes WHERE collection_id=?", "DELETE FROM collections WHERE id=?"}) {
    QUIVER_ASSIGN_OR_RETURN(Stmt s, writer_->Prepare(sql));
    s.BindInt(1, id);
    QUIVER_RETURN_IF_ERROR(s.Run());
  }
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  // Reader connections may have cached statements on the dropped table.
  std::lock_guard<std::mutex> readers_lock(readers_mu_);
  for (auto& reader : idle_readers_) {
    reader->Forget(RecordsTable(id));
    reader->Forget(FullTextTable(id));
  }
  return Status::Ok();
}

Status Database::SwapCollectionNames(std::int64_t old_id, const std::string& retired_name,
                                     std::int64_t new_id, const std::string& name) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  // Old first: names are UNIQUE.
  for (const auto& [id, new_name] : {std::pair{old_id, retired_name}, std::pair{new_id, name}}) {
    QUIVER_ASSIGN_OR_RETURN(Stmt s, writer_->Prepare("UPDATE collections SET name=? WHERE id=?"));
    s.BindText(1, new_name);
    s.BindInt(2, id);
    QUIVER_RETURN_IF_ERROR(s.Run());
  }
  return txn.Commit();
}

Status Database::CommitManifest(std::int64_t id, const Manifest& m,
                                const CollectionConfig* config) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  if (config != nullptr) {
    QUIVER_ASSIGN_OR_RETURN(Stmt update,
                            writer_->Prepare("UPDATE collections SET scalar=?, connectivity=?, "
                                             "expansion_add=?, expansion_search=?, "
                                             "config_checksum=? WHERE id=?"));
    update.BindText(1, ScalarKindName(config->scalar));
    update.BindInt(2, config->connectivity);
    update.BindInt(3, config->expansion_add);
    update.BindInt(4, config->expansion_search);
    update.BindInt(5, ToSql(ConfigChecksum(id, *config)));
    update.BindInt(6, id);
    QUIVER_RETURN_IF_ERROR(update.Run());
  }
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, writer_->Prepare("UPDATE collections SET generation=?, applied_seq=?, checksum=?, "
                               "vector_count=?, file_bytes=?, usearch_version=? WHERE id=?"));
  s.BindInt(1, ToSql(m.generation));
  s.BindInt(2, ToSql(m.applied_seq));
  s.BindInt(3, ToSql(m.checksum));
  s.BindInt(4, ToSql(m.vector_count));
  s.BindInt(5, ToSql(m.file_bytes));
  s.BindText(6, m.usearch_version);
  s.BindInt(7, id);
  QUIVER_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(writer_->db()) != 1) {
    return Status::NotFound("collection id " + std::to_string(id) + " no longer exists");
  }
  return txn.Commit();
}

Status Database::TrimChangeLog(std::int64_t id, std::uint64_t up_to_seq) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          writer_->Prepare("DELETE FROM changes WHERE collection_id=? AND seq<=?"));
  s.BindInt(1, id);
  s.BindInt(2, ToSql(up_to_seq));
  return s.Run();
}

// --- Writes ------------------------------------------------------------------

Result<WriteResult> Database::UpsertRecords(std::int64_t id, std::uint32_t dimensions,
                                            const std::vector<Record>& records) {
  return WriteRecords(id, dimensions, records, /*append=*/false, nullptr);
}

Result<WriteResult> Database::AppendRecords(std::int64_t id, std::uint32_t dimensions,
                                            const std::vector<Record>& records,
                                            std::vector<Key>* keys) {
  return WriteRecords(id, dimensions, records, /*append=*/true, keys);
}

Result<WriteResult> Database::WriteRecords(std::int64_t id, std::uint32_t dimensions,
                                           const std::vector<Record>& records, bool append,
                                           std::vector<Key>* keys) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  const std::string table = RecordsTable(id);
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));

  Key next_key = 0;
  if (append) {
    QUIVER_ASSIGN_OR_RETURN(Stmt max,
                            writer_->Prepare("SELECT max(key) FROM " + table + " WHERE key >= 0"));
    QUIVER_ASSIGN_OR_RETURN(bool row, max.Step());
    // Numbering starts at 1, as memista's does: clients often read id 0 as "none".
    next_key = (row && !max.IsNull(0)) ? FromSql(max.Int(0)) + 1 : 1;
    if (next_key + records.size() > (Key{1} << 63)) {
      return Status::FailedPrecondition("collection key space below 2^63 is exhausted");
    }
    keys->clear();
  }

  QUIVER_ASSIGN_OR_RETURN(
      Stmt upsert, writer_->Prepare("INSERT INTO " + table +
                                    " (key, id, text, metadata, embedding) VALUES (?,?,?,?,?) "
                                    "ON CONFLICT(key) DO UPDATE SET id=excluded.id, "
                                    "text=excluded.text, metadata=excluded.metadata, "
                                    "embedding=excluded.embedding"));
  QUIVER_ASSIGN_OR_RETURN(
      Stmt log, writer_->Prepare("INSERT INTO changes(collection_id, key, op) VALUES (?,?,?)"));
  QUIVER_ASSIGN_OR_RETURN(Stmt id_of_key,
                          writer_->Prepare("SELECT id FROM " + table + " WHERE key=?"));
  QUIVER_ASSIGN_OR_RETURN(Stmt key_of_id,
                          writer_->Prepare("SELECT key FROM " + table + " WHERE id=?"));

  const std::size_t blob_bytes = std::size_t{dimensions} * sizeof(float);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const Key key = append ? next_key + i : r.key;
    if (r.id.empty() && !append) {
      // A record named by its key alone (an integer id) never replaces a
      // record that has a string id: that one is named by its id.
      id_of_key.Reset();
      id_of_key.BindInt(1, ToSql(key));
      QUIVER_ASSIGN_OR_RETURN(bool has, id_of_key.Step());
      if (has && !id_of_key.IsNull(0)) {
        return Status::InvalidArgument("records[" + std::to_string(i) + "].id: key " +
                                       std::to_string(key) + " holds the record with id '" +
                                       id_of_key.Text(0) +
                                       "'; give that id to replace it, or delete it first");
      }
    }
    if (!r.id.empty()) {
      // An external id names exactly one key, and a key keeps its id: a string
      // id that hashes to an occupied key must not overwrite that record.
      id_of_key.Reset();
      id_of_key.BindInt(1, ToSql(key));
      QUIVER_ASSIGN_OR_RETURN(bool has, id_of_key.Step());
      if (has && !id_of_key.IsNull(0) && id_of_key.Text(0) != r.id) {
        return Status::InvalidArgument("records[" + std::to_string(i) + "].id: key " +
                                       std::to_string(key) + " already holds id '" +
                                       id_of_key.Text(0) + "', not '" + r.id + "'");
      }
      key_of_id.Reset();
      key_of_id.BindText(1, r.id);
      QUIVER_ASSIGN_OR_RETURN(bool taken, key_of_id.Step());
      if (taken && FromSql(key_of_id.Int(0)) != key) {
        return Status::InvalidArgument("records[" + std::to_string(i) + "].id: '" + r.id +
                                       "' already belongs to key " +
                                       std::to_string(FromSql(key_of_id.Int(0))));
      }
    }
    upsert.Reset();
    upsert.BindInt(1, ToSql(key));
    if (r.id.empty()) {
      upsert.BindNull(2);
    } else {
      upsert.BindText(2, r.id);
    }
    upsert.BindText(3, r.text);
    upsert.BindText(4, r.metadata.empty() ? std::string_view("{}") : std::string_view(r.metadata));
    upsert.BindBlob(5, r.embedding.data(), blob_bytes);
    QUIVER_RETURN_IF_ERROR(upsert.Run().WithContext("records[" + std::to_string(i) + "]"));
    log.Reset();
    log.BindInt(1, id);
    log.BindInt(2, ToSql(key));
    log.BindInt(3, kOpUpsert);
    QUIVER_RETURN_IF_ERROR(log.Run());
    if (append) keys->push_back(key);
  }
  WriteResult result;
  result.last_seq = records.empty() ? 0 : FromSql(sqlite3_last_insert_rowid(writer_->db()));
  result.changed = records.size();
  // Every row, its full-text entry and its change are written, not committed.
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("upsert.before_commit"));
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return result;
}

Result<WriteResult> Database::DeleteAndLogLocked(std::int64_t id, const std::string& table,
                                                 const std::vector<Key>& keys) {
  QUIVER_ASSIGN_OR_RETURN(Stmt del, writer_->Prepare("DELETE FROM " + table + " WHERE key=?"));
  QUIVER_ASSIGN_OR_RETURN(
      Stmt log, writer_->Prepare("INSERT INTO changes(collection_id, key, op) VALUES (?,?,?)"));
  WriteResult result;
  for (Key key : keys) {
    del.Reset();
    del.BindInt(1, ToSql(key));
    QUIVER_RETURN_IF_ERROR(del.Run());
    if (sqlite3_changes(writer_->db()) == 0) continue;  // no such record: nothing to log
    log.Reset();
    log.BindInt(1, id);
    log.BindInt(2, ToSql(key));
    log.BindInt(3, kOpDelete);
    QUIVER_RETURN_IF_ERROR(log.Run());
    result.last_seq = FromSql(sqlite3_last_insert_rowid(writer_->db()));
    ++result.changed;
  }
  return result;
}

Result<WriteResult> Database::DeleteRecords(std::int64_t id, const std::vector<Key>& keys) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  const std::string table = RecordsTable(id);
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  QUIVER_ASSIGN_OR_RETURN(WriteResult result, DeleteAndLogLocked(id, table, keys));
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("delete.before_commit"));
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return result;
}

// --- Reads -------------------------------------------------------------------

namespace {

Status CopyEmbedding(const Stmt& s, int col, std::uint32_t dimensions, Key key,
                     std::vector<float>* out) {
  const std::size_t bytes = s.BlobBytes(col);
  if (bytes != std::size_t{dimensions} * sizeof(float)) {
    return Status::Corruption("record " + std::to_string(key) + " has a " + std::to_string(bytes) +
                              "-byte embedding; expected " + std::to_string(dimensions) +
                              " float32");
  }
  out->resize(dimensions);
  if (bytes > 0) std::memcpy(out->data(), s.Blob(col), bytes);
  return Status::Ok();
}

/// The record `key` of a row whose columns from `first` on are id, text,
/// metadata, embedding (the embedding read only when asked for).
Record ReadRecordRow(const Stmt& s, int first, Key key, bool with_embedding) {
  Record r;
  r.key = key;
  r.id = s.Text(first);
  r.text = s.Text(first + 1);
  r.metadata = s.Text(first + 2);
  if (with_embedding) {
    const std::size_t floats = s.BlobBytes(first + 3) / sizeof(float);
    r.embedding.resize(floats);
    if (floats > 0) std::memcpy(r.embedding.data(), s.Blob(first + 3), floats * sizeof(float));
  }
  return r;
}

}  // namespace

Result<std::vector<std::optional<Record>>> Database::GetRecords(std::int64_t id,
                                                                const std::vector<Key>& keys,
                                                                bool with_embedding) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->Prepare("SELECT id, text, metadata, embedding FROM " +
                                                  RecordsTable(id) + " WHERE key=?"));
  std::vector<std::optional<Record>> out;
  out.reserve(keys.size());
  for (Key key : keys) {
    s.Reset();
    s.BindInt(1, ToSql(key));
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      out.emplace_back(std::nullopt);
      continue;
    }
    out.emplace_back(ReadRecordRow(s, 0, key, with_embedding));
  }
  return out;
}

Status Database::FillMatches(std::int64_t id, std::vector<Match>* matches, bool want_text,
                             bool want_metadata, std::vector<bool>* found) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->Prepare("SELECT id, text, metadata FROM " +
                                                  RecordsTable(id) + " WHERE key=?"));
  found->assign(matches->size(), false);
  for (std::size_t i = 0; i < matches->size(); ++i) {
    Match& m = (*matches)[i];
    s.Reset();
    s.BindInt(1, ToSql(m.key));
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) continue;
    (*found)[i] = true;
    m.id = s.Text(0);
    if (want_text) m.text = s.Text(1);
    if (want_metadata) m.metadata = s.Text(2);
  }
  return Status::Ok();
}

Result<bool> Database::HasStringIds(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  // Records without a string id store NULL; every text is >= '', so this is
  // a range seek on the UNIQUE index of `id` that skips the NULLs.
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->Prepare("SELECT 1 FROM " + RecordsTable(id) + " WHERE id >= '' LIMIT 1"));
  return s.Step();
}

Result<std::uint64_t> Database::CountRecords(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->Prepare("SELECT count(*) FROM " + RecordsTable(id)));
  QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<std::uint64_t>(s.Int(0)) : 0;
}

Result<std::uint64_t> Database::ChangeLogLength(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          reader->Prepare("SELECT count(*) FROM changes WHERE collection_id=?"));
  s.BindInt(1, id);
  QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<std::uint64_t>(s.Int(0)) : 0;
}

Status Database::ScanEmbeddings(std::int64_t id, std::uint32_t dimensions,
                                const std::function<Status(Key, const float*)>& visit,
                                std::uint64_t* snapshot_seq) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  Transaction txn(reader.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(false));
  {
    QUIVER_ASSIGN_OR_RETURN(
        Stmt seq, reader->Prepare("SELECT seq FROM sqlite_sequence WHERE name='changes'"));
    QUIVER_ASSIGN_OR_RETURN(bool row, seq.Step());
    *snapshot_seq = row ? FromSql(seq.Int(0)) : 0;
  }
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->Prepare("SELECT key, embedding FROM " + RecordsTable(id) + " ORDER BY key"));
  std::vector<float> embedding;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    const Key key = FromSql(s.Int(0));
    QUIVER_RETURN_IF_ERROR(CopyEmbedding(s, 1, dimensions, key, &embedding));
    QUIVER_RETURN_IF_ERROR(visit(key, embedding.data()));
  }
  return txn.Commit();
}

Result<std::vector<Key>> Database::ListKeys(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          reader->Prepare("SELECT key FROM " + RecordsTable(id) + " ORDER BY key"));
  std::vector<Key> keys;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    keys.push_back(FromSql(s.Int(0)));
  }
  return keys;
}

Result<std::vector<PendingChange>> Database::ChangesSince(std::int64_t id, std::uint32_t dimensions,
                                                          std::uint64_t after_seq,
                                                          std::uint64_t* last_seq) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  Transaction txn(reader.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(false));
  // One row per key changed since after_seq, joined with the record's current
  // state: the latest change wins, so replay is idempotent and in key order.
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->Prepare("SELECT c.key, max(c.seq), r.embedding FROM changes c LEFT JOIN " +
                              RecordsTable(id) +
                              " r ON r.key = c.key WHERE c.collection_id=? AND c.seq>? "
                              "GROUP BY c.key ORDER BY c.key"));
  s.BindInt(1, id);
  s.BindInt(2, ToSql(after_seq));
  std::vector<PendingChange> out;
  *last_seq = after_seq;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    PendingChange change;
    change.key = FromSql(s.Int(0));
    *last_seq = std::max(*last_seq, FromSql(s.Int(1)));
    if (!s.IsNull(2)) {
      std::vector<float> embedding;
      QUIVER_RETURN_IF_ERROR(CopyEmbedding(s, 2, dimensions, change.key, &embedding));
      change.embedding = std::move(embedding);
    }
    out.push_back(std::move(change));
  }
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return out;
}

// --- Filtered reads and writes -------------------------------------------------

Result<std::vector<Key>> Database::SelectKeys(std::int64_t id, const SqlFilter& where,
                                              std::uint64_t limit) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->PrepareUncached("SELECT key FROM " + RecordsTable(id) + " WHERE " +
                                      where.expr + " ORDER BY key LIMIT ?"));
  const int next = s.BindParams(1, where.params);
  s.BindInt(next, limit > std::uint64_t{INT64_MAX} ? INT64_MAX : static_cast<std::int64_t>(limit));
  std::vector<Key> keys;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    keys.push_back(FromSql(s.Int(0)));
  }
  return keys;
}

Result<std::uint64_t> Database::CountWhere(std::int64_t id, const SqlFilter& where) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s,
      reader->PrepareUncached("SELECT count(*) FROM " + RecordsTable(id) + " WHERE " + where.expr));
  s.BindParams(1, where.params);
  QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<std::uint64_t>(s.Int(0)) : 0;
}

Result<std::vector<Record>> Database::ScanRecords(std::int64_t id, const SqlFilter& where,
                                                  const std::optional<std::int64_t>& after,
                                                  std::uint64_t offset, std::uint64_t limit,
                                                  bool with_text, bool with_metadata,
                                                  bool with_embedding) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  std::string sql = std::string("SELECT key, id, ") + (with_text ? "text" : "''") + ", " +
                    (with_metadata ? "metadata" : "''") + ", " +
                    (with_embedding ? "embedding" : "NULL") + " FROM " + RecordsTable(id) +
                    " WHERE " + where.expr + (after ? " AND key > ?" : "") +
                    " ORDER BY key LIMIT ? OFFSET ?";
  QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->PrepareUncached(sql));
  int next = s.BindParams(1, where.params);
  if (after) s.BindInt(next++, *after);
  auto clamp = [](std::uint64_t v) {
    return v > std::uint64_t{INT64_MAX} ? INT64_MAX : static_cast<std::int64_t>(v);
  };
  s.BindInt(next++, clamp(limit));
  s.BindInt(next, clamp(offset));
  std::vector<Record> out;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadRecordRow(s, 1, FromSql(s.Int(0)), with_embedding));
  }
  return out;
}

Result<WriteResult> Database::DeleteWhere(std::int64_t id, const SqlFilter& where,
                                          std::vector<Key>* deleted) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  const std::string table = RecordsTable(id);
  std::lock_guard<std::mutex> lock(writer_mu_);
  Transaction txn(writer_.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(true));
  deleted->clear();
  {
    QUIVER_ASSIGN_OR_RETURN(
        Stmt select, writer_->PrepareUncached("SELECT key FROM " + table + " WHERE " + where.expr));
    select.BindParams(1, where.params);
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      deleted->push_back(FromSql(select.Int(0)));
    }
  }
  QUIVER_ASSIGN_OR_RETURN(WriteResult result, DeleteAndLogLocked(id, table, *deleted));
  // A crash here (or any failure above) rolls the whole delete back (I9).
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("delete_where.before_commit"));
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return result;
}

Result<std::vector<std::vector<float>>> Database::GetEmbeddings(std::int64_t id,
                                                                std::uint32_t dimensions,
                                                                const std::vector<Key>& keys) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  Transaction txn(reader.get());
  QUIVER_RETURN_IF_ERROR(txn.Begin(false));
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->Prepare("SELECT embedding FROM " + RecordsTable(id) + " WHERE key=?"));
  std::vector<std::vector<float>> out(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    s.Reset();
    s.BindInt(1, ToSql(keys[i]));
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) QUIVER_RETURN_IF_ERROR(CopyEmbedding(s, 0, dimensions, keys[i], &out[i]));
  }
  QUIVER_RETURN_IF_ERROR(txn.Commit());
  return out;
}

// --- Full-text search (FTS5) -----------------------------------------------------

namespace {

/// Whether the schema holds a table called `name`.
Result<bool> TableExists(Database::Connection* c, const std::string& name) {
  QUIVER_ASSIGN_OR_RETURN(Stmt s,
                          c->Prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"));
  s.BindText(1, name);
  return s.Step();
}

/// The message of an FTS5 query error, worded for the user: "fts5: ..."
/// always, and a hint where FTS5's own words mislead (a bare "word:" or
/// "-word" is read as a column filter).
std::string FullTextQueryError(std::string message) {
  if (message.rfind("fts5:", 0) != 0) message = "fts5: " + message;
  if (message.find("no such column") != std::string::npos) {
    message +=
        " (FTS5 reads 'word:' and '-word' as column filters and the only column is 'text'; "
        "put such terms in double quotes)";
  }
  return message;
}

/// An FTS5 query that matches a record iff the index holds `text`'s tokens
/// in order: the whole text as one quoted phrase ('"' doubled). Cut at
/// `max_bytes` (or at a NUL byte) on a UTF-8 character boundary, the last
/// token then being a prefix ("... *"), which can only match more.
std::string PhraseQuery(std::string_view text, std::size_t max_bytes) {
  std::size_t end = std::min({text.size(), max_bytes, text.find('\0')});
  const bool cut = end < text.size();
  while (cut && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  std::string query = "\"";
  for (const char c : text.substr(0, end)) {
    if (c == '"') query += '"';
    query += c;
  }
  query += cut ? "\" *" : "\"";
  return query;
}

}  // namespace

Result<std::vector<FullTextHit>> Database::FullTextSearch(std::int64_t id,
                                                          const std::string& match_query,
                                                          const SqlFilter& where,
                                                          std::uint64_t limit) {
  if (!match_query.empty() && match_query[0] == '*') {
    // FTS5 reads MATCH '*...' as an internal command ('*reads', '*id').
    return Status::InvalidArgument(
        "fts5: a query cannot start with '*'; put the text in double quotes");
  }
  const std::string t = RecordsTable(id);
  const std::string f = FullTextTable(id);
  // bm25() is negated so the score is "higher is better"; ties are broken by
  // the key as uint64 ((key < 0) puts keys >= 2^63 last), for a
  // deterministic order and cut. The filter needs the records table; an
  // unfiltered search reads the index alone.
  const bool filtered = where.expr != "1";
  std::string sql = "SELECT " + f + ".rowid, -bm25(" + f + ") AS score FROM " + f;
  if (filtered) sql += " JOIN " + t + " ON " + t + ".key = " + f + ".rowid";
  sql += " WHERE " + f + " MATCH ?";
  if (filtered) sql += " AND (" + where.expr + ")";
  sql += " ORDER BY score DESC, (" + f + ".rowid < 0), " + f + ".rowid LIMIT ?";
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  auto prepared = reader->PrepareUncached(sql);
  if (!prepared.ok()) {
    QUIVER_ASSIGN_OR_RETURN(bool present, TableExists(reader.get(), f));
    if (!present) {
      return Status::FailedPrecondition(
          "the collection has no full-text index yet: the store was made by a Quiver without "
          "full-text search; open it for writing once (any command that writes, or `quiver "
          "serve` without --read-only) to build it");
    }
    return prepared.status();
  }
  Stmt s = std::move(prepared).value();
  s.BindText(1, match_query);
  int next = s.BindParams(2, where.params);
  s.BindInt(next, limit > std::uint64_t{INT64_MAX} ? INT64_MAX : static_cast<std::int64_t>(limit));
  std::vector<FullTextHit> hits;
  while (true) {
    auto row = s.Step();
    if (!row.ok()) {
      // The statement itself is fixed and was prepared: a plain SQLITE_ERROR
      // while stepping comes from FTS5 parsing the query.
      if ((sqlite3_errcode(reader->db()) & 0xff) == SQLITE_ERROR) {
        return Status::InvalidArgument(FullTextQueryError(sqlite3_errmsg(reader->db())));
      }
      return row.status();
    }
    if (!*row) break;
    hits.push_back({FromSql(s.Int(0)), s.Double(1)});
  }
  return hits;
}

Result<std::vector<FullTextMigration>> Database::EnsureFullTextIndexes() {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  std::vector<std::int64_t> ids;
  {
    QUIVER_ASSIGN_OR_RETURN(Stmt s, writer_->Prepare("SELECT id FROM collections ORDER BY id"));
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ids.push_back(s.Int(0));
    }
  }
  std::vector<FullTextMigration> built;
  for (const std::int64_t id : ids) {
    const std::string t = RecordsTable(id);
    const std::string f = FullTextTable(id);
    const auto triggers = FullTextTriggers(id);
    {
      QUIVER_ASSIGN_OR_RETURN(
          Stmt s, writer_->Prepare("SELECT count(*) FROM sqlite_master WHERE (type='table' AND "
                                   "name=?1) OR (type='trigger' AND tbl_name=?2 AND name IN "
                                   "(?3, ?4, ?5))"));
      s.BindText(1, f);
      s.BindText(2, t);
      for (int i = 0; i < 3; ++i) s.BindText(3 + i, triggers[static_cast<std::size_t>(i)]);
      QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row && s.Int(0) == 4) continue;
    }
    // Older schema (or a part of the full-text schema lost): build it afresh,
    // all in one transaction (docs/durability.md §4).
    const auto start = std::chrono::steady_clock::now();
    writer_->Forget(f);
    Transaction txn(writer_.get());
    QUIVER_RETURN_IF_ERROR(txn.Begin(true));
    std::string sql;
    for (const std::string& trigger : triggers) sql += "DROP TRIGGER IF EXISTS " + trigger + ";\n";
    sql += "DROP TABLE IF EXISTS " + f + ";\n" + FullTextSchemaSql(id);
    sql += "INSERT INTO " + f + "(" + f + ") VALUES ('rebuild');\n";
    QUIVER_RETURN_IF_ERROR(writer_->Exec(sql).WithContext("building the full-text index of " + t));
    FullTextMigration migration;
    migration.collection_id = id;
    {
      QUIVER_ASSIGN_OR_RETURN(Stmt count, writer_->PrepareUncached("SELECT count(*) FROM " + t));
      QUIVER_ASSIGN_OR_RETURN(bool row, count.Step());
      migration.records = row ? static_cast<std::uint64_t>(count.Int(0)) : 0;
    }
    QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("fulltext_migration.before_commit"));
    QUIVER_RETURN_IF_ERROR(txn.Commit());
    migration.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    built.push_back(migration);
  }
  // Full-text tables of collections an older Quiver dropped (it dropped the
  // records table and, with it, the triggers, but not the FTS5 table).
  std::vector<std::string> orphans;
  {
    QUIVER_ASSIGN_OR_RETURN(
        Stmt s, writer_->Prepare("SELECT name FROM sqlite_master WHERE type='table' AND name "
                                 "GLOB 'records_[0-9]*_fts'"));
    while (true) {
      QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const std::string name = s.Text(0);
      const std::string digits = name.substr(8, name.size() - 8 - 4);
      if (digits.empty() || digits.size() > 18 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      if (std::find(ids.begin(), ids.end(), std::stoll(digits)) == ids.end()) {
        orphans.push_back(name);
      }
    }
  }
  for (const std::string& name : orphans) {
    writer_->Forget(name);
    QUIVER_RETURN_IF_ERROR(writer_->Exec("DROP TABLE IF EXISTS " + name));
  }
  return built;
}

Result<FullTextReport> Database::VerifyFullText(std::int64_t id, std::size_t max_samples) {
  constexpr std::size_t kMaxPhraseBytes = 4096;
  const std::string t = RecordsTable(id);
  const std::string f = FullTextTable(id);
  const std::string docsize = f + "_docsize";
  FullTextReport report;
  {
    QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    QUIVER_ASSIGN_OR_RETURN(report.present, TableExists(reader.get(), f));
    if (!report.present) return report;
    Transaction txn(reader.get());
    QUIVER_RETURN_IF_ERROR(txn.Begin(false));
    auto keys = [&](const std::string& sql, std::vector<Key>* out) -> Status {
      QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->PrepareUncached(sql));
      while (true) {
        QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        out->push_back(FromSql(s.Int(0)));
      }
      return Status::Ok();
    };
    {
      QUIVER_ASSIGN_OR_RETURN(Stmt s, reader->PrepareUncached("SELECT count(*) FROM " + docsize));
      QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
      report.indexed = row ? static_cast<std::uint64_t>(s.Int(0)) : 0;
    }
    // (1) The rowid sets: _docsize has one row per indexed document.
    QUIVER_RETURN_IF_ERROR(keys("SELECT key FROM " + t + " WHERE NOT EXISTS (SELECT 1 FROM " +
                                    docsize + " d WHERE d.id = " + t + ".key) ORDER BY key",
                                &report.missing));
    QUIVER_RETURN_IF_ERROR(keys("SELECT id FROM " + docsize + " WHERE NOT EXISTS (SELECT 1 FROM " +
                                    t + " r WHERE r.key = " + docsize + ".id) ORDER BY id",
                                &report.extra));
    // (2) Every record when there are at most max_samples, else one at each
    // of max_samples evenly spaced points of the key range.
    std::int64_t lo = 0, hi = 0, n = 0;
    {
      QUIVER_ASSIGN_OR_RETURN(
          Stmt s, reader->PrepareUncached("SELECT min(key), max(key), count(*) FROM " + t));
      QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) lo = s.Int(0), hi = s.Int(1), n = s.Int(2);
    }
    const bool every = static_cast<std::uint64_t>(n) <= max_samples;
    QUIVER_ASSIGN_OR_RETURN(
        Stmt next, reader->PrepareUncached("SELECT key, text FROM " + t + " WHERE key >= ? " +
                                           "ORDER BY key" + (every ? "" : " LIMIT 1")));
    QUIVER_ASSIGN_OR_RETURN(Stmt size,
                            reader->PrepareUncached("SELECT sz FROM " + docsize + " WHERE id = ?"));
    QUIVER_ASSIGN_OR_RETURN(Stmt match,
                            reader->PrepareUncached("SELECT count(*) FROM " + f + " WHERE " + f +
                                                    " MATCH ? AND rowid = ?"));
    // Whether the index holds `text` for `key`; nullopt = cannot tell.
    auto check = [&](std::int64_t key, const std::string& text) -> Result<std::optional<bool>> {
      size.Reset();
      size.BindInt(1, key);
      QUIVER_ASSIGN_OR_RETURN(bool has_entry, size.Step());
      // No entry: reported by (1). An entry of no tokens (first varint 0):
      // nothing a query can match, so not checked here (FTS5's check is).
      if (!has_entry || size.BlobBytes(0) == 0 ||
          static_cast<const unsigned char*>(size.Blob(0))[0] == 0) {
        return std::optional<bool>();
      }
      const std::string phrase = PhraseQuery(text, kMaxPhraseBytes);
      match.Reset();
      match.BindText(1, phrase);
      match.BindInt(2, key);
      auto counted = match.Step();
      if (!counted.ok()) return std::optional<bool>();  // a text FTS5 cannot quote
      return std::optional<bool>(*counted && match.Int(0) == 1);
    };
    const std::size_t probes = every ? 1 : max_samples;
    // lo + i * (hi - lo) / probes, in uint64 (hi - lo may not fit int64);
    // n > probes distinct keys make the step at least 1.
    const std::uint64_t step = (FromSql(hi) - FromSql(lo)) / probes;
    std::optional<std::int64_t> previous;
    for (std::size_t i = 0; i < probes && n > 0; ++i) {
      next.Reset();
      next.BindInt(1, ToSql(FromSql(lo) + step * i));
      while (true) {
        QUIVER_ASSIGN_OR_RETURN(bool row, next.Step());
        if (!row || next.Int(0) == previous) break;
        const std::int64_t key = next.Int(0);
        previous = key;
        QUIVER_ASSIGN_OR_RETURN(std::optional<bool> holds, check(key, next.Text(1)));
        if (holds.has_value()) {
          ++report.sampled;
          if (!*holds) report.stale.push_back(FromSql(key));
        }
        if (!every) break;
      }
    }
    QUIVER_RETURN_IF_ERROR(txn.Commit());
  }
  if (!read_only_) {
    // (3) FTS5's own check; an INSERT, hence the writer connection.
    std::lock_guard<std::mutex> lock(writer_mu_);
    Status s =
        writer_->Exec("INSERT INTO " + f + "(" + f + ", rank) VALUES ('integrity-check', 1)");
    report.integrity_checked = true;
    if (!s.ok()) report.integrity_error = s.message();
  }
  return report;
}

// --- Indexed metadata fields ------------------------------------------------------

namespace {

/// "records_<id>_field_<hex of the field name>": an SQL identifier whatever
/// the field's bytes, and reversible (ListFieldIndexes decodes it).
std::string FieldIndexName(std::int64_t id, const std::string& field) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = RecordsTable(id) + "_field_";
  for (const char c : field) {
    const auto u = static_cast<unsigned char>(c);
    name += kHex[u >> 4];
    name += kHex[u & 15];
  }
  return name;
}

}  // namespace

Status Database::CreateFieldIndex(std::int64_t id, const std::string& field,
                                  const std::vector<std::string>& segments) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  std::lock_guard<std::mutex> lock(writer_mu_);
  // The expression must be spelled as filter_sql.cc spells it for SQLite to
  // use the index.
  return writer_->Exec("CREATE INDEX IF NOT EXISTS " + FieldIndexName(id, field) + " ON " +
                       RecordsTable(id) + "(json_extract(metadata, " + JsonPathLiteral(segments) +
                       "))");
}

Status Database::DropFieldIndex(std::int64_t id, const std::string& field) {
  if (read_only_) return Status::NotSupported("the store is open read-only");
  QUIVER_ASSIGN_OR_RETURN(std::vector<std::string> fields, ListFieldIndexes(id));
  if (std::find(fields.begin(), fields.end(), field) == fields.end()) {
    return Status::NotFound("field '" + field + "' has no index");
  }
  std::lock_guard<std::mutex> lock(writer_mu_);
  return writer_->Exec("DROP INDEX IF EXISTS " + FieldIndexName(id, field));
}

Result<std::vector<std::string>> Database::ListFieldIndexes(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(
      Stmt s, reader->Prepare("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?"));
  const std::string table = RecordsTable(id);  // bound SQLITE_STATIC: must outlive the step
  s.BindText(1, table);
  const std::string prefix = table + "_field_";
  std::vector<std::string> fields;
  while (true) {
    QUIVER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    const std::string name = s.Text(0);
    if (name.rfind(prefix, 0) != 0) continue;
    std::string field;
    for (std::size_t i = prefix.size(); i + 1 < name.size(); i += 2) {
      field += static_cast<char>(std::stoi(name.substr(i, 2), nullptr, 16));
    }
    fields.push_back(std::move(field));
  }
  std::sort(fields.begin(), fields.end());
  return fields;
}

Status Database::BackupTo(const std::string& dest_path) {
  sqlite3* dest = nullptr;
  int rc =
      sqlite3_open_v2(dest_path.c_str(), &dest,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database::Connection dest_connection(dest);  // closes it on every path
  if (rc != SQLITE_OK) return SqliteStatus(dest, rc, "open backup " + dest_path);
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  sqlite3_backup* backup = sqlite3_backup_init(dest, "main", reader->db(), "main");
  if (backup == nullptr) return SqliteStatus(dest, sqlite3_errcode(dest), "backup " + dest_path);
  // Copy in steps of 1024 pages; a step that meets a busy database retries.
  do {
    rc = sqlite3_backup_step(backup, 1024);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(10);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return SqliteStatus(dest, rc, "backup " + dest_path);
  // The copy is a plain rollback-journal database; make it WAL like a store,
  // and durable before the caller reports success.
  QUIVER_RETURN_IF_ERROR(dest_connection.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  return dest_connection.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Status Database::QuickCheckRecords(std::int64_t id) {
  QUIVER_ASSIGN_OR_RETURN(auto reader, AcquireReader());
  QUIVER_ASSIGN_OR_RETURN(
      std::string report,
      QuickCheckReport(reader.get(), "PRAGMA quick_check(" + RecordsTable(id) + ")"));
  if (report.empty()) return Status::Ok();
  return Status::Corruption("its records table is damaged (SQLite quick_check: " + report + ")");
}

Status Database::CheckpointWal() {
  if (read_only_) return Status::Ok();
  std::lock_guard<std::mutex> lock(writer_mu_);
  return writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace quiver::storage
