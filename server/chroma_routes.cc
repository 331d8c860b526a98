// Copyright (c) Quiver authors.
//
// /api/v2: Chroma's REST API, the routes its JS client chromadb@3.0.14 calls,
// with its request and response shapes, so that Chroma's clients work against
// `quiver serve` unchanged (docs/chroma.md). How Chroma's names map onto
// Quiver's is kept in one place, server/chroma_catalog.h.
//
// Errors have Chroma's shape {"error": "NotFoundError", "message": "..."}
// (ErrorStyle::kChroma): a missing collection is 404, a duplicate name 409, a
// bad field 400 naming it. Not supported in this slice (a clear 4xx/501, never
// a crash): server-side embedding (records and queries must carry embeddings),
// uris, base64 embeddings, collection modify and fork, tenant/database delete,
// where_document's $regex / $not_regex, reset.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "quiver/collection.h"
#include "quiver/record.h"
#include "quiver/store.h"
#include "server/budget.h"
#include "server/chroma_catalog.h"
#include "server/json_body.h"
#include "server/json_out.h"
#include "server/record_id.h"
#include "server/routes.h"
#include "server/search_request.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

/// The Chroma server version Quiver answers as (the API of chromadb 1.0.x).
constexpr char kChromaVersion[] = "1.0.0";

/// Ids that one `$in` of a Quiver filter may carry (the filter language's
/// limit is 1,000 terms in all; the rest is left to `where`).
constexpr std::size_t kMaxFilterIds = 900;

/// What the message of a missing embedding says.
constexpr char kNoServerEmbedding[] =
    "Quiver does not run Chroma's embedding functions on the server; compute the embeddings in "
    "the client (its embedding function does that) and send them";

/// A response in which some values are JSON texts spliced in verbatim: stored metadata, whose
/// numbers are float64 (JsonOut prints floats as float32, which would change 1.23456789).
/// Slot() stands in a placeholder string that Dump() replaces with the text.
class RawJson {
 public:
  /// A placeholder for `text` (valid JSON) in the value being built.
  JsonOut Slot(std::string text) {
    texts_.push_back(std::move(text));
    return JsonOut(fmt::format("\x01quiver-raw:{:x}:{}", Nonce(), texts_.size() - 1));
  }

  /// `value` serialized with every placeholder replaced by its text.
  std::string Dump(const JsonOut& value) const {
    std::string out = DumpJson(value);
    if (texts_.empty()) return out;
    // DumpJson escapes the control character 0x01 as a six-character JSON escape.
    const std::string prefix = fmt::format("\"\\u0001quiver-raw:{:x}:", Nonce());
    std::string spliced;
    spliced.reserve(out.size());
    std::size_t pos = 0;
    for (std::size_t at; (at = out.find(prefix, pos)) != std::string::npos;) {
      spliced.append(out, pos, at - pos);
      const std::size_t digits = at + prefix.size();
      const std::size_t quote = out.find('"', digits);
      std::size_t index = 0;
      std::from_chars(out.data() + digits, out.data() + quote, index);
      spliced += texts_.at(index);
      pos = quote + 1;
    }
    spliced.append(out, pos, std::string::npos);
    return spliced;
  }

  /// The JSON reply of `value`.
  Reply ToReply(const JsonOut& value, int status = 200) const {
    return Reply{status, "application/json", Dump(value), {}};
  }

 private:
  // Per process, so that a stored string cannot forge a placeholder by accident.
  static std::uint64_t Nonce() {
    static const std::uint64_t nonce = KeyForStringId(NewUuid());
    return nonce;
  }

  std::vector<std::string> texts_;
};

// ---------------------------------------------------------------------------
// Scope: tenant, database, collection
// ---------------------------------------------------------------------------

/// NotFound unless the tenant and its database exist; the database.
Result<ChromaDatabase> CheckDatabase(Service& service, const std::string& tenant,
                                     const std::string& database) {
  QS_ASSIGN_OR_RETURN(bool has_tenant, service.chroma_catalog().HasTenant(tenant));
  if (!has_tenant) return Status::NotFound(fmt::format("Tenant [{}] not found", tenant));
  QS_ASSIGN_OR_RETURN(std::optional<ChromaDatabase> found,
                      service.chroma_catalog().FindDatabase(tenant, database));
  if (!found) return Status::NotFound(fmt::format("Database [{}] not found", database));
  return *found;
}

/// The collection whose UUID is path parameter 3 (the record routes).
Result<ChromaCollection> CollectionById(Service& service, const httplib::Request& request) {
  const std::string tenant = PathParameter(request, 1);
  const std::string database = PathParameter(request, 2);
  const std::string id = PathParameter(request, 3);
  QS_RETURN_IF_ERROR(CheckDatabase(service, tenant, database).status());
  if (!IsUuid(id)) {
    return Status::InvalidArgument(
        fmt::format("collection_id: '{}' is not a collection id (a UUID)", id.substr(0, 80)));
  }
  QS_ASSIGN_OR_RETURN(std::optional<ChromaCollection> found,
                      service.chroma_catalog().FindById(tenant, database, id));
  if (!found) return Status::NotFound(fmt::format("Collection [{}] does not exist", id));
  return *found;
}

/// The collection whose name is path parameter 3 (get and delete by name, as Chroma's client
/// calls them: the parameter is named collection_id but carries the name).
Result<ChromaCollection> CollectionByName(Service& service, const httplib::Request& request) {
  const std::string tenant = PathParameter(request, 1);
  const std::string database = PathParameter(request, 2);
  const std::string name = PathParameter(request, 3);
  QS_RETURN_IF_ERROR(CheckDatabase(service, tenant, database).status());
  QS_ASSIGN_OR_RETURN(std::optional<ChromaCollection> found,
                      service.chroma_catalog().FindByName(tenant, database, name));
  if (!found) return Status::NotFound(fmt::format("Collection [{}] does not exist", name));
  return *found;
}

/// The Quiver collection holding the records, or null while none was added.
Result<std::shared_ptr<Collection>> RecordsOf(Service& service, const ChromaCollection& chroma) {
  Result<std::shared_ptr<Collection>> found = service.store()->GetCollection(chroma.QuiverName());
  if (found.ok()) return found;
  if (found.status().code() == StatusCode::kNotFound) return std::shared_ptr<Collection>();
  return found.status();
}

/// The Quiver collection holding the records, created with `dimensions` on the first add.
Result<std::shared_ptr<Collection>> MaterializeRecords(Service& service,
                                                       const ChromaCollection& chroma,
                                                       std::size_t dimensions) {
  Store& store = *service.store();
  Result<std::shared_ptr<Collection>> found = store.GetCollection(chroma.QuiverName());
  if (found.ok() || found.status().code() != StatusCode::kNotFound) return found;
  // Created under the structure lock, and only while the collection is still in the catalog.
  std::lock_guard<std::mutex> lock(service.chroma_catalog().structure_mutex());
  QS_ASSIGN_OR_RETURN(std::optional<ChromaCollection> still,
                      service.chroma_catalog().FindById(chroma.tenant, chroma.database, chroma.id));
  if (!still) return Status::NotFound(fmt::format("Collection [{}] does not exist", chroma.id));
  CollectionConfig config;
  config.dimensions = static_cast<std::uint32_t>(dimensions);
  config.metric = chroma.metric;
  config.connectivity = chroma.connectivity;
  config.expansion_add = chroma.expansion_add;
  config.expansion_search = chroma.expansion_search;
  Result<std::shared_ptr<Collection>> created = store.CreateCollection(chroma.QuiverName(), config);
  if (created.ok() || created.status().code() != StatusCode::kAlreadyExists) return created;
  return store.GetCollection(chroma.QuiverName());  // a concurrent add created it first
}

