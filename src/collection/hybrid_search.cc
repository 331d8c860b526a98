// Copyright (c) Quiver authors.
//
// Full-text (BM25, SQLite FTS5) and hybrid search. Part of CollectionImpl.

#include "collection/collection_impl.h"

namespace quiver {

Result<std::vector<std::vector<Match>>> CollectionImpl::SearchFullTextOrHybrid(
    const std::vector<std::string>& queries, const std::vector<float>& query_vectors,
    const TextSearchOptions& options) {
  return Status::NotSupported("full-text and hybrid search are not built yet");
}

}  // namespace quiver
