// Copyright (c) Quiver authors.

#include "server/search_request.h"

#include <fmt/format.h>

namespace quiver::server {

Status CheckSearchSize(std::size_t num_queries, std::size_t k) {
  if (num_queries == 0) return Status::InvalidArgument("no query vectors given");
  if (num_queries > kMaxQueriesPerRequest) {
    return Status::InvalidArgument(fmt::format("{} query vectors given, at most {} allowed",
                                               num_queries, kMaxQueriesPerRequest));
  }
  if (num_queries * k > kMaxResultsPerRequest) {
    return Status::InvalidArgument(
        fmt::format("{} queries x k={} asks for {} results, at most {} per request", num_queries, k,
                    num_queries * k, kMaxResultsPerRequest));
  }
  return Status::Ok();
}

Status ReadQueryVectors(const JsonArray& vectors, std::size_t dimensions, std::vector<float>* out) {
  out->reserve(out->size() + vectors.size() * dimensions);
  return vectors.ForEach(
      [&](std::size_t, const JsonValue& vector) { return vector.AppendFloats(dimensions, out); });
}

}  // namespace quiver::server
