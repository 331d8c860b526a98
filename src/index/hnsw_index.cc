// Copyright (c) Quiver authors.

#include "index/hnsw_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <semaphore>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <usearch/index_dense.hpp>

#include "index/f32_distance.h"
#include "index/hnsw_graph.h"
#include "util/crash_point.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver::index {
namespace {

namespace us = unum::usearch;
using Byte = us::byte_t;
using DenseIndex = us::index_dense_t;

constexpr graph::Slot kNoSlot = ~graph::Slot{0};

/// Marks a slot in HnswIndex::Impl::baseline_in_degree as added (or missed)
/// since the last check: above any in-degree, so "fell below" holds for it.
constexpr std::uint32_t kBaselineNew = 0xFFFFFFFFu;

us::metric_kind_t ToUsearch(Metric metric) {
  switch (metric) {
    case Metric::kCos:
      return us::metric_kind_t::cos_k;
    case Metric::kIp:
      return us::metric_kind_t::ip_k;
    case Metric::kL2sq:
      return us::metric_kind_t::l2sq_k;
  }
  return us::metric_kind_t::unknown_k;
}

us::scalar_kind_t ToUsearch(ScalarKind kind) {
  switch (kind) {
    case ScalarKind::kF32:
      return us::scalar_kind_t::f32_k;
    case ScalarKind::kF16:
      return us::scalar_kind_t::f16_k;
    case ScalarKind::kBF16:
      return us::scalar_kind_t::bf16_k;
    case ScalarKind::kI8:
      return us::scalar_kind_t::i8_k;
  }
  return us::scalar_kind_t::unknown_k;
}

/// Quiver's own kernels for `config`'s index: for f32 collections when the CPU
/// has them (f32_distance.h explains why); nullptr = USearch's NumKong kernel.
const F32Kernels* OwnKernels(const CollectionConfig& config) {
  return config.scalar == ScalarKind::kF32 ? PreferredF32Kernels() : nullptr;
}

/// The distance function of `config`'s index (see OwnKernels). Both kinds
/// report the same metric and scalar kind, so checkpoints are USearch files
/// either way.
us::metric_punned_t MakeMetric(const CollectionConfig& config) {
  const us::metric_kind_t metric_kind = ToUsearch(config.metric);
  const us::scalar_kind_t scalar_kind = ToUsearch(config.scalar);
  if (const F32Kernels* kernels = OwnKernels(config)) {
    F32DistanceFn fn = config.metric == Metric::kL2sq ? kernels->l2sq
                       : config.metric == Metric::kIp ? kernels->ip
                                                      : kernels->cos;
    return us::metric_punned_t::stateless(config.dimensions, reinterpret_cast<std::uintptr_t>(fn),
                                          us::metric_punned_signature_t::array_array_size_k,
                                          metric_kind, scalar_kind);
  }
  return us::metric_punned_t(config.dimensions, metric_kind, scalar_kind);
}

/// Consumes a USearch result's error (an unconsumed error_t terminates the
/// process) and turns it into a Status.
template <typename ResultT>
Status Consume(ResultT& result, std::string_view what) {
  if (result) return Status::Ok();
  const char* message = result.error.release();
  return Status::Internal(std::string(what) + ": " + (message ? message : "unknown USearch error"));
}

}  // namespace

namespace {

/// What PlaceInHugePages did to one memory range.
struct HugeRange {
  bool advised = false;       // MADV_HUGEPAGE given
  std::size_t collapsed = 0;  // bytes from its start that MADV_COLLAPSE handled
};

/// The memory PlaceInHugePages handled: every USearch arena (by its start
/// address), the newest arena of each chain, and the slot arrays (USearch
/// allocates new ones at every reserve) it last saw.
struct HugePlacement {
  std::unordered_map<const void*, HugeRange> arenas;
  const void* vector_arena = nullptr;
  const void* node_arena = nullptr;
  const void* nodes = nullptr;
  const void* lookup = nullptr;
  HugeRange nodes_range;
  HugeRange lookup_range;
};

}  // namespace

struct HnswIndex::Impl {
  DenseIndex index;
  CollectionConfig config;
  std::size_t search_threads = 1;
  std::size_t add_threads = 1;
  /// Upper bound of slots taken by removed vectors (USearch reuses them, but
  /// does not expose how many remain); used to reserve capacity ahead.
  std::size_t tombstones = 0;
  mutable std::shared_mutex mu;
  /// Counts free USearch thread contexts reserved for searches.
  mutable std::counting_semaphore<> search_slots{0};
  /// The index is a memory-mapped view of a checkpoint: searches only.
  bool viewed = false;
  /// See HnswIndex::last_unreachable.
  std::atomic<std::uint64_t> last_unreachable{0};
  /// What the write path's self-query checks (SelfQueries::kAdded) look at,
  /// guarded by `unchecked_mu`: the slots AddBatch filled since the last
  /// check, and how many it filled since the last check that walked.
  std::mutex unchecked_mu;
  std::vector<graph::Slot> unchecked_slots;
  /// What PlaceInHugePages did; written by loads and AddBatch only.
  HugePlacement huge;
  std::size_t added_since_walk = 0;
  /// Per slot, what the next walk of RepairReachability compares the vector's
  /// level-0 in-degree with: the in-degree it had after the last repair that
  /// walked and checked the graph (or, for a loaded checkpoint, before the
  /// first change to it), or kBaselineNew (added since then, or missed by its
  /// last self-query). Shorter than Slots() for slots added since. Written
  /// only by writers (AddBatch, Remove, RepairReachability), which callers
  /// serialize; so are the two fields below.
  std::vector<std::uint32_t> baseline_in_degree;
  /// Loaded from a checkpoint and not walked since: the first AddBatch or
  /// Remove walks the graph for its baseline before changing it.
  bool baseline_pending = false;
  /// Where the next scrub window of SelfQueries::kAdded starts (a slot).
  std::size_t scrub_cursor = 0;

  std::size_t ThreadContexts() const { return search_threads + add_threads; }

  /// Takes the baseline of a loaded graph before its first change (see
  /// baseline_pending). Caller holds `mu` (shared is enough) and is the writer.
  void TakePendingBaseline() {
    if (!baseline_pending) return;
    baseline_in_degree = graph::WalkFromEntry(index).in_degree;
    baseline_pending = false;
  }

  /// Makes room for `extra` more vectors. Takes `mu` exclusively if it grows.
  Status EnsureCapacity(std::size_t extra) {
    std::unique_lock<std::shared_mutex> lock(mu);
    const std::size_t needed = index.size() + tombstones + extra;
    if (needed <= index.capacity()) return Status::Ok();
    const std::size_t target = std::max<std::size_t>({needed, index.capacity() * 2, 1024});
    if (!index.try_reserve(us::index_limits_t(target, ThreadContexts()))) {
      return Status::IOError("out of memory reserving an HNSW index of " + std::to_string(target) +
                             " vectors");
    }
    return Status::Ok();
  }
};

