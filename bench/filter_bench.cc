// Copyright (c) Quiver authors.
//
// Filtered search on Fashion-MNIST: recall@10 and queries/s at every
// selectivity, for the plan Quiver's planner picks, for each forced strategy
// (exact, filtered-hnsw) and for a naive post-filter (search k x 10, keep the
// matches), all in one run. See docs/filters.md and docs/benchmarks.md.
//
// Metadata of base image i: {"label": <its real class, 0..9>, "attr": rank}
// where rank is a fixed random permutation of 0..n-1, so {"attr": {"$lt": t}}
// matches exactly t images spread over the whole set. Filters: the real class
// (label = 3, 10%), and attr below 50%, 10%, 1%, 0.1%, 0.01% of n.
// Ground truth: exact float64 top-k over the matching images.
//
//   build/release/quiver_bench_filter [--data data/fashion-mnist] [--queries 500]
//       [--labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz]

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"
#include "quiver/quiver.h"

namespace quiver::bench {
namespace {

struct Args {
  std::string data = "data/fashion-mnist";
  std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  std::size_t queries = 500;
  std::size_t k = 10;
};

/// The labels of an IDX1 file (gzip-compressed): magic 2049, count, bytes.
std::vector<int> ReadLabels(const std::string& path) {
  std::FILE* pipe = popen(("gzip -dc '" + path + "'").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run gzip on " + path);
  std::vector<unsigned char> bytes;
  unsigned char buffer[65536];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    bytes.insert(bytes.end(), buffer, buffer + n);
  pclose(pipe);
  if (bytes.size() < 8 || bytes[2] != 8 || bytes[3] != 1) {
    throw std::runtime_error(path +
                             " is not an IDX1 label file (apt-get install dataset-fashion-mnist)");
  }
  return std::vector<int>(bytes.begin() + 8, bytes.end());
}

double L2(const float* a, const float* b, std::size_t d) {
  double s = 0;
  for (std::size_t i = 0; i < d; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s;
}

struct Case {
  std::string name;
  std::string filter;
  std::vector<char> match;  // per base row
  std::size_t matching = 0;
};

struct Measured {
  double qps = 0;
  double recall = 0;
  std::string plan;
};

int Main(const Args& args) {
  const std::string hint = "run /usr/bin/python3 bench/prepare_fashion_mnist.py first";
  const Matrix base = ReadBin(args.data + "/base.fbin", false, hint);
  Matrix queries = ReadBin(args.data + "/query.fbin", false, hint);
  const std::size_t nq = std::min(args.queries, queries.rows);
  const std::size_t n = base.rows, d = base.cols, k = args.k;
  const std::vector<int> labels = ReadLabels(args.labels);
  if (labels.size() != n) throw std::runtime_error("labels and base.fbin differ in size");

  std::vector<std::size_t> rank(n);
  std::iota(rank.begin(), rank.end(), 0);
  std::shuffle(rank.begin(), rank.end(), std::mt19937(20261202));

  const std::string dir = std::filesystem::temp_directory_path() / "quiver-filter-bench";
  std::filesystem::remove_all(dir);
  StoreOptions store_options;
  store_options.logger = [](LogLevel, std::string_view) {};
  auto store = Store::Open(dir, store_options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  CollectionConfig config;
  config.dimensions = static_cast<std::uint32_t>(d);
  config.metric = Metric::kL2sq;
  auto collection = (*store)->CreateCollection("fashion", config);
  if (!collection.ok()) throw std::runtime_error(collection.status().ToString());
  Collection& c = **collection;
  auto start = Clock::now();
  for (std::size_t first = 0; first < n; first += 5000) {
    std::vector<Record> batch;
    for (std::size_t i = first; i < std::min(n, first + 5000); ++i) {
      Record r;
      r.key = i;
      r.metadata = fmt::format(R"({{"label": {}, "attr": {}}})", labels[i], rank[i]);
      r.embedding.assign(base.Row(i), base.Row(i) + d);
      batch.push_back(std::move(r));
    }
    Status s = c.Upsert(batch);
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  const double import_s = Seconds(start);
  start = Clock::now();
  for (const char* field : {"label", "attr"}) {
    Status s = c.CreateFieldIndex(field);
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  fmt::print("Fashion-MNIST: {} x {}, {} queries, k={}; import {:.1f} s, field indexes {:.2f} s\n",
             n, d, nq, k, import_s, Seconds(start));

  std::vector<Case> cases;
  {
    Case label{"label=3 (real class)", R"({"label": 3})", std::vector<char>(n), 0};
    for (std::size_t i = 0; i < n; ++i) label.match[i] = labels[i] == 3;
    cases.push_back(std::move(label));
  }
  for (const double s : {1.0, 0.5, 0.1, 0.01, 0.001, 0.0001}) {
    const std::size_t t = std::max<std::size_t>(1, static_cast<std::size_t>(s * n + 0.5));
    Case c_{fmt::format("attr < {} ({:g}%)", t, 100.0 * t / n),
            s == 1.0 ? std::string() : fmt::format(R"({{"attr": {{"$lt": {}}}}})", t),
            std::vector<char>(n), 0};
    for (std::size_t i = 0; i < n; ++i) c_.match[i] = rank[i] < t;
    cases.push_back(std::move(c_));
  }
  for (Case& c_ : cases) c_.matching = std::count(c_.match.begin(), c_.match.end(), 1);

  fmt::print("\n{:<26} {:>7}  {:<34} {:>9} {:>7}  {:>9} {:>7}  {:>9} {:>7}  {:>9} {:>7}\n",
             "filter", "match", "auto plan", "auto q/s", "recall", "exact q/s", "recall",
             "fhnsw q/s", "recall", "post q/s", "recall");
  for (const Case& cs : cases) {
    // Exact filtered ground truth.
    std::vector<std::vector<Key>> truth(nq);
    for (std::size_t q = 0; q < nq; ++q) {
      std::vector<std::pair<double, Key>> scored;
      for (std::size_t i = 0; i < n; ++i) {
        if (cs.match[i]) scored.push_back({L2(queries.Row(q), base.Row(i), d), i});
      }
      const std::size_t top = std::min(k, scored.size());
      std::partial_sort(scored.begin(), scored.begin() + top, scored.end());
      for (std::size_t i = 0; i < top; ++i) truth[q].push_back(scored[i].second);
    }
    auto recall_of = [&](const std::vector<std::vector<Match>>& found) {
      double hits = 0, wanted = 0;
      for (std::size_t q = 0; q < nq; ++q) {
        std::set<Key> t(truth[q].begin(), truth[q].end());
        for (const Match& m : found[q]) hits += t.count(m.key);
        wanted += t.size();
      }
      return wanted > 0 ? hits / wanted : 1.0;
    };
    auto run = [&](SearchStrategy strategy) {
      SearchOptions options;
      options.k = k;
      options.filter = cs.filter;
      options.strategy = strategy;
      options.include_text = options.include_metadata = options.include_id = false;
      Measured m;
      auto plan = c.Explain(options);
      if (plan.ok()) m.plan = plan->ToString().substr(0, plan->ToString().find(';'));
      const auto t0 = Clock::now();
      auto found = c.Search(queries.f.data(), nq, options);
      const double s = Seconds(t0);
      if (!found.ok()) throw std::runtime_error(found.status().ToString());
      m.qps = nq / s;
      m.recall = recall_of(*found);
      return m;
    };
    const Measured automatic = run(SearchStrategy::kAuto);
    const Measured exact = run(SearchStrategy::kExact);
    const Measured fhnsw = run(SearchStrategy::kFilteredHnsw);
    // Naive post-filter: unfiltered HNSW for k x 10, then keep the matches.
    Measured post;
    {
      SearchOptions options;
      options.k = k * 10;
      options.include_text = options.include_metadata = options.include_id = false;
      const auto t0 = Clock::now();
      auto found = c.Search(queries.f.data(), nq, options);
      if (!found.ok()) throw std::runtime_error(found.status().ToString());
      for (std::vector<Match>& list : *found) {
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const Match& m) { return !cs.match[m.key]; }),
                   list.end());
        if (list.size() > k) list.resize(k);
      }
      post.qps = nq / Seconds(t0);
      post.recall = recall_of(*found);
    }
    std::string plan = automatic.plan;
    if (plan.size() > 34) plan = plan.substr(0, plan.find(':'));
    fmt::print(
        "{:<26} {:>7}  {:<34} {:>9.0f} {:>7.4f}  {:>9.0f} {:>7.4f}  {:>9.0f} {:>7.4f}  {:>9.0f} "
        "{:>7.4f}\n",
        cs.name, cs.matching, plan, automatic.qps, automatic.recall, exact.qps, exact.recall,
        fhnsw.qps, fhnsw.recall, post.qps, post.recall);
    std::fflush(stdout);
  }
  (void)(*store)->Close();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  quiver::bench::Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--data") {
      args.data = value;
    } else if (flag == "--labels") {
      args.labels = value;
    } else if (flag == "--queries") {
      args.queries = std::stoul(value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 1;
    }
  }
  try {
    return quiver::bench::Main(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
