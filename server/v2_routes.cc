// Copyright (c) Quiver authors.
//
// /v2: the native API. docs/http-api.md documents every route with examples;
// server/openapi.json describes them. Conventions:
//   - collections are addressed by name in the path, records by id in the body;
//   - an id is an integer (the record's key) or a string (stored as the
//     record's id, mapped to a key by KeyForStringId, see record_id.h);
//   - request objects reject unknown fields (a typo is an error, not a default);
//   - errors: {"error": {"code": ..., "message": ...}}, status by StatusToHttp.

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "quiver/collection.h"
#include "quiver/json_views.h"
#include "quiver/record.h"
#include "quiver/store.h"
#include "server/budget.h"
#include "server/json_body.h"
#include "server/json_out.h"
#include "server/record_id.h"
#include "server/routes.h"
#include "server/search_request.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

constexpr std::string_view kNameField = "name";
constexpr std::uint64_t kMaxUint32 = std::numeric_limits<std::uint32_t>::max();

// ---------------------------------------------------------------- JSON views

JsonOut CollectionJson(std::int64_t id, const std::string& name, const CollectionConfig& config) {
  return {{"name", name}, {"id", id}, {"config", ConfigToJson<JsonOut>(config)}};
}

// Stored metadata (serialized JSON object text) as a JSON value; "" is {}.
JsonOut MetadataJson(const std::string& metadata) {
  if (metadata.empty()) return JsonOut::object();
  JsonOut parsed = JsonOut::parse(metadata, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? JsonOut(metadata) : parsed;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// ---------------------------------------------------------------- parsing

Result<std::uint32_t> OptionalUint32(const JsonObject& object, std::string_view key,
                                     std::uint32_t default_value) {
  std::optional<JsonValue> value = object.Optional(key);
  if (!value) return default_value;
  QS_ASSIGN_OR_RETURN(const std::uint64_t number, value->AsUint(0, kMaxUint32));
  return static_cast<std::uint32_t>(number);
}

Result<std::string> OptionalString(const JsonObject& object, std::string_view key) {
  std::optional<JsonValue> value = object.Optional(key);
  if (!value) return std::string();
  QS_ASSIGN_OR_RETURN(std::string_view text, value->AsString());
  return std::string(text);
}

// A collection configuration; omitted fields take CollectionConfig's defaults.
Result<CollectionConfig> ParseConfig(const JsonObject& object) {
  QS_RETURN_IF_ERROR(
      object.OnlyFields({"dimensions", "metric", "scalar", "connectivity", "expansion_add",
                         "expansion_search", "model_id", "model_version"}));
  CollectionConfig config;
  QS_ASSIGN_OR_RETURN(JsonValue dimensions, object.Required("dimensions"));
  QS_ASSIGN_OR_RETURN(const std::uint64_t dimension_count, dimensions.AsUint(1, kMaxUint32));
  config.dimensions = static_cast<std::uint32_t>(dimension_count);
  if (std::optional<JsonValue> metric = object.Optional("metric")) {
    QS_ASSIGN_OR_RETURN(std::string_view name, metric->AsString());
    QS_ASSIGN_OR_RETURN(config.metric, ParseMetric(name));
  }
  if (std::optional<JsonValue> scalar = object.Optional("scalar")) {
    QS_ASSIGN_OR_RETURN(std::string_view name, scalar->AsString());
    QS_ASSIGN_OR_RETURN(config.scalar, ParseScalarKind(name));
  }
  QS_ASSIGN_OR_RETURN(config.connectivity,
                      OptionalUint32(object, "connectivity", config.connectivity));
  QS_ASSIGN_OR_RETURN(config.expansion_add,
                      OptionalUint32(object, "expansion_add", config.expansion_add));
  QS_ASSIGN_OR_RETURN(config.expansion_search,
                      OptionalUint32(object, "expansion_search", config.expansion_search));
  QS_ASSIGN_OR_RETURN(config.model_id, OptionalString(object, "model_id"));
  QS_ASSIGN_OR_RETURN(config.model_version, OptionalString(object, "model_version"));
  QS_RETURN_IF_ERROR(config.Validate().WithContext("config"));
  return config;
}

// Which fields of a record a response carries ("include": [...]).
struct Include {
  bool text = false;
  bool metadata = false;
  bool embedding = false;
  bool distance = false;
};

// Parses "include" (absent = `defaults`); each name must be in `allowed`.
Result<Include> ParseInclude(const JsonObject& root, Include defaults,
                             std::initializer_list<std::string_view> allowed) {
  std::optional<JsonValue> value = root.Optional("include");
  if (!value) return defaults;
  QS_ASSIGN_OR_RETURN(JsonArray names, value->AsArray());
  Include include;
  QS_RETURN_IF_ERROR(names.ForEach([&](std::size_t, const JsonValue& name_value) -> Status {
    QS_ASSIGN_OR_RETURN(std::string_view name, name_value.AsString());
    bool known = false;
    for (std::string_view candidate : allowed) known = known || candidate == name;
    if (!known) {
      return Status::InvalidArgument(fmt::format("{}: unknown field '{}'; expected one of: {}",
                                                 name_value.Name(), name,
                                                 fmt::join(allowed, ", ")));
    }
    include.text = include.text || name == "text";
    include.metadata = include.metadata || name == "metadata";
    include.embedding = include.embedding || name == "embedding";
    include.distance = include.distance || name == "distance";
    return Status::Ok();
  }));
  return include;
}

// "ids": [...], 1 to kMaxBatchSize of them.
Result<std::vector<RecordId>> ParseIds(const JsonObject& root) {
  QS_ASSIGN_OR_RETURN(JsonValue value, root.Required("ids"));
  QS_ASSIGN_OR_RETURN(JsonArray array, value.AsArray());
  QS_RETURN_IF_ERROR(array.CheckSize(1, kMaxBatchSize));
  std::vector<RecordId> ids;
  ids.reserve(array.size());
  QS_RETURN_IF_ERROR(array.ForEach([&](std::size_t, const JsonValue& id) -> Status {
    QS_ASSIGN_OR_RETURN(RecordId parsed, ParseRecordId(id));
    ids.push_back(std::move(parsed));
    return Status::Ok();
  }));
  return ids;
}

std::vector<Key> KeysOf(const std::vector<RecordId>& ids) {
  std::vector<Key> keys;
  keys.reserve(ids.size());
  for (const RecordId& id : ids) keys.push_back(id.key);
  return keys;
}

// Whether the stored record is the one the client named: any record for an
// integer id; for a string id, only the record holding that string (the key
// might hold an integer-keyed record that merely shares the hash).
/// Whether `stored` is the record `requested` names: a string id names only
/// the record that holds it, an integer only a record without a string id
/// (the one id rule: a record with a string id is never reached by its key).
bool IsRecordNamed(const RecordId& requested, const Record& stored) {
  return requested.id == stored.id;
}

/// The `where` filter of a request, as the JSON text the library parses
/// (docs/filters.md); empty when absent. The library names a bad node
/// "where.<path>"; the request field has the same name.
Result<std::string> OptionalWhere(const JsonObject& root) {
  std::optional<JsonValue> where = root.Optional("where");
  if (!where || where->IsNull()) return std::string();
  QS_RETURN_IF_ERROR(where->AsObject().status());
  return where->Minified();
}

/// A finite number (float32 range), for max_distance.
Result<float> AsFiniteFloat(const JsonValue& value) {
  double number = 0;
  if (value.element().get(number) != simdjson::SUCCESS || !std::isfinite(number) ||
      std::abs(number) > std::numeric_limits<float>::max()) {
    return Status::InvalidArgument(value.Name() + ": expected a finite number");
  }
  return static_cast<float>(number);
}

JsonOut PlanJson(const SearchPlan& plan) {
  return JsonOut{{"strategy", SearchPlan::StrategyName(plan.strategy)},
                 {"matching", plan.matching},
                 {"total", plan.total},
                 {"expansion", plan.expansion},
                 {"rerank_candidates", plan.rerank_candidates},
                 {"plan_ms", plan.plan_ms}};
}

JsonOut RecordJson(const Record& record, const Include& include) {
  JsonOut json = {{"id", RecordIdJson(record.key, record.id)}, {"key", record.key}};
  if (include.text) json["text"] = record.text;
  if (include.metadata) json["metadata"] = MetadataJson(record.metadata);
  if (include.embedding) json["embedding"] = record.embedding;
  return json;
}

// The request's collection: the {name} path parameter.
Result<std::shared_ptr<Collection>> PathCollection(Service& service,
                                                   const httplib::Request& request) {
  return service.FindCollection(PathParameter(request, 1), kNameField);
}

// ---------------------------------------------------------------- collections

Result<Reply> ListCollections(Service& service, const httplib::Request&) {
  QS_ASSIGN_OR_RETURN(std::vector<CollectionInfo> infos, service.store()->ListCollections());
  JsonOut collections = JsonOut::array();
  for (const CollectionInfo& info : infos) {
    JsonOut collection = CollectionJson(info.id, info.name, info.config);
    // A quarantined collection (docs/durability.md §4): listed, not served.
    if (!info.damage.empty()) collection["damage"] = info.damage;
    collections.push_back(std::move(collection));
  }
  return Reply::Json({{"collections", std::move(collections)}});
}

Result<Reply> CreateCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"name", "config"}));
  QS_ASSIGN_OR_RETURN(JsonValue name_value, root.Required(kNameField));
  QS_ASSIGN_OR_RETURN(std::string_view name, name_value.AsString());
  QS_RETURN_IF_ERROR(ValidateCollectionNameField(name, kNameField));
  QS_ASSIGN_OR_RETURN(JsonValue config_value, root.Required("config"));
  QS_ASSIGN_OR_RETURN(JsonObject config_object, config_value.AsObject());
  QS_ASSIGN_OR_RETURN(CollectionConfig config, ParseConfig(config_object));

  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection,
                      service.store()->CreateCollection(std::string(name), config));
  QS_ASSIGN_OR_RETURN(CollectionStats stats, collection->Stats());
  Reply reply = Reply::Json(CollectionJson(stats.id, stats.name, stats.config), 201);
  reply.headers.emplace_back("Location", fmt::format("/v2/collections/{}", stats.name));
  return reply;
}

