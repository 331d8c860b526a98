// Copyright (c) Quiver authors.
//
// Text in, text out: embedding records and queries with the collection's
// embedder, and text search by vector. Part of CollectionImpl; full-text and
// hybrid ranking are in hybrid_search.cc. See docs/text.md.
//
// Embedding happens before the write transaction and outside write_mu_: a
// batch of text records is embedded first (which can take seconds with a
// local model or a remote server), then validated and committed like any
// other batch. An embedder failure therefore writes nothing.

#include <algorithm>
#include <cmath>

#include "collection/collection_impl.h"
#include "util/status_macros.h"

namespace quiver {

CollectionConfig ConfigForEmbedder(const EmbedderInfo& info) {
  CollectionConfig config;
  config.dimensions = info.dimensions;
  config.metric = info.metric;
  config.model_id = info.id;
  config.model_version = info.version;
  return config;
}

Status CheckEmbeddings(const std::vector<float>& values, std::size_t count,
                       std::uint32_t dimensions, std::string_view who) {
  if (values.size() != count * dimensions) {
    return Status::Unavailable(std::string(who) + " returned " + std::to_string(values.size()) +
                               " values for " + std::to_string(count) + " texts; expected " +
                               std::to_string(count) + " x " + std::to_string(dimensions));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::Unavailable(std::string(who) + " returned a non-finite value (text " +
                                 std::to_string(i / dimensions) + ", component " +
                                 std::to_string(i % dimensions) + ")");
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<Embedder>> EmbedderCache::Get(const std::string& model_id,
                                                     const std::string& model_version) {
  const std::string tag = model_id + "@" + model_version;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [cached_tag, embedder] : cache_) {
    if (cached_tag == tag) return embedder;
  }
  if (!resolver_) {
    return Status::FailedPrecondition("no embedder for model '" + tag +
                                      "': the store was opened without an embedder resolver "
                                      "(StoreOptions::embedder_resolver)");
  }
  auto resolved = resolver_(model_id, model_version);
  if (!resolved.ok()) {
    return Status::FailedPrecondition("cannot load the embedding model '" + tag +
                                      "': " + resolved.status().message());
  }
  std::shared_ptr<Embedder> embedder = std::move(resolved).value();
  if (!embedder) return Status::Internal("the embedder resolver returned nothing for " + tag);
  cache_.emplace_back(tag, embedder);
  return embedder;
}

void EmbedderCache::Put(std::shared_ptr<Embedder> embedder) {
  const std::string tag = embedder->info().id + "@" + embedder->info().version;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [cached_tag, cached] : cache_) {
    if (cached_tag == tag) {
      cached = std::move(embedder);
      return;
    }
  }
  cache_.emplace_back(tag, std::move(embedder));
}

Result<std::shared_ptr<Embedder>> CollectionImpl::GetEmbedder() {
  const CollectionConfig config = this->config();
  const std::string tag = config.model_id + "@" + config.model_version;
  std::lock_guard<std::mutex> lock(embedder_mu_);
  // A re-embedding rebuild changes the model tag: the cached embedder is the
  // current one only while its tag still matches.
  if (embedder_ && embedder_->info().id == config.model_id &&
      embedder_->info().version == config.model_version) {
    return embedder_;
  }
  if (config.model_id.empty()) {
    return Status::FailedPrecondition(
        "collection '" + entry_.name +
        "' has no embedding model: it takes embeddings, not text. Create a collection with an "
        "embedder (quiver create --embedder use-lite) to store and search text");
  }
  if (!context_.embedders) {
    return Status::FailedPrecondition("collection '" + entry_.name + "' embeds with '" + tag +
                                      "', but the store was opened without embedders");
  }
  QUIVER_ASSIGN_OR_RETURN(auto embedder,
                          context_.embedders->Get(config.model_id, config.model_version));
  const EmbedderInfo& info = embedder->info();
  if (info.dimensions != config.dimensions) {
    return Status::FailedPrecondition(
        "collection '" + entry_.name + "' has " + std::to_string(config.dimensions) +
        " dimensions, but its model '" + tag + "' now makes " + std::to_string(info.dimensions) +
        "-dimensional embeddings; re-embed with quiver rebuild --embedder");
  }
  embedder_ = std::move(embedder);
  return embedder_;
}

Result<std::vector<float>> EmbedAll(Embedder& embedder, const std::vector<std::string>& texts,
                                    EmbedPurpose purpose,
                                    const std::function<std::string(std::size_t)>& name_of,
                                    std::string_view what) {
  const EmbedderInfo& info = embedder.info();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Status s = embedder.CheckText(texts[i]);
    if (!s.ok()) return Status::InvalidArgument(name_of(i) + ": " + s.message());
  }
  const std::string who = "embedding model '" + info.id + "@" + info.version + "'";
  const std::size_t batch = std::max<std::size_t>(1, info.max_batch);
  std::vector<float> out;
  out.reserve(texts.size() * info.dimensions);
  for (std::size_t begin = 0; begin < texts.size(); begin += batch) {
    const std::vector<std::string> chunk(texts.begin() + begin,
                                         texts.begin() + std::min(texts.size(), begin + batch));
    auto vectors = embedder.Embed(chunk, purpose);
    // The embedder's message names the model or server and its reply.
    if (!vectors.ok()) return vectors.status().WithContext(what);
    QUIVER_RETURN_IF_ERROR(CheckEmbeddings(*vectors, chunk.size(), info.dimensions, who));
    out.insert(out.end(), vectors->begin(), vectors->end());
  }
  return out;
}

