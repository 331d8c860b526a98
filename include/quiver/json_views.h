// Copyright (c) Quiver authors.
//
// JSON views of a collection's configuration and statistics: the CLI's
// `stats --json` and `list --json` and the HTTP API all use these, so every
// field is spelled the same way everywhere. Field names are those of
// CollectionConfig and CollectionStats; enums use their canonical names
// ("l2sq", "f16"). Templates over any JSON type constructible from an
// initializer list of key/value pairs, such as nlohmann::json or
// nlohmann::ordered_json; this header itself needs no JSON library.

#ifndef QUIVER_JSON_VIEWS_H_
#define QUIVER_JSON_VIEWS_H_

#include "quiver/collection.h"
#include "quiver/options.h"

namespace quiver {

/// {"dimensions", "metric", "scalar", "connectivity", "expansion_add",
///  "expansion_search", "model_id", "model_version"}.
template <typename JsonT>
JsonT ConfigToJson(const CollectionConfig& config) {
  return {{"dimensions", config.dimensions},
          {"metric", MetricName(config.metric)},
          {"scalar", ScalarKindName(config.scalar)},
          {"connectivity", config.connectivity},
          {"expansion_add", config.expansion_add},
          {"expansion_search", config.expansion_search},
          {"model_id", config.model_id},
          {"model_version", config.model_version}};
}

/// Every field of CollectionStats, `config` as ConfigToJson; counts are
/// integers, last_checkpoint_ms is milliseconds.
template <typename JsonT>
JsonT StatsToJson(const CollectionStats& stats) {
  return {{"name", stats.name},
          {"id", stats.id},
          {"config", ConfigToJson<JsonT>(stats.config)},
          {"records", stats.records},
          {"index_vectors", stats.index_vectors},
          {"index_memory_bytes", stats.index_memory_bytes},
          {"index_mapped", stats.index_mapped},
          {"applied_seq", stats.applied_seq},
          {"change_log_length", stats.change_log_length},
          {"checkpoint_generation", stats.checkpoint_generation},
          {"checkpoint_applied_seq", stats.checkpoint_applied_seq},
          {"checkpoint_bytes", stats.checkpoint_bytes},
          {"last_checkpoint_ms", stats.last_checkpoint_ms},
          {"unreachable_vectors", stats.unreachable_vectors},
          {"simd_kernel", stats.simd_kernel},
          {"fatal_error", stats.fatal_error}};
}

}  // namespace quiver

#endif  // QUIVER_JSON_VIEWS_H_