Result<Reply> GetCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(CollectionStats stats, collection->Stats());
  JsonOut json = CollectionJson(stats.id, stats.name, stats.config);
  json["records"] = stats.records;
  return Reply::Json(json);
}

Result<Reply> DropCollection(Service& service, const httplib::Request& request) {
  const std::string name = PathParameter(request, 1);
  QS_RETURN_IF_ERROR(ValidateCollectionNameField(name, kNameField));
  QS_RETURN_IF_ERROR(service.store()->DropCollection(name));
  return Reply::Json({{"dropped", name}});
}

Result<Reply> CollectionStatsRoute(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(CollectionStats stats, collection->Stats());
  return Reply::Json(StatsToJson<JsonOut>(stats));
}

Result<Reply> CheckpointCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  const auto start = std::chrono::steady_clock::now();
  QS_RETURN_IF_ERROR(collection->Checkpoint());
  const double milliseconds = MillisecondsSince(start);
  service.metrics().ObserveCheckpoint(milliseconds / 1000);
  QS_ASSIGN_OR_RETURN(CollectionStats stats, collection->Stats());
  return Reply::Json({{"collection", stats.name},
                      {"duration_ms", milliseconds},
                      {"checkpoint_generation", stats.checkpoint_generation},
                      {"change_log_length", stats.change_log_length}});
}

