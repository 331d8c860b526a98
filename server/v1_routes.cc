// Copyright (c) Quiver authors.
//
// /v1: the routes of memista (github.com/Skelf-Research/memista), with the
// request and response shapes its server code produces, so that its clients
// work unchanged. Where memista is broken, Quiver is right instead:
//   - an insert is atomic: one bad chunk rejects the request, nothing is written;
//   - client errors are 4xx with {"error": "..."}, never 500;
//   - a search on an unknown database_id is 404 and creates nothing;
//   - a database_id that is not a valid collection name is 400.
// A database_id is a collection; the first insert creates it with the
// dimensions of its vectors and metric ip (memista's), other settings default.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "quiver/collection.h"
#include "quiver/record.h"
#include "quiver/store.h"
#include "server/budget.h"
#include "server/json_body.h"
#include "server/json_out.h"
#include "server/routes.h"
#include "server/search_request.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

constexpr std::string_view kDatabaseId = "database_id";

// A parsed, fully validated POST /v1/insert (nothing touched the store yet).
struct InsertRequest {
  std::string database_id;
  std::size_t dimensions = 0;   // of every chunk
  std::vector<Record> records;  // keys chosen by Collection::Insert
};

Result<InsertRequest> ParseInsert(const JsonBody& body) {
  InsertRequest insert;
  QS_ASSIGN_OR_RETURN(JsonObject root, body.RootObject());
  QS_ASSIGN_OR_RETURN(JsonValue database_id, root.Required(kDatabaseId));
  QS_ASSIGN_OR_RETURN(std::string_view name, database_id.AsString());
  QS_RETURN_IF_ERROR(ValidateCollectionNameField(name, kDatabaseId));
  insert.database_id = std::string(name);

  QS_ASSIGN_OR_RETURN(JsonValue chunks_value, root.Required("chunks"));
  QS_ASSIGN_OR_RETURN(JsonArray chunks, chunks_value.AsArray());
  QS_RETURN_IF_ERROR(chunks.CheckSize(1, kMaxBatchSize));
  insert.records.reserve(chunks.size());
  QS_RETURN_IF_ERROR(chunks.ForEach([&](std::size_t, const JsonValue& chunk_value) -> Status {
    QS_ASSIGN_OR_RETURN(JsonObject chunk, chunk_value.AsObject());
    Record& record = insert.records.emplace_back();
    // The first chunk fixes the dimensions the others must have.
    QS_ASSIGN_OR_RETURN(JsonValue embedding, chunk.Required("embedding"));
    QS_RETURN_IF_ERROR(embedding.AppendFloats(insert.dimensions, &record.embedding));
    insert.dimensions = record.embedding.size();
    QS_ASSIGN_OR_RETURN(JsonValue text, chunk.Required("text"));
    QS_ASSIGN_OR_RETURN(std::string_view text_value, text.AsString());
    record.text = std::string(text_value);
    // memista's metadata is a string holding JSON; the store keeps a JSON object.
    QS_ASSIGN_OR_RETURN(JsonValue metadata, chunk.Required("metadata"));
    QS_ASSIGN_OR_RETURN(std::string_view metadata_text, metadata.AsString());
    if (!metadata_text.empty()) {
      QS_RETURN_IF_ERROR(ValidateJsonObjectText(metadata_text, metadata.Name()));
    }
    record.metadata = std::string(metadata_text);
    return Status::Ok();
  }));
  return insert;
}

// The collection `name`, created with memista's configuration (metric ip) and
// `dimensions` if it does not exist yet.
Result<std::shared_ptr<Collection>> GetOrCreate(Store& store, const std::string& name,
                                                std::size_t dimensions) {
  Result<std::shared_ptr<Collection>> found = store.GetCollection(name);
  if (found.ok() || found.status().code() != StatusCode::kNotFound) return found;
  CollectionConfig config;
  config.dimensions = static_cast<std::uint32_t>(dimensions);
  config.metric = Metric::kIp;
  Result<std::shared_ptr<Collection>> created = store.CreateCollection(name, config);
  if (created.ok() || created.status().code() != StatusCode::kAlreadyExists) return created;
  return store.GetCollection(name);  // a concurrent insert created it first
}

