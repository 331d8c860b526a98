// Copyright (c) Quiver authors.
//
// Limits and parsing shared by the two search routes (/v1/search and
// /v2/collections/{name}/query).

#ifndef QUIVER_SERVER_SEARCH_REQUEST_H_
#define QUIVER_SERVER_SEARCH_REQUEST_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "quiver/record.h"
#include "quiver/status.h"
#include "server/json_body.h"

namespace quiver::server {

/// Query vectors one search request may carry.
inline constexpr std::size_t kMaxQueriesPerRequest = kMaxBatchSize;

/// Results (queries x k) one search request may ask for; bounds the response.
inline constexpr std::size_t kMaxResultsPerRequest = 1'000'000;

/// InvalidArgument unless 1 <= num_queries <= kMaxQueriesPerRequest and
/// num_queries * k <= kMaxResultsPerRequest (k itself is checked when parsed).
Status CheckSearchSize(std::size_t num_queries, std::size_t k);

/// Appends every vector of `vectors` (each exactly `dimensions` finite
/// float32 values) to `out`, row-major. InvalidArgument naming the first bad one.
Status ReadQueryVectors(const JsonArray& vectors, std::size_t dimensions, std::vector<float>* out);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SEARCH_REQUEST_H_