/// A collection as Chroma's API returns it (its Collection model).
Result<JsonOut> CollectionJson(Service& service, const ChromaCollection& chroma, RawJson& raw) {
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> records, RecordsOf(service, chroma));
  return JsonOut{
      {"id", chroma.id},
      {"name", chroma.name},
      {"configuration_json", JsonOut::parse(chroma.configuration_json)},
      {"metadata",
       chroma.metadata_json == "null" ? JsonOut(nullptr) : raw.Slot(chroma.metadata_json)},
      {"dimension", records ? JsonOut(records->config().dimensions) : JsonOut(nullptr)},
      {"tenant", chroma.tenant},
      {"database", chroma.database},
      {"log_position", 0},
      {"version", 0},
  };
}

// ---------------------------------------------------------------------------
// System routes
// ---------------------------------------------------------------------------

/// GET /api/v2/heartbeat: {"nanosecond heartbeat": <ns since the epoch>}.
Result<Reply> Heartbeat(Service&, const httplib::Request&) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return Reply::Json(
      JsonOut{{"nanosecond heartbeat",
               static_cast<std::int64_t>(
                   std::chrono::duration_cast<std::chrono::nanoseconds>(now).count())}});
}

/// GET /api/v2/version: the Chroma version string.
Result<Reply> Version(Service&, const httplib::Request&) {
  return Reply::Json(JsonOut(kChromaVersion));
}

/// GET /api/v2/pre-flight-checks: the batch limit; base64 embeddings are not supported.
Result<Reply> PreFlightChecks(Service&, const httplib::Request&) {
  return Reply::Json(
      JsonOut{{"max_batch_size", kMaxBatchSize}, {"supports_base64_encoding", false}});
}

/// GET /api/v2/healthcheck: Chroma's readiness answer (the store is open when this runs).
Result<Reply> Healthcheck(Service&, const httplib::Request&) {
  return Reply::Json(JsonOut{{"is_executor_ready", true}, {"is_log_client_ready", true}});
}

/// POST /api/v2/reset: refused, as a Chroma server refuses it unless its configuration allows
/// it (allow_reset, false by default); Quiver has no such setting. Chroma's status and body.
Result<Reply> Reset(Service&, const httplib::Request&) {
  return Reply{403,
               "application/json",
               DumpJson(JsonOut{{"error", "ChromaError"},
                                {"message",
                                 "Reset is disabled by config: Quiver does not reset a store "
                                 "over HTTP; delete the collections or the data directory"}}),
               {}};
}

/// POST .../collections/{collection_id}/fork: 501, as a local Chroma server answers.
Result<Reply> ForkCollection(Service& service, const httplib::Request& request) {
  QS_RETURN_IF_ERROR(CollectionById(service, request).status());
  return Status::NotSupported("Collection forking is not supported by Quiver");
}

/// POST .../collections/{collection_id}/search: Chroma's newer search API, 501.
Result<Reply> SearchCollection(Service& service, const httplib::Request& request) {
  QS_RETURN_IF_ERROR(CollectionById(service, request).status());
  return Status::NotSupported(
      "the search API is not supported by Quiver; use query (query_embeddings, where, "
      "where_document)");
}

/// GET /api/v2/auth/identity: the default tenant and database (one API key, no users).
Result<Reply> Identity(Service&, const httplib::Request&) {
  return Reply::Json(JsonOut{{"user_id", ""},
                             {"tenant", kChromaDefaultTenant},
                             {"databases", JsonOut::array({kChromaDefaultDatabase})}});
}

// ---------------------------------------------------------------------------
// Tenants and databases
// ---------------------------------------------------------------------------

/// InvalidArgument unless `name` (of `field`) is 3..256 characters of A-Z a-z 0-9 _ - .
/// (Chroma's minimum length is 3 too).
Status ValidateScopeName(std::string_view name, std::string_view field) {
  const bool valid =
      name.size() >= 3 && name.size() <= 256 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (valid) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("{}: '{}' is not a valid name; expected 3 to 256 characters of A-Z a-z 0-9 _ - .",
                  field, name.substr(0, 80)));
}

/// The "name" field of a tenant or database creation body, validated.
Result<std::string> ReadName(const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"name"}));
  QS_ASSIGN_OR_RETURN(JsonValue name_value, root.Required("name"));
  QS_ASSIGN_OR_RETURN(std::string_view name, name_value.AsString());
  QS_RETURN_IF_ERROR(ValidateScopeName(name, "name"));
  return std::string(name);
}

/// POST /api/v2/tenants {"name"}: 409 if it exists.
Result<Reply> CreateTenant(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::string name, ReadName(request));
  QS_RETURN_IF_ERROR(service.chroma_catalog().CreateTenant(name));
  return Reply::Json(JsonOut::object());
}

/// GET /api/v2/tenants/{tenant_name}: {"name", "resource_name"} or 404.
Result<Reply> GetTenant(Service& service, const httplib::Request& request) {
  const std::string name = PathParameter(request, 1);
  QS_ASSIGN_OR_RETURN(bool exists, service.chroma_catalog().HasTenant(name));
  if (!exists) return Status::NotFound(fmt::format("Tenant [{}] not found", name));
  return Reply::Json(JsonOut{{"name", name}, {"resource_name", nullptr}});
}

/// A database as Chroma returns it.
JsonOut DatabaseJson(const ChromaDatabase& database) {
  return JsonOut{{"id", database.id}, {"name", database.name}, {"tenant", database.tenant}};
}

/// POST /api/v2/tenants/{tenant}/databases {"name"}: 404 without the tenant, 409 if it exists.
Result<Reply> CreateDatabase(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::string name, ReadName(request));
  QS_RETURN_IF_ERROR(service.chroma_catalog().CreateDatabase(PathParameter(request, 1), name));
  return Reply::Json(JsonOut::object());
}

/// GET /api/v2/tenants/{tenant}/databases/{database}: the database or 404.
Result<Reply> GetDatabase(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaDatabase database,
                      CheckDatabase(service, PathParameter(request, 1), PathParameter(request, 2)));
  return Reply::Json(DatabaseJson(database));
}

// ---------------------------------------------------------------------------
// Collections
// ---------------------------------------------------------------------------

/// InvalidArgument unless `name` follows Chroma's rule: 3..512 characters of
/// A-Z a-z 0-9 . _ -, starting and ending with a letter or digit.
Status ValidateChromaCollectionName(std::string_view name, std::string_view field = "name") {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  const bool valid = name.size() >= 3 && name.size() <= 512 && alnum(name.front()) &&
                     alnum(name.back()) && std::all_of(name.begin(), name.end(), [&](char c) {
                       return alnum(c) || c == '.' || c == '_' || c == '-';
                     });
  if (valid) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{}: '{}' is not a valid collection name: 3 to 512 characters of A-Z a-z 0-9 . _ -, "
      "starting and ending with a letter or digit",
      field, name.substr(0, 80)));
}

/// Reads an optional unsigned HNSW setting `field` of `hnsw` into `out`.
Status ReadHnswSetting(const JsonObject& hnsw, std::string_view field, std::uint64_t max,
                       std::uint32_t* out) {
  std::optional<JsonValue> value = hnsw.Optional(field);
  if (!value) return Status::Ok();
  QS_ASSIGN_OR_RETURN(std::uint64_t number, value->AsUint(1, max));
  *out = static_cast<std::uint32_t>(number);
  return Status::Ok();
}

/// Maps a Chroma space onto a Quiver metric: l2 = squared L2 (l2sq), cosine = 1 - cos (cos),
/// ip = 1 - dot (ip): the same distances.
Result<Metric> MetricForSpace(std::string_view space, std::string_view field) {
  if (space == "l2") return Metric::kL2sq;
  if (space == "cosine") return Metric::kCos;
  if (space == "ip") return Metric::kIp;
  return Status::InvalidArgument(
      fmt::format("{}: '{}'; expected \"l2\", \"cosine\" or \"ip\"", field, space));
}