Result<Reply> Insert(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(InsertRequest insert, ParseInsert(*body));
  QS_RETURN_IF_ERROR(CheckRecordSizes(service, insert.records));
  body.reset();  // the records own copies of everything they need

  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection,
                      GetOrCreate(*service.store(), insert.database_id, insert.dimensions));
  if (collection->config().dimensions != insert.dimensions) {
    return Status::InvalidArgument(
        fmt::format("chunks[0].embedding: has {} values, but database '{}' has {} dimensions",
                    insert.dimensions, insert.database_id, collection->config().dimensions));
  }
  // The store numbers the records: after the collection's largest key.
  QS_ASSIGN_OR_RETURN(std::vector<Key> keys, collection->Insert(insert.records));
  return Reply::Json(JsonOut{{"inserted_ids", keys}});
}

Result<Reply> Search(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_ASSIGN_OR_RETURN(JsonValue database_id, root.Required(kDatabaseId));
  QS_ASSIGN_OR_RETURN(std::string_view name, database_id.AsString());
  QS_ASSIGN_OR_RETURN(JsonValue num_results, root.Required("num_results"));
  QS_ASSIGN_OR_RETURN(const std::uint64_t k, num_results.AsUint(1, kMaxSearchK));
  QS_ASSIGN_OR_RETURN(JsonValue embeddings_value, root.Required("embeddings"));
  QS_ASSIGN_OR_RETURN(JsonArray embeddings, embeddings_value.AsArray());
  QS_RETURN_IF_ERROR(CheckSearchSize(embeddings.size(), k));
  // Looked up, never created: a search on an unknown database is a 404.
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection,
                      service.FindCollection(name, kDatabaseId));

  std::vector<float> queries;
  QS_RETURN_IF_ERROR(ReadQueryVectors(embeddings, collection->config().dimensions, &queries));
  SearchOptions options;
  options.k = k;
  QS_ASSIGN_OR_RETURN(
      std::vector<std::vector<Match>> results,
      SearchWithinBudget(service, *collection, queries.data(), embeddings.size(), options));

  JsonOut response = JsonOut::array();
  for (const std::vector<Match>& matches : results) {
    JsonOut ranked = JsonOut::array();
    for (const Match& match : matches) {
      ranked.push_back(
          {{"text", match.text},
           {"metadata", match.metadata.empty() ? JsonOut(nullptr) : JsonOut(match.metadata)},
           {"score", match.distance}});
    }
    response.push_back(std::move(ranked));
  }
  return Reply::Json(response);
}

Result<Reply> Drop(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_ASSIGN_OR_RETURN(JsonValue database_id, root.Required(kDatabaseId));
  QS_ASSIGN_OR_RETURN(std::string_view name_view, database_id.AsString());
  QS_RETURN_IF_ERROR(ValidateCollectionNameField(name_view, kDatabaseId));
  const std::string name(name_view);
  // Like memista, dropping a database that does not exist succeeds.
  Status dropped = service.store()->DropCollection(name);
  if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  return Reply::Json(
      {{"status", "success"},
       {"message", dropped.ok() ? fmt::format("Database '{}' dropped", name)
                                : fmt::format("Database '{}' did not exist", name)}});
}

}  // namespace

std::vector<Route> MemistaRoutes(Service& service) {
  return BindRoutes(service, ErrorStyle::kMemista,
                    {
                        {"POST", "/v1/insert", Insert, /*json_body=*/true},
                        {"POST", "/v1/search", Search, /*json_body=*/true},
                        {"DELETE", "/v1/drop", Drop, /*json_body=*/true},
                    });
}

}  // namespace quiver::server
