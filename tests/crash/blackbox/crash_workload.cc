// Copyright (c) Quiver authors.
//
// quiver_crash_workload: the black-box process that the power-cut and
// syscall-fault drivers (power_cut_test.py, syscall_fault_test.py) stop, kill
// or inject faults into, and the checker that judges what is left. It uses
// only Quiver's public API.
//
//   quiver_crash_workload run   --store DIR --log FILE [options]
//       Opens (or creates) the store DIR and its collection "docs", then runs a
//       seeded random mix of upsert batches, deletes and explicit checkpoints
//       (automatic checkpoints happen too: --checkpoint-every), then closes
//       the store (a last checkpoint). Before each operation it appends an
//       intent line to the ack log FILE, after it an ack line (or an error
//       line with the Status), each with one write(2) on an O_APPEND file, so
//       the log survives the process being stopped or killed at any instant.
//   quiver_crash_workload check --store DIR --log FILE [--expect-open loaded]
//       Opens the store as a crashed process left it, runs Collection::Verify,
//       and checks the store against the log (see Check below). Prints one
//       line per violation and exits 1 if there is any.
//   quiver_crash_workload jsonl --out FILE --first-key K --count N --version V
//       Writes N records (keys K..K+N-1, version V) as JSONL for `quiver import`,
//       with exactly the contents `check` expects for an upsert of version V.
//
// The ack log, one event per line (keys and versions are decimal):
//   start pid=<pid> seed=<seed> dims=<dims> keys=<key space>
//   intent <op> open | close | checkpoint
//   intent <op> upsert <version> <key> <key> ...
//   intent <op> delete <key> <key> ...
//   ack <op>
//   error <op> <Status::ToString()>
// Op numbers are unique within a log (a second run continues the numbering).
// An upsert of version V writes, for each key K, text "v<V>", metadata
// {"k":K,"v":V} and the embedding Embedding(K, V, dims).
//
// Exit status: 0 success (run: every operation acknowledged; check: no
// violation), 1 run: some operation failed / check: violations found,
// 2 bad command line or an unusable log, 3 run: the store did not open.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/store.h"

namespace quiver::crash {
namespace {

constexpr char kCollection[] = "docs";

// --- Deterministic record contents ------------------------------------------------------

/// splitmix64: a well-mixed 64-bit hash step.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// The embedding an upsert of `version` writes for `key`: `dims` values in
/// [0, 16), each a multiple of 1/4096, so that every value is exact in
/// float32 and in the decimal JSON that `jsonl` prints (no rounding anywhere).
std::vector<float> Embedding(Key key, std::uint64_t version, std::size_t dims) {
  std::vector<float> v(dims);
  std::uint64_t h = Mix(key * 0x100000001b3ULL ^ Mix(version));
  for (std::size_t d = 0; d < dims; ++d) {
    h = Mix(h + d);
    v[d] = static_cast<float>(h >> 48) / 4096.0f;
  }
  return v;
}

/// Text of a record written by an upsert of `version`.
std::string TextFor(std::uint64_t version) { return "v" + std::to_string(version); }

/// Metadata of a record: compact, keys sorted (as nlohmann::json::dump prints it).
std::string MetadataFor(Key key, std::uint64_t version) {
  return "{\"k\":" + std::to_string(key) + ",\"v\":" + std::to_string(version) + "}";
}

/// The record an upsert of `version` writes for `key` (no external id).
Record RecordFor(Key key, std::uint64_t version, std::size_t dims) {
  return Record{key, "", TextFor(version), MetadataFor(key, version),
                Embedding(key, version, dims)};
}

// --- The ack log ----------------------------------------------------------------------------

/// Appends lines to the ack log with one write(2) each (O_APPEND), so that a
/// line is in the file as soon as the call returns, whatever happens to the
/// process next. Not thread-safe; the workload is single-threaded.
class AckLog {
 public:
  /// Opens (creating) `path` for appending; exits with status 2 on failure.
  explicit AckLog(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      std::fprintf(stderr, "error: open ack log %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(2);
    }
  }
  ~AckLog() { ::close(fd_); }
  AckLog(const AckLog&) = delete;
  AckLog& operator=(const AckLog&) = delete;