/// The Chroma space name of a metric.
const char* SpaceForMetric(Metric metric) {
  switch (metric) {
    case Metric::kCos:
      return "cosine";
    case Metric::kIp:
      return "ip";
    case Metric::kL2sq:
      return "l2";
  }
  return "l2";
}

/// Fills the Quiver settings and configuration_json of `chroma` from a create body's
/// "configuration" and "metadata" (the legacy "hnsw:space" key when the configuration has none).
Status ReadConfiguration(const JsonObject& root, ChromaCollection* chroma) {
  JsonOut configuration = JsonOut::object();
  std::optional<std::string> space;
  if (std::optional<JsonValue> value = root.Optional("configuration")) {
    QS_ASSIGN_OR_RETURN(JsonObject object, value->AsObject());
    QS_RETURN_IF_ERROR(object.OnlyFields({"hnsw", "spann", "embedding_function"}));
    configuration = JsonOut::parse(value->Minified());
    if (object.Optional("spann")) {
      return Status::NotSupported(
          "configuration.spann: SPANN indexes are not supported; use configuration.hnsw");
    }
    if (std::optional<JsonValue> hnsw_value = object.Optional("hnsw")) {
      QS_ASSIGN_OR_RETURN(JsonObject hnsw, hnsw_value->AsObject());
      QS_RETURN_IF_ERROR(
          hnsw.OnlyFields({"space", "ef_construction", "ef_search", "max_neighbors",
                           "resize_factor", "sync_threshold", "batch_size", "num_threads"}));
      if (std::optional<JsonValue> space_value = hnsw.Optional("space")) {
        QS_ASSIGN_OR_RETURN(std::string_view name, space_value->AsString());
        space = std::string(name);
      }
      QS_RETURN_IF_ERROR(ReadHnswSetting(hnsw, "max_neighbors", 256, &chroma->connectivity));
      QS_RETURN_IF_ERROR(ReadHnswSetting(hnsw, "ef_construction", 4096, &chroma->expansion_add));
      QS_RETURN_IF_ERROR(ReadHnswSetting(hnsw, "ef_search", 4096, &chroma->expansion_search));
    }
  }
  if (std::optional<JsonValue> metadata = root.Optional("metadata")) {
    QS_ASSIGN_OR_RETURN(JsonObject object, metadata->AsObject());
    chroma->metadata_json = metadata->Minified();
    if (!space) {
      if (std::optional<JsonValue> legacy = object.Optional("hnsw:space")) {
        QS_ASSIGN_OR_RETURN(std::string_view name, legacy->AsString());
        space = std::string(name);
      }
    }
  }
  const std::string space_name = space.value_or("l2");
  QS_ASSIGN_OR_RETURN(chroma->metric, MetricForSpace(space_name, "configuration.hnsw.space"));
  // What Chroma reports back: the configuration with its space and settings filled in.
  JsonOut& hnsw = configuration["hnsw"];
  if (!hnsw.is_object()) hnsw = JsonOut::object();
  hnsw["space"] = SpaceForMetric(chroma->metric);
  hnsw["max_neighbors"] = chroma->connectivity;
  hnsw["ef_construction"] = chroma->expansion_add;
  hnsw["ef_search"] = chroma->expansion_search;
  if (!hnsw.contains("resize_factor")) hnsw["resize_factor"] = 1.2;
  if (!hnsw.contains("sync_threshold")) hnsw["sync_threshold"] = 1000;
  if (!configuration.contains("spann")) configuration["spann"] = nullptr;
  if (!configuration.contains("embedding_function")) configuration["embedding_function"] = nullptr;
  chroma->configuration_json = DumpJson(configuration);
  return Status::Ok();
}

/// Applies a modify's "new_configuration" to `chroma`: hnsw ef_search (used by the next query),
/// max_neighbors (only while the collection has no records: Quiver does not rebuild an index
/// behind the client's back), the settings Quiver has no use for (num_threads, batch_size,
/// resize_factor, sync_threshold: kept and reported), and embedding_function (kept).
Status ApplyConfigurationUpdate(const JsonValue& value, bool has_records,
                                ChromaCollection* chroma) {
  QS_ASSIGN_OR_RETURN(JsonObject object, value.AsObject());
  QS_RETURN_IF_ERROR(object.OnlyFields({"hnsw", "spann", "embedding_function"}));
  JsonOut configuration = JsonOut::parse(chroma->configuration_json);
  if (std::optional<JsonValue> spann = object.Optional("spann"); spann && !spann->IsNull()) {
    return Status::NotSupported(
        "new_configuration.spann: SPANN indexes are not supported; use hnsw");
  }
  if (std::optional<JsonValue> hnsw_value = object.Optional("hnsw");
      hnsw_value && !hnsw_value->IsNull()) {
    QS_ASSIGN_OR_RETURN(JsonObject hnsw, hnsw_value->AsObject());
    QS_RETURN_IF_ERROR(hnsw.OnlyFields({"ef_search", "max_neighbors", "num_threads",
                                        "resize_factor", "sync_threshold", "batch_size"}));
    std::uint32_t connectivity = chroma->connectivity;
    QS_RETURN_IF_ERROR(ReadHnswSetting(hnsw, "ef_search", 4096, &chroma->expansion_search));
    QS_RETURN_IF_ERROR(ReadHnswSetting(hnsw, "max_neighbors", 256, &connectivity));
    if (connectivity != chroma->connectivity && has_records) {
      return Status::InvalidArgument(fmt::format(
          "new_configuration.hnsw.max_neighbors: {}, but the collection's index was built with "
          "{}; Quiver changes it only while the collection has no records",
          connectivity, chroma->connectivity));
    }
    chroma->connectivity = connectivity;
    JsonOut& reported = configuration["hnsw"];
    if (!reported.is_object()) reported = JsonOut::object();
    JsonOut update = JsonOut::parse(hnsw_value->Minified());
    for (auto it = update.begin(); it != update.end(); ++it) reported[it.key()] = it.value();
  }
  if (std::optional<JsonValue> function = object.Optional("embedding_function");
      function && !function->IsNull()) {
    configuration["embedding_function"] = JsonOut::parse(function->Minified());
  }
  chroma->configuration_json = DumpJson(configuration);
  return Status::Ok();
}

/// POST .../collections {"name", "metadata", "configuration", "get_or_create"}.
Result<Reply> CreateCollection(Service& service, const httplib::Request& request) {
  ChromaCollection chroma;
  chroma.tenant = PathParameter(request, 1);
  chroma.database = PathParameter(request, 2);
  QS_RETURN_IF_ERROR(CheckDatabase(service, chroma.tenant, chroma.database).status());
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"name", "metadata", "configuration", "get_or_create"}));
  QS_ASSIGN_OR_RETURN(JsonValue name_value, root.Required("name"));
  QS_ASSIGN_OR_RETURN(std::string_view name, name_value.AsString());
  QS_RETURN_IF_ERROR(ValidateChromaCollectionName(name));
  chroma.name = std::string(name);
  bool get_or_create = false;
  if (std::optional<JsonValue> value = root.Optional("get_or_create")) {
    QS_ASSIGN_OR_RETURN(get_or_create, value->AsBool());
  }
  QS_RETURN_IF_ERROR(ReadConfiguration(root, &chroma));

  std::optional<ChromaCollection> existing;
  Result<ChromaCollection> created = service.chroma_catalog().Create(chroma, &existing);
  if (!created.ok()) {
    if (get_or_create && existing) {
      RawJson raw;
      QS_ASSIGN_OR_RETURN(JsonOut json, CollectionJson(service, *existing, raw));
      return raw.ToReply(json);
    }
    return created.status();
  }
  RawJson raw;
  QS_ASSIGN_OR_RETURN(JsonOut json, CollectionJson(service, *created, raw));
  return raw.ToReply(json);
}

