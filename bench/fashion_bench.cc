// Copyright (c) Quiver authors.
//
// quiver_bench_fashion: Quiver against raw USearch on Fashion-MNIST, in one run.
//
// For each system, in its own child process (so that peak RSS is its own):
//   build   raw USearch: index_dense_t::add of every base vector (all cores);
//           Quiver: Collection::Upsert in batches (SQLite commit + index add),
//           then the checkpoint Store::Close writes;
//   search  one thread, recall@10 against the exact ground truth and queries
//           per second, over a sweep of expansion_search;
//   reopen  Quiver only: Store::Open of the imported store and the first query.
//
// Both use the same HNSW parameters (connectivity 16, expansion_add 128) and
// the same NumKong kernels. Inputs come from bench/prepare_fashion_mnist.py.
//
//   quiver_bench_fashion [--data data/fashion-mnist] [--metric l2sq|cos]
//                        [--batch 1000] [--queries 10000] [--json out.json]

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <usearch/index_dense.hpp>

#include "bench_util.h"
#include "quiver/quiver.h"

namespace {

using quiver::bench::Clock;
using quiver::bench::Matrix;
using quiver::bench::Seconds;
namespace us = unum::usearch;

constexpr std::size_t kK = 10;
const std::vector<std::size_t> kEfSweep = {16, 32, 64, 128, 256};
const char kPrepareHint[] = "/usr/bin/python3 bench/prepare_fashion_mnist.py";

struct SweepPoint {
  std::size_t ef = 0;
  double recall = 0;
  double qps = 0;
};

/// What a child process reports to the parent through a pipe.
struct Report {
  double build_s = 0;
  double checkpoint_s = 0;
  double open_s = 0;
  double first_query_ms = 0;
  std::uint64_t disk_bytes = 0;
  SweepPoint sweep[8];
  std::size_t sweep_points = 0;
  char kernel[32] = {};
};

/// recall@kK of found[q] (up to kK keys per query) against the ground truth.
double Recall(const std::vector<std::vector<std::uint64_t>>& found, const Matrix& truth) {
  std::vector<std::uint64_t> flat(found.size() * kK, quiver::bench::kNoKey);
  for (std::size_t q = 0; q < found.size(); ++q) {
    std::copy_n(found[q].begin(), std::min(found[q].size(), kK), flat.begin() + q * kK);
  }
  return quiver::bench::RecallAtK(flat.data(), found.size(), kK, truth);
}

struct Options {
  std::string data = "data/fashion-mnist";
  std::string metric = "l2sq";
  std::size_t batch = 1000;
  std::size_t queries = 10000;
  std::string json;
};

struct Inputs {
  Matrix base, query, truth;
};

Report RunRawUsearch(const Options& opt, const Inputs& in) {
  Report r;
  const std::size_t dims = in.base.cols;
  us::metric_punned_t metric(
      dims, opt.metric == "cos" ? us::metric_kind_t::cos_k : us::metric_kind_t::l2sq_k,
      us::scalar_kind_t::f32_k);
  us::index_dense_config_t config(16, 128, 64);
  auto state = us::index_dense_t::make(metric, config);
  if (!state) throw std::runtime_error(state.error.release());
  us::index_dense_t index = std::move(state.index);
  const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());

  auto start = Clock::now();
  index.reserve(us::index_limits_t(in.base.rows, threads));
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < in.base.rows; i += threads) {
        auto added = index.add(i, in.base.f.data() + i * dims, t);
        if (!added) std::fprintf(stderr, "add failed: %s\n", added.error.release());
      }
    });
  }
  for (auto& th : pool) th.join();
  r.build_s = Seconds(start);
  std::snprintf(r.kernel, sizeof(r.kernel), "%s", index.metric().isa_name());

  for (std::size_t ef : kEfSweep) {
    index.change_expansion_search(ef);
    std::vector<std::vector<std::uint64_t>> found(opt.queries);
    std::vector<std::uint64_t> keys(kK);
    auto t0 = Clock::now();
    for (std::size_t q = 0; q < opt.queries; ++q) {
      auto result = index.search(in.query.f.data() + q * dims, kK, 0);
      keys.resize(result.size());
      result.dump_to(keys.data());
      found[q] = keys;
    }
    const double s = Seconds(t0);
    r.sweep[r.sweep_points++] = {ef, Recall(found, in.truth), opt.queries / s};
  }
  return r;
}

