// Copyright (c) Quiver authors.
//
// The black-box kill -9 loop. A child process runs a random mix of batch
// upserts, deletes and checkpoints on a real store, announcing each operation
// before it starts (intent) and after it returns (ack) through a pipe. The
// parent kills it with SIGKILL at a random moment, reopens the store, and
// checks against the log:
//   I1  every acknowledged upsert is present with its latest version;
//   I2  every acknowledged delete stays deleted;
//   I9  the operation in flight at the kill is all-or-nothing;
//   I7  SQLite and the index agree (Verify), the full-text index finds the
//       latest versions by their text, and SQLite's own files
//       (database, WAL, SHM) survive every kill.
// Iterations: QUIVER_KILL_ITERATIONS (default 100); the store keeps growing
// across iterations, so later kills hit bigger WALs and checkpoints.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/test_util.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::TempDir;

constexpr std::size_t kDims = 8;
constexpr std::size_t kKeySpace = 3000;
constexpr std::size_t kBatch = 20;

enum class OpKind : std::uint32_t { kUpsert = 1, kDelete = 2, kCheckpoint = 3 };

/// One message from the child: an operation's intent or its acknowledgement.
struct Message {
  std::uint32_t is_ack = 0;
  OpKind kind = OpKind::kUpsert;
  std::uint64_t version = 0;  // upserts write text "v<version>"
  std::uint64_t keys[kBatch] = {};
  std::uint32_t count = 0;
};

/// A pseudo-random vector that is a pure function of (key, version), so the
/// parent can recompute what the child wrote.
std::vector<float> EmbeddingFor(Key key, std::uint64_t version) {
  std::mt19937_64 rng(key * 1000003 + version);
  std::uniform_real_distribution<float> uniform(0.0f, 10.0f);
  std::vector<float> v(kDims);
  for (float& x : v) x = uniform(rng);
  return v;
}

CollectionConfig Config() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kL2sq;
  return c;
}

[[noreturn]] void RunChild(const std::string& dir, int fd, std::uint32_t seed,
                           std::uint64_t first_version) {
  StoreOptions options;
  options.logger = [](LogLevel, std::string_view) {};
  options.checkpoint_every_changes = 500;
  auto store = Store::Open(dir, options);
  if (!store.ok()) ::_exit(3);
  auto c = (*store)->OpenCollection("docs", Config());
  if (!c.ok()) ::_exit(4);
  std::mt19937_64 rng(seed);
  auto send = [&](const Message& m) {
    if (::write(fd, &m, sizeof(m)) != sizeof(m)) ::_exit(5);
  };
  for (std::uint64_t version = first_version;; ++version) {
    Message m;
    const std::uint64_t dice = rng() % 100;
    m.kind = dice < 70 ? OpKind::kUpsert : dice < 95 ? OpKind::kDelete : OpKind::kCheckpoint;
    m.version = version;
    std::set<Key> keys;
    while (m.kind != OpKind::kCheckpoint && keys.size() < kBatch) keys.insert(rng() % kKeySpace);
    for (Key k : keys) m.keys[m.count++] = k;
    send(m);  // intent
    Status s;
    if (m.kind == OpKind::kUpsert) {
      std::vector<Record> records;
      for (Key k : keys) {
        records.push_back({k, "", "v" + std::to_string(version), "{}", EmbeddingFor(k, version)});
      }
      s = (*c)->Upsert(records);
    } else if (m.kind == OpKind::kDelete) {
      s = (*c)->Delete(std::vector<Key>(keys.begin(), keys.end())).status();
    } else {
      s = (*c)->Checkpoint();
    }
    if (!s.ok()) ::_exit(6);
    m.is_ack = 1;
    send(m);
  }
}