  /// Writes `line` plus a newline; loops over short writes; exits with status
  /// 2 if the log cannot be written (a run whose log is wrong proves nothing).
  void Line(std::string line) {
    line += '\n';
    const char* p = line.data();
    std::size_t n = line.size();
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        std::fprintf(stderr, "error: write ack log: %s\n", std::strerror(errno));
        std::_Exit(2);
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

 private:
  int fd_ = -1;
};

/// What a logged operation does. Open creates the collection if needed; close
/// checkpoints; only upserts and deletes change records.
enum class OpKind { kOpen, kClose, kCheckpoint, kUpsert, kDelete };

/// One operation of the log with its outcome.
struct Op {
  std::uint64_t number = 0;
  OpKind kind = OpKind::kOpen;
  std::uint64_t version = 0;  // upserts only
  std::vector<Key> keys;      // upserts and deletes
  enum class Outcome { kInFlight, kAcked, kFailed } outcome = Outcome::kInFlight;
  std::string error;  // Status of a failed op
};

/// Everything a log says.
struct ParsedLog {
  std::vector<Op> ops;  // in log order (= execution order)
  std::size_t dims = 0;
  std::size_t key_space = 0;
  std::size_t runs = 0;  // "start" lines
};

/// The kind's name as the log spells it ("upsert", ...).
std::string_view KindName(OpKind kind) {
  switch (kind) {
    case OpKind::kOpen:
      return "open";
    case OpKind::kClose:
      return "close";
    case OpKind::kCheckpoint:
      return "checkpoint";
    case OpKind::kUpsert:
      return "upsert";
    case OpKind::kDelete:
      return "delete";
  }
  return "?";
}

/// Parses the ack log at `path`. A missing file is an empty log. Returns
/// nullopt (after printing why on stderr) for a malformed line. A last line
/// without its newline is reported and ignored (it cannot happen with one
/// write(2) per line, so it would mean the log itself was damaged).
std::optional<ParsedLog> ParseLog(const std::string& path) {
  ParsedLog log;
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return errno == ENOENT ? std::optional<ParsedLog>(log) : std::nullopt;
  std::string content;
  char buffer[65536];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), f)) > 0) content.append(buffer, got);
  std::fclose(f);
  std::map<std::uint64_t, std::size_t> index_of;  // op number -> position in ops
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < content.size()) {
    const std::size_t end = content.find('\n', pos);
    if (end == std::string::npos) {
      std::fprintf(stderr, "warning: %s: last line has no newline, ignored: %s\n", path.c_str(),
                   content.substr(pos, 80).c_str());
      break;
    }
    const std::string line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    std::istringstream in(line);
    std::string word;
    in >> word;
    auto bad = [&](const char* why) {
      std::fprintf(stderr, "error: %s:%zu: %s: %s\n", path.c_str(), line_no, why, line.c_str());
      return std::nullopt;
    };
    if (word == "start") {
      ++log.runs;
      std::string field;
      while (in >> field) {
        if (field.rfind("dims=", 0) == 0) log.dims = std::stoull(field.substr(5));
        if (field.rfind("keys=", 0) == 0) log.key_space = std::stoull(field.substr(5));
      }
      continue;
    }
    std::uint64_t number = 0;
    if (!(in >> number)) return bad("expected an op number");
    if (word == "intent") {
      Op op;
      op.number = number;
      std::string kind;
      in >> kind;
      if (kind == "open") {
        op.kind = OpKind::kOpen;
      } else if (kind == "close") {
        op.kind = OpKind::kClose;
      } else if (kind == "checkpoint") {
        op.kind = OpKind::kCheckpoint;
      } else if (kind == "upsert") {
        op.kind = OpKind::kUpsert;
        if (!(in >> op.version)) return bad("upsert without a version");
      } else if (kind == "delete") {
        op.kind = OpKind::kDelete;
      } else {
        return bad("unknown op kind");
      }
      Key key;
      while (in >> key) op.keys.push_back(key);
      if (index_of.count(number)) return bad("op number used twice");
      index_of[number] = log.ops.size();
      log.ops.push_back(std::move(op));
    } else if (word == "ack" || word == "error") {
      auto it = index_of.find(number);
      if (it == index_of.end()) return bad("outcome of an op without intent");
      Op& op = log.ops[it->second];
      if (op.outcome != Op::Outcome::kInFlight) return bad("second outcome of an op");
      op.outcome = word == "ack" ? Op::Outcome::kAcked : Op::Outcome::kFailed;
      if (word == "error") std::getline(in, op.error);
    } else {
      return bad("unknown line");
    }
  }
  return log;
}

