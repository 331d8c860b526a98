// Copyright (c) Quiver authors.
//
// Records, search requests and search results.

#ifndef QUIVER_RECORD_H_
#define QUIVER_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
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
  /// same id, if this key already holds a different non-empty id (so a hash
  /// collision between two string ids can never overwrite a record), or if
  /// this id is empty and the key holds a record with a string id (a record
  /// named by its id is replaced only under that id). Faces that name records
  /// by string id use the key KeyForStringId(id).
  std::string id;
  /// Free text stored beside the embedding (the chunk an embedding was made from). May be empty.
  std::string text;
  /// A JSON object, serialized (e.g. R"({"page": 3})"). Empty means "{}".
  /// Upsert rejects anything that is not a JSON object.
  std::string metadata;
  /// float32 components; size must equal the collection's dimensions; all finite.
  std::vector<float> embedding;
};

/// How a search finds its candidates (see SearchPlan and docs/filters.md).
enum class SearchStrategy : std::uint8_t {
  /// Let the query planner choose (the default).
  kAuto = 0,
  /// Plain HNSW search; what kAuto picks without a filter.
  kHnsw = 1,
  /// HNSW search that ranks only matching records, with a raised expansion.
  kFilteredHnsw = 2,
  /// Brute-force distances to every matching record (recall 1.0).
  kExact = 3,
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
  /// Only records that match this filter: the JSON text of a `where` object
  /// over metadata, id and key (docs/filters.md; e.g. R"({"color": "red"})",
  /// R"({"price": {"$lt": 10}})"). Empty = every record. A bad filter is
  /// InvalidArgument naming the bad node ("where.$and[1].price.$gt: ...").
  /// The query planner picks, per call, an exact scan of the matching records
  /// (few match: recall 1.0) or a filtered HNSW search whose expansion rises as
  /// the matching fraction falls (Collection::Explain shows the choice); either
  /// way a search returns min(k, matching records) matches, up to recall.
  std::string filter;
  /// Drop matches whose distance is above this, in Match::distance's units
  /// (lower is closer). Default +infinity: no limit. NaN is InvalidArgument.
  float max_distance = std::numeric_limits<float>::infinity();
  /// Exact re-rank: take k * rerank_oversample candidates from the index and
  /// re-score them with the float32 embeddings kept in SQLite, so that
  /// quantized collections (f16, bf16, i8) return float32-exact distances and
  /// ranking. Costs one embedding read per candidate. Default off.
  bool rerank = false;
  /// Candidates per wanted match when rerank is on; 1..100. Default 4.
  std::size_t rerank_oversample = 4;
  /// Overrides the planner's choice for a filtered search (benchmarks,
  /// tests): kExact or kFilteredHnsw. A filtered HNSW search that comes back
  /// short still falls back to exact. kHnsw with a filter is InvalidArgument.
  SearchStrategy strategy = SearchStrategy::kAuto;
};

/// How a search is executed: what Collection::Explain returns and
/// `quiver search --explain` prints.
struct SearchPlan {
  using Strategy = SearchStrategy;
  /// kHnsw, kFilteredHnsw or kExact (never kAuto).
  Strategy strategy = Strategy::kHnsw;
  /// Records that match the filter (all records without one).
  std::uint64_t matching = 0;
  /// Records in the collection.
  std::uint64_t total = 0;
  /// HNSW expansion used (0 for kExact).
  std::size_t expansion = 0;
  /// Candidates re-ranked per query with float32 embeddings (0 = no re-rank).
  std::size_t rerank_candidates = 0;
  /// Milliseconds spent planning (evaluating the filter in SQLite).
  double plan_ms = 0;
  /// "hnsw", "filtered-hnsw" or "exact".
  static const char* StrategyName(Strategy strategy);
  /// One line, e.g. "filtered-hnsw: 6000 of 60000 records match (10%), expansion 160".
  std::string ToString() const;
};

/// The order of Collection::Scan.
enum class ScanOrder {
  /// By key: the key column's int64 order (keys >= 2^63 come first). The default.
  kKey,
  /// The order the records were first written in: a record keeps its place
  /// when it is written again (upsert), and a record deleted and written again
  /// goes to the end. Records that a store held before its first open by a
  /// Quiver with insertion order come first, in key order. What Chroma's
  /// `get` returns.
  kInsertion,
};