Result<Reply> CheckpointStore(Service& service, const httplib::Request&) {
  const auto start = std::chrono::steady_clock::now();
  QS_RETURN_IF_ERROR(service.store()->Checkpoint());
  const double milliseconds = MillisecondsSince(start);
  service.metrics().ObserveCheckpoint(milliseconds / 1000);
  return Reply::Json({{"duration_ms", milliseconds}});
}

Result<Reply> Info(Service&, const httplib::Request&) {
  return Reply::Json({{"version", Version()},
                      {"usearch_version", UsearchVersion()},
                      {"simd", SimdCapabilities()},
                      {"limits",
                       {{"max_batch_size", kMaxBatchSize},
                        {"max_search_k", kMaxSearchK},
                        {"max_queries_per_request", kMaxQueriesPerRequest},
                        {"max_results_per_request", kMaxResultsPerRequest},
                        {"max_string_id_bytes", kMaxStringIdBytes}}}});
}

// ---------------------------------------------------------------- records

Result<Reply> UpsertRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"records"}));
  QS_ASSIGN_OR_RETURN(JsonValue records_value, root.Required("records"));
  QS_ASSIGN_OR_RETURN(JsonArray records_array, records_value.AsArray());
  QS_RETURN_IF_ERROR(records_array.CheckSize(1, kMaxBatchSize));

  const std::size_t dimensions = collection->config().dimensions;
  std::vector<Record> records;
  records.reserve(records_array.size());
  QS_RETURN_IF_ERROR(records_array.ForEach([&](std::size_t, const JsonValue& value) -> Status {
    QS_ASSIGN_OR_RETURN(JsonObject object, value.AsObject());
    QS_RETURN_IF_ERROR(object.OnlyFields({"id", "embedding", "text", "metadata"}));
    Record& record = records.emplace_back();
    QS_ASSIGN_OR_RETURN(JsonValue id_value, object.Required("id"));
    QS_ASSIGN_OR_RETURN(RecordId id, ParseRecordId(id_value));
    record.key = id.key;
    record.id = std::move(id.id);
    QS_ASSIGN_OR_RETURN(record.text, OptionalString(object, "text"));
    // A record with text and no embedding is embedded by the collection's model.
    std::optional<JsonValue> embedding = object.Optional("embedding");
    if (embedding.has_value() || record.text.empty()) {
      QS_ASSIGN_OR_RETURN(JsonValue required, object.Required("embedding"));
      QS_RETURN_IF_ERROR(required.AppendFloats(dimensions, &record.embedding));
    }
    if (std::optional<JsonValue> metadata = object.Optional("metadata")) {
      QS_RETURN_IF_ERROR(metadata->AsObject().status());
      record.metadata = metadata->Minified();
    }
    return Status::Ok();
  }));
  QS_RETURN_IF_ERROR(CheckRecordSizes(service, records));
  QS_RETURN_IF_ERROR(collection->Upsert(records));
  return Reply::Json({{"upserted", records.size()}});
}

