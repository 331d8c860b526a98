// Copyright (c) Quiver authors.

#include "server/budget.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "server/connection.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

// Work units (queries x ef) per chunk of a search: between chunks the
// deadline and the client are checked. 50,000 units are a few milliseconds
// of one core on a collection of 100k vectors, and 5 queries at ef=10,000.
constexpr std::size_t kChunkWork = 50'000;

// Bytes a match adds to a response besides its strings (braces, field names,
// key, distance).
constexpr std::size_t kMatchOverheadBytes = 64;

std::size_t MatchBytes(const Match& match) {
  return kMatchOverheadBytes + match.id.size() + match.text.size() + match.metadata.size();
}

}  // namespace

namespace {

/// Runs `search(first, count)` over `num_queries` queries in chunks, within
/// the request's budget (see budget.h). `per_query` is the work units of one
/// query and `unit` says how they were counted, for the refusal message.
Result<std::vector<std::vector<Match>>> SearchInChunks(
    Service& service, std::size_t num_queries, std::size_t per_query, std::string_view unit,
    const std::function<Result<std::vector<std::vector<Match>>>(std::size_t, std::size_t)>&
        search) {
  const ServerOptions& limits = service.options();
  per_query = std::max<std::size_t>(per_query, 1);
  if (num_queries > limits.max_search_work / per_query) {
    service.metrics().CountBudgetHit(BudgetLimit::kSearchWork);
    return Status::InvalidArgument(fmt::format(
        "{} queries x {}={} is {} units of search work, over the limit of {} per request "
        "(--max-search-work); send fewer queries per request or a lower expansion_search",
        num_queries, unit, per_query, num_queries * per_query, limits.max_search_work));
  }

  Connection* connection = CurrentConnection();
  const std::size_t max_chunk = std::max<std::size_t>(1, kChunkWork / per_query);
  std::vector<std::vector<Match>> results;
  results.reserve(num_queries);
  std::size_t done = 0;
  std::size_t bytes = 0;
  std::size_t chunk = 1;
  while (done < num_queries) {
    std::size_t count = std::min(chunk, num_queries - done);
    if (done > 0 && bytes > 0) {
      // Size the chunk so that it should not carry the response past its limit.
      const std::size_t per_query_bytes = std::max<std::size_t>(1, bytes / done);
      const std::size_t room =
          limits.max_response_bytes > bytes ? limits.max_response_bytes - bytes : 0;
      count = std::clamp<std::size_t>(room / per_query_bytes, 1, count);
    }
    QS_ASSIGN_OR_RETURN(std::vector<std::vector<Match>> part, search(done, count));
    for (std::vector<Match>& matches : part) {
      for (const Match& match : matches) bytes += MatchBytes(match);
      results.push_back(std::move(matches));
    }
    done += count;
    if (bytes > limits.max_response_bytes) {
      service.metrics().CountBudgetHit(BudgetLimit::kResponseBytes);
      return Status::InvalidArgument(fmt::format(
          "the results of the first {} of {} queries already take {} bytes, over the response "
          "limit of {} (--max-response-bytes); ask for fewer queries, a smaller k, or leave "
          "text and metadata out of 'include'",
          done, num_queries, bytes, limits.max_response_bytes));
    }
    if (done == num_queries || connection == nullptr) continue;
    if (Clock::now() > connection->request_deadline()) {
      service.metrics().CountBudgetHit(BudgetLimit::kDeadline);
      return Status::Busy(fmt::format(
          "the search stopped after {} of {} queries: the request ran past its time limit of {} "
          "s (--request-timeout); send fewer queries per request",
          done, num_queries, limits.request_timeout_s));
    }
    if (connection->PeerGone()) {
      service.metrics().CountBudgetHit(BudgetLimit::kClientGone);
      return Status::Busy(fmt::format(
          "the search stopped after {} of {} queries: the client disconnected", done, num_queries));
    }
    chunk = std::min(chunk * 2, max_chunk);
  }
  return results;
}

/// `status` with the library's "queries[i]" (i within a chunk starting at
/// `first`) or "queries" renamed to the request's field.
Result<std::vector<std::vector<Match>>> NameTextField(const Status& status, std::size_t first,
                                                      std::string_view field) {
  const std::string& message = status.message();
  constexpr std::string_view kIndexed = "queries[";
  if (message.starts_with(kIndexed)) {
    std::size_t index = 0;
    const char* begin = message.data() + kIndexed.size();
    const auto [end, error] = std::from_chars(begin, message.data() + message.size(), index);
    if (error == std::errc() && end < message.data() + message.size() && *end == ']') {
      const std::string rest(end + 1);
      return Status(status.code(), field == "text"
                                       ? std::string(field) + rest
                                       : fmt::format("{}[{}]{}", field, first + index, rest));
    }
  }
  if (message.starts_with("queries")) {
    return Status(status.code(), std::string(field) + message.substr(7));
  }
  return status;
}

std::size_t ExpansionOf(const Collection& collection, const SearchOptions& options) {
  return options.expansion_search != 0 ? options.expansion_search
                                       : collection.config().expansion_search;
}

}  // namespace