/// What Collection::Scan reads: a page of the records that match a filter
/// (and, when given, have one of `keys`), in `order`.
struct ScanOptions {
  /// Filter as in SearchOptions::filter; empty = every record.
  std::string filter;
  /// The order of the records and so of the pages. A cursor continues only a
  /// scan of the same order (InvalidArgument otherwise).
  ScanOrder order = ScanOrder::kKey;
  /// When not empty: only the records with these keys (and matching the
  /// filter), in `order`, whatever order the keys are given in; keys without a
  /// record are skipped. At most kMaxBatchSize keys (InvalidArgument naming
  /// "keys" otherwise); duplicates count once.
  std::vector<Key> keys;
  /// Records per page, 1..kMaxBatchSize. Default 100.
  std::size_t limit = 100;
  /// Matching records to skip first (after the cursor, if any). Chroma-style
  /// paging; a cursor is cheaper for deep pages (O(log n) instead of O(offset)).
  std::size_t offset = 0;
  /// ScanPage::next_cursor of the previous page; empty = from the start.
  std::string cursor;
  bool include_text = true;
  bool include_metadata = true;
  bool include_embedding = false;
};

/// One page of Collection::Scan.
struct ScanPage {
  std::vector<Record> records;
  /// Pass as ScanOptions::cursor for the next page; empty when this page is
  /// the last. Stable under concurrent writes: a page starts after the last
  /// key of the previous one (records inserted behind the cursor are not seen).
  std::string next_cursor;
};

/// The key of a string id, the rule every face uses (library, CLI, HTTP):
/// FNV-1a-64 of the id's UTF-8 bytes with the top bit cleared, so string ids
/// map to keys below 2^63 without a lookup table and any client can compute
/// it. FNV-1a-64: h = 0xcbf29ce484222325; for each byte b:
/// h = (h ^ b) * 0x100000001b3 (mod 2^64). Two ids with the same key cannot
/// overwrite each other: Upsert rejects a record whose key holds another id.
Key KeyForStringId(std::string_view id);

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
  /// Relevance of a text search, HIGHER IS BETTER (Collection::SearchText):
  /// the BM25 score for kFullText (SQLite FTS5's bm25() negated, so > 0), the
  /// fused score for kHybrid. 0 for a vector search. In kFullText `distance`
  /// is NaN (no vector was compared); in kHybrid it is the vector distance
  /// when the vector side found the record, NaN when only BM25 did.
  float score = 0.0f;
};

/// What Collection::SearchText ranks by.
enum class TextSearchMode : std::uint8_t {
  /// Embed each query with the collection's embedder and search the index.
  kVector = 0,
  /// BM25 over the record texts (SQLite FTS5); no embedder needed.
  kFullText = 1,
  /// Both, fused into one ranking (TextSearchOptions::fusion).
  kHybrid = 2,
};

/// How kHybrid merges the vector ranking and the BM25 ranking.
enum class FusionMethod : std::uint8_t {
  /// Reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009):
  /// score = sum over the two lists of 1 / (rrf_k + rank), rank from 1.
  /// Needs no score calibration; the default.
  kReciprocalRank = 0,
  /// score = vector_weight * v + (1 - vector_weight) * b, where v and b are
  /// each list's scores min-max normalized to [0, 1] over its candidates
  /// (v from the distance, closer = 1); a record missing from a list gets 0 there.
  kWeighted = 1,
};

/// How kFullText and kHybrid read a query's text on the full-text side.
enum class TextQuerySyntax : std::uint8_t {
  /// Natural language (the default): the full-text side matches records that
  /// contain ANY of the query's words, each word quoted, so that no character
  /// is an operator and no query is a syntax error; BM25 ranks records that
  /// match more, and rarer, words first. The vector side embeds the text as
  /// written.
  kPlain = 0,
  /// SQLite FTS5's query syntax, passed as is: words are ANDed, "phrases",
  /// OR, NOT, NEAR, prefix*. A syntax error is InvalidArgument. The vector
  /// side of kHybrid embeds the query as written, operators included.
  kFts5 = 1,
};

/// Options of Collection::SearchText.
struct TextSearchOptions {
  /// k, filter (applied to both sides of a hybrid search), include_*,
  /// expansion_search, max_distance (vector side only), rerank.
  SearchOptions search;
  TextSearchMode mode = TextSearchMode::kVector;
  TextQuerySyntax syntax = TextQuerySyntax::kPlain;
  FusionMethod fusion = FusionMethod::kReciprocalRank;
  /// RRF's constant k; 1..10000. 60 as in the paper.
  std::size_t rrf_k = 60;
  /// kWeighted's weight of the vector side, in [0, 1].
  float vector_weight = 0.5f;
  /// Candidates taken from each side before fusion; 0 = max(4 * k, 50).
  /// At most kMaxSearchK.
  std::size_t candidates = 0;
};

}  // namespace quiver

#endif  // QUIVER_RECORD_H_