// --- Command-line flags ---------------------------------------------------------------------

/// --name value pairs; every flag takes a value.
class Flags {
 public:
  /// Parses argv[first..argc); returns false (after printing why) on a flag without value.
  bool Parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string name = argv[i];
      if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "error: expected --flag value, got '%s'\n", name.c_str());
        return false;
      }
      values_[name.substr(2)] = argv[++i];
    }
    return true;
  }
  /// The value of --name, or `fallback` if it was not given.
  std::string Str(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  /// The value of --name as a decimal number (0 if it is not one), or `fallback`.
  std::uint64_t Num(const std::string& name, std::uint64_t fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : std::strtoull(it->second.c_str(), nullptr, 10);
  }

 private:
  std::map<std::string, std::string> values_;
};

/// Store options of both modes: deterministic (one insert thread, no
/// time-based checkpoints, so that a run issues the same syscalls every time
/// and the drivers can number them), logs to `logger`.
StoreOptions WorkloadOptions(std::uint64_t checkpoint_every, Logger logger) {
  StoreOptions options;
  options.checkpoint_every_changes = checkpoint_every;
  options.checkpoint_interval_seconds = 0;
  options.insert_threads = 1;
  options.max_concurrent_searches = 2;
  options.logger = std::move(logger);
  return options;
}

/// The collection "docs": `dims` dimensions, l2sq (so an exact match is at
/// distance 0), the other parameters at their defaults.
CollectionConfig WorkloadConfig(std::size_t dims) {
  CollectionConfig config;
  config.dimensions = static_cast<std::uint32_t>(dims);
  config.metric = Metric::kL2sq;
  return config;
}

/// " k1 k2 ...": keys as the log lists them, each after a space.
std::string JoinKeys(const std::vector<Key>& keys) {
  std::string out;
  for (Key k : keys) out += " " + std::to_string(k);
  return out;
}

// --- run --------------------------------------------------------------------------------------

