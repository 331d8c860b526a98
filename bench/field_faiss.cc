// Copyright (c) Quiver authors.
//
// quiver_bench_field's FAISS systems (Debian's libfaiss-dev, a static library
// built for the generic x86-64 baseline: its fvec_L2sqr is the plain C loop).
//
//   faiss-hnsw  IndexHNSWFlat(d, M), efConstruction, efSearch; squared L2
//   faiss-flat  IndexFlatL2: exact search, the recall = 1 baseline
//
// Threads: FAISS parallelizes with OpenMP. The build sets
// omp_set_num_threads(insert_threads) and adds all vectors in one add() call.
// Every searching std::thread sets omp_set_num_threads(1) for itself, so that
// each of them uses exactly one core, like the other systems' threads.

#include <omp.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "field_systems.h"

namespace quiver::bench {
namespace {

/// A FAISS index of either kind; `hnsw` says which.
class FaissSystem : public AnnSystem {
 public:
  FaissSystem(const FieldParams& params, bool hnsw) : params_(params), hnsw_(hnsw) {}

  void Build(const Matrix& base, const std::string& dir) override {
    path_ = dir + (hnsw_ ? "/index.faiss-hnsw" : "/index.faiss-flat");
    try {
      if (hnsw_) {
        auto index = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(params_.dims),
                                                            static_cast<int>(params_.connectivity));
        index->hnsw.efConstruction = static_cast<int>(params_.expansion_add);
        index_ = std::move(index);
      } else {
        index_ =
            std::make_unique<faiss::IndexFlatL2>(static_cast<faiss::Index::idx_t>(params_.dims));
      }
      omp_set_num_threads(static_cast<int>(params_.insert_threads));
      index_->add(static_cast<faiss::Index::idx_t>(base.rows), base.f.data());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("faiss build: ") + e.what());
    }
  }

  void Save() override {
    try {
      faiss::write_index(index_.get(), path_.c_str());
    } catch (const std::exception& e) {
      throw std::runtime_error("faiss write_index " + path_ + ": " + e.what());
    }
    index_.reset();
  }

  void Load(const std::string& dir) override {
    path_ = dir + (hnsw_ ? "/index.faiss-hnsw" : "/index.faiss-flat");
    try {
      index_.reset(faiss::read_index(path_.c_str()));
    } catch (const std::exception& e) {
      throw std::runtime_error("faiss read_index " + path_ + ": " + e.what());
    }
  }

  bool UsesExpansionSearch() const override { return hnsw_; }

  void SetExpansionSearch(std::size_t ef) override {
    if (hnsw_) static_cast<faiss::IndexHNSW*>(index_.get())->hnsw.efSearch = static_cast<int>(ef);
  }

  void BeginSearchThread() override { omp_set_num_threads(1); }

  void Search(const float* query, std::size_t k, std::size_t thread, std::uint64_t* keys) override {
    SearchBatch(query, 1, k, thread, keys);
  }

  bool SupportsBatch() const override { return hnsw_; }

  void SearchBatch(const float* queries, std::size_t n, std::size_t k, std::size_t,
                   std::uint64_t* keys) override {
    // Per-call buffers: FAISS writes distances and int64 labels.
    std::vector<float> distances(n * k);
    std::vector<faiss::Index::idx_t> labels(n * k);
    index_->search(static_cast<faiss::Index::idx_t>(n), queries,
                   static_cast<faiss::Index::idx_t>(k), distances.data(), labels.data());
    for (std::size_t i = 0; i < n * k; ++i) {
      keys[i] = labels[i] < 0 ? kNoKey : static_cast<std::uint64_t>(labels[i]);
    }
  }

  nlohmann::json Describe() const override {
    return {{"simd_kernel", "generic (Debian libfaiss-dev build)"}};
  }
  std::size_t dims() const override { return params_.dims; }

 private:
  FieldParams params_;
  bool hnsw_;
  std::string path_;
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace

std::unique_ptr<AnnSystem> MakeFaissHnswSystem(const FieldParams& params) {
  return std::make_unique<FaissSystem>(params, /*hnsw=*/true);
}

std::unique_ptr<AnnSystem> MakeFaissFlatSystem(const FieldParams& params) {
  return std::make_unique<FaissSystem>(params, /*hnsw=*/false);
}

nlohmann::json FaissInfo() {
  return {{"faiss_version", std::to_string(FAISS_VERSION_MAJOR) + "." +
                                std::to_string(FAISS_VERSION_MINOR) + "." +
                                std::to_string(FAISS_VERSION_PATCH)},
          {"openmp_max_threads", omp_get_max_threads()}};
}

}  // namespace quiver::bench