/// Reads an optional unsigned query parameter; InvalidArgument naming it if malformed.
Result<std::optional<std::uint64_t>> QueryNumber(const httplib::Request& request,
                                                 const char* name) {
  if (!request.has_param(name)) return std::optional<std::uint64_t>();
  const std::string text = request.get_param_value(name);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument(
        fmt::format("{}: '{}' is not a non-negative integer", name, text.substr(0, 40)));
  }
  return std::optional<std::uint64_t>(value);
}

/// GET .../collections?limit&offset: the collections in creation order.
Result<Reply> ListCollections(Service& service, const httplib::Request& request) {
  const std::string tenant = PathParameter(request, 1);
  const std::string database = PathParameter(request, 2);
  QS_RETURN_IF_ERROR(CheckDatabase(service, tenant, database).status());
  QS_ASSIGN_OR_RETURN(std::optional<std::uint64_t> limit, QueryNumber(request, "limit"));
  QS_ASSIGN_OR_RETURN(std::optional<std::uint64_t> offset, QueryNumber(request, "offset"));
  QS_ASSIGN_OR_RETURN(std::vector<ChromaCollection> all,
                      service.chroma_catalog().List(tenant, database));
  JsonOut list = JsonOut::array();
  RawJson raw;
  const std::size_t begin = std::min<std::size_t>(offset.value_or(0), all.size());
  const std::size_t end = limit ? std::min<std::size_t>(all.size(), begin + *limit) : all.size();
  for (std::size_t i = begin; i < end; ++i) {
    QS_ASSIGN_OR_RETURN(JsonOut json, CollectionJson(service, all[i], raw));
    list.push_back(std::move(json));
  }
  return raw.ToReply(list);
}

/// GET .../collections_count: the number of collections in the database.
Result<Reply> CountCollections(Service& service, const httplib::Request& request) {
  const std::string tenant = PathParameter(request, 1);
  const std::string database = PathParameter(request, 2);
  QS_RETURN_IF_ERROR(CheckDatabase(service, tenant, database).status());
  QS_ASSIGN_OR_RETURN(std::vector<ChromaCollection> all,
                      service.chroma_catalog().List(tenant, database));
  return Reply::Json(JsonOut(all.size()));
}

/// GET .../collections/{name}: the collection or 404.
Result<Reply> GetCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionByName(service, request));
  RawJson raw;
  QS_ASSIGN_OR_RETURN(JsonOut json, CollectionJson(service, chroma, raw));
  return raw.ToReply(json);
}

/// DELETE .../collections/{name}: drops the records, then the catalog entry (see
/// chroma_catalog.h for why in this order).
Result<Reply> DeleteCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionByName(service, request));
  std::lock_guard<std::mutex> lock(service.chroma_catalog().structure_mutex());
  Status dropped = service.store()->DropCollection(chroma.QuiverName());
  if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  QS_RETURN_IF_ERROR(service.chroma_catalog().Remove(chroma.id));
  return Reply::Json(JsonOut::object());
}

/// PUT .../collections/{collection_id} {"new_name", "new_metadata", "new_configuration"}:
/// renames the collection, replaces its metadata, updates its configuration. By UUID, as
/// Chroma's client sends it. The records stay where they are (the Quiver collection is named
/// after the UUID).
Result<Reply> ModifyCollection(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"new_name", "new_metadata", "new_configuration"}));
  if (std::optional<JsonValue> name = root.Optional("new_name"); name && !name->IsNull()) {
    QS_ASSIGN_OR_RETURN(std::string_view text, name->AsString());
    QS_RETURN_IF_ERROR(ValidateChromaCollectionName(text, "new_name"));
    chroma.name = std::string(text);
  }
  if (std::optional<JsonValue> metadata = root.Optional("new_metadata");
      metadata && !metadata->IsNull()) {
    QS_RETURN_IF_ERROR(metadata->AsObject().status());
    if (metadata->Minified() == "{}") {
      return Status::InvalidArgument(
          "new_metadata: must not be empty (Chroma's rule); leave it out to keep the metadata");
    }
    chroma.metadata_json = metadata->Minified();
  }
  if (std::optional<JsonValue> configuration = root.Optional("new_configuration");
      configuration && !configuration->IsNull()) {
    QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> records, RecordsOf(service, chroma));
    QS_RETURN_IF_ERROR(ApplyConfigurationUpdate(*configuration, records != nullptr, &chroma));
  }
  QS_RETURN_IF_ERROR(service.chroma_catalog().Update(chroma));
  return Reply::Json(JsonOut::object());
}

/// GET /api/v2/tenants/{tenant}/databases?limit&offset: the tenant's databases in creation
/// order (an unknown tenant has none, as with Chroma).
Result<Reply> ListDatabases(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::optional<std::uint64_t> limit, QueryNumber(request, "limit"));
  QS_ASSIGN_OR_RETURN(std::optional<std::uint64_t> offset, QueryNumber(request, "offset"));
  QS_ASSIGN_OR_RETURN(std::vector<ChromaDatabase> all,
                      service.chroma_catalog().ListDatabases(PathParameter(request, 1)));
  const std::size_t begin = std::min<std::size_t>(offset.value_or(0), all.size());
  const std::size_t end = limit ? std::min<std::size_t>(all.size(), begin + *limit) : all.size();
  JsonOut list = JsonOut::array();
  for (std::size_t i = begin; i < end; ++i) list.push_back(DatabaseJson(all[i]));
  return Reply::Json(list);
}

/// DELETE /api/v2/tenants/{tenant}/databases/{database}: drops every collection of the
/// database (records first, then the catalog entries, in one change).
Result<Reply> DeleteDatabase(Service& service, const httplib::Request& request) {
  const std::string tenant = PathParameter(request, 1);
  const std::string database = PathParameter(request, 2);
  QS_RETURN_IF_ERROR(CheckDatabase(service, tenant, database).status());
  std::lock_guard<std::mutex> lock(service.chroma_catalog().structure_mutex());
  QS_ASSIGN_OR_RETURN(std::vector<ChromaCollection> collections,
                      service.chroma_catalog().List(tenant, database));
  for (const ChromaCollection& chroma : collections) {
    Status dropped = service.store()->DropCollection(chroma.QuiverName());
    if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) return dropped;
  }
  QS_RETURN_IF_ERROR(service.chroma_catalog().RemoveDatabase(tenant, database));
  return Reply::Json(JsonOut::object());
}

// ---------------------------------------------------------------------------
// Records: parsing
// ---------------------------------------------------------------------------

/// where_document: $contains / $not_contains (exact substring), combined by $and / $or.
struct DocumentFilter {
  enum class Kind { kContains, kNotContains, kAnd, kOr } kind = Kind::kContains;
  std::string text;
  std::vector<DocumentFilter> children;

  /// True if the document `text` matches.
  bool Matches(std::string_view document) const {
    switch (kind) {
      case Kind::kContains:
        return document.find(text) != std::string_view::npos;
      case Kind::kNotContains:
        return document.find(text) == std::string_view::npos;
      case Kind::kAnd:
        return std::all_of(children.begin(), children.end(),
                           [&](const DocumentFilter& c) { return c.Matches(document); });
      case Kind::kOr:
        return std::any_of(children.begin(), children.end(),
                           [&](const DocumentFilter& c) { return c.Matches(document); });
    }
    return false;
  }
};

