// Copyright (c) Quiver authors.
//
// Bounded work per request: what one request may cost the server, checked
// where the work happens.
//
//   search work    queries x max(k, expansion_search) of one search request,
//                  at most ServerOptions::max_search_work: refused before any
//                  work with 400 (a request of 3,000 queries at ef=10,000 is
//                  30,000,000 units, about a minute of one core on 20k vectors).
//   deadline       a search runs in chunks of queries; between chunks it stops
//                  with 503 busy once the request is older than
//                  ServerOptions::request_timeout_s,
//   client gone    ... or as soon as its client has disconnected (nobody would
//                  read the answer),
//   response size  ... or with 400 once the results (ids, text, metadata)
//                  exceed ServerOptions::max_response_bytes. Chunks are sized
//                  from the bytes per query seen so far, so memory stays near
//                  the limit plus one query's results. The router refuses any
//                  other response over the limit after it is built.
//   record size    text over max_text_bytes or metadata over
//                  max_metadata_bytes fails the whole write with 400, naming
//                  the record and the limit; nothing is written.
//
// Every refusal is counted in /metrics (quiver_http_budget_exceeded_total).
// Thread safety: the functions may run concurrently; they read the request's
// deadline and socket from CurrentConnection() (no deadline and no
// disconnect check outside a request, e.g. in unit tests).

#ifndef QUIVER_SERVER_BUDGET_H_
#define QUIVER_SERVER_BUDGET_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/collection.h"
#include "quiver/record.h"
#include "quiver/status.h"
#include "server/service.h"

namespace quiver::server {

/// Collection::Search within the request's budget (see the file comment).
/// Same results as one Search call when no limit is hit. Errors: those of
/// Search; InvalidArgument when the work or the response is over its limit;
/// Busy when the deadline passed or the client disconnected.
Result<std::vector<std::vector<Match>>> SearchWithinBudget(Service& service, Collection& collection,
                                                           const float* queries,
                                                           std::size_t num_queries,
                                                           const SearchOptions& options);

/// Collection::SearchText within the request's budget, in chunks of texts
/// like SearchWithinBudget. Work per query: k for full-text search,
/// max(k, expansion_search) for vector search, max(candidates,
/// expansion_search) for hybrid search. Errors: those of SearchText, the
/// library's "queries[i]" renamed to the request's field: "texts[i]" (i
/// counted over the whole request) or, for `field` "text", "text"; and the
/// budget's.
Result<std::vector<std::vector<Match>>> SearchTextWithinBudget(
    Service& service, Collection& collection, const std::vector<std::string>& texts,
    const TextSearchOptions& options, std::string_view field);

/// InvalidArgument naming the first record (by position, as `records[i]`)
/// whose text is over max_text_bytes or whose metadata is over
/// max_metadata_bytes, with the limit and its flag; OK otherwise.
Status CheckRecordSizes(Service& service, const std::vector<Record>& records);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_BUDGET_H_