/// A page of the records that match `where` (all without it), in key order:
/// {"records": [...], "next_cursor": "..." or null}.
Result<Reply> ScanRecords(Collection& collection, const JsonObject& root, const Include& include) {
  ScanOptions options;
  QS_ASSIGN_OR_RETURN(options.filter, OptionalWhere(root));
  if (std::optional<JsonValue> limit = root.Optional("limit")) {
    QS_ASSIGN_OR_RETURN(options.limit, limit->AsUint(1, kMaxBatchSize));
  }
  if (std::optional<JsonValue> offset = root.Optional("offset")) {
    QS_ASSIGN_OR_RETURN(options.offset, offset->AsUint(0, std::uint64_t{1} << 62));
  }
  QS_ASSIGN_OR_RETURN(options.cursor, OptionalString(root, "cursor"));
  options.include_text = include.text;
  options.include_metadata = include.metadata;
  options.include_embedding = include.embedding;
  QS_ASSIGN_OR_RETURN(ScanPage page, collection.Scan(options));
  JsonOut records = JsonOut::array();
  for (const Record& record : page.records) records.push_back(RecordJson(record, include));
  return Reply::Json(
      {{"records", std::move(records)},
       {"next_cursor", page.next_cursor.empty() ? JsonOut(nullptr) : JsonOut(page.next_cursor)}});
}

