// Copyright (c) Quiver authors.
//
// quiver_bench_reopen: time to reopen a store and answer the first query, as a
// function of the changes made since the last checkpoint (design invariant
// I5: open costs one checkpoint load plus replay of the changes since).
//
//   quiver_bench_reopen [--base 100000] [--dims 96] [--changes 0,10000,100000]
//
// For each value C: a store holds `base` records in a checkpoint, then C more
// upserts are committed without a checkpoint (as after a crash), and the store
// is reopened. Prints open time, first-query time and what the log reported.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quiver/quiver.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void Check(const quiver::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    std::exit(2);
  }
}

void Insert(quiver::Collection& c, std::uint64_t first, std::uint64_t n, std::size_t dims,
            std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<quiver::Record> batch;
  for (std::uint64_t done = 0; done < n;) {
    const std::uint64_t size = std::min<std::uint64_t>(1000, n - done);
    batch.resize(size);
    for (std::uint64_t i = 0; i < size; ++i) {
      batch[i].key = first + done + i;
      batch[i].embedding.resize(dims);
      for (float& x : batch[i].embedding) x = normal(rng);
    }
    Check(c.Upsert(batch));
    done += size;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t base = 100000;
  std::size_t dims = 96;
  std::vector<std::uint64_t> changes = {0, 10000, 100000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--base") base = std::stoull(argv[i + 1]);
    if (flag == "--dims") dims = std::stoul(argv[i + 1]);
    if (flag == "--changes") {
      changes.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) changes.push_back(std::stoull(item));
    }
  }
  std::printf("| changes since checkpoint | open (ms) | first query (ms) | replayed |\n");
  std::printf("|---|---|---|---|\n");
  for (std::uint64_t c_changes : changes) {
    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("quiver-reopen-" + std::to_string(c_changes)))
                                .string();
    std::filesystem::remove_all(dir);
    std::mt19937 rng(7);
    quiver::StoreOptions options;
    options.logger = [](quiver::LogLevel, std::string_view) {};
    options.checkpoint_every_changes = 0;
    options.checkpoint_interval_seconds = 0;
    options.synchronous = quiver::Synchronous::kNormal;  // loading speed only; same replay
    options.checkpoint_on_close = false;  // the changes after Checkpoint() stay in the log
    quiver::CollectionConfig config;
    config.dimensions = static_cast<std::uint32_t>(dims);
    config.metric = quiver::Metric::kL2sq;
    {
      auto store = std::move(quiver::Store::Open(dir, options)).value();
      auto c = *store->CreateCollection("bench", config);
      Insert(*c, 0, base, dims, rng);
      Check(c->Checkpoint());
      Insert(*c, base, c_changes, dims, rng);
    }
    std::string replayed;
    quiver::StoreOptions reopen;
    reopen.checkpoint_on_close = false;
    reopen.logger = [&](quiver::LogLevel, std::string_view line) {
      if (line.find("changes replayed") != std::string_view::npos) replayed += std::string(line);
      if (line.find("replay read") != std::string_view::npos) replayed += std::string(line) + "; ";
    };
    const auto start = Clock::now();
    auto store = std::move(quiver::Store::Open(dir, reopen)).value();
    auto c = *store->GetCollection("bench");
    const double open_ms = Ms(start);
    std::vector<float> query(dims, 0.1f);
    const auto q_start = Clock::now();
    auto m = c->Search(query, quiver::SearchOptions{});
    Check(m.status());
    std::printf("| %llu | %.0f | %.2f | %s |\n", static_cast<unsigned long long>(c_changes),
                open_ms, Ms(q_start), replayed.c_str());
    std::fflush(stdout);
    store.reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}