Result<const std::vector<Record>*> CollectionImpl::EmbedMissing(const std::vector<Record>& records,
                                                                std::vector<Record>* embedded) {
  std::vector<std::size_t> wanted;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].embedding.empty() && !records[i].text.empty()) wanted.push_back(i);
  }
  if (wanted.empty()) return &records;
  if (records.size() > kMaxBatchSize) return &records;  // ValidateBatch names the problem
  QUIVER_ASSIGN_OR_RETURN(auto embedder, GetEmbedder());
  std::vector<std::string> texts;
  texts.reserve(wanted.size());
  for (std::size_t i : wanted) texts.push_back(records[i].text);
  QUIVER_ASSIGN_OR_RETURN(
      std::vector<float> vectors,
      EmbedAll(
          *embedder, texts, EmbedPurpose::kDocument,
          [&wanted](std::size_t j) { return "records[" + std::to_string(wanted[j]) + "].text"; },
          "records"));
  const std::size_t dims = dimensions_;
  *embedded = records;
  for (std::size_t j = 0; j < wanted.size(); ++j) {
    (*embedded)[wanted[j]].embedding.assign(vectors.begin() + j * dims,
                                            vectors.begin() + (j + 1) * dims);
  }
  return const_cast<const std::vector<Record>*>(embedded);
}

Result<std::vector<std::vector<Match>>> CollectionImpl::SearchText(
    const std::vector<std::string>& queries, const TextSearchOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  if (queries.empty()) {
    return Status::InvalidArgument("queries: none given; expected at least one query text");
  }
  if (queries.size() > kMaxBatchSize) {
    return Status::InvalidArgument("queries: " + std::to_string(queries.size()) +
                                   " in one call; expected at most " +
                                   std::to_string(kMaxBatchSize));
  }
  for (std::size_t i = 0; i < queries.size(); ++i) {
    if (queries[i].empty()) {
      return Status::InvalidArgument("queries[" + std::to_string(i) +
                                     "]: is empty; expected the text to search for");
    }
  }
  // Bad options are reported before any query is embedded (which may cost a
  // call to a remote server).
  QUIVER_RETURN_IF_ERROR(ValidateTextOptions(options, queries));
  std::vector<float> vectors;
  if (options.mode != TextSearchMode::kFullText) {
    QUIVER_ASSIGN_OR_RETURN(auto embedder, GetEmbedder());
    QUIVER_ASSIGN_OR_RETURN(
        vectors,
        EmbedAll(
            *embedder, queries, EmbedPurpose::kQuery,
            [](std::size_t i) { return "queries[" + std::to_string(i) + "]"; }, "queries"));
  }
  if (options.mode == TextSearchMode::kVector) {
    return Search(vectors.data(), queries.size(), options.search);
  }
  return SearchFullTextOrHybrid(queries, vectors, options);
}

}  // namespace quiver