/// Parses a where_document node; InvalidArgument / NotSupported naming the node.
Result<DocumentFilter> ParseDocumentFilter(const JsonValue& value, int depth = 0) {
  if (depth > 32) return Status::InvalidArgument(value.Name() + ": nested too deeply");
  QS_ASSIGN_OR_RETURN(JsonObject object, value.AsObject());
  simdjson::dom::object raw;
  if (value.element().get(raw) != simdjson::SUCCESS || raw.size() != 1) {
    return Status::InvalidArgument(value.Name() + ": expected exactly one operator");
  }
  const std::string_view op = raw.begin().key();
  QS_ASSIGN_OR_RETURN(JsonValue operand, object.Required(op));
  DocumentFilter filter;
  if (op == "$contains" || op == "$not_contains") {
    filter.kind =
        op == "$contains" ? DocumentFilter::Kind::kContains : DocumentFilter::Kind::kNotContains;
    QS_ASSIGN_OR_RETURN(std::string_view text, operand.AsString());
    filter.text = std::string(text);
    return filter;
  }
  if (op == "$and" || op == "$or") {
    filter.kind = op == "$and" ? DocumentFilter::Kind::kAnd : DocumentFilter::Kind::kOr;
    QS_ASSIGN_OR_RETURN(JsonArray children, operand.AsArray());
    QS_RETURN_IF_ERROR(children.ForEach([&](std::size_t, const JsonValue& child) -> Status {
      QS_ASSIGN_OR_RETURN(DocumentFilter parsed, ParseDocumentFilter(child, depth + 1));
      filter.children.push_back(std::move(parsed));
      return Status::Ok();
    }));
    return filter;
  }
  if (op == "$regex" || op == "$not_regex") {
    return Status::NotSupported(fmt::format("{}.{}: not supported yet", value.Name(), op));
  }
  return Status::InvalidArgument(
      fmt::format("{}: unknown operator '{}'; expected $contains, $not_contains, $and or $or",
                  value.Name(), op));
}

/// Which records a get, query or delete selects.
struct Selection {
  std::optional<std::vector<std::string>> ids;
  std::string where;  // the Quiver filter text; empty = every record
  std::optional<DocumentFilter> document;
};

/// Reads "ids": an array of non-empty strings.
Result<std::vector<std::string>> ReadIds(const JsonValue& value, std::size_t max) {
  QS_ASSIGN_OR_RETURN(JsonArray array, value.AsArray());
  QS_RETURN_IF_ERROR(array.CheckSize(0, max));
  std::vector<std::string> ids;
  ids.reserve(array.size());
  QS_RETURN_IF_ERROR(array.ForEach([&](std::size_t, const JsonValue& item) -> Status {
    QS_ASSIGN_OR_RETURN(std::string_view id, item.AsString());
    if (id.empty() || id.size() > kMaxStringIdBytes) {
      return Status::InvalidArgument(
          fmt::format("{}: expected 1 to {} bytes", item.Name(), kMaxStringIdBytes));
    }
    ids.emplace_back(id);
    return Status::Ok();
  }));
  return ids;
}

/// Reads ids, where and where_document of a request body into a Selection.
Result<Selection> ReadSelection(const JsonObject& root) {
  Selection selection;
  if (std::optional<JsonValue> ids = root.Optional("ids")) {
    QS_ASSIGN_OR_RETURN(selection.ids, ReadIds(*ids, kMaxBatchSize));
  }
  if (std::optional<JsonValue> where = root.Optional("where")) {
    QS_ASSIGN_OR_RETURN(JsonObject object, where->AsObject());
    (void)object;
    std::string text = where->Minified();
    if (text != "{}") selection.where = std::move(text);
  }
  if (std::optional<JsonValue> document = root.Optional("where_document")) {
    QS_ASSIGN_OR_RETURN(JsonObject object, document->AsObject());
    (void)object;
    if (document->Minified() != "{}") {
      QS_ASSIGN_OR_RETURN(DocumentFilter parsed, ParseDocumentFilter(*document));
      selection.document = std::move(parsed);
    }
  }
  return selection;
}

/// What a get or query includes.
struct Include {
  bool documents = false;
  bool metadatas = false;
  bool embeddings = false;
  bool distances = false;
  JsonOut names = JsonOut::array();
};

/// Reads "include" (or `defaults` when absent); "distances" only where `allow_distances`.
Result<Include> ReadInclude(const JsonObject& root, std::initializer_list<const char*> defaults,
                            bool allow_distances) {
  Include include;
  auto add = [&](std::string_view name, const std::string& field) -> Status {
    if (name == "documents") {
      include.documents = true;
    } else if (name == "metadatas") {
      include.metadatas = true;
    } else if (name == "embeddings") {
      include.embeddings = true;
    } else if (name == "distances" && allow_distances) {
      include.distances = true;
    } else if (name == "uris") {
      return Status::NotSupported(field + ": \"uris\" is not supported");
    } else {
      return Status::InvalidArgument(
          fmt::format("{}: '{}'; expected \"documents\", \"metadatas\", \"embeddings\"{}", field,
                      name, allow_distances ? " or \"distances\"" : ""));
    }
    include.names.push_back(std::string(name));
    return Status::Ok();
  };
  std::optional<JsonValue> value = root.Optional("include");
  if (!value) {
    for (const char* name : defaults) QS_RETURN_IF_ERROR(add(name, "include"));
    return include;
  }
  QS_ASSIGN_OR_RETURN(JsonArray array, value->AsArray());
  QS_RETURN_IF_ERROR(array.ForEach([&](std::size_t, const JsonValue& item) -> Status {
    QS_ASSIGN_OR_RETURN(std::string_view name, item.AsString());
    return add(name, item.Name());
  }));
  return include;
}

/// The Quiver filter for `where` AND id in `ids` (either may be absent).
Result<std::string> CombinedFilter(const std::string& where,
                                   const std::optional<std::vector<std::string>>& ids) {
  if (!ids) return where;
  if (ids->size() > kMaxFilterIds) {
    return Status::InvalidArgument(
        fmt::format("ids: {} ids together with where / where_document; at most {} in this version",
                    ids->size(), kMaxFilterIds));
  }
  JsonOut in = {{"id", {{"$in", *ids}}}};
  if (where.empty()) return DumpJson(in);
  return fmt::format(R"({{"$and":[{},{}]}})", DumpJson(in), where);
}

/// The records that `selection` selects, in insertion order (Chroma's order, with or without
/// ids; ids without a record are left out), skipping `offset` and at most `limit`.
Result<std::vector<Record>> SelectRecords(Collection& collection, const Selection& selection,
                                          std::size_t offset, std::optional<std::size_t> limit,
                                          bool include_embedding) {
  ScanOptions options;
  options.order = ScanOrder::kInsertion;
  options.filter = selection.where;
  options.include_embedding = include_embedding;
  std::unordered_set<std::string_view> wanted;
  if (selection.ids) {
    if (selection.ids->empty()) return std::vector<Record>();
    options.keys.reserve(selection.ids->size());
    for (const std::string& id : *selection.ids) {
      options.keys.push_back(KeyForStringId(id));
      wanted.insert(id);
    }
  }
  // Paging is pushed into the scan unless records are dropped after it: a key that holds
  // another id than the one asked for (a hash collision), a document that does not match.
  const bool page_in_scan = !selection.ids && !selection.document;
  options.offset = page_in_scan ? offset : 0;
  std::size_t left = page_in_scan && limit ? *limit : SIZE_MAX;
  std::vector<Record> records;
  while (left > 0) {
    options.limit = std::min<std::size_t>(left, 1000);
    QS_ASSIGN_OR_RETURN(ScanPage page, collection.Scan(options));
    left -= std::min(left, page.records.size());
    for (Record& record : page.records) {
      if (selection.ids && !wanted.contains(record.id)) continue;
      if (selection.document && !selection.document->Matches(record.text)) continue;
      records.push_back(std::move(record));
    }
    if (page.next_cursor.empty()) break;
    options.cursor = std::move(page.next_cursor);
    options.offset = 0;
  }
  if (page_in_scan) return records;
  if (offset > 0) {
    records.erase(records.begin(), records.begin() + std::min(offset, records.size()));
  }
  if (limit && records.size() > *limit) records.resize(*limit);
  return records;
}