namespace {

// --- Memory placement: transparent huge pages -----------------------------------------
//
// A search reads a few hundred vectors and nodes scattered over the whole
// index (clustered 300,000 x 96: 115 MB of vectors, ~60 MB of nodes). With
// 4 KiB pages nearly each of those reads also misses the TLB (the second-level
// TLB covers a few thousand pages, ~12-16 MiB) and waits for a page walk;
// with 2 MiB pages the whole index needs a few hundred TLB entries. Debian's
// kernels default transparent huge pages to "madvise", so memory gets them
// only when asked: USearch allocates vectors and nodes from mmap'ed arenas
// (memory_mapping_allocator_gt, doubling from 4 MiB) and the slot arrays with
// aligned_alloc, and asks for nothing. PlaceInHugePages asks, for every arena
// and both arrays: MADV_HUGEPAGE (faults after it get huge pages) and
// MADV_COLLAPSE (Linux 6.1; the pages already there are copied into huge
// pages now, not whenever khugepaged gets to them). Only whole 2 MiB-aligned
// ranges that are in use are collapsed, so resident memory does not grow.
// Both are advice: a kernel without THP, or with it off, refuses and nothing
// changes. (hnswlib and raw USearch in the field benchmark get 4 KiB pages.)

static_assert(USEARCH_VERSION_MAJOR == 2 && USEARCH_VERSION_MINOR == 26,
              "PlaceInHugePages reads private members of USearch 2.26 (index_dense_gt::typed_, "
              "vectors_tape_allocator_, vectors_lookup_; index_gt::nodes_; "
              "memory_mapping_allocator_gt::last_arena_, last_usage_): check them and update "
              "this assertion when upgrading USearch");

/// x86-64's transparent huge page (PMD) size.
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
#if defined(__linux__) && !defined(MADV_COLLAPSE)
constexpr int MADV_COLLAPSE = 25;  // linux/mman.h, Linux 6.1
#endif

// The private members are read the way hnsw_graph.cc reads the graph (the
// explicit instantiation rule, [temp.explicit]/12); no USearch file changes.
template <typename Tag, auto kMember>
struct PlacementMember {
  friend constexpr auto Get(Tag) { return kMember; }
};
using VectorTape = us::memory_mapping_allocator_gt<8>;
using NodeTape = us::memory_mapping_allocator_gt<64>;
struct VectorTapeTag {
  friend constexpr auto Get(VectorTapeTag);
};
template struct PlacementMember<VectorTapeTag, &DenseIndex::vectors_tape_allocator_>;
struct DenseGraphTag {
  friend constexpr auto Get(DenseGraphTag);
};
template struct PlacementMember<DenseGraphTag, &DenseIndex::typed_>;
struct VectorLookupTag {
  friend constexpr auto Get(VectorLookupTag);
};
template struct PlacementMember<VectorLookupTag, &DenseIndex::vectors_lookup_>;
using DenseGraph = std::remove_pointer_t<
    std::remove_reference_t<decltype(std::declval<const DenseIndex&>().*Get(DenseGraphTag{}))>>;
struct NodesTag {
  friend constexpr auto Get(NodesTag);
};
template struct PlacementMember<NodesTag, &DenseGraph::nodes_>;
struct VectorArenaTag {
  friend constexpr auto Get(VectorArenaTag);
};
template struct PlacementMember<VectorArenaTag, &VectorTape::last_arena_>;
struct VectorUsageTag {
  friend constexpr auto Get(VectorUsageTag);
};
template struct PlacementMember<VectorUsageTag, &VectorTape::last_usage_>;
struct NodeArenaTag {
  friend constexpr auto Get(NodeArenaTag);
};
template struct PlacementMember<NodeArenaTag, &NodeTape::last_arena_>;
struct NodeUsageTag {
  friend constexpr auto Get(NodeUsageTag);
};
template struct PlacementMember<NodeUsageTag, &NodeTape::last_usage_>;

/// Advises huge pages for [start, start + capacity) once, and with `collapse`
/// collapses the 2 MiB-aligned part of [start + collapsed, start + used).
void AdviseHuge(const void* start, std::size_t capacity, std::size_t used, bool collapse,
                HugeRange* range) {
#if defined(__linux__)
  const auto begin = reinterpret_cast<std::uintptr_t>(start);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = (begin + capacity) & ~(kHugePage - 1);
  if (end <= first) return;
  if (!range->advised) ::madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
  range->advised = true;
  if (!collapse) return;
  const std::uintptr_t from = std::max(first, (begin + range->collapsed) & ~(kHugePage - 1));
  const std::uintptr_t to = std::min(end, (begin + used) & ~(kHugePage - 1));
  if (to <= from) return;
  ::madvise(reinterpret_cast<void*>(from), to - from, MADV_COLLAPSE);
  range->collapsed = to - begin;
#else
  (void)start, (void)capacity, (void)used, (void)collapse, (void)range;
#endif
}

/// Walks one USearch arena chain (newest first; each arena starts with the
/// previous arena's address and its own capacity, see
/// memory_mapping_allocator_gt::reset) and advises every arena in it.
void AdviseArenas(const Byte* last_arena, std::size_t last_usage, bool collapse,
                  std::unordered_map<const void*, HugeRange>* ranges) {
  bool newest = true;
  for (const Byte* arena = last_arena; arena != nullptr; newest = false) {
    const Byte* previous = nullptr;
    std::size_t capacity = 0;
    std::memcpy(&previous, arena, sizeof(previous));
    std::memcpy(&capacity, arena + sizeof(previous), sizeof(capacity));
    AdviseHuge(arena, capacity, newest ? last_usage : capacity, collapse, &(*ranges)[arena]);
    arena = previous;
  }
}

/// Puts the index's vectors, nodes and slot arrays in huge pages (see above):
/// advises what is new, and with `collapse` also collapses what is in use.
/// Precondition: no add, reserve or load runs on another thread (it reads the
/// allocators' state).
void PlaceInHugePages(HnswIndex::Impl& impl, bool collapse) {
  // QUIVER_HUGE_PAGES=0 in the environment leaves the index in 4 KiB pages
  // (for A/B measurements; read once per process).
  static const bool enabled = [] {
    const char* value = std::getenv("QUIVER_HUGE_PAGES");
    return value == nullptr || std::string_view(value) != "0";
  }();
  if (!enabled) return;
  DenseIndex& index = impl.index;
  const DenseGraph* graph = index.*Get(DenseGraphTag{});
  if (graph == nullptr) return;
  auto& vector_tape = index.*Get(VectorTapeTag{});
  const NodeTape& node_tape = graph->tape_allocator();
  const Byte* vector_arena = vector_tape.*Get(VectorArenaTag{});
  const Byte* node_arena = node_tape.*Get(NodeArenaTag{});
  const auto& nodes = graph->*Get(NodesTag{});
  const auto& lookup = index.*Get(VectorLookupTag{});
  HugePlacement& placed = impl.huge;
  // The common case while loading: nothing new since the last call.
  if (!collapse && vector_arena == placed.vector_arena && node_arena == placed.node_arena &&
      nodes.data() == placed.nodes && lookup.data() == placed.lookup) {
    return;
  }
  AdviseArenas(vector_arena, vector_tape.*Get(VectorUsageTag{}), collapse, &placed.arenas);
  AdviseArenas(node_arena, node_tape.*Get(NodeUsageTag{}), collapse, &placed.arenas);
  placed.vector_arena = vector_arena;
  placed.node_arena = node_arena;
  // The slot arrays (a new pair at every reserve): collapsed up to the slots
  // in use, since only those were written before the advice.
  const std::size_t slots = graph->size();
  auto array = [&](const void* data, std::size_t bytes, std::size_t used, const void** last,
                   HugeRange* range) {
    if (data == nullptr) return;
    if (data != *last) *range = HugeRange{};
    *last = data;
    AdviseHuge(data, bytes, std::min(bytes, used), collapse, range);
  };
  array(nodes.data(), nodes.size() * sizeof(*nodes.data()), slots * sizeof(*nodes.data()),
        &placed.nodes, &placed.nodes_range);
  array(lookup.data(), lookup.size() * sizeof(*lookup.data()), slots * sizeof(*lookup.data()),
        &placed.lookup, &placed.lookup_range);
}

}  // namespace

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::~HnswIndex() = default;