/// The workload. Flags: --store DIR --log FILE, --seed (1), --ops (40),
/// --dims (16), --keys (key space, 2000), --batch (max upsert/delete batch,
/// 25), --bulk (records of a first upsert, 400; 0 = none), --checkpoint-every
/// (StoreOptions::checkpoint_every_changes, 150), --pidfile FILE (written
/// first, for drivers that stop the process by pid), --close 0 (end with
/// _exit(0) instead of closing the store: no last checkpoint, and SQLite's WAL
/// is left as a crash leaves it, not truncated).
int Run(const Flags& flags) {
  const std::string dir = flags.Str("store");
  const std::string log_path = flags.Str("log");
  if (dir.empty() || log_path.empty()) {
    std::fprintf(stderr, "error: run needs --store DIR and --log FILE\n");
    return 2;
  }
  const std::uint64_t seed = flags.Num("seed", 1);
  const std::uint64_t ops = flags.Num("ops", 40);
  const std::size_t dims = flags.Num("dims", 16);
  const std::size_t key_space = flags.Num("keys", 2000);
  const std::size_t max_batch = std::max<std::uint64_t>(1, flags.Num("batch", 25));
  const std::size_t bulk = std::min<std::size_t>(flags.Num("bulk", 400), key_space);
  const std::uint64_t checkpoint_every = flags.Num("checkpoint-every", 150);

  // Continue the op numbering of an existing log (a second run on the same store).
  auto previous = ParseLog(log_path);
  if (!previous) return 2;
  std::uint64_t next_op = 1;
  for (const Op& op : previous->ops) next_op = std::max(next_op, op.number + 1);
  if (previous->runs > 0 && (previous->dims != dims || previous->key_space != key_space)) {
    std::fprintf(stderr, "error: the log's dims/keys differ from this run's\n");
    return 2;
  }

  if (std::string pidfile = flags.Str("pidfile"); !pidfile.empty()) {
    AckLog pid(pidfile);
    pid.Line(std::to_string(::getpid()));
  }
  AckLog log(log_path);
  log.Line("start pid=" + std::to_string(::getpid()) + " seed=" + std::to_string(seed) +
           " dims=" + std::to_string(dims) + " keys=" + std::to_string(key_space));

  bool all_ok = true;
  // Runs one logged operation: intent line, the call, then ack or error.
  auto logged = [&](const std::string& intent, auto&& call) -> bool {
    const std::uint64_t number = next_op++;
    log.Line("intent " + std::to_string(number) + " " + intent);
    Status s = call();
    if (s.ok()) {
      log.Line("ack " + std::to_string(number));
      return true;
    }
    all_ok = false;
    log.Line("error " + std::to_string(number) + " " + s.ToString());
    return false;
  };

  std::unique_ptr<Store> store;
  std::shared_ptr<Collection> docs;
  bool opened = logged("open", [&]() -> Status {
    auto s = Store::Open(dir, WorkloadOptions(checkpoint_every, StderrLogger(LogLevel::kInfo)));
    if (!s.ok()) return s.status();
    store = std::move(s).value();
    auto c = store->OpenCollection(kCollection, WorkloadConfig(dims));
    if (!c.ok()) return c.status();
    docs = std::move(c).value();
    return Status::Ok();
  });
  if (!opened) return 3;

  std::mt19937_64 rng(seed);
  auto pick_keys = [&](std::size_t n) {
    std::set<Key> keys;
    while (keys.size() < n) keys.insert(rng() % key_space);
    return std::vector<Key>(keys.begin(), keys.end());
  };
  for (std::uint64_t i = 0; i < ops; ++i) {
    const std::uint64_t dice = rng() % 100;
    if ((i == 0 && bulk > 0) || dice < 60) {
      const std::vector<Key> keys = pick_keys(i == 0 && bulk > 0 ? bulk : 1 + rng() % max_batch);
      const std::uint64_t version = next_op;  // unique: the op's number
      std::vector<Record> records;
      for (Key k : keys) records.push_back(RecordFor(k, version, dims));
      logged("upsert " + std::to_string(version) + JoinKeys(keys),
             [&] { return docs->Upsert(records); });
    } else if (dice < 88) {
      const std::vector<Key> keys = pick_keys(1 + rng() % max_batch);
      logged("delete" + JoinKeys(keys), [&] { return docs->Delete(keys).status(); });
    } else {
      logged("checkpoint", [&] { return docs->Checkpoint(); });
    }
  }
  if (flags.Num("close", 1) == 0) std::_Exit(all_ok ? 0 : 1);  // as if killed
  logged("close", [&] { return store->Close(); });
  return all_ok ? 0 : 1;
}

// --- check ------------------------------------------------------------------------------------

/// What a key may look like after the crash: one of `states` (nullopt =
/// absent, else the version of the record), as the model derives it from the
/// log: the state after the last acknowledged op on the key, plus the outcome
/// of every later op on it that failed or was in flight.
struct KeyModel {
  std::optional<std::uint64_t> definite;              // after the last acked op (absent if none)
  std::uint64_t definite_op = 0;                      // that op's number (0 = never acked)
  std::vector<std::optional<std::uint64_t>> pending;  // outcomes of later indeterminate ops
  std::uint64_t last_op = 0;                          // last op of any outcome on this key

  /// True if the store may hold `state` for this key.
  bool Allows(const std::optional<std::uint64_t>& state) const {
    if (state == definite) return true;
    return std::find(pending.begin(), pending.end(), state) != pending.end();
  }
};

/// "v<version>" or "absent", for messages.
std::string StateName(const std::optional<std::uint64_t>& state) {
  return state ? TextFor(*state) : "absent";
}