Result<Reply> ListRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  ScanOptions options;
  options.include_text = options.include_metadata = true;
  if (request.has_param("limit")) {
    const std::string text = request.get_param_value("limit");
    std::size_t limit = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (error != std::errc() || end != text.data() + text.size() || limit == 0 ||
        limit > kMaxBatchSize) {
      return Status::InvalidArgument("limit: '" + text + "'; expected 1.." +
                                     std::to_string(kMaxBatchSize));
    }
    options.limit = limit;
  }
  if (request.has_param("cursor")) options.cursor = request.get_param_value("cursor");
  QS_ASSIGN_OR_RETURN(ScanPage page, collection->Scan(options));
  JsonOut records = JsonOut::array();
  const Include include{.text = true, .metadata = true};
  for (const Record& record : page.records) records.push_back(RecordJson(record, include));
  return Reply::Json(
      {{"records", std::move(records)},
       {"next_cursor", page.next_cursor.empty() ? JsonOut(nullptr) : JsonOut(page.next_cursor)}});
}

Result<Reply> GetRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"ids", "include", "where", "limit", "offset", "cursor"}));
  QS_ASSIGN_OR_RETURN(Include include, ParseInclude(root, Include{.text = true, .metadata = true},
                                                    {"text", "metadata", "embedding"}));
  if (!root.Optional("ids")) return ScanRecords(*collection, root, include);
  QS_ASSIGN_OR_RETURN(std::vector<RecordId> ids, ParseIds(root));

  QS_ASSIGN_OR_RETURN(std::vector<std::optional<Record>> stored, collection->Get(KeysOf(ids)));
  JsonOut found = JsonOut::array();
  JsonOut not_found = JsonOut::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (stored[i].has_value() && IsRecordNamed(ids[i], *stored[i])) {
      found.push_back(RecordJson(*stored[i], include));
    } else {
      not_found.push_back(ids[i].ToJson());
    }
  }
  return Reply::Json({{"records", std::move(found)}, {"not_found", std::move(not_found)}});
}

Result<Reply> DeleteRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"ids", "where"}));
  const bool by_filter = root.Optional("where").has_value();
  if (by_filter == root.Optional("ids").has_value()) {
    return Status::InvalidArgument("give exactly one of 'ids' or 'where'");
  }
  if (by_filter) {
    QS_ASSIGN_OR_RETURN(std::string where, OptionalWhere(root));
    if (where.empty()) return Status::InvalidArgument("where: expected a filter object");
    QS_ASSIGN_OR_RETURN(const std::size_t deleted, collection->DeleteWhere(where));
    return Reply::Json({{"deleted", deleted}});
  }
  QS_ASSIGN_OR_RETURN(std::vector<RecordId> ids, ParseIds(root));

  // An id deletes only the record it names (see IsRecordNamed): a string id
  // the record that holds it, an integer a record without a string id.
  std::vector<Key> keys;
  QS_ASSIGN_OR_RETURN(std::vector<std::optional<Record>> stored, collection->Get(KeysOf(ids)));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (stored[i].has_value() && IsRecordNamed(ids[i], *stored[i])) keys.push_back(ids[i].key);
  }
  std::size_t deleted = 0;
  if (!keys.empty()) {
    QS_ASSIGN_OR_RETURN(deleted, collection->Delete(keys));
  }
  return Reply::Json({{"deleted", deleted}});
}

Result<Reply> CountRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(const std::uint64_t count, collection->Count());
  return Reply::Json({{"count", count}});
}

Result<Reply> CountWhere(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"where"}));
  QS_ASSIGN_OR_RETURN(std::string where, OptionalWhere(root));
  QS_ASSIGN_OR_RETURN(const std::uint64_t count, collection->Count(where));
  return Reply::Json({{"count", count}});
}

