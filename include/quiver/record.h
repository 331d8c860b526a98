// Copyright (c) Quiver authors.
//
// Records, search requests and search results.

#ifndef QUIVER_RECORD_H_
#define QUIVER_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quiver {

/// The key of a record: the HNSW label and SQLite's row key. Any 64-bit value
/// except kReservedKey.
using Key = std::uint64_t;

/// USearch marks free slots with this key; it cannot name a record.
inline constexpr Key kReservedKey = ~Key{0};

/// Largest k a search accepts.
inline constexpr std::size_t kMaxSearchK = 10000;

/// Largest number of records one Upsert, Get or Delete accepts.
inline constexpr std::size_t kMaxBatchSize = 100000;

/// One stored item.
struct Record {
  Key key = 0;
  /// Optional external string id (Chroma-style); empty = none. Stored and
  /// returned as is. Upsert fails with InvalidArgument if another key holds the
  /// same id, or if this key already holds a different non-empty id (so a
  /// hash collision between two string ids can never overwrite a record).
  std::string id;
  /// Free text stored beside the embedding (the chunk an embedding was made from). May be empty.
  std::string text;
  /// A JSON object, serialized (e.g. R"({"page": 3})"). Empty means "{}".
  /// Upsert rejects anything that is not a JSON object.
  std::string metadata;
  /// float32 components; size must equal the collection's dimensions; all finite.
  std::vector<float> embedding;
};

/// What a search returns besides key and distance.
struct SearchOptions {
  /// Number of nearest records per query, 1..kMaxSearchK.
  std::size_t k = 10;
  /// HNSW ef for this search; 0 = the collection's expansion_search. Values
  /// below k are raised to k. Changing it from one search to the next briefly
  /// serializes searches on the collection.
  std::size_t expansion_search = 0;
  /// Fetch text and metadata from SQLite for each match (one point lookup each).
  bool include_text = true;
  bool include_metadata = true;
  /// Fill Match::id, the record's string id. Free while the collection has
  /// never stored a string id (every Match::id is then empty without a
  /// lookup); otherwise one point lookup per match, like include_text.
  bool include_id = true;
};

/// One search result.
struct Match {
  Key key = 0;
  /// The record's string id; empty if it has none or if neither include_id,
  /// include_text nor include_metadata was asked for.
  std::string id;
  /// Distance in the collection's metric: LOWER IS CLOSER (see Metric).
  /// Computed in the index's scalar kind, so f16/i8 collections report approximations.
  float distance = 0.0f;
  /// Filled only when SearchOptions asked for them.
  std::string text;
  std::string metadata;
};

}  // namespace quiver

#endif  // QUIVER_RECORD_H_