/// Counts violations and prints each one at once, as one line
/// "VIOLATION <invariant>: <what>" on standard output.
class Violations {
 public:
  void Add(const std::string& invariant, const std::string& what) {
    ++count_;
    std::printf("VIOLATION %s: %s\n", invariant.c_str(), what.c_str());
    std::fflush(stdout);
  }
  std::size_t count() const { return count_; }

 private:
  std::size_t count_ = 0;
};

/// The checker. Flags: --store DIR --log FILE; --expect-open (what the open
/// log must say about the checkpoint): any (default), usable (no checkpoint
/// was found unusable), loaded (a checkpoint was loaded, nothing rebuilt) or
/// rebuilt (the checkpoint was refused as unusable and the index rebuilt);
/// --probe 0 skips the write probe.
///
/// Checks, each failure printed as "VIOLATION <invariant>: <what>":
///   open   the store opens, and the collection exists if its creation was acked;
///   I7     Collection::Verify is clean (SQLite and the index agree, checkpoint checksums);
///   I1     every key whose last acked op is an upsert holds exactly that
///          version's text, metadata and embedding (unless a later op on it is
///          indeterminate and explains what it holds);
///   I2     every key whose last acked op is a delete is absent (same proviso);
///          keys no op ever wrote are absent;
///   I9     each indeterminate batch is applied to all of its keys or none
///          (judged on the keys no later op touched);
///   search exact search finds each of a sample of live records at distance 0,
///          and approximate search returns only live keys;
///   count  Count() equals the number of live keys;
///   probe  the recovered store takes a write and a checkpoint, and reopens
///          with the probe record (skipped with --probe 0).
int Check(const Flags& flags) {
  const std::string dir = flags.Str("store");
  const std::string log_path = flags.Str("log");
  const std::string expect_open = flags.Str("expect-open", "any");
  if (dir.empty() || log_path.empty()) {
    std::fprintf(stderr, "error: check needs --store DIR and --log FILE\n");
    return 2;
  }
  auto log = ParseLog(log_path);
  if (!log) return 2;
  if (log->runs == 0 || log->dims == 0 || log->key_space == 0) {
    std::fprintf(stderr, "error: %s has no start line with dims= and keys=\n", log_path.c_str());
    return 2;
  }
  const std::size_t dims = log->dims;
  const std::size_t key_space = log->key_space;
  Violations violations;

  // The model.
  std::vector<KeyModel> model(key_space);
  bool collection_acked = false;
  std::size_t acked = 0, failed = 0, in_flight = 0;
  for (const Op& op : log->ops) {
    acked += op.outcome == Op::Outcome::kAcked;
    failed += op.outcome == Op::Outcome::kFailed;
    in_flight += op.outcome == Op::Outcome::kInFlight;
    if (op.kind == OpKind::kOpen && op.outcome == Op::Outcome::kAcked) collection_acked = true;
    if (op.kind != OpKind::kUpsert && op.kind != OpKind::kDelete) continue;
    if (op.kind == OpKind::kUpsert && op.outcome == Op::Outcome::kAcked) collection_acked = true;
    const std::optional<std::uint64_t> result =
        op.kind == OpKind::kUpsert ? std::optional<std::uint64_t>(op.version) : std::nullopt;
    for (Key k : op.keys) {
      if (k >= key_space) {
        std::fprintf(stderr, "error: op %" PRIu64 " has key %" PRIu64 " outside 0..%zu\n",
                     op.number, k, key_space - 1);
        return 2;
      }
      KeyModel& m = model[k];
      m.last_op = op.number;
      if (op.outcome == Op::Outcome::kAcked) {
        m.definite = result;
        m.definite_op = op.number;
        m.pending.clear();
      } else {
        m.pending.push_back(result);
      }
    }
  }

  // Open, capturing the log lines to tell a loaded checkpoint from a rebuild.
  std::vector<std::string> open_log;
  auto capture = [&open_log](LogLevel level, std::string_view line) {
    const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    open_log.push_back(std::string(names[static_cast<int>(level) & 3]) + " " + std::string(line));
  };
  auto opened = Store::Open(dir, WorkloadOptions(0, capture));
  for (const std::string& line : open_log) std::printf("open-log: %s\n", line.c_str());
  if (!opened.ok()) {
    violations.Add("open", "the store does not open: " + opened.status().ToString());
    std::printf("check: %zu violations\n", violations.count());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  std::string open_kind = "none";
  for (const std::string& line : open_log) {
    if (line.find("vectors loaded") != std::string::npos) open_kind = "loaded";
    if (line.find("rebuilt from SQLite") != std::string::npos) open_kind = "rebuilt";
  }
  bool unusable_reported = false;
  for (const std::string& line : open_log) {
    unusable_reported |= line.find("is unusable and will not be served") != std::string::npos;
  }
  std::printf("check: open %s%s\n", open_kind.c_str(),
              unusable_reported ? " (a checkpoint was found unusable)" : "");
  if (expect_open == "loaded" && (open_kind != "loaded" || unusable_reported)) {
    violations.Add("open", "expected the checkpoint to be loaded, but the open log says " +
                               open_kind + (unusable_reported ? " (checkpoint unusable)" : ""));
  }
  if (expect_open == "usable" && unusable_reported) {
    violations.Add("I4",
                   "the checkpoint the manifest names was unusable at open (the index was "
                   "rebuilt); the checkpoint protocol must never leave that behind");
  }
  if (expect_open == "rebuilt" && !unusable_reported) {
    violations.Add("I4",
                   "expected the checkpoint to be refused as unusable and rebuilt, but "
                   "the open log says " +
                       open_kind);
  }

  auto got_collection = store->GetCollection(kCollection);
  if (!got_collection.ok()) {
    if (collection_acked) {
      violations.Add("I1", "collection '" + std::string(kCollection) +
                               "' is missing although its creation or an upsert was acked: " +
                               got_collection.status().ToString());
      for (Key k = 0; k < key_space; ++k) {
        if (model[k].definite && model[k].pending.empty()) {
          violations.Add("I1", "key " + std::to_string(k) + ": expected " +
                                   StateName(model[k].definite) + " (acked by op " +
                                   std::to_string(model[k].definite_op) + "), got absent");
        }
      }
    }
    std::printf("check: %zu violations (no collection; %zu ops acked, %zu failed, %zu in flight)\n",
                violations.count(), acked, failed, in_flight);
    return violations.count() ? 1 : 0;
  }
  std::shared_ptr<Collection> docs = std::move(got_collection).value();

  // I7.
  auto report = docs->Verify();
  if (!report.ok()) {
    violations.Add("I7", "Verify failed: " + report.status().ToString());
  } else {
    for (const std::string& problem : report->problems) violations.Add("I7", problem);
  }

  // I1, I2 over the whole key space.
  std::vector<Key> all(key_space);
  for (Key k = 0; k < key_space; ++k) all[k] = k;
  auto got = docs->Get(all);
  if (!got.ok()) {
    violations.Add("read", "Get of the key space failed: " + got.status().ToString());
    std::printf("check: %zu violations\n", violations.count());
    return 1;
  }
  std::vector<std::optional<std::uint64_t>> actual(key_space);
  std::size_t live = 0;
  for (Key k = 0; k < key_space; ++k) {
    const std::optional<Record>& r = (*got)[k];
    if (!r) continue;
    ++live;
    const std::string where = "key " + std::to_string(k);
    if (r->text.size() < 2 || r->text[0] != 'v') {
      violations.Add("I1", where + ": text '" + r->text + "' is no version written by this log");
      actual[k] = 0;
      continue;
    }
    const std::uint64_t version = std::strtoull(r->text.c_str() + 1, nullptr, 10);
    actual[k] = version;
    if (r->metadata != MetadataFor(k, version)) {
      violations.Add(
          "I1", where + ": metadata expected " + MetadataFor(k, version) + ", got " + r->metadata);
    }
    const std::vector<float> expected = Embedding(k, version, dims);
    if (r->embedding.size() != dims) {
      violations.Add("I1", where + ": embedding has " + std::to_string(r->embedding.size()) +
                               " values, expected " + std::to_string(dims));
    } else {
      for (std::size_t d = 0; d < dims; ++d) {
        if (r->embedding[d] != expected[d]) {
          violations.Add("I1", where + ": embedding[" + std::to_string(d) + "] expected " +
                                   std::to_string(expected[d]) + ", got " +
                                   std::to_string(r->embedding[d]) + " (version " +
                                   std::to_string(version) + ")");
          break;
        }
      }
    }
  }
  for (Key k = 0; k < key_space; ++k) {
    const KeyModel& m = model[k];
    if (m.Allows(actual[k])) continue;
    std::string allowed = StateName(m.definite);
    std::set<std::optional<std::uint64_t>> listed = {m.definite};
    for (const auto& p : m.pending) {
      if (listed.insert(p).second) allowed += " or " + StateName(p);
    }
    const std::string what =
        "key " + std::to_string(k) + ": expected " + allowed +
        (m.definite_op ? " (last acked op " + std::to_string(m.definite_op) + ")"
                       : " (no acked op)") +
        ", got " + StateName(actual[k]);
    // Name the invariant the difference breaks.
    const char* invariant = !actual[k]           ? "I1 lost acked upsert"
                            : m.definite_op == 0 ? "phantom record"
                            : !m.definite        ? "I2 deleted record came back"
                                                 : "I1 stale or unknown version";
    violations.Add(invariant, what);
  }

  // I9: an indeterminate batch is all-or-nothing on the keys no later op touched.
  std::size_t indeterminate_batches = 0, applied_batches = 0;
  for (std::size_t i = 0; i < log->ops.size(); ++i) {
    const Op& op = log->ops[i];
    if (op.outcome == Op::Outcome::kAcked) continue;
    if (op.kind != OpKind::kUpsert && op.kind != OpKind::kDelete) continue;
    std::size_t judged = 0, applied = 0;
    for (Key k : op.keys) {
      if (model[k].last_op != op.number) continue;
      // The states possible before this op: the model's, minus this op's outcome
      // (the last pending one, since this op is the last on the key).
      KeyModel before = model[k];
      before.pending.pop_back();
      const std::optional<std::uint64_t> result =
          op.kind == OpKind::kUpsert ? std::optional<std::uint64_t>(op.version) : std::nullopt;
      if (before.Allows(result)) continue;  // "applied" and "not applied" look alike
      ++judged;
      applied += actual[k] == result;
    }
    ++indeterminate_batches;
    if (judged > 0 && applied == judged) ++applied_batches;
    if (applied > 0 && applied < judged) {
      violations.Add("I9", "op " + std::to_string(op.number) + " (" +
                               std::string(KindName(op.kind)) + ", " +
                               (op.outcome == Op::Outcome::kFailed ? "failed" : "in flight") +
                               ") is applied to " + std::to_string(applied) + " of " +
                               std::to_string(judged) + " keys; a batch is all or nothing");
    }
  }

  // Count.
  auto count = docs->Count();
  if (!count.ok() || *count != live) {
    violations.Add(
        "count", "Count() = " + (count.ok() ? std::to_string(*count) : count.status().ToString()) +
                     ", but " + std::to_string(live) + " keys are live");
  }

  // Searches: every sampled live record is in the index (exact search, distance
  // 0), and HNSW search returns only live keys.
  std::size_t probes = 0;
  for (Key k = 0; k < key_space && probes < 64; ++k) {
    if (!actual[k]) continue;
    ++probes;
    const std::vector<float> query = Embedding(k, *actual[k], dims);
    auto exact = docs->SearchExact(query.data(), 1, 1);
    if (!exact.ok() || (*exact)[0].empty() || (*exact)[0][0].distance != 0.0f) {
      violations.Add("I7", "key " + std::to_string(k) + ": exact search does not find " +
                               TextFor(*actual[k]) + " at distance 0");
    }
    SearchOptions options;
    options.k = 10;
    options.include_metadata = false;
    auto approximate = docs->Search(query, options);
    if (!approximate.ok()) {
      violations.Add("search", "key " + std::to_string(k) + ": " + approximate.status().ToString());
      continue;
    }
    for (const Match& match : *approximate) {
      if (match.key >= key_space || !actual[match.key]) {
        violations.Add("I2", "search for key " + std::to_string(k) + " returned key " +
                                 std::to_string(match.key) + ", which is not live");
      }
    }
  }

  // Probe: the recovered store keeps working.
  if (flags.Num("probe", 1) != 0) {
    const Key probe_key = key_space + 7;
    Status s = docs->Upsert({RecordFor(probe_key, 999999, dims)});
    if (s.ok()) s = docs->Checkpoint();
    if (s.ok()) s = store->Close();
    if (!s.ok()) {
      violations.Add("probe", "the recovered store rejects a write or checkpoint: " + s.ToString());
    } else {
      docs.reset();
      store.reset();
      auto reopened = Store::Open(dir, WorkloadOptions(0, [](LogLevel, std::string_view) {}));
      auto c = reopened.ok() ? (*reopened)->GetCollection(kCollection)
                             : Result<std::shared_ptr<Collection>>(reopened.status());
      auto r =
          c.ok() ? (*c)->Get({probe_key}) : Result<std::vector<std::optional<Record>>>(c.status());
      auto v = c.ok() ? (*c)->Verify() : Result<VerifyReport>(c.status());
      if (!r.ok() || !(*r)[0] || (*r)[0]->text != TextFor(999999)) {
        violations.Add("probe", "the probe record is missing after a reopen: " +
                                    (r.ok() ? std::string("absent") : r.status().ToString()));
      }
      if (!v.ok() || !v->clean()) {
        violations.Add("probe", "Verify after the probe reopen: " +
                                    (v.ok() ? v->problems.front() : v.status().ToString()));
      }
    }
  }

  std::printf(
      "check: %zu violations; %zu ops acked, %zu failed, %zu in flight (%zu indeterminate "
      "batches, %zu of them applied); %zu live keys; open %s\n",
      violations.count(), acked, failed, in_flight, indeterminate_batches, applied_batches, live,
      open_kind.c_str());
  return violations.count() ? 1 : 0;
}

// --- jsonl ------------------------------------------------------------------------------------

/// Writes `--count` records for `quiver import` (keys --first-key.., version
/// --version, dims --dims) to --out, one JSON object per line.
int Jsonl(const Flags& flags) {
  const std::string out_path = flags.Str("out");
  const Key first = flags.Num("first-key", 0);
  const std::uint64_t count = flags.Num("count", 0);
  const std::uint64_t version = flags.Num("version", 1);
  const std::size_t dims = flags.Num("dims", 16);
  FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr || count == 0) {
    std::fprintf(stderr, "error: jsonl needs --out FILE (writable) and --count N > 0\n");
    return 2;
  }
  for (Key k = first; k < first + count; ++k) {
    const std::vector<float> e = Embedding(k, version, dims);
    std::fprintf(out, "{\"id\":%" PRIu64 ",\"text\":\"%s\",\"metadata\":%s,\"embedding\":[", k,
                 TextFor(version).c_str(), MetadataFor(k, version).c_str());
    for (std::size_t d = 0; d < dims; ++d) {
      // Multiples of 1/4096 below 16 print exactly with 9 significant digits.
      std::fprintf(out, "%s%.9g", d ? "," : "", static_cast<double>(e[d]));
    }
    std::fprintf(out, "]}\n");
  }
  return std::fclose(out) == 0 ? 0 : 2;
}

}  // namespace
}  // namespace quiver::crash

/// Dispatches to run, check or jsonl; exit statuses as in the header.
int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  quiver::crash::Flags flags;
  if (argc < 2 || !flags.Parse(argc, argv, 2)) {
    std::fprintf(stderr, "usage: %s run|check|jsonl --flag value ... (see the source's header)\n",
                 argv[0]);
    return 2;
  }
  if (mode == "run") return quiver::crash::Run(flags);
  if (mode == "check") return quiver::crash::Check(flags);
  if (mode == "jsonl") return quiver::crash::Jsonl(flags);
  std::fprintf(stderr, "error: unknown mode '%s'; expected run, check or jsonl\n", mode.c_str());
  return 2;
}