// The text-search fields of a query body: "mode", "syntax", "fusion", "rrf_k",
// "vector_weight", "candidates". Only text queries ("text", "texts") take
// them (a vector query may say "mode": "vector"). Ranges are the library's
// (TextSearchOptions), checked here so that the field is named as sent.
Result<TextSearchOptions> ParseTextOptions(const JsonObject& root, bool by_text) {
  TextSearchOptions options;
  if (std::optional<JsonValue> mode = root.Optional("mode")) {
    QS_ASSIGN_OR_RETURN(std::string_view name, mode->AsString());
    if (name == "vector") {
      options.mode = TextSearchMode::kVector;
    } else if (name == "fulltext") {
      options.mode = TextSearchMode::kFullText;
    } else if (name == "hybrid") {
      options.mode = TextSearchMode::kHybrid;
    } else {
      return Status::InvalidArgument(
          fmt::format("mode: '{}' is not a mode; expected vector, fulltext or hybrid", name));
    }
    if (!by_text && options.mode != TextSearchMode::kVector) {
      return Status::InvalidArgument(fmt::format(
          "mode: '{}' searches by text; give 'text' or 'texts' instead of vectors", name));
    }
  }
  if (std::optional<JsonValue> syntax = root.Optional("syntax")) {
    if (!by_text) {
      return Status::InvalidArgument("syntax: applies to text queries; give 'text' or 'texts'");
    }
    QS_ASSIGN_OR_RETURN(std::string_view name, syntax->AsString());
    if (name == "plain") {
      options.syntax = TextQuerySyntax::kPlain;
    } else if (name == "fts5") {
      options.syntax = TextQuerySyntax::kFts5;
    } else {
      return Status::InvalidArgument(
          fmt::format("syntax: '{}' is not a query syntax; expected plain or fts5", name));
    }
  }
  for (std::string_view field : {"fusion", "rrf_k", "vector_weight", "candidates"}) {
    if (!by_text && root.Optional(field)) {
      return Status::InvalidArgument(
          fmt::format("{}: applies to text queries in mode hybrid; give 'text' or 'texts'", field));
    }
  }
  if (std::optional<JsonValue> fusion = root.Optional("fusion")) {
    QS_ASSIGN_OR_RETURN(std::string_view name, fusion->AsString());
    if (name == "rrf") {
      options.fusion = FusionMethod::kReciprocalRank;
    } else if (name == "weighted") {
      options.fusion = FusionMethod::kWeighted;
    } else {
      return Status::InvalidArgument(
          fmt::format("fusion: '{}' is not a fusion method; expected rrf or weighted", name));
    }
  }
  if (std::optional<JsonValue> rrf_k = root.Optional("rrf_k")) {
    QS_ASSIGN_OR_RETURN(options.rrf_k, rrf_k->AsUint(1, 10000));
  }
  if (std::optional<JsonValue> weight = root.Optional("vector_weight")) {
    QS_ASSIGN_OR_RETURN(options.vector_weight, AsFiniteFloat(*weight));
    if (options.vector_weight < 0.0f || options.vector_weight > 1.0f) {
      return Status::InvalidArgument(fmt::format("{}: {}; expected a number from 0 to 1",
                                                 weight->Name(), options.vector_weight));
    }
  }
  if (std::optional<JsonValue> candidates = root.Optional("candidates")) {
    QS_ASSIGN_OR_RETURN(options.candidates, candidates->AsUint(0, kMaxSearchK));
  }
  return options;
}

// The query texts: "text" (one) or "texts" (1 to kMaxQueriesPerRequest),
// each a non-empty string.
Result<std::vector<std::string>> ParseQueryTexts(const std::optional<JsonValue>& single,
                                                 const std::optional<JsonValue>& many,
                                                 std::size_t k) {
  std::vector<std::string> texts;
  auto add = [&texts](const JsonValue& value) -> Status {
    QS_ASSIGN_OR_RETURN(std::string_view text, value.AsString());
    if (text.empty()) {
      return Status::InvalidArgument(value.Name() + ": is empty; expected the text to search for");
    }
    texts.emplace_back(text);
    return Status::Ok();
  };
  if (single) {
    QS_RETURN_IF_ERROR(add(*single));
    return texts;
  }
  QS_ASSIGN_OR_RETURN(JsonArray array, many->AsArray());
  QS_RETURN_IF_ERROR(array.CheckSize(1, kMaxQueriesPerRequest));
  QS_RETURN_IF_ERROR(CheckSearchSize(array.size(), k));
  texts.reserve(array.size());
  QS_RETURN_IF_ERROR(
      array.ForEach([&](std::size_t, const JsonValue& value) { return add(value); }));
  return texts;
}