TEST(KillTest, SigkillLoopKeepsEveryAcknowledgedWrite) {
  const char* env = std::getenv("QUIVER_KILL_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 100;
  std::mt19937 rng(77);
  TempDir dir;
  // The model: key -> version of its acknowledged upsert (absent = deleted or never written).
  std::map<Key, std::uint64_t> model;
  std::uint64_t next_version = 1;
  std::size_t acked_ops = 0, indeterminate = 0, reopen_total_ms = 0;
  std::size_t approximate_probes = 0, approximate_hits = 0;

  for (int iteration = 0; iteration < iterations; ++iteration) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(dir.path(), fds[1], rng(), next_version);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 300));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself with " << WEXITSTATUS(status);

    // Replay the log into the model; remember the operation in flight.
    Message m, in_flight;
    bool pending = false;
    while (::read(fds[0], &m, sizeof(m)) == sizeof(m)) {
      next_version = std::max(next_version, m.version + 1);
      if (!m.is_ack) {
        in_flight = m;
        pending = true;
        continue;
      }
      pending = false;
      ++acked_ops;
      for (std::uint32_t i = 0; i < m.count; ++i) {
        if (m.kind == OpKind::kUpsert) model[m.keys[i]] = m.version;
        if (m.kind == OpKind::kDelete) model.erase(m.keys[i]);
      }
    }
    ::close(fds[0]);

    const auto start = std::chrono::steady_clock::now();
    auto store = Store::Open(dir.path(), testing::QuietOptions());
    ASSERT_TRUE(store.ok()) << "iteration " << iteration << ": " << store.status().ToString();
    auto c = (*store)->OpenCollection("docs", Config());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    reopen_total_ms += std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();

    std::set<Key> uncertain;
    if (pending && in_flight.kind != OpKind::kCheckpoint) {
      ++indeterminate;
      uncertain.insert(in_flight.keys, in_flight.keys + in_flight.count);
      // I9: the in-flight batch is either entirely applied or not at all.
      std::vector<Key> keys(in_flight.keys, in_flight.keys + in_flight.count);
      auto got = *(*c)->Get(keys);
      std::size_t applied = 0;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const bool is_new =
            in_flight.kind == OpKind::kUpsert
                ? got[i].has_value() && got[i]->text == "v" + std::to_string(in_flight.version)
                : !got[i].has_value();
        const bool was_new = in_flight.kind == OpKind::kUpsert ? false : !model.count(keys[i]);
        applied += is_new && !was_new;
      }
      std::size_t could_change = 0;
      for (Key k : keys) could_change += in_flight.kind == OpKind::kUpsert || model.count(k);
      EXPECT_TRUE(applied == 0 || applied == could_change)
          << "iteration " << iteration << ": a batch was applied partially (" << applied << " of "
          << could_change << ")";
      // Adopt what the store says for these keys.
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (got[i].has_value()) {
          model[keys[i]] = std::stoull(got[i]->text.substr(1));
        } else {
          model.erase(keys[i]);
        }
      }
    }

    // I1 and I2 over the whole key space.
    std::vector<Key> all(kKeySpace);
    for (Key k = 0; k < kKeySpace; ++k) all[k] = k;
    auto got = *(*c)->Get(all);
    for (Key k = 0; k < kKeySpace; ++k) {
      auto it = model.find(k);
      if (it == model.end()) {
        ASSERT_FALSE(got[k].has_value()) << "iteration " << iteration << ": key " << k
                                         << " came back after an acknowledged delete";
      } else {
        ASSERT_TRUE(got[k].has_value())
            << "iteration " << iteration << ": acknowledged key " << k << " lost";
        ASSERT_EQ(got[k]->text, "v" + std::to_string(it->second))
            << "iteration " << iteration << ": key " << k << " has a stale version";
      }
    }
    EXPECT_EQ(*(*c)->Count(), model.size());
    auto report = *(*c)->Verify();
    ASSERT_TRUE(report.clean()) << "iteration " << iteration << ": "
                                << ::testing::PrintToString(report.problems);
    // The full-text index is written in the records' transaction: the text
    // "v<version>" finds exactly the live keys of that version, for the last
    // few versions written (the ones a kill most likely interrupted).
    std::map<std::uint64_t, std::set<Key>> keys_of_version;
    for (const auto& [key, version] : model) keys_of_version[version].insert(key);
    std::size_t versions_checked = 0;
    for (auto it = keys_of_version.rbegin(); it != keys_of_version.rend() && versions_checked < 5;
         ++it, ++versions_checked) {
      TextSearchOptions text;
      text.mode = TextSearchMode::kFullText;
      text.search.k = kMaxSearchK;
      text.search.include_text = text.search.include_metadata = false;
      auto found = (*c)->SearchText({"v" + std::to_string(it->first)}, text);
      ASSERT_TRUE(found.ok()) << found.status().ToString();
      std::set<Key> got;
      for (const Match& m : (*found)[0]) got.insert(m.key);
      ASSERT_EQ(got, it->second) << "iteration " << iteration << ": full-text search for v"
                                 << it->first;
    }
    // The newest acknowledged version of each key is in the index: an exact
    // search finds it at distance 0. The approximate (HNSW) search is
    // measured, not asserted: graph quality is recall, not durability.
    std::size_t probes = 0;
    for (auto it = model.begin(); it != model.end() && probes < 20; ++it, ++probes) {
      const auto query = EmbeddingFor(it->first, it->second);
      auto exact = *(*c)->SearchExact(query.data(), 1, 1);
      ASSERT_EQ(exact[0].size(), 1u);
      ASSERT_EQ(exact[0][0].distance, 0.0f) << "iteration " << iteration << ": key " << it->first
                                            << " version " << it->second << " is not in the index";
      auto approximate = *(*c)->Search(query, SearchOptions{});
      ++approximate_probes;
      approximate_hits += !approximate.empty() && approximate[0].distance == 0.0f;
    }
  }
  std::printf(
      "[ kill -9  ] %d iterations, %zu acknowledged operations, %zu in flight at the kill, "
      "%zu live keys, 0 violations, mean reopen %.1f ms; HNSW top-1 found the newest version "
      "in %zu of %zu probes\n",
      iterations, acked_ops, indeterminate, model.size(),
      iterations ? double(reopen_total_ms) / iterations : 0.0, approximate_hits,
      approximate_probes);
  // Compaction keeps the churned graph searchable.
  EXPECT_GE(approximate_hits, approximate_probes * 95 / 100);
}

}  // namespace
}  // namespace quiver
