// Copyright (c) Quiver authors.
//
// Rank fusion for hybrid search: merges the ranking of a vector search and
// the ranking of a BM25 full-text search of the same query into one list.
// Pure functions, no I/O; used by CollectionImpl::SearchFullTextOrHybrid
// (hybrid_search.cc). See docs/text.md, "Full-text and hybrid search".
//
// Both functions return at most `k` results, best first: descending fused
// score, ties broken by ascending key (uint64), so equal inputs always give
// the same order. A key that appears twice in one list counts once, at its
// first (best) position.
//
// Thread safety: stateless; call from any thread.

#ifndef QUIVER_COLLECTION_FUSION_H_
#define QUIVER_COLLECTION_FUSION_H_

#include <cstddef>
#include <vector>

#include "quiver/record.h"

namespace quiver::fusion {

/// One result of the vector side, in the order the search returned them:
/// closest first. `distance` is in the collection's metric (lower is closer).
struct VectorCandidate {
  Key key = 0;
  float distance = 0;
};

/// One result of the text side, most relevant first. `score` is BM25
/// relevance, higher is better (SQLite FTS5's bm25() negated).
struct TextCandidate {
  Key key = 0;
  double score = 0;
};

/// One fused result.
struct Fused {
  Key key = 0;
  /// The fused score; higher is better.
  double score = 0;
  /// The vector side's distance when it found the key; NaN when only the
  /// text side did.
  float distance = 0;
};

/// Reciprocal rank fusion (Cormack, Clarke and Buettcher, "Reciprocal Rank
/// Fusion outperforms Condorcet and individual Rank Learning Methods", SIGIR
/// 2009): score(d) = sum over the lists that contain d of 1 / (rrf_k + r(d)),
/// r(d) being d's 1-based position in that list. The paper's rrf_k is 60: it
/// damps the weight of the very first positions so that agreement between
/// the lists outweighs one list's top rank. Uses ranks only, so the two
/// lists' scores need no calibration. Precondition: rrf_k >= 1.
std::vector<Fused> ReciprocalRank(const std::vector<VectorCandidate>& vector_side,
                                  const std::vector<TextCandidate>& text_side, std::size_t rrf_k,
                                  std::size_t k);

/// Convex combination of min-max normalized scores (the "linear
/// combination" of Fox and Shaw, TREC-2 1994, with Lee's min-max
/// normalization, SIGIR 1997): score(d) = w * v(d) + (1 - w) * b(d), where
/// v(d) = (max_dist - dist(d)) / (max_dist - min_dist) over the vector
/// candidates (closest = 1, farthest = 0) and b(d) = (bm25(d) - min_bm25) /
/// (max_bm25 - min_bm25) over the text candidates (most relevant = 1); a list
/// whose scores are all equal normalizes them to 1, and a key missing from a
/// list gets 0 there. Precondition: 0 <= vector_weight <= 1.
std::vector<Fused> Weighted(const std::vector<VectorCandidate>& vector_side,
                            const std::vector<TextCandidate>& text_side, double vector_weight,
                            std::size_t k);

}  // namespace quiver::fusion

#endif  // QUIVER_COLLECTION_FUSION_H_