namespace {

Result<std::unique_ptr<HnswIndex::Impl>> MakeImpl(const CollectionConfig& config,
                                                  std::size_t search_threads,
                                                  std::size_t add_threads) {
  auto impl = std::make_unique<HnswIndex::Impl>();
  impl->config = config;
  impl->search_threads = std::max<std::size_t>(1, search_threads);
  impl->add_threads = std::max<std::size_t>(1, add_threads);
  us::metric_punned_t metric = MakeMetric(config);
  if (metric.missing()) return Status::Internal("USearch has no metric for " + config.ToString());
  us::index_dense_config_t dense_config(config.connectivity, config.expansion_add,
                                        config.expansion_search);
  try {
    auto state = DenseIndex::make(metric, dense_config);
    if (!state) return Consume(state, "create HNSW index");
    impl->index = std::move(state.index);
    if (!impl->index.try_reserve(us::index_limits_t(0, impl->ThreadContexts()))) {
      return Status::IOError("out of memory creating an HNSW index");
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("create HNSW index: ") + e.what());
  }
  impl->search_slots.release(static_cast<std::ptrdiff_t>(impl->search_threads));
  return impl;
}

}  // namespace

Result<std::unique_ptr<HnswIndex>> HnswIndex::Create(const CollectionConfig& config,
                                                     std::size_t search_threads,
                                                     std::size_t add_threads) {
  QUIVER_ASSIGN_OR_RETURN(auto impl, MakeImpl(config, search_threads, add_threads));
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

Status HnswIndex::VerifyCheckpointFile(Env* env, const std::string& path,
                                       const CheckpointIdentity& identity,
                                       std::uint64_t expected_checksum) {
  return index::VerifyCheckpointFile(env, path, identity, expected_checksum).status();
}

namespace {

template <typename T>
T Unaligned(const unsigned char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

/// Checks that a checkpoint's payload is the serialized index_dense_t of
/// `config` (USearch 2.26's layout: the vectors' matrix, its 64-byte head,
/// then index_gt's header, every node's level and the nodes) before USearch
/// parses a byte of it, and returns the matrix's row count (tombstones
/// included) in `rows`. USearch trusts its input: a payload that passed the
/// checksums but was written by a buggy or forged writer could make it
/// allocate what a count claims, read a bool from an arbitrary byte, accept
/// duplicate keys or follow an edge to a missing node (what the
/// checkpoint_load fuzzer found; docs/durability.md §10). So every count,
/// size, level, key and edge is checked against the others and against the
/// bytes the payload really has. Cost: one pass over the node bytes and a
/// hash set of the keys, during the verification read.
Status CheckUsearchPayload(CheckpointPayloadReader* in, const CollectionConfig& config,
                           std::uint64_t* rows) {
  auto read = [&](void* out, std::size_t n, const char* what) -> Status {
    if (in->Read(out, n)) return Status::Ok();
    return Status::Corruption(std::string("the index payload ends inside its ") + what);
  };
  // 1. The matrix of vectors: rows x cols bytes.
  std::uint32_t matrix[2] = {0, 0};
  QUIVER_RETURN_IF_ERROR(read(matrix, sizeof(matrix), "matrix size"));
  *rows = matrix[0];
  const std::uint64_t cols = matrix[1];
  const std::uint64_t vector_bytes = MakeMetric(config).bytes_per_vector();
  if (cols != vector_bytes) {
    return Status::Corruption("the index payload's vectors have " + std::to_string(cols) +
                              " bytes each; the collection's have " + std::to_string(vector_bytes));
  }
  const std::uint64_t graph_header = sizeof(us::index_serialized_header_t);
  if (*rows * cols + sizeof(us::index_dense_head_buffer_t) + graph_header > in->remaining()) {
    return Status::Corruption("the index payload claims " + std::to_string(*rows) +
                              " vectors, more than its bytes hold");
  }
  if (!in->Skip(*rows * cols)) return Status::Corruption("the index payload ends in its vectors");

  // 2. index_dense_t's head.
  us::index_dense_head_buffer_t head_bytes;
  QUIVER_RETURN_IF_ERROR(read(head_bytes, sizeof(head_bytes), "head"));
  us::index_dense_head_t head{head_bytes};
  if (std::memcmp(head_bytes, us::default_magic(), std::strlen(us::default_magic())) != 0) {
    return Status::Corruption("the index payload has no USearch head");
  }
  // multi is a bool in USearch's struct: read its byte, never the bool. It
  // follows the magic, three u16 versions, four kinds and three u64 counts.
  constexpr std::size_t kMultiOffset = 7 + 3 * sizeof(std::uint16_t) + sizeof(us::metric_kind_t) +
                                       3 * sizeof(us::scalar_kind_t) + 3 * sizeof(std::uint64_t);
  const unsigned char multi_byte = head_bytes[kMultiOffset];
  if (static_cast<std::uint16_t>(head.version_major) != USEARCH_VERSION_MAJOR ||
      static_cast<us::metric_kind_t>(head.kind_metric) != ToUsearch(config.metric) ||
      static_cast<us::scalar_kind_t>(head.kind_scalar) != ToUsearch(config.scalar) ||
      static_cast<us::scalar_kind_t>(head.kind_key) != us::scalar_kind<Key>() ||
      static_cast<us::scalar_kind_t>(head.kind_compressed_slot) !=
          us::scalar_kind<DenseIndex::compressed_slot_t>() ||
      static_cast<std::uint64_t>(head.dimensions) != config.dimensions || multi_byte != 0) {
    return Status::Corruption(
        "the index payload's head (USearch version, metric, scalar, key or slot kind, "
        "dimensions or multi flag) does not match the collection (" +
        config.ToString() + ")");
  }

  // 3. index_gt's header and the level of every node.
  us::index_serialized_header_t header;
  QUIVER_RETURN_IF_ERROR(read(&header, sizeof(header), "graph header"));
  if (header.size != *rows) {
    return Status::Corruption("the index payload has " + std::to_string(*rows) + " vectors and " +
                              std::to_string(header.size) + " graph nodes");
  }
  if (header.connectivity != config.connectivity ||
      header.connectivity_base != 2 * std::uint64_t{config.connectivity}) {
    return Status::Corruption("the index payload's graph has connectivity " +
                              std::to_string(header.connectivity) + "/" +
                              std::to_string(header.connectivity_base) +
                              "; the collection's M is " + std::to_string(config.connectivity));
  }
  if (header.size == 0) return Status::Ok();
  constexpr std::uint64_t kMaxLevel = 64;
  if (header.max_level >= kMaxLevel || header.entry_slot >= header.size) {
    return Status::Corruption("the index payload's graph has max level " +
                              std::to_string(header.max_level) + " and entry slot " +
                              std::to_string(header.entry_slot));
  }
  using Level = std::int16_t;
  using Count = std::uint32_t;
  using Slot = DenseIndex::compressed_slot_t;
  const std::uint64_t level_bytes = header.size * sizeof(Level);
  if (level_bytes > in->remaining())
    return Status::Corruption("the index payload ends in its levels");
  std::vector<Level> levels(header.size);
  QUIVER_RETURN_IF_ERROR(read(levels.data(), level_bytes, "levels"));
  const std::uint64_t head_bytes_per_node = sizeof(Key) + sizeof(Level);
  const std::uint64_t base_bytes = sizeof(Count) + header.connectivity_base * sizeof(Slot);
  const std::uint64_t upper_bytes = sizeof(Count) + header.connectivity * sizeof(Slot);
  std::uint64_t node_bytes = 0;
  for (Level level : levels) {
    if (level < 0 || static_cast<std::uint64_t>(level) > header.max_level) {
      return Status::Corruption("the index payload has a node of level " + std::to_string(level) +
                                " above the graph's max level " + std::to_string(header.max_level));
    }
    node_bytes +=
        head_bytes_per_node + base_bytes + upper_bytes * static_cast<std::uint64_t>(level);
  }
  if (node_bytes != in->remaining()) {
    return Status::Corruption("the index payload's nodes take " + std::to_string(node_bytes) +
                              " bytes; it has " + std::to_string(in->remaining()) + " left");
  }

  // 4. Every node: its level as announced, one key per live node, every edge
  // within its list's capacity and to a node that exists.
  const Key free_key = us::default_free_value<Key>();
  std::unordered_set<Key> keys;
  keys.reserve(static_cast<std::size_t>(header.size));
  std::vector<unsigned char> node;
  for (std::uint64_t slot = 0; slot < header.size; ++slot) {
    const std::uint64_t bytes =
        head_bytes_per_node + base_bytes + upper_bytes * static_cast<std::uint64_t>(levels[slot]);
    node.resize(static_cast<std::size_t>(bytes));
    QUIVER_RETURN_IF_ERROR(read(node.data(), node.size(), "nodes"));
    const Key key = Unaligned<Key>(node.data());
    if (Unaligned<Level>(node.data() + sizeof(Key)) != levels[slot]) {
      return Status::Corruption("the index payload's node " + std::to_string(slot) +
                                " has another level than its header says");
    }
    if (key != free_key && !keys.insert(key).second) {
      return Status::Corruption("the index payload holds key " + std::to_string(key) + " twice");
    }
    const unsigned char* list = node.data() + head_bytes_per_node;
    for (Level level = 0; level <= levels[slot]; ++level) {
      const std::uint64_t capacity = level == 0 ? header.connectivity_base : header.connectivity;
      const Count count = Unaligned<Count>(list);
      if (count > capacity) {
        return Status::Corruption("the index payload's node " + std::to_string(slot) + " has " +
                                  std::to_string(count) + " neighbours on level " +
                                  std::to_string(level) + ", more than " +
                                  std::to_string(capacity));
      }
      for (Count e = 0; e < count; ++e) {
        const Slot to = Unaligned<Slot>(list + sizeof(Count) + e * sizeof(Slot));
        if (to >= header.size) {
          return Status::Corruption("the index payload's node " + std::to_string(slot) +
                                    " links to node " + std::to_string(to) + " of " +
                                    std::to_string(header.size));
        }
      }
      list += sizeof(Count) + capacity * sizeof(Slot);
    }
  }
  return Status::Ok();
}

/// Memory-maps the checkpoint at `path`, which VerifyCheckpointFile accepted
/// with `footer`, into impl->index (USearch's view(): nothing is copied; the
/// index is immutable).
Status MapVerifiedCheckpoint(const std::string& path, const CheckpointFooter& footer,
                             HnswIndex::Impl* impl) {
  try {
    auto viewed = impl->index.view(us::memory_mapped_file_t(path.c_str()), 0);
    if (!viewed) return Status::Corruption(Consume(viewed, "view " + path).message());
  } catch (const std::exception& e) {
    return Status::Corruption("view " + path + ": " + e.what());
  }
  // The payload must end where the footer begins: anything else means the
  // file is not the one the footer describes.
  if (impl->index.serialized_length() != footer.payload_bytes) {
    return Status::Corruption(path + ": USearch's view spans " +
                              std::to_string(impl->index.serialized_length()) +
                              " bytes, the footer says " + std::to_string(footer.payload_bytes));
  }
  impl->viewed = true;
  return Status::Ok();
}

/// Reads the payload of the checkpoint at `path`, which VerifyCheckpointFile
/// accepted with `footer`, into impl->index's own memory (a second
/// sequential read of the file; the index can then be modified).
Status CopyVerifiedCheckpoint(Env* env, const std::string& path, const CheckpointFooter& footer,
                              HnswIndex::Impl* impl) {
  QUIVER_ASSIGN_OR_RETURN(auto reader,
                          CheckpointPayloadReader::Open(env, path, footer.payload_bytes));
  // Arenas USearch creates while loading get huge pages before they are
  // written (PlaceInHugePages: nothing to copy later); this costs two
  // pointer compares per call when no arena is new.
  auto input = [&](void* buffer, std::size_t length) {
    PlaceInHugePages(*impl, /*collapse=*/false);
    return reader->Read(buffer, length);
  };
  try {
    auto loaded = impl->index.load_from_stream(input);
    if (!loaded) {
      Status s = Consume(loaded, "load " + path);
      if (!reader->error().ok()) return reader->error();
      return Status::Corruption(s.message());
    }
  } catch (const std::exception& e) {
    return Status::Corruption("load " + path + ": " + e.what());
  }
  if (reader->remaining() != 0) {
    return Status::Corruption(path + ": USearch left " + std::to_string(reader->remaining()) +
                              " payload bytes unread");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<HnswIndex>> HnswIndex::LoadCheckpoint(
    Env* env, const std::string& path, const CollectionConfig& config,
    const CheckpointIdentity& identity, std::uint64_t expected_checksum, std::size_t search_threads,
    std::size_t add_threads, LoadMode mode) {
  // Verify every byte before USearch parses any: a corrupt header must never
  // reach its loader (invariant I4).
  // and USearch's own structure is checked on the same read.
  std::uint64_t rows_in_file = 0;
  QUIVER_ASSIGN_OR_RETURN(CheckpointFooter footer,
                          index::VerifyCheckpointFile(env, path, identity, expected_checksum,
                                                      [&](CheckpointPayloadReader* payload) {
                                                        return CheckUsearchPayload(payload, config,
                                                                                   &rows_in_file);
                                                      }));
  QUIVER_ASSIGN_OR_RETURN(auto impl, MakeImpl(config, search_threads, add_threads));
  if (mode == LoadMode::kView) {
    QUIVER_RETURN_IF_ERROR(MapVerifiedCheckpoint(path, footer, impl.get()));
  } else {
    QUIVER_RETURN_IF_ERROR(CopyVerifiedCheckpoint(env, path, footer, impl.get()));
  }
  const DenseIndex& index = impl->index;
  if (index.dimensions() != config.dimensions ||
      index.metric().metric_kind() != ToUsearch(config.metric) ||
      index.metric().scalar_kind() != ToUsearch(config.scalar)) {
    return Status::Corruption(
        path + ": index header has dims=" + std::to_string(index.dimensions()) +
        " and another metric or scalar kind than the collection (" + config.ToString() + ")");
  }
  // Loading put USearch's own kernel for the header's metric in place.
  if (!impl->index.try_change_metric(MakeMetric(config))) {
    return Status::IOError("out of memory switching the distance kernel");
  }
  impl->index.change_expansion_search(config.expansion_search);
  impl->index.change_expansion_add(config.expansion_add);
  impl->tombstones = rows_in_file >= index.size() ? rows_in_file - index.size() : 0;
  // The checkpoint's graph was checked before it was saved: its in-degrees
  // are the baseline (taken before the first change; a view never changes).
  impl->baseline_pending = mode == LoadMode::kCopy;
  // A view keeps the thread contexts MakeImpl reserved, and cannot grow.
  if (mode == LoadMode::kCopy && !impl->index.try_reserve(us::index_limits_t(
                                     impl->index.capacity(), impl->ThreadContexts()))) {
    return Status::IOError("out of memory reserving thread contexts");
  }
  if (mode == LoadMode::kCopy) PlaceInHugePages(*impl, /*collapse=*/true);
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

Status HnswIndex::AddBatch(const Key* keys, const float* vectors, std::size_t n) {
  if (n == 0) return Status::Ok();
  Impl& impl = *impl_;
  if (impl.viewed) return Status::NotSupported("the index is a read-only view of a checkpoint");
  QUIVER_RETURN_IF_ERROR(Remove(keys, n));  // upsert = remove + add
  QUIVER_RETURN_IF_ERROR(impl.EnsureCapacity(n));
  const std::size_t dims = impl.config.dimensions;
  std::shared_lock<std::shared_mutex> lock(impl.mu);

  std::atomic<std::size_t> next{0};
  std::mutex error_mu;
  Status first_error;
  std::vector<graph::Slot> slots(n, kNoSlot);
  auto worker = [&] {
    while (true) {
      std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      try {
        auto added = impl.index.add(keys[i], vectors + i * dims);
        slots[i] = static_cast<graph::Slot>(added.slot);
        if (!added) {
          Status s = Consume(added, "add key " + std::to_string(keys[i]));
          std::lock_guard<std::mutex> guard(error_mu);
          if (first_error.ok()) first_error = s;
          return;
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(error_mu);
        if (first_error.ok()) first_error = Status::Internal(std::string("add: ") + e.what());
        return;
      }
    }
  };
  // Small batches are not worth a thread; large ones use every add context.
  const std::size_t threads = std::min(impl.add_threads, std::max<std::size_t>(1, n / 64));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& thread : pool) thread.join();
  PlaceInHugePages(impl, /*collapse=*/true);
  std::lock_guard<std::mutex> guard(impl.unchecked_mu);
  for (graph::Slot slot : slots) {
    if (slot == kNoSlot) continue;
    impl.unchecked_slots.push_back(slot);
    ++impl.added_since_walk;
  }
  return first_error;
}

Status HnswIndex::Remove(const Key* keys, std::size_t n) {
  Impl& impl = *impl_;
  if (impl.viewed && n > 0) {
    return Status::NotSupported("the index is a read-only view of a checkpoint");
  }
  std::shared_lock<std::shared_mutex> lock(impl.mu);
  if (n > 0) impl.TakePendingBaseline();
  for (std::size_t i = 0; i < n; ++i) {
    if (!impl.index.contains(keys[i])) continue;
    auto removed = impl.index.remove(keys[i]);
    if (!removed) return Consume(removed, "remove key " + std::to_string(keys[i]));
    impl.tombstones += removed.completed;
  }
  return Status::Ok();
}

namespace {

/// Copies the first min(k, found) matches of a USearch search result into `out`.
template <typename SearchResult>
void DumpMatches(SearchResult& result, std::size_t k, std::vector<Match>* out) {
  std::vector<Key> keys(result.size());
  std::vector<float> distances(result.size());
  result.dump_to(keys.data(), distances.data());
  const std::size_t found = std::min(result.size(), k);
  out->resize(found);
  for (std::size_t i = 0; i < found; ++i) {
    (*out)[i].key = keys[i];
    (*out)[i].distance = distances[i];
  }
}

/// Runs one USearch search and converts its result. Caller holds `mu`.
Status RunSearch(const HnswIndex::Impl& impl, const float* query, std::size_t k, bool exact,
                 std::vector<Match>* out) {
  impl.search_slots.acquire();
  struct Release {
    const HnswIndex::Impl& impl;
    ~Release() { impl.search_slots.release(); }
  } release{impl};
  out->clear();
  try {
    auto result = impl.index.search(query, k, DenseIndex::any_thread(), exact);
    if (!result) return Consume(result, "search");
    DumpMatches(result, k, out);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("search: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace

Status HnswIndex::Search(const float* query, std::size_t k, std::size_t expansion_search,
                         std::vector<Match>* out) const {
  Impl& impl = *impl_;
  const std::size_t ef = expansion_search == 0 ? 0 : std::max(expansion_search, k);
  {
    std::shared_lock<std::shared_mutex> lock(impl.mu);
    if (ef == 0 || ef == impl.index.expansion_search()) {
      QUIVER_RETURN_IF_ERROR(RunSearch(impl, query, k, /*exact=*/false, out));
      // Fewer than k matches: the collection holds fewer than k vectors, or
      // the walk dead-ended on a node a concurrent AddBatch has linked on its
      // upper levels but not yet on level 0 (USearch issue #735, fix proposed
      // in PR #772). Search again below, where no add can run. (Not
      // index.size(): under the shared lock it races with Remove.)
      if (out->size() >= k) return Status::Ok();
    }
  }
  // The exclusive lock waits for a running AddBatch to finish. USearch also
  // reads ef from the index's config: switch it here; searches that keep
  // using this ef then run shared again.
  std::unique_lock<std::shared_mutex> lock(impl.mu);
  if (ef != 0 && ef != impl.index.expansion_search()) impl.index.change_expansion_search(ef);
  return RunSearch(impl, query, k, /*exact=*/false, out);
}

Status HnswIndex::SearchExact(const float* query, std::size_t k, std::vector<Match>* out) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return RunSearch(*impl_, query, k, /*exact=*/true, out);
}

Result<CheckpointInfo> HnswIndex::SaveCheckpoint(WritableFile* file,
                                                 const CheckpointIdentity& identity) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  CheckpointWriter writer(file);
  auto output = [&](const void* data, std::size_t length) { return writer.Append(data, length); };
  try {
    auto saved = impl_->index.save_to_stream(output);
    if (!saved) {
      Status s = Consume(saved, "serialize index");
      return writer.error().ok() ? s : writer.error();
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("serialize index: ") + e.what());
  }
  QUIVER_ASSIGN_OR_RETURN(CheckpointInfo info, writer.Finish(identity));
  info.vector_count = impl_->index.size();
  return info;
}

// --- Reachability (hnsw_graph.h) ---------------------------------------------------

namespace {

/// Walks bounded by RepairReachability: the first, and up to three after a
/// pass of relinking (the second pass asks for more candidates).
constexpr std::uint32_t kMaxRepairWalks = 4;
/// In-edges a stranded or missed vector is given, from its nearest vectors.
constexpr std::size_t kRepairLinks = 2;
/// Nearest vectors asked for per stranded vector, in the first pass.
constexpr std::size_t kRepairCandidates = 8;
/// A self-query counts a vector found when it is among this many results.
constexpr std::size_t kSelfQueryK = 8;
/// Rounds of a self-query check at most. The first searches the chosen
/// vectors; each later one searches again exactly the vectors whose last
/// search read a level-0 list that the round before edited: a search reads
/// no other list on level 0, and the repair edits no other level, so the
/// other searches cannot have changed. On Fashion-MNIST the second round
/// searches about 5% as many vectors as the first and the third almost none.
constexpr int kSelfQueryRounds = 8;
/// SelfQueries::kAdded with a walk also searches the vectors whose level-0
/// in-degree fell since the last walk, if it is now among the lowest
/// 1/kAtRiskQuantile of the graph's in-degrees. Few in-edges make a vector
/// hard to find: on Fashion-MNIST (M=16) the vectors with in-degree at most 5
/// are 17% of the graph and hold 98% of the self-query misses; on tight
/// clusters with M=4 the misses spread up to in-degree 4, the lowest 25%
/// there (docs/reachability.md).
constexpr std::size_t kAtRiskQuantile = 4;
/// ... and, round robin over all slots, this many vectors per vector added
/// since the last walk (a scrub: under steady writes every vector is searched
/// again once per 1/kScrubPerAdded of the collection written). It catches
/// what the in-degree misses: a vector can become unfindable when an edit
/// two hops away diverts the searches that led to it.
constexpr std::size_t kScrubPerAdded = 2;

}  // namespace

Result<ReachabilityReport> HnswIndex::CheckReachability() const {
  const auto start = std::chrono::steady_clock::now();
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  const DenseIndex& index = impl_->index;
  ReachabilityReport report;
  try {
    const graph::Walk walk = graph::WalkFromEntry(index);
    report.live_vectors = walk.live;
    report.unreachable.reserve(walk.unreachable.size());
    for (graph::Slot slot : walk.unreachable) {
      report.unreachable.push_back(graph::KeyAt(index, slot));
    }
  } catch (const std::exception& e) {
    return Status::IOError(std::string("out of memory walking the HNSW graph: ") + e.what());
  }
  std::sort(report.unreachable.begin(), report.unreachable.end());
  impl_->last_unreachable = report.unreachable.size();
  report.walk_ms = MillisSince(start);
  return report;
}

namespace {

/// Gives `slot` up to kRepairLinks level-0 in-edges from `nearest` (slots,
/// closest first): into lists with room first; only if none has room and
/// `may_replace` (`walk` holds a walk's in-degrees), in place of a redundant
/// edge. Appends the slots whose lists it edited to `edited`; returns the
/// edges added; counts replacements.
std::size_t LinkFromNearest(DenseIndex& index, graph::Slot slot,
                            const std::vector<graph::Slot>& nearest, bool may_replace,
                            graph::Walk* walk, ReachabilityRepair* repair,
                            std::vector<graph::Slot>* edited) {
  std::size_t links = 0;
  for (bool replace : {false, true}) {
    if (replace && !may_replace) break;
    for (std::size_t i = 0; i < nearest.size() && links < kRepairLinks; ++i) {
      if (nearest[i] == slot) continue;
      switch (graph::LinkOnBase(index, nearest[i], slot, replace, walk)) {
        case graph::LinkOutcome::kReplaced:
          ++repair->edges_replaced;
          [[fallthrough]];
        case graph::LinkOutcome::kAppended:
          ++links;
          edited->push_back(nearest[i]);
          break;
        case graph::LinkOutcome::kAlreadyLinked:
        case graph::LinkOutcome::kNoRoom:
          break;
      }
    }
    if (links > 0) break;
  }
  return links;
}

/// Slots of the matches of a USearch search result, closest first.
template <typename SearchResult>
std::vector<graph::Slot> ResultSlots(const SearchResult& found) {
  std::vector<graph::Slot> slots(found.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    slots[i] = static_cast<graph::Slot>(found[i].member.slot);
  }
  return slots;
}

/// The level-0 lists some self-query searches read (graph::SelfSearch's
/// `expanded`), flat: search j, for slots[owner[j]], read nodes[end[j-1] ..
/// end[j]) (from 0 for j = 0).
struct SearchPaths {
  std::vector<std::uint32_t> owner;
  std::vector<std::size_t> end;
  std::vector<graph::Slot> nodes;
};

/// A live vector whose self-query missed it.
struct SelfQueryMiss {
  graph::Slot slot;
  /// The slots that search ended at (its results), closest first.
  std::vector<graph::Slot> nearest;
};

/// One round of self-query searches over `slots` (SearchSelves).
struct SelfQueryRound {
  std::vector<graph::Slot> slots;
  /// The live ones missed, in the order of `slots`.
  std::vector<SelfQueryMiss> misses;
  /// The lists the searches read, one SearchPaths per thread (if asked).
  std::vector<SearchPaths> paths;
};

/// Searches every live vector of `slots` for itself (k results,
/// `expansion`), replaying USearch's search (graph::SelfSearch: it stops as
/// soon as it reaches the vector), on `threads` threads; with `keep_paths`,
/// records the lists each search read. Caller holds the index lock (shared is
/// enough: it only reads) and excludes writers. Throws std::bad_alloc.
SelfQueryRound SearchSelves(const DenseIndex& index, std::vector<graph::Slot> slots, std::size_t k,
                            std::size_t expansion, std::size_t threads, bool keep_paths,
                            std::uint64_t* distances) {
  SelfQueryRound round;
  round.slots = std::move(slots);
  const std::vector<graph::Slot>& todo = round.slots;
  threads = std::max<std::size_t>(1, std::min(threads, todo.size() / 64 + 1));
  if (keep_paths) round.paths.resize(threads);
  // Per thread, the misses with their index in `todo`.
  std::vector<std::vector<std::pair<std::size_t, SelfQueryMiss>>> misses(threads);
  const std::size_t count = graph::Slots(index);
  const auto free_key = index.free_key();
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> computed{0};
  std::mutex error_mu;
  std::exception_ptr error;
  auto worker = [&](std::size_t t) {
    try {
      graph::SelfSearch search(index);
      SearchPaths* paths = keep_paths ? &round.paths[t] : nullptr;
      std::vector<graph::Slot> nearest;
      for (std::size_t i; (i = next.fetch_add(1)) < todo.size();) {
        const graph::Slot slot = todo[i];
        if (slot >= count || graph::KeyAt(index, slot) == free_key) continue;
        if (!search.FindsItself(slot, k, expansion, &nearest, paths ? &paths->nodes : nullptr)) {
          misses[t].push_back({i, SelfQueryMiss{slot, std::move(nearest)}});
          nearest.clear();
        }
        if (paths) {
          paths->owner.push_back(static_cast<std::uint32_t>(i));
          paths->end.push_back(paths->nodes.size());
        }
      }
      computed += search.distances();
    } catch (...) {  // out of memory
      std::lock_guard<std::mutex> guard(error_mu);
      error = std::current_exception();
      next = todo.size();
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& thread : pool) thread.join();
  if (error) std::rethrow_exception(error);
  *distances += computed;
  std::vector<std::pair<std::size_t, SelfQueryMiss>> all;
  for (auto& thread_misses : misses) {
    for (auto& miss : thread_misses) all.push_back(std::move(miss));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& miss : all) round.misses.push_back(std::move(miss.second));
  return round;
}

}  // namespace

Result<ReachabilityRepair> HnswIndex::RepairReachability(SelfQueries self_queries,
                                                         bool walk_first) {
  Impl& impl = *impl_;
  if (impl.viewed) return Status::NotSupported("the index is a read-only view of a checkpoint");
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::shared_mutex> lock(impl.mu);
  DenseIndex& index = impl.index;
  ReachabilityRepair repair;
  // The walk's repair searches at insertion quality (through USearch, which
  // reads the expansion from the index: it is put back at the end); the
  // self-query check at the collection's default expansion.
  const std::size_t search_ef = impl.config.expansion_search;
  struct RestoreEf {
    const std::unique_lock<std::shared_mutex>& lock;
    DenseIndex& index;
    std::size_t ef;
    ~RestoreEf() {
      if (lock.owns_lock()) index.change_expansion_search(ef);
    }
  } restore{lock, index, index.expansion_search()};
  // The check replays searches itself (no USearch thread context): as many
  // threads as a batch insert may use.
  const std::size_t check_threads = impl.add_threads;

  std::vector<float> vector(impl.config.dimensions);
  graph::Walk walk;
  // Walks and relinks until nothing is unreachable (at most kMaxRepairWalks
  // walks); appends the slots whose lists it edited to `edited`.
  auto relink_unreachable = [&](std::vector<graph::Slot>* edited) -> Status {
    index.change_expansion_search(std::max(search_ef, index.expansion_add()));
    for (std::uint32_t pass = 1;; ++pass) {
      walk = graph::WalkFromEntry(index);
      ++repair.walks;
      if (repair.walks == 1) repair.found = walk.unreachable.size();
      repair.remaining = walk.unreachable.size();
      impl.last_unreachable = repair.remaining;
      if (walk.unreachable.empty() || pass == kMaxRepairWalks) return Status::Ok();
      // Later passes look further: the nearest candidates had no room.
      const std::size_t candidates = kRepairCandidates << (pass - 1);
      for (graph::Slot slot : walk.unreachable) {
        if (walk.reached[slot]) continue;  // reached through one relinked before
        const Key key = graph::KeyAt(index, slot);
        if (index.get(key, vector.data()) != 1) continue;
        auto found = index.search(vector.data(), candidates, DenseIndex::any_thread());
        if (!found)
          return Consume(found, "search for the neighbours of key " + std::to_string(key));
        if (LinkFromNearest(index, slot, ResultSlots(found), true, &walk, &repair, edited) == 0) {
          continue;
        }
        ++repair.relinked;
        graph::MarkReachableFrom(index, slot, &walk);
        QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("reachability.mid_repair"));
      }
    }
  };

  // The self-query check's rounds, and for each slot searched, the round of
  // its latest search.
  std::vector<SelfQueryRound> rounds;
  constexpr std::uint32_t kNotSearched = ~std::uint32_t{0};
  std::vector<std::uint32_t> latest_round;
  // Slots a self-query missed (whatever came of linking them): their
  // baseline stays kBaselineNew, so that the next walk checks them again.
  std::vector<graph::Slot> missed_slots;
  // The slots whose latest search read a list in `edited`.
  auto searches_through = [&](const std::vector<graph::Slot>& edited) {
    std::vector<std::uint8_t> mark(graph::Slots(index), 0);
    for (graph::Slot slot : edited) mark[slot] = 1;
    std::vector<graph::Slot> affected;
    for (std::uint32_t r = 0; r < rounds.size(); ++r) {
      for (const SearchPaths& paths : rounds[r].paths) {
        for (std::size_t j = 0, begin = 0; j < paths.owner.size(); begin = paths.end[j++]) {
          const graph::Slot slot = rounds[r].slots[paths.owner[j]];
          if (latest_round[slot] != r) continue;
          for (std::size_t p = begin; p < paths.end[j]; ++p) {
            if (mark[paths.nodes[p]]) {
              affected.push_back(slot);
              break;
            }
          }
        }
      }
    }
    return affected;
  };
  // Rounds of the check, from `slots`: searches them under the shared lock
  // (searches run meanwhile; the caller excludes writers), then, back under
  // the exclusive lock, links each one missed from the nearest vectors its
  // search ended at, so that the next search for it follows the same path and
  // then the new edge; then searches again those whose searches the edits may
  // have changed. Edges are replaced only with `may_replace`.
  auto check = [&](std::vector<graph::Slot> slots, bool may_replace) -> Status {
    latest_round.resize(graph::Slots(index), kNotSearched);
    for (int round = 0; round < kSelfQueryRounds && !slots.empty(); ++round) {
      std::sort(slots.begin(), slots.end());
      slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
      lock.unlock();
      {
        std::shared_lock<std::shared_mutex> shared(impl.mu);
        rounds.push_back(SearchSelves(index, std::move(slots), kSelfQueryK, search_ef,
                                      check_threads, /*keep_paths=*/true,
                                      &repair.self_query_distances));
      }
      lock.lock();
      const SelfQueryRound& searched = rounds.back();
      const auto r = static_cast<std::uint32_t>(rounds.size() - 1);
      for (graph::Slot slot : searched.slots) latest_round[slot] = r;
      repair.self_queried += searched.slots.size();
      std::vector<graph::Slot> edited;
      for (const SelfQueryMiss& miss : searched.misses) {
        const graph::Slot slot = miss.slot;
        ++repair.self_query_missed;
        missed_slots.push_back(slot);
        std::size_t links =
            LinkFromNearest(index, slot, miss.nearest, may_replace, &walk, &repair, &edited);
        if (links == 0) {
          // Every list it ended at is full of edges that cannot go: look further.
          const Key key = graph::KeyAt(index, slot);
          if (index.get(key, vector.data()) != 1) continue;
          auto wider = index.search(vector.data(), kRepairCandidates * 4, DenseIndex::any_thread());
          if (!wider)
            return Consume(wider, "search for the neighbours of key " + std::to_string(key));
          links = LinkFromNearest(index, slot, ResultSlots(wider), may_replace, &walk, &repair,
                                  &edited);
        }
        if (links > 0) {
          ++repair.relinked;
          QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("reachability.mid_repair"));
        }
      }
      if (edited.empty()) break;
      slots = searches_through(edited);
    }
    return Status::Ok();
  };

  try {
    std::vector<graph::Slot> edited;
    if (walk_first) QUIVER_RETURN_IF_ERROR(relink_unreachable(&edited));
    const std::size_t slots = graph::Slots(index);
    std::vector<graph::Slot> added;
    std::size_t added_since_walk = 0;
    if (self_queries != SelfQueries::kNone) {
      std::lock_guard<std::mutex> guard(impl.unchecked_mu);
      added.swap(impl.unchecked_slots);
      if (walk_first) std::swap(added_since_walk, impl.added_since_walk);
    }
    // A loaded graph that nothing changed yet is its own baseline; slots
    // filled since the baseline was taken are new, and so are reused ones.
    std::vector<std::uint32_t>& baseline = impl.baseline_in_degree;
    if (impl.baseline_pending && walk_first) {
      baseline = walk.in_degree;
      impl.baseline_pending = false;
    }
    if (!impl.baseline_pending) {
      baseline.resize(slots, kBaselineNew);
      for (graph::Slot slot : added) {
        if (slot < slots) baseline[slot] = kBaselineNew;
      }
    }
    if (!walk_first) {
      // No walk, so no in-degrees: links are only appended.
      walk.reached.assign(slots, 0);
      walk.in_degree.assign(slots, 0);
    }
    std::vector<graph::Slot> to_check;
    const auto free_key = index.free_key();
    auto live = [&](std::size_t slot) {
      return graph::KeyAt(index, static_cast<graph::Slot>(slot)) != free_key;
    };
    if (self_queries == SelfQueries::kAll) {
      for (std::size_t slot = 0; slot < slots; ++slot) {
        if (live(slot)) to_check.push_back(static_cast<graph::Slot>(slot));
      }
    } else if (self_queries == SelfQueries::kAdded) {
      to_check = added;
      if (walk_first) {
        // The vectors whose in-degree fell since the last walk (an add's
        // reverse links pruned an edge into them, or the slot of a vector
        // linking them was reused) into the lowest quantile...
        std::vector<std::size_t> live_with_in_degree;
        std::size_t live_count = 0;
        for (std::size_t slot = 0; slot < slots; ++slot) {
          if (!live(slot)) continue;
          const std::uint32_t d = walk.in_degree[slot];
          if (d >= live_with_in_degree.size()) live_with_in_degree.resize(d + 1, 0);
          ++live_with_in_degree[d];
          ++live_count;
        }
        std::uint32_t at_risk = 0;
        for (std::size_t below = 0; at_risk < live_with_in_degree.size(); ++at_risk) {
          below += live_with_in_degree[at_risk];
          if (below * kAtRiskQuantile >= live_count) break;
        }
        for (std::size_t slot = 0; slot < slots; ++slot) {
          const std::uint32_t d = walk.in_degree[slot];
          if (d <= at_risk && d < baseline[slot] && live(slot)) {
            to_check.push_back(static_cast<graph::Slot>(slot));
          }
        }
        // ...and the scrub's window.
        const std::size_t window = std::min(slots, kScrubPerAdded * added_since_walk);
        for (std::size_t i = 0; i < window; ++i) {
          const std::size_t slot = (impl.scrub_cursor + i) % slots;
          if (live(slot)) to_check.push_back(static_cast<graph::Slot>(slot));
        }
        if (slots > 0) impl.scrub_cursor = (impl.scrub_cursor + window) % slots;
      }
    }
    const std::uint64_t relinked_before = repair.relinked;
    QUIVER_RETURN_IF_ERROR(check(std::move(to_check), /*may_replace=*/walk_first));
    if (walk_first && repair.relinked > relinked_before) {
      // A replaced edge may have stranded a node: walk (and relink) again,
      // then search again what that relinking may have diverted (appending
      // only: an appended edge strands nothing).
      edited.clear();
      QUIVER_RETURN_IF_ERROR(relink_unreachable(&edited));
      if (!edited.empty() && !rounds.empty()) {
        QUIVER_RETURN_IF_ERROR(check(searches_through(edited), /*may_replace=*/false));
      }
    }
    if (walk_first && self_queries != SelfQueries::kNone) {
      // What the next walk compares with.
      for (std::size_t slot = 0; slot < slots; ++slot) baseline[slot] = walk.in_degree[slot];
      for (graph::Slot slot : missed_slots) baseline[slot] = kBaselineNew;
    }
  } catch (const std::exception& e) {
    return Status::IOError(std::string("out of memory repairing the HNSW graph: ") + e.what());
  }
  repair.ms = MillisSince(start);
  return repair;
}

Result<std::vector<Key>> HnswIndex::FindSelfQueryMisses(std::size_t k, std::size_t expansion,
                                                        std::size_t threads) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  const DenseIndex& index = impl_->index;
  std::vector<Key> missed;
  try {
    std::vector<graph::Slot> slots(graph::Slots(index));
    std::iota(slots.begin(), slots.end(), graph::Slot{0});
    std::uint64_t distances = 0;
    const SelfQueryRound searched =
        SearchSelves(index, std::move(slots), k, expansion, threads, false, &distances);
    for (const SelfQueryMiss& miss : searched.misses) {
      missed.push_back(graph::KeyAt(index, miss.slot));
    }
  } catch (const std::exception& e) {
    return Status::IOError(std::string("out of memory searching the HNSW graph: ") + e.what());
  }
  std::sort(missed.begin(), missed.end());
  return missed;
}

std::uint64_t HnswIndex::last_unreachable() const { return impl_->last_unreachable; }

bool HnswIndex::is_view() const { return impl_->viewed; }

std::size_t HnswIndex::size() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return impl_->index.size();
}

std::size_t HnswIndex::removed_slots() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return impl_->tombstones;
}

std::size_t HnswIndex::memory_bytes() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return impl_->index.memory_usage();
}

std::vector<Key> HnswIndex::Keys() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  std::vector<Key> keys(impl_->index.size());
  impl_->index.export_keys(keys.data(), 0, keys.size());
  std::sort(keys.begin(), keys.end());
  return keys;
}

bool HnswIndex::GetVector(Key key, float* out) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return impl_->index.get(key, out) == 1;
}

std::string HnswIndex::simd_kernel() const {
  if (const F32Kernels* own = OwnKernels(impl_->config)) return own->isa;
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  return impl_->index.metric().isa_name();
}

// --- Filtered search and scoring (the query planner's tools) -------------------

Status HnswIndex::FilteredSearch(const float* query, std::size_t k, std::size_t expansion,
                                 const std::function<bool(Key)>& allow,
                                 std::vector<Match>* out) const {
  const Impl& impl = *impl_;
  std::shared_lock<std::shared_mutex> lock(impl.mu);
  // USearch ranks max(ef, wanted) candidates: asking for `expansion` results
  // and keeping the first k is a search at that ef, without touching the
  // index-wide ef (which would need the exclusive lock).
  const std::size_t wanted =
      std::max({k, expansion == 0 ? impl.index.expansion_search() : expansion, std::size_t{1}});
  impl.search_slots.acquire();
  struct Release {
    const Impl& impl;
    ~Release() { impl.search_slots.release(); }
  } release{impl};
  out->clear();
  try {
    auto predicate = [&allow](Key key) noexcept { return allow(key); };
    auto result = impl.index.filtered_search(query, wanted, predicate);
    if (!result) return Consume(result, "filtered search");
    DumpMatches(result, k, out);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("filtered search: ") + e.what());
  }
  return Status::Ok();
}

