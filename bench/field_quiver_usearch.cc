// Copyright (c) Quiver authors.
//
// quiver_bench_field's Quiver and raw-USearch systems. Quiver is used through
// include/quiver only; USearch directly, as the baseline Quiver wraps.

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <usearch/index_dense.hpp>

#include "field_systems.h"
#include "quiver/quiver.h"

namespace quiver::bench {
namespace {

namespace us = unum::usearch;

/// Throws the status's message unless it is OK.
void Check(const quiver::Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error(what + ": " + s.ToString());
}

/// Throws (consuming the error, as USearch requires) unless `result` succeeded.
template <typename ResultT>
void CheckUsearch(ResultT& result, const std::string& what) {
  if (result) return;
  const char* message = result.error.release();
  throw std::runtime_error(what + ": " + (message ? message : "unknown USearch error"));
}

/// Quiver: a durable store with one collection "bench"; imports through
/// Collection::Upsert in batches, searches through Collection::Search with
/// keys and distances only (no SQLite lookup of text or metadata).
class QuiverSystem : public AnnSystem {
 public:
  /// `numkong_kernel`: use raw USearch's distance kernel instead of Quiver's
  /// own f32 kernels (quiver-f32-numkong), so that the difference to
  /// `usearch` is Quiver's own overhead alone.
  /// `small_pages`: leave the index in 4 KiB pages (QUIVER_HUGE_PAGES=0,
  /// quiver-f32-4k), to measure what huge pages give on this machine.
  QuiverSystem(const FieldParams& params, quiver::ScalarKind scalar, bool numkong_kernel,
               bool small_pages)
      : params_(params),
        scalar_(scalar),
        numkong_kernel_(numkong_kernel),
        small_pages_(small_pages) {
    options_.insert_threads = static_cast<std::uint32_t>(params.insert_threads);
    options_.checkpoint_every_changes = params.checkpoint_every_changes;
    options_.synchronous =
        params.synchronous_full ? quiver::Synchronous::kFull : quiver::Synchronous::kNormal;
    options_.logger = quiver::StderrLogger(quiver::LogLevel::kWarn);
  }

  void Build(const Matrix& base, const std::string& dir) override {
    ChooseKernel();
    auto store = quiver::Store::Open(dir, options_);
    Check(store.status(), "open " + dir);
    store_ = std::move(*store);
    quiver::CollectionConfig config;
    config.dimensions = static_cast<std::uint32_t>(params_.dims);
    config.metric = quiver::Metric::kL2sq;
    config.scalar = scalar_;
    config.connectivity = static_cast<std::uint32_t>(params_.connectivity);
    config.expansion_add = static_cast<std::uint32_t>(params_.expansion_add);
    auto collection = store_->CreateCollection("bench", config);
    Check(collection.status(), "create collection");
    collection_ = *collection;

    for (std::size_t first = 0; first < base.rows; first += params_.batch) {
      Insert(base.Row(first), std::min(params_.batch, base.rows - first), first);
    }
    RecordStats();
  }

  void Insert(const float* rows, std::size_t n, std::uint64_t first_key) override {
    batch_.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
      batch_[j].key = first_key + j;
      batch_[j].embedding.assign(rows + j * params_.dims, rows + (j + 1) * params_.dims);
    }
    Check(collection_->Upsert(batch_), "upsert keys from " + std::to_string(first_key));
  }

  void Save() override {
    collection_.reset();
    Check(store_->Close(), "close");
    store_.reset();
  }

  void Load(const std::string& dir) override {
    ChooseKernel();
    quiver::StoreOptions options = options_;
    options.create_if_missing = false;
    auto store = quiver::Store::Open(dir, options);
    Check(store.status(), "open " + dir);
    store_ = std::move(*store);
    auto collection = store_->GetCollection("bench");
    Check(collection.status(), "get collection");
    collection_ = *collection;
    RecordStats();
  }

  void SetExpansionSearch(std::size_t ef) override { search_.expansion_search = ef; }

  void Search(const float* query, std::size_t k, std::size_t, std::uint64_t* keys) override {
    quiver::SearchOptions options = search_;
    options.k = k;
    auto result = collection_->Search(query, 1, options);
    Check(result.status(), "search");
    const auto& matches = (*result)[0];
    std::fill(keys, keys + k, kNoKey);
    for (std::size_t i = 0; i < matches.size() && i < k; ++i) keys[i] = matches[i].key;
  }

  nlohmann::json Describe() const override { return info_; }
  std::size_t dims() const override { return params_.dims; }

 private:
  /// Runs in the child process that builds or loads, before the store opens:
  /// the index reads QUIVER_F32_KERNEL and QUIVER_HUGE_PAGES once per process.
  void ChooseKernel() const {
    if (numkong_kernel_) ::setenv("QUIVER_F32_KERNEL", "numkong", 1);
    if (small_pages_) ::setenv("QUIVER_HUGE_PAGES", "0", 1);
  }

  /// Copies the collection's kernel, index memory and checkpoint count into info_.
  void RecordStats() {
    auto stats = collection_->Stats();
    Check(stats.status(), "stats");
    info_["simd_kernel"] = stats->simd_kernel;
    info_["index_memory_bytes"] = stats->index_memory_bytes;
    info_["config"] = stats->config.ToString();
    info_["checkpoint_generation"] = stats->checkpoint_generation;
  }