/// A document as Chroma returns it: null for a record without text.
JsonOut DocumentJson(const std::string& text) {
  return text.empty() ? JsonOut(nullptr) : JsonOut(text);
}

/// A metadata object as Chroma returns it: null for none or an empty object, else the stored
/// text verbatim (float64 numbers intact).
JsonOut MetadataJson(const std::string& metadata, RawJson& raw) {
  if (metadata.empty() || metadata == "{}") return nullptr;
  return raw.Slot(metadata);
}

// ---------------------------------------------------------------------------
// Records: routes
// ---------------------------------------------------------------------------

/// How a record set is written (Chroma's three verbs).
enum class WriteMode {
  kAdd,     // new ids are inserted, ids already stored are left as they are
  kUpsert,  // new ids are inserted, stored ones updated
  kUpdate,  // stored ids are updated, ids not stored are ignored
};

/// One record of an add, upsert or update, before it meets the store.
struct IncomingRecord {
  std::string id;
  std::vector<float> embedding;         // empty: none given (update only)
  std::optional<std::string> document;  // absent: keep the stored one
  std::optional<std::string> metadata;  // absent: keep the stored one; else merged into it
};

/// Reads "embeddings" into `records` (one per record; null only in an update: keep the
/// stored one).
Status ReadEmbeddings(const JsonValue& value, WriteMode mode,
                      std::vector<IncomingRecord>* records_out) {
  std::vector<IncomingRecord>& records = *records_out;
  const std::size_t count = records.size();
  QS_ASSIGN_OR_RETURN(JsonArray embeddings, value.AsArray());
  if (embeddings.size() != count) {
    return Status::InvalidArgument(
        fmt::format("embeddings: has {} entries, ids has {}", embeddings.size(), count));
  }
  std::size_t dimensions = 0;
  return embeddings.ForEach([&](std::size_t i, const JsonValue& item) -> Status {
    if (item.element().is_string()) {
      return Status::InvalidArgument(
          item.Name() + ": base64 embeddings are not supported (pre-flight-checks says so)");
    }
    if (item.IsNull()) {
      if (mode == WriteMode::kUpdate) return Status::Ok();
      return Status::InvalidArgument(
          fmt::format("{}: required: {}", item.Name(), kNoServerEmbedding));
    }
    QS_RETURN_IF_ERROR(item.AppendFloats(dimensions, &records[i].embedding));
    dimensions = records[i].embedding.size();
    return Status::Ok();
  });
}

/// Reads the record set of a write: ids, embeddings (required unless `mode` is kUpdate),
/// documents, metadatas.
Result<std::vector<IncomingRecord>> ReadRecordSet(const JsonObject& root, WriteMode mode) {
  QS_RETURN_IF_ERROR(root.OnlyFields({"ids", "embeddings", "documents", "metadatas", "uris"}));
  QS_ASSIGN_OR_RETURN(JsonValue ids_value, root.Required("ids"));
  QS_ASSIGN_OR_RETURN(std::vector<std::string> ids, ReadIds(ids_value, kMaxBatchSize));
  if (ids.empty()) return Status::InvalidArgument("ids: must not be empty");
  std::vector<IncomingRecord> records(ids.size());
  {
    std::unordered_map<std::string_view, std::size_t> seen;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!seen.emplace(ids[i], i).second) {
        return Status::InvalidArgument(fmt::format("ids[{}]: duplicate id '{}'", i, ids[i]));
      }
    }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) records[i].id = ids[i];

  std::optional<JsonValue> embeddings_value = root.Optional("embeddings");
  if (!embeddings_value && mode != WriteMode::kUpdate) {
    return Status::InvalidArgument(fmt::format("embeddings: required: {}", kNoServerEmbedding));
  }
  if (embeddings_value) QS_RETURN_IF_ERROR(ReadEmbeddings(*embeddings_value, mode, &records));

  if (std::optional<JsonValue> documents_value = root.Optional("documents")) {
    QS_ASSIGN_OR_RETURN(JsonArray documents, documents_value->AsArray());
    if (documents.size() != ids.size()) {
      return Status::InvalidArgument(
          fmt::format("documents: has {} entries, ids has {}", documents.size(), ids.size()));
    }
    QS_RETURN_IF_ERROR(documents.ForEach([&](std::size_t i, const JsonValue& item) -> Status {
      if (item.IsNull()) return Status::Ok();
      QS_ASSIGN_OR_RETURN(std::string_view text, item.AsString());
      records[i].document = std::string(text);
      return Status::Ok();
    }));
  }
  if (std::optional<JsonValue> metadatas_value = root.Optional("metadatas")) {
    QS_ASSIGN_OR_RETURN(JsonArray metadatas, metadatas_value->AsArray());
    if (metadatas.size() != ids.size()) {
      return Status::InvalidArgument(
          fmt::format("metadatas: has {} entries, ids has {}", metadatas.size(), ids.size()));
    }
    QS_RETURN_IF_ERROR(metadatas.ForEach([&](std::size_t i, const JsonValue& item) -> Status {
      if (item.IsNull()) return Status::Ok();
      QS_ASSIGN_OR_RETURN(JsonObject object, item.AsObject());
      (void)object;
      records[i].metadata = item.Minified();
      return Status::Ok();
    }));
  }
  if (std::optional<JsonValue> uris_value = root.Optional("uris")) {
    QS_ASSIGN_OR_RETURN(JsonArray uris, uris_value->AsArray());
    QS_RETURN_IF_ERROR(uris.ForEach([&](std::size_t, const JsonValue& item) -> Status {
      if (item.IsNull()) return Status::Ok();
      return Status::NotSupported(item.Name() + ": uris are not supported yet");
    }));
  }
  return records;
}

/// `stored` metadata (a JSON object's text, or "" for none) with `update` (an object's text)
/// merged in, as Chroma merges: the update's keys replace the stored ones and a null value
/// removes the key. "" when nothing is left.
std::string MergeMetadata(const std::string& stored, const std::string& update) {
  // Most updates of new records carry no null: nothing to parse then.
  if (stored.empty() && update.find("null") == std::string::npos) {
    return update == "{}" ? std::string() : update;
  }
  nlohmann::json merged =
      stored.empty() ? nlohmann::json::object() : nlohmann::json::parse(stored, nullptr, false);
  if (!merged.is_object()) merged = nlohmann::json::object();
  const nlohmann::json changes = nlohmann::json::parse(update, nullptr, false);
  for (auto it = changes.begin(); it != changes.end(); ++it) {
    if (it.value().is_null()) {
      merged.erase(it.key());
    } else {
      merged[it.key()] = it.value();
    }
  }
  return merged.empty() ? std::string() : merged.dump();
}

/// The stored records of `keys` (entry i = keys[i]'s, or nullopt), read with only what `mode`
/// needs: an add only whether they exist (no text, metadata or embedding: an add of new
/// records reads next to nothing), an upsert or update their text and metadata to merge
/// into, and their embeddings only when some incoming record comes without one.
Result<std::vector<std::optional<Record>>> StoredRecords(
    Collection& collection, const std::vector<Key>& keys, WriteMode mode,
    const std::vector<IncomingRecord>& incoming) {
  ScanOptions options;
  options.keys = keys;
  options.limit = std::max<std::size_t>(keys.size(), 1);
  options.include_text = mode != WriteMode::kAdd;
  options.include_metadata = mode != WriteMode::kAdd;
  options.include_embedding =
      std::any_of(incoming.begin(), incoming.end(),
                  [](const IncomingRecord& record) { return record.embedding.empty(); });
  QS_ASSIGN_OR_RETURN(ScanPage page, collection.Scan(options));
  std::unordered_map<Key, std::size_t> position;
  for (std::size_t i = 0; i < keys.size(); ++i) position.emplace(keys[i], i);
  std::vector<std::optional<Record>> stored(keys.size());
  for (Record& record : page.records) {
    auto it = position.find(record.key);
    if (it != position.end()) stored[it->second] = std::move(record);
  }
  return stored;
}

