// Copyright (c) Quiver authors.
//
// Embedding models: turn text into embeddings, so that a collection can take
// records and queries as text (docs/text.md).
//
// The library core sees only this interface. Implementations live outside
// it: a local ONNX Runtime model and an OpenAI-compatible HTTP client in
// src/embed/ (library quiver_embed, header "quiver/embedders.h"), or the
// caller's own.

#ifndef QUIVER_EMBEDDER_H_
#define QUIVER_EMBEDDER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/options.h"
#include "quiver/status.h"

namespace quiver {

/// What an embedding is made for. Some models embed queries and documents
/// differently (an instruction prefix, say); models that do not ignore it.
enum class EmbedPurpose : std::uint8_t { kDocument = 0, kQuery = 1 };

/// The fixed description of an embedding model.
struct EmbedderInfo {
  /// Names the model, e.g. "use-lite" or "openai:nomic-embed-text". Together
  /// with `version` it is a collection's model tag (CollectionConfig::model_id
  /// and model_version): a collection created with this embedder refuses to
  /// open with another (invariant I6).
  std::string id;
  /// Changes whenever the same input can give different vectors (new
  /// weights, a new tokenizer), e.g. "0.2.0".
  std::string version;
  /// Length of every embedding, float32 components.
  std::uint32_t dimensions = 0;
  /// The metric the model was trained for (cosine for most text models).
  Metric metric = Metric::kCos;
  /// Longest input in the model's tokens; 0 = not known here (a remote
  /// server decides). Longer texts are refused, never silently truncated.
  std::size_t max_tokens = 0;
  /// Texts per Embed call the model handles best; callers split larger
  /// batches into calls of this size. At least 1.
  std::size_t max_batch = 32;
  /// One line for logs and `quiver stats`, e.g. "ONNX Runtime 1.30.0, model.onnx (25 MB)".
  std::string description;
};

/// An embedding model. Thread safety: implementations must allow concurrent
/// calls of every method from any thread (the server embeds requests in
/// parallel).
class Embedder {
 public:
  virtual ~Embedder() = default;

  virtual const EmbedderInfo& info() const = 0;

  /// Checks one text without embedding it: OK if Embed would accept it.
  /// InvalidArgument (saying what is wrong: empty, not UTF-8, "612 tokens;
  /// the model accepts at most 512") otherwise. The caller names the record.
  virtual Status CheckText(std::string_view text) const = 0;

  /// Embeds `texts`: returns texts.size() x info().dimensions float32 values,
  /// row-major, every value finite. All or nothing: on error no vector is
  /// returned. Errors: InvalidArgument (a text CheckText refuses), Unavailable
  /// (a remote server is down, timed out or overloaded, after retries),
  /// Internal (the model or server returned the wrong count, dimension or a
  /// non-finite value). Messages name the model or server and, for a remote
  /// one, quote its reply.
  virtual Result<std::vector<float>> Embed(const std::vector<std::string>& texts,
                                           EmbedPurpose purpose) = 0;
};

/// The configuration of a collection for `info`'s embeddings: dimensions,
/// metric and model tag from the embedder, index parameters at their defaults.
CollectionConfig ConfigForEmbedder(const EmbedderInfo& info);

/// Embeds `texts` with `embedder` as every face does: checks each text first
/// (InvalidArgument "<name_of(i)>: <why>", nothing embedded), then embeds in
/// calls of info().max_batch texts and checks each call's output
/// (CheckEmbeddings). Returns texts.size() x dimensions floats, row-major.
/// Other errors are the embedder's, prefixed "<what>: ".
Result<std::vector<float>> EmbedAll(Embedder& embedder, const std::vector<std::string>& texts,
                                    EmbedPurpose purpose,
                                    const std::function<std::string(std::size_t)>& name_of,
                                    std::string_view what);

/// Checks a batch that an embedder returned: `values` must hold
/// `count` x `dimensions` finite floats. Internal naming `who` otherwise.
/// For Embedder implementations.
Status CheckEmbeddings(const std::vector<float>& values, std::size_t count,
                       std::uint32_t dimensions, std::string_view who);

}  // namespace quiver

#endif  // QUIVER_EMBEDDER_H_
