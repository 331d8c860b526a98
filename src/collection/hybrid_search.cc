// Copyright (c) Quiver authors.
//
// Full-text (BM25, SQLite FTS5) and hybrid search. Part of CollectionImpl.
// See docs/text.md, "Full-text and hybrid search".
//
//   kFullText  the storage layer ranks the record texts with FTS5's bm25()
//              and applies the filter in the same SQL statement; the top k
//              are filled like any search's matches (FillResults).
//   kHybrid    two candidate lists per query, `candidates` long each: the
//              vector side is the planned search of Search (filter, max
//              distance, re-rank included), the text side the BM25 ranking
//              with the same filter; fusion.h merges them (RRF or weighted)
//              and the top k are filled.
//
// Both sides read their own SQLite snapshot; a record deleted between them
// is dropped by FillResults, like a record deleted during a vector search.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "collection/collection_impl.h"
#include "collection/fusion.h"
#include "filter/filter.h"
#include "storage/filter_sql.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

/// Largest TextSearchOptions::rrf_k.
constexpr std::size_t kMaxRrfK = 10000;
/// Longest full-text query, bytes. FTS5 parses a query whole, and its time
/// grows faster than the query (an OR of 10,000 terms: 0.24 s, of 20,000:
/// 0.65 s); 16 KiB (about 3,000 terms) bounds one query to milliseconds.
constexpr std::size_t kMaxFullTextQueryBytes = 16384;
/// candidates = 0 takes max(kCandidatesPerK * k, kMinCandidates), at most kMaxSearchK.
constexpr std::size_t kCandidatesPerK = 4;
constexpr std::size_t kMinCandidates = 50;

constexpr float kNoDistance = std::numeric_limits<float>::quiet_NaN();

std::size_t CandidatesFor(const TextSearchOptions& options) {
  if (options.candidates != 0) return options.candidates;
  return std::min(kMaxSearchK, std::max(kCandidatesPerK * options.search.k, kMinCandidates));
}

/// "queries[i]: <message>" for a query FTS5 refused; the collection's name
/// for the other errors of the storage layer.
Status NameQuery(const Status& status, std::size_t query, const std::string& collection) {
  if (status.code() == StatusCode::kInvalidArgument) {
    return Status::InvalidArgument("queries[" + std::to_string(query) + "]: " + status.message());
  }
  return status.WithContext("collection '" + collection + "'");
}

}  // namespace

Status CollectionImpl::ValidateTextOptions(const TextSearchOptions& options,
                                           const std::vector<std::string>& queries) {
  switch (options.mode) {
    case TextSearchMode::kVector:
    case TextSearchMode::kFullText:
    case TextSearchMode::kHybrid:
      break;
    default:
      return Status::InvalidArgument("mode: " + std::to_string(static_cast<int>(options.mode)) +
                                     " is not a mode; expected vector, fulltext or hybrid");
  }
  switch (options.fusion) {
    case FusionMethod::kReciprocalRank:
    case FusionMethod::kWeighted:
      break;
    default:
      return Status::InvalidArgument("fusion: " + std::to_string(static_cast<int>(options.fusion)) +
                                     " is not a fusion method; expected rrf or weighted");
  }
  const SearchOptions& search = options.search;
  if (search.k == 0 || search.k > kMaxSearchK) {
    return Status::InvalidArgument("k: " + std::to_string(search.k) + "; expected 1.." +
                                   std::to_string(kMaxSearchK));
  }
  if (std::isnan(search.max_distance)) {
    return Status::InvalidArgument("max_distance: is NaN; expected a number (or +infinity)");
  }
  if (options.rrf_k == 0 || options.rrf_k > kMaxRrfK) {
    return Status::InvalidArgument("rrf_k: " + std::to_string(options.rrf_k) + "; expected 1.." +
                                   std::to_string(kMaxRrfK) + " (60 is the paper's)");
  }
  if (!std::isfinite(options.vector_weight) || options.vector_weight < 0.0f ||
      options.vector_weight > 1.0f) {
    return Status::InvalidArgument("vector_weight: " + std::to_string(options.vector_weight) +
                                   "; expected a number from 0 to 1");
  }
  if (options.candidates > kMaxSearchK) {
    return Status::InvalidArgument("candidates: " + std::to_string(options.candidates) +
                                   "; expected 0 (max(4k, 50)) to " + std::to_string(kMaxSearchK));
  }
  if (options.mode == TextSearchMode::kHybrid && options.candidates != 0 &&
      options.candidates < search.k) {
    return Status::InvalidArgument("candidates: " + std::to_string(options.candidates) +
                                   " is below k (" + std::to_string(search.k) +
                                   "); expected 0 (max(4k, 50)) or k.." +
                                   std::to_string(kMaxSearchK));
  }
  if (options.mode != TextSearchMode::kVector) {
    for (std::size_t i = 0; i < queries.size(); ++i) {
      if (queries[i].size() > kMaxFullTextQueryBytes) {
        return Status::InvalidArgument(
            "queries[" + std::to_string(i) + "]: " + std::to_string(queries[i].size()) +
            " bytes; a full-text query takes at most " + std::to_string(kMaxFullTextQueryBytes));
      }
    }
  }
  return Status::Ok();
}