Status HnswIndex::ScoreKeys(const float* query, const Key* keys, std::size_t n,
                            std::vector<Match>* out) const {
  const Impl& impl = *impl_;
  std::shared_lock<std::shared_mutex> lock(impl.mu);
  impl.search_slots.acquire();
  struct Release {
    const Impl& impl;
    ~Release() { impl.search_slots.release(); }
  } release{impl};
  try {
    if (impl.config.scalar == ScalarKind::kF32) {
      for (std::size_t i = 0; i < n; ++i) {
        auto distance = impl.index.distance_between(keys[i], query);
        if (distance.count == 0) continue;  // not in the index (deleted meanwhile)
        out->push_back(Match{keys[i], {}, distance.min, {}, {}});
      }
    } else {
      // USearch 2.26's distance_between casts the query with the index's
      // "to" cast (index scalar -> f32), which overruns its buffer for
      // f16/bf16/i8 indexes: decode each stored vector instead and score it
      // in float32 (approximate like the index's own distances).
      std::vector<float> stored(impl.config.dimensions);
      for (std::size_t i = 0; i < n; ++i) {
        if (impl.index.get(keys[i], stored.data()) == 0) continue;
        out->push_back(Match{keys[i],
                             {},
                             F32Distance(impl.config.metric, query, stored.data(), stored.size()),
                             {},
                             {}});
      }
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("score keys: ") + e.what());
  }
  return Status::Ok();
}