Report RunQuiver(const Options& opt, const Inputs& in, const std::string& dir) {
  Report r;
  const std::size_t dims = in.base.cols;
  quiver::StoreOptions store_options;
  store_options.logger = [](quiver::LogLevel, std::string_view) {};
  quiver::CollectionConfig config;
  config.dimensions = static_cast<std::uint32_t>(dims);
  config.metric = opt.metric == "cos" ? quiver::Metric::kCos : quiver::Metric::kL2sq;

  auto start = Clock::now();
  {
    auto store = quiver::Store::Open(dir, store_options);
    if (!store.ok()) throw std::runtime_error(store.status().ToString());
    auto c = (*store)->CreateCollection("fashion", config);
    if (!c.ok()) throw std::runtime_error(c.status().ToString());
    std::vector<quiver::Record> batch;
    for (std::size_t i = 0; i < in.base.rows; i += opt.batch) {
      const std::size_t n = std::min(opt.batch, in.base.rows - i);
      batch.resize(n);
      for (std::size_t j = 0; j < n; ++j) {
        batch[j].key = i + j;
        const float* row = in.base.f.data() + (i + j) * dims;
        batch[j].embedding.assign(row, row + dims);
      }
      quiver::Status s = (*c)->Upsert(batch);
      if (!s.ok()) throw std::runtime_error(s.ToString());
    }
    r.build_s = Seconds(start);
    auto t0 = Clock::now();
    quiver::Status s = (*store)->Close();
    if (!s.ok()) throw std::runtime_error(s.ToString());
    r.checkpoint_s = Seconds(t0);
  }
  r.disk_bytes = quiver::bench::DiskBytes(dir);

  // Reopen: one checkpoint load, then the first query.
  start = Clock::now();
  auto store = quiver::Store::Open(dir, store_options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  auto c = *(*store)->GetCollection("fashion");
  r.open_s = Seconds(start);
  quiver::SearchOptions search;
  search.k = kK;
  search.include_text = search.include_metadata = false;
  auto t_first = Clock::now();
  auto first = c->Search(in.query.f.data(), 1, search);
  r.first_query_ms = Seconds(t_first) * 1000;
  if (!first.ok()) throw std::runtime_error(first.status().ToString());
  std::snprintf(r.kernel, sizeof(r.kernel), "%s", c->Stats()->simd_kernel.c_str());

  for (std::size_t ef : kEfSweep) {
    search.expansion_search = ef;
    std::vector<std::vector<std::uint64_t>> found(opt.queries);
    auto t0 = Clock::now();
    for (std::size_t q = 0; q < opt.queries; ++q) {
      auto result = c->Search(in.query.f.data() + q * dims, 1, search);
      if (!result.ok()) throw std::runtime_error(result.status().ToString());
      for (const auto& m : (*result)[0]) found[q].push_back(m.key);
    }
    const double s = Seconds(t0);
    r.sweep[r.sweep_points++] = {ef, Recall(found, in.truth), opt.queries / s};
  }
  return r;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--data") {
      o.data = next();
    } else if (a == "--metric") {
      o.metric = next();
    } else if (a == "--batch") {
      o.batch = std::stoul(next());
    } else if (a == "--queries") {
      o.queries = std::stoul(next());
    } else if (a == "--json") {
      o.json = next();
    } else if (a == "--help" || a == "-h") {
      std::puts(
          "quiver_bench_fashion [--data DIR] [--metric l2sq|cos] [--batch N] [--queries N] "
          "[--json FILE]\n  Compares Quiver with raw USearch on Fashion-MNIST (prepare it with "
          "/usr/bin/python3 bench/prepare_fashion_mnist.py).");
      std::exit(0);
    } else {
      throw std::runtime_error("unknown argument " + a);
    }
  }
  if (o.metric != "l2sq" && o.metric != "cos") throw std::runtime_error("--metric: l2sq or cos");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt = ParseArgs(argc, argv);
    Inputs in;
    in.base = quiver::bench::ReadBin(opt.data + "/base.fbin", false, kPrepareHint);
    in.query = quiver::bench::ReadBin(opt.data + "/query.fbin", false, kPrepareHint);
    in.truth = quiver::bench::ReadBin(opt.data + "/gt_" + opt.metric + ".ibin", true, kPrepareHint);
    opt.queries = std::min(opt.queries, in.query.rows);
    std::printf(
        "Fashion-MNIST: %zu base x %zu dims, %zu queries, metric %s, k=%zu, M=16, "
        "ef_add=128, %u hardware threads\n",
        in.base.rows, in.base.cols, opt.queries, opt.metric.c_str(), kK,
        std::thread::hardware_concurrency());
    std::fflush(stdout);

    long raw_rss = 0, quiver_rss = 0;
    Report raw =
        quiver::bench::RunInForkedChild<Report>([&] { return RunRawUsearch(opt, in); }, &raw_rss);
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("quiver-bench-" + std::to_string(::getpid())))
            .string();
    std::filesystem::remove_all(dir);
    Report qv = quiver::bench::RunInForkedChild<Report>([&] { return RunQuiver(opt, in, dir); },
                                                        &quiver_rss);
    std::filesystem::remove_all(dir);

    std::printf("\n| | raw USearch | Quiver | Quiver / raw |\n|---|---|---|---|\n");
    std::printf("| build / import (s) | %.2f | %.2f | %.2fx |\n", raw.build_s, qv.build_s,
                qv.build_s / raw.build_s);
    std::printf("| Quiver checkpoint on close (s) | | %.2f | |\n", qv.checkpoint_s);
    std::printf("| peak RSS (MiB, incl. %.0f MiB of input) | %.0f | %.0f | %.2fx |\n",
                (in.base.f.size() + in.query.f.size()) * 4.0 / (1 << 20), raw_rss / 1024.0,
                quiver_rss / 1024.0, double(quiver_rss) / raw_rss);
    std::printf("| on disk (MiB) | | %.0f | |\n", qv.disk_bytes / double(1 << 20));
    std::printf("| reopen store (ms) / first query (ms) | | %.0f / %.2f | |\n", qv.open_s * 1000,
                qv.first_query_ms);
    std::printf("| SIMD kernel | %s | %s | |\n", raw.kernel, qv.kernel);
    std::printf(
        "\n| ef | raw recall@10 | raw QPS (1 thread) | Quiver recall@10 | Quiver QPS | "
        "Quiver / raw QPS |\n|---|---|---|---|---|---|\n");
    for (std::size_t i = 0; i < raw.sweep_points; ++i) {
      std::printf("| %zu | %.4f | %.0f | %.4f | %.0f | %.2fx |\n", raw.sweep[i].ef,
                  raw.sweep[i].recall, raw.sweep[i].qps, qv.sweep[i].recall, qv.sweep[i].qps,
                  qv.sweep[i].qps / raw.sweep[i].qps);
    }
    if (!opt.json.empty()) {
      std::ofstream out(opt.json);
      out << "{\"raw\": {\"build_s\": " << raw.build_s << ", \"peak_rss_kib\": " << raw_rss
          << "}, \"quiver\": {\"import_s\": " << qv.build_s
          << ", \"checkpoint_s\": " << qv.checkpoint_s << ", \"peak_rss_kib\": " << quiver_rss
          << ", \"open_s\": " << qv.open_s << ", \"first_query_ms\": " << qv.first_query_ms
          << "}, \"sweep\": [";
      for (std::size_t i = 0; i < raw.sweep_points; ++i) {
        out << (i ? ", " : "") << "{\"ef\": " << raw.sweep[i].ef
            << ", \"raw_recall\": " << raw.sweep[i].recall << ", \"raw_qps\": " << raw.sweep[i].qps
            << ", \"quiver_recall\": " << qv.sweep[i].recall
            << ", \"quiver_qps\": " << qv.sweep[i].qps << "}";
      }
      out << "]}\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
