// Copyright (c) Quiver authors.

#include "index/hnsw_graph.h"

#include <functional>
#include <type_traits>
#include <utility>

namespace quiver::index::graph {

static_assert(
    USEARCH_VERSION_MAJOR == 2 && USEARCH_VERSION_MINOR == 26,
    "hnsw_graph.cc reads private members of USearch 2.26 (index_dense_gt::typed_, "
    "index_gt::entry_slot_, neighbors_view_t::neighbors_, index_dense_gt::vectors_lookup_) "
    "and the search that SelfSearch replays (index_gt::search): check them and update this "
    "assertion when upgrading USearch");

namespace {

// Reads a private member without modifying USearch (see the header): the
// explicit instantiations below name the members, and access is not checked
// there. Each tag's Get() returns the member pointer.
template <typename Tag, auto kMember>
struct PrivateMember {
  friend constexpr auto Get(Tag) { return kMember; }
};

struct TypedTag {
  friend constexpr auto Get(TypedTag);
};
template struct PrivateMember<TypedTag, &DenseIndex::typed_>;

/// USearch's index_gt behind index_dense_t (a private alias there).
using Typed = std::remove_pointer_t<
    std::remove_reference_t<decltype(std::declval<const DenseIndex&>().*Get(TypedTag{}))>>;

struct EntrySlotTag {
  friend constexpr auto Get(EntrySlotTag);
};
template struct PrivateMember<EntrySlotTag, &Typed::entry_slot_>;

struct NeighborsRefTag {
  friend constexpr auto Get(NeighborsRefTag);
};
template struct PrivateMember<NeighborsRefTag, &Typed::neighbors_view_t::neighbors_>;

struct VectorsLookupTag {
  friend constexpr auto Get(VectorsLookupTag);
};
template struct PrivateMember<VectorsLookupTag, &DenseIndex::vectors_lookup_>;

const Typed& GraphOf(const DenseIndex& index) { return *(index.*Get(TypedTag{})); }

/// The stored vector of `slot`, in the index's scalar kind.
const unum::usearch::byte_t* VectorAt(const DenseIndex& index, Slot slot) {
  return (index.*Get(VectorsLookupTag{}))[slot];
}

/// Pushes `to` on `queue` unless it was reached before.
void Reach(Slot to, std::vector<std::uint8_t>* reached, std::vector<Slot>* queue) {
  if ((*reached)[to]) return;
  (*reached)[to] = 1;
  queue->push_back(to);
}

/// Breadth-first over level-0 edges from the slots already in `queue` (all
/// marked reached), counting in-edges.
void ExpandBase(const Typed& graph, std::vector<Slot>* queue, Walk* walk) {
  for (std::size_t head = 0; head < queue->size(); ++head) {
    const auto neighbors = graph.neighbors((*queue)[head], 0);
    for (auto it = neighbors.begin(); it != neighbors.end(); ++it) {
      ++walk->in_degree[it.slot()];
      Reach(it.slot(), &walk->reached, queue);
    }
  }
}

}  // namespace

std::size_t Slots(const DenseIndex& index) { return GraphOf(index).size(); }

DenseIndex::vector_key_t KeyAt(const DenseIndex& index, Slot slot) {
  return GraphOf(index).at(slot).key;
}

Walk WalkFromEntry(const DenseIndex& index) {
  const Typed& graph = GraphOf(index);
  const std::size_t slots = graph.size();
  Walk walk;
  walk.reached.assign(slots, 0);
  walk.in_degree.assign(slots, 0);
  if (slots > 0) {
    // Upper levels first: a search descends them greedily from the entry
    // point, so the nodes they reach are where its level-0 part can start.
    // Level L's edges join nodes present on level L; every node reached on a
    // higher level is present there too and seeds it.
    std::vector<Slot> queue{static_cast<Slot>(graph.*Get(EntrySlotTag{}))};
    std::vector<std::uint8_t> upper(slots, 0);
    upper[queue[0]] = 1;
    for (std::size_t level = graph.max_level(); level >= 1; --level) {
      for (std::size_t head = 0; head < queue.size(); ++head) {
        const auto neighbors = graph.neighbors(queue[head], level);
        for (auto it = neighbors.begin(); it != neighbors.end(); ++it) {
          Reach(it.slot(), &upper, &queue);
        }
      }
    }
    // Then level 0 only, from all of them: searches follow no other edges
    // there (and never climb back up).
    for (Slot seed : queue) walk.reached[seed] = 1;
    ExpandBase(graph, &queue, &walk);
  }
  const auto free_key = index.free_key();
  for (std::size_t slot = 0; slot < slots; ++slot) {
    if (graph.at(static_cast<Slot>(slot)).key == free_key) continue;
    ++walk.live;
    if (!walk.reached[slot]) walk.unreachable.push_back(static_cast<Slot>(slot));
  }
  return walk;
}

void MarkReachableFrom(const DenseIndex& index, Slot start, Walk* walk) {
  std::vector<Slot> queue;
  Reach(start, &walk->reached, &queue);
  ExpandBase(GraphOf(index), &queue, walk);
}

// --- SelfSearch --------------------------------------------------------------------

namespace {

/// USearch's index_gt::candidate_t (private there): same fields, same order.
struct Candidate {
  DenseIndex::distance_t distance;
  Slot slot;
  bool operator<(Candidate other) const noexcept { return distance < other.distance; }
};

}  // namespace

struct SelfSearch::State {
  /// visited[s] == stamp when slot s was visited by the current search.
  std::vector<std::uint32_t> visited;
  std::uint32_t stamp = 0;
  /// USearch's next_candidates_t and top_candidates_t.
  unum::usearch::max_heap_gt<Candidate, std::less<Candidate>> next;
  unum::usearch::sorted_buffer_gt<Candidate, std::less<Candidate>> top;
};

SelfSearch::SelfSearch(const DenseIndex& index) : index_(index), state_(new State) {
  state_->visited.assign(Slots(index), 0);
}

SelfSearch::~SelfSearch() = default;

bool SelfSearch::FindsItself(Slot slot, std::size_t k, std::size_t expansion,
                             std::vector<Slot>* nearest, std::vector<Slot>* expanded) {
  namespace us = unum::usearch;
  const Typed& graph = GraphOf(index_);
  State& state = *state_;
  const auto& metric = index_.metric();
  const us::metric_kind_t kind = metric.metric_kind();
  // Distance 0 is the least possible: reaching the vector means returning it.
  const bool stop_when_reached =
      kind == us::metric_kind_t::l2sq_k || kind == us::metric_kind_t::cos_k;
  const us::byte_t* query = VectorAt(index_, slot);
  auto distance = [&](Slot other) {
    ++distances_;
    return metric(query, VectorAt(index_, other));
  };
  const auto free_key = index_.free_key();
  auto live = [&](Slot s) { return graph.at(s).key != free_key; };

  // search_for_one_: greedy over each upper level, from the entry point.
  Slot closest = static_cast<Slot>(graph.*Get(EntrySlotTag{}));
  DenseIndex::distance_t closest_distance = distance(closest);
  for (std::size_t level = graph.max_level(); level >= 1; --level) {
    bool changed;
    do {
      changed = false;
      const auto neighbors = graph.neighbors(closest, level);
      for (auto it = neighbors.begin(); it != neighbors.end(); ++it) {
        const DenseIndex::distance_t d = distance(it.slot());
        if (d < closest_distance) {
          closest_distance = d;
          closest = it.slot();
          changed = true;
        }
      }
    } while (changed);
  }
  if (stop_when_reached && closest == slot) return true;

  // search_to_find_in_base_: best-first over level 0, keeping the
  // `top_limit` closest live nodes; removed ones are expanded, not kept.
  const std::size_t top_limit = std::max(expansion, k);
  if (++state.stamp == 0) {  // wrapped: forget every earlier search
    std::fill(state.visited.begin(), state.visited.end(), 0);
    state.stamp = 1;
  }
  auto visit = [&](Slot s) {  // true if visited before
    if (state.visited[s] == state.stamp) return true;
    state.visited[s] = state.stamp;
    return false;
  };
  auto& next = state.next;
  auto& top = state.top;
  next.clear();
  top.clear();
  if (!next.reserve(top_limit) || !top.reserve(top_limit)) throw std::bad_alloc();
  DenseIndex::distance_t radius = closest_distance;
  next.insert_reserved({-radius, closest});
  visit(closest);
  if (live(closest)) top.insert_reserved({radius, closest});
  while (!next.empty()) {
    const Candidate candidate = next.top();
    if (-candidate.distance > radius && top.size() == top_limit) break;
    next.pop();
    if (expanded != nullptr) expanded->push_back(candidate.slot);
    const auto neighbors = graph.neighbors(candidate.slot, 0);
    for (auto it = neighbors.begin(); it != neighbors.end(); ++it) {
      const Slot successor = it.slot();
      if (visit(successor)) continue;
      const DenseIndex::distance_t d = distance(successor);
      if (top.size() < top_limit || d < radius) {
        if (!next.insert({-d, successor})) throw std::bad_alloc();
        if (live(successor)) {
          top.insert({d, successor}, top_limit);
          radius = top.top().distance;
          if (stop_when_reached && successor == slot) return true;
        }
      }
    }
  }
  // index_gt::search: the first k of the sorted candidates.
  const std::size_t found = std::min(k, top.size());
  for (std::size_t i = 0; i < found; ++i) {
    if (top.data()[i].slot == slot) return true;
  }
  nearest->clear();
  for (std::size_t i = 0; i < found; ++i) nearest->push_back(top.data()[i].slot);
  return false;
}

LinkOutcome LinkOnBase(DenseIndex& index, Slot from, Slot to, bool may_replace, Walk* walk) {
  const Typed& graph = GraphOf(index);
  const auto view = graph.neighbors(from, 0);
  // The view's reference points into the node's (mutable) neighbour tape.
  auto list = view.*Get(NeighborsRefTag{});
  const std::size_t count = list.size();
  // The edge to drop: a removed node's first (it is only a bridge), then the
  // one with the most in-edges; either way one with at least two.
  const auto free_key = index.free_key();
  Slot drop = to;
  bool drop_is_free = false;
  std::uint32_t drop_in_degree = 1;
  for (std::size_t i = 0; i < count; ++i) {
    const Slot neighbor = list[i];
    if (neighbor == to) return LinkOutcome::kAlreadyLinked;
    const std::uint32_t in_degree = walk->in_degree[neighbor];
    if (in_degree < 2) continue;
    const bool is_free = graph.at(neighbor).key == free_key;
    if ((is_free && !drop_is_free) || (is_free == drop_is_free && in_degree > drop_in_degree)) {
      drop = neighbor;
      drop_is_free = is_free;
      drop_in_degree = in_degree;
    }
  }
  LinkOutcome outcome = LinkOutcome::kAppended;
  if (count >= graph.config().connectivity_base) {
    if (drop == to || !may_replace) return LinkOutcome::kNoRoom;
    list.erase_if([drop](Slot s) { return s == drop; });
    --walk->in_degree[drop];
    outcome = LinkOutcome::kReplaced;
  }
  list.push_back(to);
  ++walk->in_degree[to];
  return outcome;
}

}  // namespace quiver::index::graph