float F32Distance(Metric metric, const float* a, const float* b, std::size_t dims) {
  if (const F32Kernels* kernels = PreferredF32Kernels()) {
    const F32DistanceFn fn = metric == Metric::kL2sq ? kernels->l2sq
                             : metric == Metric::kIp ? kernels->ip
                                                     : kernels->cos;
    return fn(reinterpret_cast<std::size_t>(a), reinterpret_cast<std::size_t>(b), dims);
  }
  double dot = 0, aa = 0, bb = 0, l2 = 0;
  for (std::size_t i = 0; i < dims; ++i) {
    const double x = a[i], y = b[i];
    dot += x * y;
    aa += x * x;
    bb += y * y;
    l2 += (x - y) * (x - y);
  }
  switch (metric) {
    case Metric::kL2sq:
      return static_cast<float>(l2);
    case Metric::kIp:
      return static_cast<float>(1 - dot);
    case Metric::kCos:
      if (aa == 0 && bb == 0) return 0;
      if (aa == 0 || bb == 0 || dot == 0) return 1;
      return static_cast<float>(std::max(0.0, 1 - dot / std::sqrt(aa * bb)));
  }
  return 0;
}

std::string SimdCapabilities() {
  char buffer[512];
  us::isa_targets_format(us::nk_cached_capabilities(), buffer, sizeof(buffer));
  return buffer;
}

std::string UsearchVersion() {
  return std::to_string(USEARCH_VERSION_MAJOR) + "." + std::to_string(USEARCH_VERSION_MINOR) + "." +
         std::to_string(USEARCH_VERSION_PATCH);
}

}  // namespace quiver::index