Result<Reply> Query(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, PathCollection(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(
      root.OnlyFields({"vector", "vectors", "text", "texts", "mode", "syntax", "fusion", "rrf_k",
                       "vector_weight", "candidates", "k", "expansion_search", "include", "where",
                       "max_distance", "rerank", "rerank_oversample", "explain"}));

  SearchOptions options;
  QS_ASSIGN_OR_RETURN(options.filter, OptionalWhere(root));
  if (std::optional<JsonValue> max_distance = root.Optional("max_distance")) {
    QS_ASSIGN_OR_RETURN(options.max_distance, AsFiniteFloat(*max_distance));
  }
  if (std::optional<JsonValue> rerank = root.Optional("rerank")) {
    QS_ASSIGN_OR_RETURN(options.rerank, rerank->AsBool());
  }
  if (std::optional<JsonValue> oversample = root.Optional("rerank_oversample")) {
    QS_ASSIGN_OR_RETURN(options.rerank_oversample, oversample->AsUint(1, 100));
  }
  bool explain = false;
  if (std::optional<JsonValue> value = root.Optional("explain")) {
    QS_ASSIGN_OR_RETURN(explain, value->AsBool());
  }
  if (std::optional<JsonValue> k = root.Optional("k")) {
    QS_ASSIGN_OR_RETURN(options.k, k->AsUint(1, kMaxSearchK));
  }
  if (std::optional<JsonValue> expansion = root.Optional("expansion_search")) {
    QS_ASSIGN_OR_RETURN(options.expansion_search, expansion->AsUint(0, kMaxSearchK));
  }
  QS_ASSIGN_OR_RETURN(Include include,
                      ParseInclude(root, Include{.text = true, .metadata = true, .distance = true},
                                   {"text", "metadata", "embedding", "distance"}));

  // Exactly one of: one query vector ("vector"), many ("vectors"), one
  // query text ("text") or many ("texts").
  const std::size_t dimensions = collection->config().dimensions;
  std::optional<JsonValue> single = root.Optional("vector");
  std::optional<JsonValue> many = root.Optional("vectors");
  std::optional<JsonValue> single_text = root.Optional("text");
  std::optional<JsonValue> many_texts = root.Optional("texts");
  if (single.has_value() + many.has_value() + single_text.has_value() + many_texts.has_value() !=
      1) {
    return Status::InvalidArgument(
        "give exactly one of 'vector' (one query vector), 'vectors', 'text' (one query text) or "
        "'texts'");
  }
  const bool by_text = single_text.has_value() || many_texts.has_value();
  QS_ASSIGN_OR_RETURN(TextSearchOptions text_options, ParseTextOptions(root, by_text));
  std::vector<float> queries;
  std::vector<std::string> texts;
  std::size_t num_queries = 1;
  if (by_text) {
    QS_ASSIGN_OR_RETURN(texts, ParseQueryTexts(single_text, many_texts, options.k));
    num_queries = texts.size();
  } else if (single) {
    QS_RETURN_IF_ERROR(single->AppendFloats(dimensions, &queries));
  } else {
    QS_ASSIGN_OR_RETURN(JsonArray vectors, many->AsArray());
    num_queries = vectors.size();
    QS_RETURN_IF_ERROR(CheckSearchSize(num_queries, options.k));
    QS_RETURN_IF_ERROR(ReadQueryVectors(vectors, dimensions, &queries));
  }
  body.reset();

  // Every match names its record; the library looks string ids up only in a
  // collection that has stored one (integer ids are the keys themselves).
  options.include_text = include.text;
  options.include_metadata = include.metadata;
  options.include_id = true;
  text_options.search = options;
  // Full-text and hybrid matches carry their score (higher is better).
  const bool scored = by_text && text_options.mode != TextSearchMode::kVector;
  std::optional<JsonOut> plan;
  if (explain && by_text && text_options.mode == TextSearchMode::kFullText) {
    plan = JsonOut{{"strategy", "fulltext"}};
  } else if (explain) {
    // A hybrid search's plan is its vector side's, `candidates` long.
    SearchOptions planned = options;
    if (by_text && text_options.mode == TextSearchMode::kHybrid) {
      planned.k = text_options.candidates != 0
                      ? text_options.candidates
                      : std::min(kMaxSearchK, std::max<std::size_t>(4 * options.k, 50));
    }
    QS_ASSIGN_OR_RETURN(SearchPlan vector_plan, collection->Explain(planned));
    plan = PlanJson(vector_plan);
  }
  std::vector<std::vector<Match>> results;
  if (by_text) {
    QS_ASSIGN_OR_RETURN(results,
                        SearchTextWithinBudget(service, *collection, texts, text_options,
                                               single_text.has_value() ? "text" : "texts"));
  } else {
    QS_ASSIGN_OR_RETURN(
        results, SearchWithinBudget(service, *collection, queries.data(), num_queries, options));
  }

  // Embeddings are not part of a match: read them by key, each once.
  std::unordered_map<Key, std::vector<float>> embeddings;
  if (include.embedding) {
    std::vector<Key> keys;
    for (const std::vector<Match>& matches : results) {
      for (const Match& match : matches) {
        if (embeddings.emplace(match.key, std::vector<float>()).second) keys.push_back(match.key);
      }
    }
    QS_ASSIGN_OR_RETURN(std::vector<std::optional<Record>> records, collection->Get(keys));
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (records[i].has_value()) embeddings[keys[i]] = std::move(records[i]->embedding);
    }
  }

  JsonOut response_results = JsonOut::array();
  for (const std::vector<Match>& matches : results) {
    JsonOut list = JsonOut::array();
    for (const Match& match : matches) {
      JsonOut item = {{"id", RecordIdJson(match.key, match.id)}, {"key", match.key}};
      if (scored) item["score"] = match.score;
      // NaN: a full-text match, or a hybrid one only BM25 found.
      if (include.distance) {
        item["distance"] = std::isnan(match.distance) ? JsonOut(nullptr) : JsonOut(match.distance);
      }
      if (include.text) item["text"] = match.text;
      if (include.metadata) item["metadata"] = MetadataJson(match.metadata);
      // A record deleted between the search and the read has no embedding: null.
      if (include.embedding) {
        const std::vector<float>& embedding = embeddings[match.key];
        item["embedding"] = embedding.empty() ? JsonOut(nullptr) : JsonOut(embedding);
      }
      list.push_back(std::move(item));
    }
    response_results.push_back(std::move(list));
  }
  JsonOut response = {{"results", std::move(response_results)}};
  if (plan) response["plan"] = std::move(*plan);
  return Reply::Json(std::move(response));
}

}  // namespace

