// Copyright (c) Quiver authors.
//
// The systems quiver_bench_field compares, behind one interface, so that every
// system is built, saved, reopened and searched by the same measuring code.
//
//   quiver-f32/f16/i8  Quiver through include/quiver (durable store on disk)
//   quiver-http        Quiver f32 through `quiver serve`, a child process  (field_http.cc)
//   usearch            raw USearch index_dense_t          (field_quiver_usearch.cc)
//   hnswlib            hnswlib::HierarchicalNSW<float>    (field_hnswlib.cc, optional)
//   faiss-hnsw         faiss::IndexHNSWFlat               (field_faiss.cc, optional)
//   faiss-flat         faiss::IndexFlatL2, exact baseline (field_faiss.cc, optional)
//
// Keys are base row numbers (0..n-1) in every system; distances are squared L2.

#ifndef QUIVER_BENCH_FIELD_SYSTEMS_H_
#define QUIVER_BENCH_FIELD_SYSTEMS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"

namespace quiver::bench {

/// Parameters every system gets, identical across systems.
struct FieldParams {
  std::size_t dims = 0;
  /// HNSW M (edges per node on upper levels; 2*M on level 0 in all three HNSW libraries).
  std::size_t connectivity = 16;
  /// HNSW ef_construction.
  std::size_t expansion_add = 128;
  /// Threads that insert during the build (std::threads, or OpenMP threads for FAISS).
  std::size_t insert_threads = 2;
  /// Largest number of threads that will search at once.
  std::size_t search_threads = 2;
  /// Quiver only: records per Collection::Upsert call.
  std::size_t batch = 1000;
  /// Quiver only: StoreOptions::checkpoint_every_changes (the store's default is 100000).
  std::uint64_t checkpoint_every_changes = 100000;
  /// Quiver only: StoreOptions::synchronous; true = kFull (the default: every
  /// commit fsynced), false = kNormal (for measuring what durability costs).
  bool synchronous_full = true;
  /// quiver-http only: the `quiver` executable to run as the server; empty =
  /// $QUIVER_BIN, else `quiver` beside the benchmark's directory
  /// (build/release/quiver for build/release/bench/quiver_bench_field).
  std::string quiver_bin;
};

/// One system under test. Build/Save run in one process, Load and the
/// searches in another (so each has its own peak RSS). Every method throws
/// std::runtime_error with the library's message on failure.
class AnnSystem {
 public:
  virtual ~AnnSystem() = default;

  /// Builds the index from every row of `base` (rows x dims float32), key = row
  /// number, on FieldParams::insert_threads threads. `dir` is an existing empty
  /// directory that belongs to this system (Quiver's store writes there as it goes).
  virtual void Build(const Matrix& base, const std::string& dir) = 0;
  /// Persists what Build made into its directory and releases it as the
  /// library requires (Quiver: Store::Close, which writes the checkpoint).
  virtual void Save() = 0;
  /// Opens what Save wrote in `dir` (reads it into memory; no memory mapping).
  virtual void Load(const std::string& dir) = 0;

  /// Adds `n` more rows (n x dims float32) under keys first_key.. to a loaded
  /// index, on insert_threads threads (Quiver: one Upsert batch). Only the
  /// profiling mode uses it; systems that do not implement it throw.
  virtual void Insert(const float* rows, std::size_t n, std::uint64_t first_key) {
    throw std::runtime_error("this system does not implement Insert");
  }

  /// Whether search quality depends on expansion_search (false for exact search).
  virtual bool UsesExpansionSearch() const { return true; }
  /// Sets ef for the following searches. Never called while searches run.
  virtual void SetExpansionSearch(std::size_t ef) = 0;
  /// Called once at the start of every searching thread, before it searches.
  virtual void BeginSearchThread() {}
  /// The k nearest keys of one query (dims float32) into keys[0..k), nearest
  /// first, kNoKey-padded. `thread` in [0, search_threads) is unique among the
  /// threads searching at the same time. Thread-safe.
  virtual void Search(const float* query, std::size_t k, std::size_t thread,
                      std::uint64_t* keys) = 0;
  /// Whether SearchBatch is implemented (one library call for many queries).
  virtual bool SupportsBatch() const { return false; }
  /// Like Search for `n` consecutive queries (n x dims) into keys[0..n*k), in one call.
  virtual void SearchBatch(const float* queries, std::size_t n, std::size_t k, std::size_t thread,
                           std::uint64_t* keys) {
    for (std::size_t q = 0; q < n; ++q) Search(queries + q * dims(), k, thread, keys + q * k);
  }

  /// Facts worth recording after Build or Load: SIMD kernel, index memory, versions.
  virtual nlohmann::json Describe() const { return nlohmann::json::object(); }
  /// Peak RSS and CPU time of the other processes the system runs (quiver-http:
  /// the server), as top-level fields of the "build" line (asked after Save)
  /// and of the "search_end" line (asked after the searches). Default: none.
  virtual nlohmann::json ProcessStats() const { return nlohmann::json::object(); }
  /// Dimensions of the vectors.
  virtual std::size_t dims() const = 0;
};

/// `scalar` is "f32", "f16", "bf16" or "i8" (Quiver's CollectionConfig::scalar).
std::unique_ptr<AnnSystem> MakeQuiverSystem(const FieldParams& params, const std::string& scalar);
std::unique_ptr<AnnSystem> MakeUsearchSystem(const FieldParams& params);
/// Versions: quiver, usearch, and the NumKong capabilities of this CPU.
nlohmann::json QuiverAndUsearchInfo();

#ifdef QUIVER_BENCH_HAVE_HTTP
/// Quiver f32 served by `quiver serve` (FieldParams::quiver_bin), over loopback HTTP.
std::unique_ptr<AnnSystem> MakeQuiverHttpSystem(const FieldParams& params);
#endif

#ifdef QUIVER_BENCH_HAVE_HNSWLIB
std::unique_ptr<AnnSystem> MakeHnswlibSystem(const FieldParams& params);
/// How the hnswlib translation unit was compiled and which kernel it chose.
nlohmann::json HnswlibInfo();
#endif

#ifdef QUIVER_BENCH_HAVE_FAISS
std::unique_ptr<AnnSystem> MakeFaissHnswSystem(const FieldParams& params);
std::unique_ptr<AnnSystem> MakeFaissFlatSystem(const FieldParams& params);
/// FAISS version and OpenMP threads.
nlohmann::json FaissInfo();
#endif

}  // namespace quiver::bench

#endif  // QUIVER_BENCH_FIELD_SYSTEMS_H_
