// Copyright (c) Quiver authors.
//
// Reading and mending the edges of a USearch HNSW graph: the reachability
// walk and the level-0 links that make a stranded node reachable again.
// Internal to src/index/ (it includes USearch); HnswIndex is its only user.
//
// An HNSW search enters at the graph's entry point, descends the upper levels
// and then explores level 0 along out-edges. A node that no chain of edges
// from the entry point leads to can never be returned, whatever the
// expansion: it is "unreachable" (Xiao et al., "Enhancing HNSW index for
// real-time updates", 2024, arXiv 2407.07871). USearch keeps a removed
// vector's node in the graph (its key becomes the free key) and searches walk
// through it, so the walk traverses removed nodes too but counts only live
// ones.
//
// USearch 2.26 offers no public way to read the entry point or to write an
// edge, so this module reads three private members through the explicit
// instantiation rule ([temp.explicit]/12: access is not checked for names in
// an explicit instantiation). That touches no USearch file; a static_assert
// pins the version whose layout was read, so an upgrade fails to compile
// here instead of misbehaving.
//
// Thread safety: Walk and MarkReachable read the graph: no add, update or
// remove may run at the same time. LinkOnBase writes one neighbour list: no
// other operation of any kind (including searches) may run.

#ifndef QUIVER_INDEX_HNSW_GRAPH_H_
#define QUIVER_INDEX_HNSW_GRAPH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <usearch/index_dense.hpp>

namespace quiver::index::graph {

using DenseIndex = unum::usearch::index_dense_t;
/// A node's position in USearch's node array (its "slot"), 0..Slots()-1.
using Slot = unum::usearch::default_slot_t;

/// The state of one reachability walk over a graph.
struct Walk {
  /// reached[s] = 1 when slot s is reachable the way a search moves: from the
  /// entry point along the edges of each upper level down to level 1, then
  /// from every node reached there along level-0 edges.
  std::vector<std::uint8_t> reached;
  /// in_degree[s] = level-0 edges into s from reached slots.
  std::vector<std::uint32_t> in_degree;
  /// Live slots (not removed) that the walk did not reach, ascending.
  std::vector<Slot> unreachable;
  /// Live slots visited, reached or not.
  std::size_t live = 0;
};

/// Number of slots (live and removed nodes).
std::size_t Slots(const DenseIndex& index);
/// The key stored in `slot`; index.free_key() for a removed node.
DenseIndex::vector_key_t KeyAt(const DenseIndex& index, Slot slot);

/// Walks the whole graph breadth-first as searches move through it: level by
/// level from the entry point down to level 1 (a node reached on level L
/// seeds level L-1), then over level-0 edges from every node reached above
/// (a search's level-0 part starts where its descent ended, and follows only
/// level-0 edges). O(slots + edges) time, 6 bytes per slot of memory.
Walk WalkFromEntry(const DenseIndex& index);

/// Marks every slot reachable from `start` along level-0 edges (`start`
/// included) as reached in `walk`, updating in_degree; used after a new edge
/// into `start`.
/// Does not touch walk->unreachable.
void MarkReachableFrom(const DenseIndex& index, Slot start, Walk* walk);

/// Replays USearch 2.26's HNSW search (index_gt::search, as index_dense_t
/// runs it: removed nodes are walked through but never returned) for the
/// vector stored at a slot, to tell whether that search returns it. One per
/// thread; it reads the graph, so no add, update or remove may run meanwhile.
///
/// Same traversal: a greedy descent from the entry point over the upper
/// levels (search_for_one_), then a best-first search of level 0 from where
/// it ended, keeping the `expansion` closest live nodes
/// (search_to_find_in_base_), with USearch's own heap and sorted buffer, so
/// that ties break alike. For l2sq and cos it stops as soon as the search
/// reaches the vector itself: nothing is closer than its own distance 0, so
/// the search would return it (unless more than k other vectors lie at
/// distance 0: exact duplicates). A search that finds its vector, the usual
/// case, stops early and costs a fraction of a full one. For ip (where
/// another vector can be closer than the vector itself) it runs to the end.
class SelfSearch {
 public:
  explicit SelfSearch(const DenseIndex& index);
  ~SelfSearch();
  SelfSearch(const SelfSearch&) = delete;
  SelfSearch& operator=(const SelfSearch&) = delete;

  /// Whether a search (k results, `expansion` candidates) for the vector at
  /// live slot `slot` returns it. When it does not, `nearest` receives the
  /// search's results (at most k slots, closest first), where it ended.
  /// Appends to `expanded` (if not null) the slots whose level-0 lists the
  /// search read, in order: the search reads no other list there (and only
  /// upper-level lists above), so it runs the same until one of those lists
  /// (or an upper-level list) changes.
  bool FindsItself(Slot slot, std::size_t k, std::size_t expansion, std::vector<Slot>* nearest,
                   std::vector<Slot>* expanded = nullptr);

  /// Distances computed so far.
  std::uint64_t distances() const { return distances_; }

 private:
  struct State;
  const DenseIndex& index_;
  std::unique_ptr<State> state_;
  std::uint64_t distances_ = 0;
};

/// What LinkOnBase did.
enum class LinkOutcome {
  kAlreadyLinked,  // `from` already had an edge to `to`
  kAppended,       // `from` had a free neighbour position
  kReplaced,       // `from` was full: its most redundant neighbour was dropped
  kNoRoom,         // `from` was full and dropping any neighbour could strand it
};

/// Adds the level-0 edge from -> to without exceeding USearch's degree bound
/// (connectivity_base). When from's list is full and `may_replace`, drops a
/// removed node (only a bridge) or else the neighbour with the most level-0
/// in-edges from reached nodes, either way one with at least two (another reached node still links
/// it; the caller's next walk checks that this did not strand it through a cycle); otherwise writes
/// nothing. Updates walk->in_degree. Precondition: exclusive access.
LinkOutcome LinkOnBase(DenseIndex& index, Slot from, Slot to, bool may_replace, Walk* walk);

}  // namespace quiver::index::graph

#endif  // QUIVER_INDEX_HNSW_GRAPH_H_
