// Copyright (c) Quiver authors.
//
// libFuzzer target: the filter language (src/filter/filter.h), from the JSON
// text a client sends as `where` to the SQL it compiles to, on a real
// collection of 64 records whose metadata has every JSON type, nesting, a
// missing field, string ids and none.
//
// Input: the filter's JSON text, as every face passes it.
// Checked beyond "no crash":
//   - a filter that filter::Parse refuses is refused by the collection with
//     InvalidArgument (never another error, never a result);
//   - an accepted filter runs: Count, a paged Scan and filtered searches with
//     each strategy succeed (SQLite never sees SQL it rejects);
//   - they agree: Scan returns Count records, each once, and each search
//     returns min(k, Count) of them (whether the planner scans exactly or
//     walks the HNSW graph, it returns no record the filter does not match).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "filter/filter.h"
#include "fuzz_util.h"
#include "quiver/quiver.h"

namespace {

constexpr std::size_t kDims = 4;
constexpr std::size_t kRecords = 64;

[[noreturn]] void Fail(const char* what, const quiver::Status& s) {
  std::fprintf(stderr, "fuzz_filter: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

/// The store and its collection, made once per process.
struct Fixture {
  std::unique_ptr<quiver::Store> store;
  std::shared_ptr<quiver::Collection> collection;

  Fixture() {
    quiver::StoreOptions options;
    options.synchronous = quiver::Synchronous::kNormal;
    options.checkpoint_every_changes = 0;
    options.checkpoint_interval_seconds = 0;
    options.checkpoint_on_close = false;
    options.insert_threads = 1;
    options.max_concurrent_searches = 1;
    options.logger = [](quiver::LogLevel, std::string_view) {};
    auto opened = quiver::Store::Open(quiver::fuzz::ScratchDir() + "/store", options);
    if (!opened.ok()) Fail("open", opened.status());
    store = std::move(opened).value();
    quiver::CollectionConfig config;
    config.dimensions = kDims;
    config.metric = quiver::Metric::kL2sq;
    auto created = store->CreateCollection("docs", config);
    if (!created.ok()) Fail("create", created.status());
    collection = *created;
    static const char* kColors[] = {"red", "green", "blue", ""};
    std::vector<quiver::Record> records;
    for (std::size_t i = 0; i < kRecords; ++i) {
      quiver::Record r;
      r.key = i * 7;
      if (i % 3 != 0) r.id = "doc-" + std::to_string(i);
      std::string meta = "{\"color\": \"" + std::string(kColors[i % 4]) + "\"";
      meta += ", \"price\": " + std::to_string(i % 2 ? static_cast<double>(i) / 4 : i);
      if (i % 5 == 0) meta += ", \"flag\": " + std::string(i % 10 ? "true" : "false");
      if (i % 7 == 0) meta += ", \"size\": null";
      if (i % 4 == 1) meta += ", \"tags\": [\"a\", \"b\"]";
      if (i % 6 == 2) meta += ", \"nested\": {\"w\": " + std::to_string(i) + ", \"k\": \"v\"}";
      if (i % 8 == 3) meta += ", \"key\": \"shadow\", \"id\": 5";
      meta += "}";
      r.metadata = meta;
      for (std::size_t d = 0; d < kDims; ++d) {
        r.embedding.push_back(static_cast<float>((i * (d + 3)) % 17));
      }
      records.push_back(std::move(r));
    }
    quiver::Status s = collection->Upsert(records);
    if (!s.ok()) Fail("upsert", s);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  quiver::Collection& c = *fixture.collection;
  const std::string where(reinterpret_cast<const char*>(data), size);

  const bool accepted = quiver::filter::Parse(where).ok();
  auto count = c.Count(where);
  if (!accepted) {
    if (count.ok() || count.status().code() != quiver::StatusCode::kInvalidArgument) {
      Fail("a filter Parse refuses must be InvalidArgument",
           count.ok() ? quiver::Status::Internal("accepted") : count.status());
    }
    return 0;
  }
  if (!count.ok()) Fail("Count of an accepted filter", count.status());

  std::set<quiver::Key> matched;
  quiver::ScanOptions scan;
  scan.filter = where;
  scan.limit = 10;  // several pages
  scan.include_text = false;
  for (int page = 0;; ++page) {
    auto got = c.Scan(scan);
    if (!got.ok()) Fail("Scan of an accepted filter", got.status());
    for (const quiver::Record& r : got->records) {
      if (!matched.insert(r.key).second) Fail("Scan returned a key twice", quiver::Status::Ok());
    }
    if (got->next_cursor.empty()) break;
    if (page > static_cast<int>(kRecords)) Fail("Scan does not end", quiver::Status::Ok());
    scan.cursor = got->next_cursor;
  }
  if (matched.size() != *count) {
    Fail("Scan and Count disagree", quiver::Status::Internal(std::to_string(matched.size()) +
                                                             " vs " + std::to_string(*count)));
  }

  // Both strategies the planner chooses between, forced: each must return
  // exactly min(k, matching) records, all of them matches (a filtered HNSW
  // search that comes back short falls back to exact).
  const std::vector<float> query(kDims, 3.0f);
  quiver::SearchOptions options;
  options.k = 8;
  options.filter = where;
  options.include_text = false;
  for (auto strategy : {quiver::SearchStrategy::kExact, quiver::SearchStrategy::kFilteredHnsw,
                        quiver::SearchStrategy::kAuto}) {
    options.strategy = strategy;
    auto found = c.Search(query, options);
    if (!found.ok()) Fail("filtered Search of an accepted filter", found.status());
    if (found->size() != std::min<std::size_t>(options.k, matched.size())) {
      Fail("filtered Search returned another number of matches than min(k, matching)",
           quiver::Status::Internal(std::to_string(found->size())));
    }
    for (const quiver::Match& m : *found) {
      if (!matched.count(m.key)) Fail("filtered Search returned a non-match", quiver::Status::Ok());
    }
  }
  return 0;
}