  FieldParams params_;
  quiver::ScalarKind scalar_;
  bool numkong_kernel_ = false;
  bool small_pages_ = false;
  quiver::StoreOptions options_;
  quiver::SearchOptions search_{
      .k = 10, .expansion_search = 0, .include_text = false, .include_metadata = false};
  std::unique_ptr<quiver::Store> store_;
  std::shared_ptr<quiver::Collection> collection_;
  std::vector<quiver::Record> batch_;  // reused across Insert calls
  nlohmann::json info_ = nlohmann::json::object();
};

/// Raw USearch: index_dense_t, float32, squared L2, one thread context per
/// inserting or searching thread (passed explicitly, no context pool).
class UsearchSystem : public AnnSystem {
 public:
  explicit UsearchSystem(const FieldParams& params) : params_(params) {}

  void Build(const Matrix& base, const std::string& dir) override {
    path_ = dir + "/index.usearch";
    MakeEmpty();
    if (!index_.try_reserve(us::index_limits_t(
            base.rows, std::max(params_.insert_threads, params_.search_threads))))
      throw std::runtime_error("usearch: reserve " + std::to_string(base.rows) + " vectors failed");
    Insert(base.f.data(), base.rows, 0);
    RecordStats();
  }

  void Insert(const float* rows, std::size_t n, std::uint64_t first_key) override {
    const std::size_t threads = params_.insert_threads;
    if (index_.size() + n > index_.capacity() &&
        !index_.try_reserve(
            us::index_limits_t(index_.size() + n, std::max(threads, params_.search_threads))))
      throw std::runtime_error("usearch: reserve failed");
    std::vector<std::thread> pool;
    std::vector<std::string> errors(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (std::size_t i = t; i < n; i += threads) {
          auto added = index_.add(first_key + i, rows + i * params_.dims, t);
          if (!added) {
            errors[t] = added.error.release();
            return;
          }
        }
      });
    }
    for (auto& thread : pool) thread.join();
    for (const auto& e : errors) {
      if (!e.empty()) throw std::runtime_error("usearch add: " + e);
    }
  }

  void Save() override {
    auto saved = index_.save(path_.c_str());
    CheckUsearch(saved, "usearch save " + path_);
    index_ = us::index_dense_t();
  }

  void Load(const std::string& dir) override {
    path_ = dir + "/index.usearch";
    MakeEmpty();
    auto loaded = index_.load(path_.c_str());
    CheckUsearch(loaded, "usearch load " + path_);
    if (!index_.try_reserve(us::index_limits_t(index_.capacity(), params_.search_threads)))
      throw std::runtime_error("usearch: reserving thread contexts failed");
    RecordStats();
  }

  void SetExpansionSearch(std::size_t ef) override { index_.change_expansion_search(ef); }

  void Search(const float* query, std::size_t k, std::size_t thread, std::uint64_t* keys) override {
    auto result = index_.search(query, k, thread);
    CheckUsearch(result, "usearch search");
    std::fill(keys, keys + k, kNoKey);
    result.dump_to(keys);
  }

  nlohmann::json Describe() const override { return info_; }
  std::size_t dims() const override { return params_.dims; }

 private:
  /// Replaces index_ with an empty f32 l2sq index_dense_t with FieldParams' M and ef_add.
  void MakeEmpty() {
    us::metric_punned_t metric(params_.dims, us::metric_kind_t::l2sq_k, us::scalar_kind_t::f32_k);
    us::index_dense_config_t config(params_.connectivity, params_.expansion_add, 64);
    auto state = us::index_dense_t::make(metric, config);
    CheckUsearch(state, "usearch make");
    index_ = std::move(state.index);
  }

  /// Copies the metric's kernel name and USearch's memory estimate into info_.
  void RecordStats() {
    info_["simd_kernel"] = index_.metric().isa_name();
    info_["index_memory_bytes"] = index_.memory_usage();
  }

  FieldParams params_;
  std::string path_;
  us::index_dense_t index_;
  nlohmann::json info_ = nlohmann::json::object();
};

}  // namespace

std::unique_ptr<AnnSystem> MakeQuiverSystem(const FieldParams& params, const std::string& scalar) {
  const bool numkong = scalar == "f32-numkong";
  const bool small_pages = scalar == "f32-4k";
  auto kind = quiver::ParseScalarKind(numkong || small_pages ? "f32" : scalar);
  Check(kind.status(), "quiver scalar kind");
  return std::make_unique<QuiverSystem>(params, *kind, numkong, small_pages);
}

std::unique_ptr<AnnSystem> MakeUsearchSystem(const FieldParams& params) {
  return std::make_unique<UsearchSystem>(params);
}

nlohmann::json QuiverAndUsearchInfo() {
  return {{"quiver_version", quiver::Version()},
          {"usearch_version", quiver::UsearchVersion()},
          {"numkong_capabilities", quiver::SimdCapabilities()}};
}

}  // namespace quiver::bench