Result<std::vector<std::vector<Match>>> SearchWithinBudget(Service& service, Collection& collection,
                                                           const float* queries,
                                                           std::size_t num_queries,
                                                           const SearchOptions& options) {
  const std::size_t per_query = std::max(options.k, ExpansionOf(collection, options));
  const std::size_t dimensions = collection.config().dimensions;
  return SearchInChunks(service, num_queries, per_query, "max(k, expansion_search)",
                        [&](std::size_t first, std::size_t count) {
                          return collection.Search(queries + first * dimensions, count, options);
                        });
}

Result<std::vector<std::vector<Match>>> SearchTextWithinBudget(
    Service& service, Collection& collection, const std::vector<std::string>& texts,
    const TextSearchOptions& options, std::string_view field) {
  std::size_t per_query = options.search.k;
  std::string_view unit = "k";
  if (options.mode == TextSearchMode::kVector) {
    per_query = std::max(options.search.k, ExpansionOf(collection, options.search));
    unit = "max(k, expansion_search)";
  } else if (options.mode == TextSearchMode::kHybrid) {
    const std::size_t candidates =
        options.candidates != 0
            ? options.candidates
            : std::min(kMaxSearchK, std::max<std::size_t>(4 * options.search.k, 50));
    per_query = std::max(candidates, ExpansionOf(collection, options.search));
    unit = "max(candidates, expansion_search)";
  }
  std::vector<std::string> chunk;
  return SearchInChunks(service, texts.size(), per_query, unit,
                        [&](std::size_t first, std::size_t count) {
                          chunk.assign(texts.begin() + static_cast<std::ptrdiff_t>(first),
                                       texts.begin() + static_cast<std::ptrdiff_t>(first + count));
                          auto found = collection.SearchText(chunk, options);
                          if (!found.ok()) return NameTextField(found.status(), first, field);
                          return found;
                        });
}

Status CheckRecordSizes(Service& service, const std::vector<Record>& records) {
  const ServerOptions& limits = service.options();
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].text.size() > limits.max_text_bytes) {
      service.metrics().CountBudgetHit(BudgetLimit::kRecordText);
      return Status::InvalidArgument(
          fmt::format("records[{}].text: {} bytes, over the limit of {} (--max-text-bytes)", i,
                      records[i].text.size(), limits.max_text_bytes));
    }
    if (records[i].metadata.size() > limits.max_metadata_bytes) {
      service.metrics().CountBudgetHit(BudgetLimit::kRecordMetadata);
      return Status::InvalidArgument(
          fmt::format("records[{}].metadata: {} bytes, over the limit of {} (--max-metadata-bytes)",
                      i, records[i].metadata.size(), limits.max_metadata_bytes));
    }
  }
  return Status::Ok();
}

}  // namespace quiver::server
