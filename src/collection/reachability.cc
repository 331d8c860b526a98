// Copyright (c) Quiver authors.
//
// Keeping every live record findable (docs/reachability.md): the
// collection's side of the HNSW reachability walk and repair, run after
// builds, at open, on the write path and before every checkpoint.

#include <algorithm>
#include <chrono>

#include "collection/collection_impl.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {

Status CollectionImpl::RepairReachability(index::HnswIndex* index, std::string_view after,
                                          index::HnswIndex::SelfQueries self_queries, bool walk) {
  const bool current = index == this->index().get();
  if (index->is_view()) {
    // Immutable: count only, for Stats and Verify.
    QUIVER_ASSIGN_OR_RETURN(auto walked, index->CheckReachability());
    if (!walked.unreachable.empty()) {
      context_.log->Warn(
          "collection '{}': {} of {} vectors are unreachable in the mapped checkpoint; open the "
          "store for writing to repair them",
          entry_.name, walked.unreachable.size(), walked.live_vectors);
    }
    return Status::Ok();
  }
  QUIVER_ASSIGN_OR_RETURN(auto repair, index->RepairReachability(self_queries, walk));
  // Only after a walk and repair that ran to their end.
  if (current && walk) changes_since_walk_ = 0;
  // A write's few self-query misses are routine; say only what a walk found.
  if (repair.found == 0 && (after == "write" || repair.self_query_missed == 0)) {
    return Status::Ok();
  }
  // The relinked graph differs from the checkpoint: save it at the next one.
  if (after == "open") MarkDirty(1);
  const std::string what = fmt::format(
      "collection '{}': after {}, {} of {} vectors were unreachable in the HNSW graph and {} of "
      "{} searched missed by a search for themselves; relinked {} ({} edges replaced), {} "
      "remain unreachable, {} walks, {:.1f} ms",
      entry_.name, after, repair.found, index->size(), repair.self_query_missed,
      repair.self_queried, repair.relinked, repair.edges_replaced, repair.remaining, repair.walks,
      repair.ms);
  if (repair.remaining == 0) {
    context_.log->Info("{}", what);
  } else {
    context_.log->Warn("{}", what);
  }
  return Status::Ok();
}

}  // namespace quiver
