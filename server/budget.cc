// Copyright (c) Quiver authors.

#include "server/budget.h"

#include <algorithm>
#include <chrono>

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

Result<std::vector<std::vector<Match>>> SearchWithinBudget(Service& service, Collection& collection,
                                                           const float* queries,
                                                           std::size_t num_queries,
                                                           const SearchOptions& options) {
  const ServerOptions& limits = service.options();
  const std::size_t expansion = options.expansion_search != 0
                                    ? options.expansion_search
                                    : collection.config().expansion_search;
  const std::size_t per_query = std::max<std::size_t>({options.k, expansion, 1});
  if (num_queries > limits.max_search_work / per_query) {
    service.metrics().CountBudgetHit(BudgetLimit::kSearchWork);
    return Status::InvalidArgument(fmt::format(
        "{} queries x max(k, expansion_search)={} is {} units of search work, over the limit of "
        "{} per request (--max-search-work); send fewer queries per request or a lower "
        "expansion_search",
        num_queries, per_query, num_queries * per_query, limits.max_search_work));
  }

  Connection* connection = CurrentConnection();
  const std::size_t dimensions = collection.config().dimensions;
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
    QS_ASSIGN_OR_RETURN(std::vector<std::vector<Match>> part,
                        collection.Search(queries + done * dimensions, count, options));
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