/// The FTS5 query of `text`: as is for kFts5; for kPlain, each word (a run
/// of ASCII letters, digits, '_' or non-ASCII bytes, which FTS5's unicode61
/// tokenizer splits further where it must) as a quoted phrase, ORed. Empty
/// when the text has no word.
namespace {
std::string FullTextQueryOf(const std::string& text, TextQuerySyntax syntax) {
  if (syntax == TextQuerySyntax::kFts5) return text;
  std::string out;
  std::size_t i = 0;
  auto word_byte = [](unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; };
  while (i < text.size()) {
    while (i < text.size() && !word_byte(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && word_byte(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) {
      if (!out.empty()) out += " OR ";
      out += '"';
      out.append(text, i, j - i);  // no '"' inside: it is not a word byte
      out += '"';
    }
    i = j;
  }
  return out;
}
}  // namespace

Result<std::vector<std::vector<Match>>> CollectionImpl::SearchFullTextOrHybrid(
    const std::vector<std::string>& queries, const std::vector<float>& query_vectors,
    const TextSearchOptions& options) {
  QUIVER_RETURN_IF_ERROR(ValidateTextOptions(options, queries));
  const bool hybrid = options.mode == TextSearchMode::kHybrid;
  if (!hybrid && options.mode != TextSearchMode::kFullText) {
    return Status::Internal("SearchFullTextOrHybrid called for a vector search");
  }
  const std::size_t num_queries = queries.size();
  if (hybrid && query_vectors.size() != num_queries * dimensions_) {
    return Status::Internal("hybrid search: " + std::to_string(query_vectors.size()) +
                            " query vector values for " + std::to_string(num_queries) +
                            " queries of " + std::to_string(dimensions_) + " dimensions");
  }
  const SearchOptions& search = options.search;
  QUIVER_ASSIGN_OR_RETURN(filter::Node node, filter::Parse(search.filter, "where"));
  const storage::SqlFilter where = storage::CompileFilter(node);
  const std::size_t candidates = hybrid ? CandidatesFor(options) : search.k;

  std::vector<std::vector<Match>> results(num_queries);
  std::vector<std::vector<Match>> vector_results;
  if (hybrid) {
    // The planned vector search, candidates long; its matches are filled
    // only after fusion, for the k that survive it.
    SearchOptions vector_options = search;
    vector_options.k = candidates;
    vector_options.include_text = false;
    vector_options.include_metadata = false;
    vector_options.include_id = false;
    QUIVER_ASSIGN_OR_RETURN(vector_results,
                            Search(query_vectors.data(), num_queries, vector_options));
  }
  std::vector<fusion::VectorCandidate> vector_side;
  std::vector<fusion::TextCandidate> text_side;
  for (std::size_t q = 0; q < num_queries; ++q) {
    const std::string fts_query = FullTextQueryOf(queries[q], options.syntax);
    Result<std::vector<storage::FullTextHit>> hits = std::vector<storage::FullTextHit>{};
    if (!fts_query.empty()) {
      hits = context_.db->FullTextSearch(entry_.id, fts_query, where, candidates);
    }
    if (!hits.ok()) return NameQuery(hits.status(), q, entry_.name);
    std::vector<Match>& out = results[q];
    if (!hybrid) {
      out.resize(hits->size());
      for (std::size_t i = 0; i < hits->size(); ++i) {
        out[i].key = (*hits)[i].key;
        out[i].distance = kNoDistance;
        out[i].score = static_cast<float>((*hits)[i].score);
      }
      continue;
    }
    vector_side.clear();
    for (const Match& m : vector_results[q]) vector_side.push_back({m.key, m.distance});
    text_side.clear();
    for (const storage::FullTextHit& hit : *hits) text_side.push_back({hit.key, hit.score});
    const std::vector<fusion::Fused> fused =
        options.fusion == FusionMethod::kReciprocalRank
            ? fusion::ReciprocalRank(vector_side, text_side, options.rrf_k, search.k)
            : fusion::Weighted(vector_side, text_side, options.vector_weight, search.k);
    out.resize(fused.size());
    for (std::size_t i = 0; i < fused.size(); ++i) {
      out[i].key = fused[i].key;
      out[i].distance = fused[i].distance;
      out[i].score = static_cast<float>(fused[i].score);
    }
  }
  QUIVER_RETURN_IF_ERROR(FillResults(search, &results));
  return results;
}

}  // namespace quiver