/// Writes an add, upsert or update (WriteMode): documents not given keep their stored values,
/// metadatas are merged into the stored ones (MergeMetadata), as Chroma does.
Result<Reply> WriteRecords(Service& service, const httplib::Request& request, WriteMode mode) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_ASSIGN_OR_RETURN(std::vector<IncomingRecord> incoming, ReadRecordSet(root, mode));
  body.reset();
  const int status = mode == WriteMode::kAdd ? 201 : 200;

  std::size_t dimensions = 0;
  std::size_t first_embedding = 0;
  for (; first_embedding < incoming.size(); ++first_embedding) {
    dimensions = incoming[first_embedding].embedding.size();
    if (dimensions > 0) break;
  }
  std::shared_ptr<Collection> collection;
  if (mode == WriteMode::kUpdate) {
    // An update creates nothing: without records there is nothing to update.
    QS_ASSIGN_OR_RETURN(collection, RecordsOf(service, chroma));
    if (!collection) return Reply::Json(JsonOut::object(), status);
  } else {
    QS_ASSIGN_OR_RETURN(collection, MaterializeRecords(service, chroma, dimensions));
  }
  if (dimensions > 0 && collection->config().dimensions != dimensions) {
    return Status::InvalidArgument(
        fmt::format("embeddings[{}]: has {} values, but collection '{}' has {} dimensions",
                    first_embedding, dimensions, chroma.name, collection->config().dimensions));
  }
  std::vector<Key> keys;
  keys.reserve(incoming.size());
  for (const IncomingRecord& record : incoming) keys.push_back(KeyForStringId(record.id));

  // Read, merge and write under the collection's write lock, so that two writes of the same
  // records cannot interleave between the read and the write (one would lose the other's
  // metadata).
  std::lock_guard<std::mutex> lock(service.chroma_catalog().write_mutex(chroma.id));
  QS_ASSIGN_OR_RETURN(std::vector<std::optional<Record>> stored,
                      StoredRecords(*collection, keys, mode, incoming));
  std::vector<Record> records;
  records.reserve(incoming.size());
  for (std::size_t i = 0; i < incoming.size(); ++i) {
    const bool exists = stored[i] && stored[i]->id == incoming[i].id;
    if (exists && mode == WriteMode::kAdd) continue;
    if (!exists && mode == WriteMode::kUpdate) continue;  // Chroma ignores them
    Record& record = records.emplace_back();
    record.key = keys[i];
    record.id = std::move(incoming[i].id);
    record.embedding = incoming[i].embedding.empty() ? std::move(stored[i]->embedding)
                                                     : std::move(incoming[i].embedding);
    if (incoming[i].document) {
      record.text = std::move(*incoming[i].document);
    } else if (exists) {
      record.text = std::move(stored[i]->text);
    }
    const std::string base = exists ? std::move(stored[i]->metadata) : std::string();
    record.metadata = incoming[i].metadata ? MergeMetadata(base, *incoming[i].metadata) : base;
  }
  QS_RETURN_IF_ERROR(CheckRecordSizes(service, records));
  if (!records.empty()) QS_RETURN_IF_ERROR(collection->Upsert(records));
  return Reply::Json(JsonOut::object(), status);
}

/// POST .../collections/{collection_id}/add.
Result<Reply> AddRecords(Service& service, const httplib::Request& request) {
  return WriteRecords(service, request, WriteMode::kAdd);
}

/// POST .../collections/{collection_id}/upsert.
Result<Reply> UpsertRecords(Service& service, const httplib::Request& request) {
  return WriteRecords(service, request, WriteMode::kUpsert);
}

/// POST .../collections/{collection_id}/update: ids not stored are ignored, as Chroma does.
Result<Reply> UpdateRecords(Service& service, const httplib::Request& request) {
  return WriteRecords(service, request, WriteMode::kUpdate);
}

/// Reads an optional unsigned body field.
Result<std::optional<std::size_t>> OptionalCount(const JsonObject& root, std::string_view field,
                                                 std::uint64_t min, std::uint64_t max) {
  std::optional<JsonValue> value = root.Optional(field);
  if (!value) return std::optional<std::size_t>();
  QS_ASSIGN_OR_RETURN(std::uint64_t number, value->AsUint(min, max));
  return std::optional<std::size_t>(number);
}

/// POST .../collections/{collection_id}/get {ids, where, where_document, include, limit, offset}.
Result<Reply> GetRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(
      root.OnlyFields({"ids", "where", "where_document", "include", "limit", "offset"}));
  QS_ASSIGN_OR_RETURN(Selection selection, ReadSelection(root));
  QS_ASSIGN_OR_RETURN(Include include,
                      ReadInclude(root, {"documents", "metadatas"}, /*allow_distances=*/false));
  QS_ASSIGN_OR_RETURN(std::optional<std::size_t> limit,
                      OptionalCount(root, "limit", 0, kMaxBatchSize));
  QS_ASSIGN_OR_RETURN(std::optional<std::size_t> offset,
                      OptionalCount(root, "offset", 0, kMaxIntegerId));

  std::vector<Record> records;
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, RecordsOf(service, chroma));
  if (collection && limit.value_or(1) > 0) {
    QS_ASSIGN_OR_RETURN(records, SelectRecords(*collection, selection, offset.value_or(0), limit,
                                               include.embeddings));
  }
  RawJson raw;
  JsonOut ids = JsonOut::array(), documents = JsonOut::array(), metadatas = JsonOut::array(),
          embeddings = JsonOut::array();
  for (const Record& record : records) {
    ids.push_back(record.id);
    if (include.documents) documents.push_back(DocumentJson(record.text));
    if (include.metadatas) metadatas.push_back(MetadataJson(record.metadata, raw));
    if (include.embeddings) embeddings.push_back(record.embedding);
  }
  return raw.ToReply(JsonOut{
      {"ids", std::move(ids)},
      {"documents", include.documents ? std::move(documents) : JsonOut(nullptr)},
      {"metadatas", include.metadatas ? std::move(metadatas) : JsonOut(nullptr)},
      {"embeddings", include.embeddings ? std::move(embeddings) : JsonOut(nullptr)},
      {"uris", nullptr},
      {"include", include.names},
  });
}

