// Copyright (c) Quiver authors.
//
// The embedders Quiver ships (library quiver_embed, apart from the core so
// that only programs that embed text link ONNX Runtime and an HTTP client):
//
//   a local ONNX model   any ONNX text encoder described by a quiver-model.json
//                        (tokenizer, input layout, output); scripts/setup.sh
//                        installs Universal Sentence Encoder Lite ("use-lite")
//   an OpenAI-compatible POST {base}/v1/embeddings: OpenAI, Ollama, llama.cpp's
//     server             server, vLLM, LocalAI, and `quiver serve` itself
//
// and the resolver that the CLI and the server give a store, which finds a
// model by name. See docs/text.md.

#ifndef QUIVER_EMBEDDERS_H_
#define QUIVER_EMBEDDERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quiver/embedder.h"
#include "quiver/options.h"
#include "quiver/status.h"

namespace quiver::embed {

/// Options of LoadOnnxModel.
struct OnnxOptions {
  /// ONNX Runtime intra-op threads per call; 0 = ONNX Runtime's default (one
  /// per physical core).
  int threads = 0;
  /// Texts longer than the model's max_tokens: false (default) = CheckText
  /// and Embed refuse them with InvalidArgument; true = cut them to
  /// max_tokens (the model reads only the first max_tokens tokens).
  bool truncate = false;
};

/// Loads the model described by `<model_dir>/quiver-model.json` (format in
/// docs/text.md: id, version, dimensions, metric, model file and its sha256,
/// tokenizer, input layout, output, pooling, normalize, max_tokens). Checks the
/// model file's sha256 when the configuration names one. Errors: NotFound (no
/// such directory or file), InvalidArgument (a malformed configuration, naming
/// the field), Corruption (the model file's checksum differs), NotSupported
/// (this build has no ONNX Runtime), Internal (ONNX Runtime refused the model,
/// with its message). The embedder's Embed is thread-safe; one session serves
/// every thread.
Result<std::shared_ptr<Embedder>> LoadOnnxModel(const std::string& model_dir,
                                                const OnnxOptions& options = {});

/// Options of ConnectOpenAI.
struct OpenAIOptions {
  /// The server's base URL, e.g. "https://api.openai.com" or
  /// "http://127.0.0.1:11434" (Ollama); the client posts to
  /// {base_url}/v1/embeddings (a base that already ends in /v1 is accepted).
  std::string base_url;
  /// The model name the server knows, e.g. "text-embedding-3-small".
  std::string model;
  /// Sent as "Authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  /// Expected dimensions; 0 = learn them from one probe request at connect time.
  std::uint32_t dimensions = 0;
  Metric metric = Metric::kCos;
  /// Per request: connection, read and write timeouts, milliseconds.
  std::uint32_t timeout_ms = 30000;
  /// Retries after a 429, a 5xx or a network error, with exponential backoff
  /// from retry_backoff_ms (doubling, with jitter; a Retry-After header of at
  /// most 30 s is honoured).
  std::uint32_t max_retries = 4;
  std::uint32_t retry_backoff_ms = 200;
  /// Texts per request.
  std::size_t batch = 64;
};

/// An embedder that calls an OpenAI-compatible embeddings endpoint. Its
/// model tag is ("openai:" + model, "1"). Errors of Embed: Unavailable naming
/// the server and quoting its reply (down, timed out, 4xx/5xx after retries,
/// a reply with the wrong count, dimension or a non-finite value). Connecting
/// fails with InvalidArgument for a malformed URL and, when dimensions is 0,
/// with Unavailable if the probe request fails.
Result<std::shared_ptr<Embedder>> ConnectOpenAI(const OpenAIOptions& options);

/// Where the resolver finds models.
struct ResolverOptions {
  /// Directory of local models, one subdirectory per model id holding its
  /// quiver-model.json. Empty = $QUIVER_MODELS_DIR, else the directory
  /// scripts/setup.sh installs into (third_party/models of the source tree
  /// this binary was built from), else <prefix>/share/quiver/models.
  std::string models_dir;
  /// Base URL for "openai:<model>" names. Empty = $QUIVER_EMBEDDING_URL,
  /// else $OPENAI_BASE_URL, else https://api.openai.com.
  std::string openai_base_url;
  /// API key for "openai:<model>". Empty = $QUIVER_EMBEDDING_API_KEY, else
  /// $OPENAI_API_KEY, else none.
  std::string openai_api_key;
  OnnxOptions onnx;
};

/// The embedder named `name`:
///   "<id>"            a local model in models_dir/<id> (e.g. "use-lite")
///   "onnx:<dir>"      a local model in any directory
///   "openai:<model>"  a model of an OpenAI-compatible server
/// NotFound (listing the local models it knows) for an unknown name.
Result<std::shared_ptr<Embedder>> ResolveEmbedder(const std::string& name,
                                                  const ResolverOptions& options = {});

/// A StoreOptions::embedder_resolver over ResolveEmbedder: model id is the
/// name; a local model must also have the stored version (FailedPrecondition
/// naming both otherwise: the collection was embedded by another version).
EmbedderResolver MakeResolver(const ResolverOptions& options = {});

/// The local models directory that ResolverOptions{} uses, and the ids in it.
std::string DefaultModelsDir();
std::vector<std::string> ListLocalModels(const std::string& models_dir);

}  // namespace quiver::embed

#endif  // QUIVER_EMBEDDERS_H_