std::vector<Route> NativeRoutes(Service& service) {
  constexpr bool kJson = true;
  return BindRoutes(service, ErrorStyle::kNative,
                    {
                        {"GET", "/v2/info", Info, !kJson, /*needs_store=*/false},
                        {"GET", "/v2/collections", ListCollections},
                        {"POST", "/v2/collections", CreateCollection, kJson},
                        {"GET", "/v2/collections/{name}", GetCollection},
                        {"DELETE", "/v2/collections/{name}", DropCollection},
                        {"GET", "/v2/collections/{name}/stats", CollectionStatsRoute},
                        {"POST", "/v2/collections/{name}/checkpoint", CheckpointCollection},
                        {"POST", "/v2/collections/{name}/records", UpsertRecords, kJson},
                        {"POST", "/v2/collections/{name}/records/get", GetRecords, kJson},
                        {"POST", "/v2/collections/{name}/records/delete", DeleteRecords, kJson},
                        {"GET", "/v2/collections/{name}/records/count", CountRecords},
                        {"POST", "/v2/collections/{name}/records/count", CountWhere, kJson},
                        {"GET", "/v2/collections/{name}/records", ListRecords},
                        {"POST", "/v2/collections/{name}/query", Query, kJson},
                        {"POST", "/v2/checkpoint", CheckpointStore},
                    });
}

}  // namespace quiver::server