/// POST .../collections/{collection_id}/query {query_embeddings, n_results, where,
/// where_document, ids, include}: nearest records per query, closest first.
Result<Reply> QueryRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields(
      {"query_embeddings", "n_results", "where", "where_document", "ids", "include"}));
  std::optional<JsonValue> queries_value = root.Optional("query_embeddings");
  if (!queries_value) {
    return Status::InvalidArgument(
        fmt::format("query_embeddings: required: {}", kNoServerEmbedding));
  }
  QS_ASSIGN_OR_RETURN(JsonArray queries, queries_value->AsArray());
  QS_ASSIGN_OR_RETURN(std::optional<std::size_t> n_results,
                      OptionalCount(root, "n_results", 1, kMaxSearchK));
  const std::size_t k = n_results.value_or(10);
  QS_RETURN_IF_ERROR(CheckSearchSize(queries.size(), k));
  QS_ASSIGN_OR_RETURN(Selection selection, ReadSelection(root));
  QS_ASSIGN_OR_RETURN(Include include, ReadInclude(root, {"metadatas", "documents", "distances"},
                                                   /*allow_distances=*/true));

  RawJson raw;
  JsonOut ids = JsonOut::array(), documents = JsonOut::array(), metadatas = JsonOut::array(),
          embeddings = JsonOut::array(), distances = JsonOut::array();
  auto empty_lists = [&] {
    for (std::size_t q = 0; q < queries.size(); ++q) {
      ids.push_back(JsonOut::array());
      documents.push_back(JsonOut::array());
      metadatas.push_back(JsonOut::array());
      embeddings.push_back(JsonOut::array());
      distances.push_back(JsonOut::array());
    }
  };
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, RecordsOf(service, chroma));
  std::vector<std::vector<Match>> results;
  if (!collection) {
    empty_lists();
  } else {
    std::vector<float> vectors;
    QS_RETURN_IF_ERROR(ReadQueryVectors(queries, collection->config().dimensions, &vectors));
    SearchOptions options;
    options.k = k;
    options.expansion_search = chroma.expansion_search;  // hnsw.ef_search, changed by a modify
    options.include_text = include.documents;
    options.include_metadata = include.metadatas;
    options.include_id = true;
    bool nothing_matches = false;
    if (selection.document) {
      // where_document becomes the set of ids whose text matches (exact substring).
      QS_ASSIGN_OR_RETURN(std::vector<Record> matching,
                          SelectRecords(*collection, selection, 0, std::nullopt, false));
      std::vector<std::string> matching_ids;
      for (Record& record : matching) matching_ids.push_back(std::move(record.id));
      nothing_matches = matching_ids.empty();
      if (matching_ids.size() > kMaxFilterIds) {
        return Status::InvalidArgument(fmt::format(
            "where_document: matches {} records; a query supports at most {} in this version",
            matching_ids.size(), kMaxFilterIds));
      }
      QS_ASSIGN_OR_RETURN(options.filter, CombinedFilter("", matching_ids));
    } else {
      QS_ASSIGN_OR_RETURN(options.filter, CombinedFilter(selection.where, selection.ids));
    }
    if (nothing_matches) {
      empty_lists();
    } else {
      QS_ASSIGN_OR_RETURN(results, SearchWithinBudget(service, *collection, vectors.data(),
                                                      queries.size(), options));
    }
  }
  for (const std::vector<Match>& matches : results) {
    JsonOut row_ids = JsonOut::array(), row_documents = JsonOut::array(),
            row_metadatas = JsonOut::array(), row_embeddings = JsonOut::array(),
            row_distances = JsonOut::array();
    std::vector<Key> keys;
    for (const Match& match : matches) {
      row_ids.push_back(match.id);
      row_documents.push_back(DocumentJson(match.text));
      row_metadatas.push_back(MetadataJson(match.metadata, raw));
      row_distances.push_back(match.distance);
      keys.push_back(match.key);
    }
    if (include.embeddings && !keys.empty()) {
      QS_ASSIGN_OR_RETURN(std::vector<std::optional<Record>> stored, collection->Get(keys));
      for (const std::optional<Record>& record : stored) {
        row_embeddings.push_back(record ? JsonOut(record->embedding) : JsonOut(nullptr));
      }
    }
    ids.push_back(std::move(row_ids));
    documents.push_back(std::move(row_documents));
    metadatas.push_back(std::move(row_metadatas));
    embeddings.push_back(std::move(row_embeddings));
    distances.push_back(std::move(row_distances));
  }
  return raw.ToReply(JsonOut{
      {"ids", std::move(ids)},
      {"documents", include.documents ? std::move(documents) : JsonOut(nullptr)},
      {"metadatas", include.metadatas ? std::move(metadatas) : JsonOut(nullptr)},
      {"embeddings", include.embeddings ? std::move(embeddings) : JsonOut(nullptr)},
      {"distances", include.distances ? std::move(distances) : JsonOut(nullptr)},
      {"uris", nullptr},
      {"include", include.names},
  });
}

/// POST .../collections/{collection_id}/delete {ids, where, where_document}.
Result<Reply> DeleteRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"ids", "where", "where_document"}));
  QS_ASSIGN_OR_RETURN(Selection selection, ReadSelection(root));
  // Nothing selected deletes nothing, as with Chroma (not every record).
  if (!selection.ids && selection.where.empty() && !selection.document) {
    return Reply::Json(JsonOut::object());
  }
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, RecordsOf(service, chroma));
  if (!collection) return Reply::Json(JsonOut::object());
  if (!selection.ids && !selection.document) {
    // where alone: one atomic delete in the store.
    QS_RETURN_IF_ERROR(collection->DeleteWhere(selection.where).status());
    return Reply::Json(JsonOut::object());
  }
  QS_ASSIGN_OR_RETURN(std::vector<Record> records,
                      SelectRecords(*collection, selection, 0, std::nullopt, false));
  std::vector<Key> keys;
  keys.reserve(records.size());
  for (const Record& record : records) keys.push_back(KeyForStringId(record.id));
  if (!keys.empty()) QS_RETURN_IF_ERROR(collection->Delete(keys).status());
  return Reply::Json(JsonOut::object());
}

/// GET .../collections/{collection_id}/count: the number of records.
Result<Reply> CountRecords(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(ChromaCollection chroma, CollectionById(service, request));
  QS_ASSIGN_OR_RETURN(std::shared_ptr<Collection> collection, RecordsOf(service, chroma));
  if (!collection) return Reply::Json(JsonOut(0));
  QS_ASSIGN_OR_RETURN(std::uint64_t count, collection->Count());
  return Reply::Json(JsonOut(count));
}

}  // namespace

std::vector<Route> ChromaRoutes(Service& service) {
  constexpr bool kJson = true;
  constexpr bool kNoBody = false;
  constexpr bool kNoStore = false;
#define QS_CHROMA_DB "/api/v2/tenants/{tenant}/databases/{database}"
#define QS_CHROMA_COLLECTION QS_CHROMA_DB "/collections/{collection_id}"
  std::vector<Route> routes =
      BindRoutes(service, ErrorStyle::kChroma,
                 {
                     {"GET", "/api/v2/heartbeat", Heartbeat, kNoBody, kNoStore},
                     {"GET", "/api/v2/version", Version, kNoBody, kNoStore},
                     {"GET", "/api/v2/pre-flight-checks", PreFlightChecks, kNoBody, kNoStore},
                     {"GET", "/api/v2/auth/identity", Identity, kNoBody, kNoStore},
                     {"GET", "/api/v2/healthcheck", Healthcheck},
                     {"POST", "/api/v2/reset", Reset},
                     {"POST", "/api/v2/tenants", CreateTenant, kJson},
                     {"GET", "/api/v2/tenants/{tenant_name}", GetTenant},
                     {"POST", "/api/v2/tenants/{tenant}/databases", CreateDatabase, kJson},
                     {"GET", "/api/v2/tenants/{tenant}/databases", ListDatabases},
                     {"GET", QS_CHROMA_DB, GetDatabase},
                     {"DELETE", QS_CHROMA_DB, DeleteDatabase},
                     {"POST", QS_CHROMA_DB "/collections", CreateCollection, kJson},
                     {"GET", QS_CHROMA_DB "/collections", ListCollections},
                     {"GET", QS_CHROMA_DB "/collections_count", CountCollections},
                     {"GET", QS_CHROMA_COLLECTION, GetCollection},
                     {"DELETE", QS_CHROMA_COLLECTION, DeleteCollection},
                     {"PUT", QS_CHROMA_COLLECTION, ModifyCollection, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/fork", ForkCollection},
                     {"POST", QS_CHROMA_COLLECTION "/search", SearchCollection},
                     {"POST", QS_CHROMA_COLLECTION "/add", AddRecords, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/upsert", UpsertRecords, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/update", UpdateRecords, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/get", GetRecords, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/query", QueryRecords, kJson},
                     {"POST", QS_CHROMA_COLLECTION "/delete", DeleteRecords, kJson},
                     {"GET", QS_CHROMA_COLLECTION "/count", CountRecords},
                 });
#undef QS_CHROMA_COLLECTION
#undef QS_CHROMA_DB
  return routes;
}

}  // namespace quiver::server
