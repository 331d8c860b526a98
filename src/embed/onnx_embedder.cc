// Copyright (c) Quiver authors.
//
// A local text embedding model run by ONNX Runtime (its C API, ORT_API_VERSION
// 29, https://onnxruntime.ai/docs/api/c/). The only file of Quiver that sees
// ONNX Runtime.
//
// A model is a directory with a quiver-model.json (docs/text.md §Models) that
// names the ONNX file, its tokenizer and how the graph takes its input. The
// path is: text -> tokenizer ids -> cut to max_tokens -> input tensors ->
// session Run -> output [batch, dimensions] -> optional L2 normalization.
// Input layouts:
//   sparse  `indices` [N, 2] (text index, position) and `values` [N] (ids),
//           rows in row-major order, as TensorFlow's SparseTensor (Universal
//           Sentence Encoder Lite's TF.js graph).
// One session serves every thread: OrtApi::Run is thread-safe on a session.

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "embed/unigram_tokenizer.h"
#include "quiver/embedders.h"
#include "util/status_macros.h"

#if QUIVER_HAVE_ONNXRUNTIME
#include <onnxruntime_c_api.h>
#endif

namespace quiver::embed {
namespace {

/// Hex SHA-256 of a file, or an empty string when it cannot be read.
std::string Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(two, sizeof(two), "%02x", digest[i]);
    hex += two;
  }
  return hex;
}

/// The parts of quiver-model.json the embedder uses.
struct ModelConfig {
  EmbedderInfo info;
  std::string model_path;
  std::string model_sha256;
  std::string vocab_path;
  UnigramTokenizer::Options tokenizer;
  std::string input_indices;
  std::string input_values;
  bool int64_inputs = false;
  std::string output;
  bool normalize = false;
};

Result<ModelConfig> ReadModelConfig(const std::string& dir) {
  const std::string path = dir + "/quiver-model.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound("no model in " + dir + " (quiver-model.json is missing)");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto json = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::InvalidArgument(path + ": is not a JSON object");
  }
  auto field = [&](const nlohmann::json& object, const char* name,
                   nlohmann::json::value_t type) -> Result<nlohmann::json> {
    auto it = object.find(name);
    const bool matches =
        it != object.end() &&
        (it->type() == type ||
         (type == nlohmann::json::value_t::number_unsigned &&
          it->type() == nlohmann::json::value_t::number_integer && it->get<std::int64_t>() >= 0));
    if (!matches) {
      return Status::InvalidArgument(path + ": field '" + name + "' is missing or not a " +
                                     (type == nlohmann::json::value_t::string ? "string"
                                      : type == nlohmann::json::value_t::object
                                          ? "object"
                                          : "non-negative integer"));
    }
    return *it;
  };
  using V = nlohmann::json::value_t;
  ModelConfig c;
  auto id = field(json, "id", V::string);
  auto version = field(json, "version", V::string);
  auto dims = field(json, "dimensions", V::number_unsigned);
  auto metric = field(json, "metric", V::string);
  auto model = field(json, "model", V::string);
  auto tokenizer = field(json, "tokenizer", V::object);
  auto inputs = field(json, "inputs", V::object);
  auto output = field(json, "output", V::string);
  auto max_tokens = field(json, "max_tokens", V::number_unsigned);
  for (const auto* r :
       {&id, &version, &dims, &metric, &model, &tokenizer, &inputs, &output, &max_tokens}) {
    if (!r->ok()) return r->status();
  }
  c.info.id = id->get<std::string>();
  c.info.version = version->get<std::string>();
  c.info.dimensions = dims->get<std::uint32_t>();
  if (c.info.dimensions == 0 || c.info.dimensions > 65536) {
    return Status::InvalidArgument(path + ": dimensions must be 1..65536");
  }
  auto parsed_metric = ParseMetric(metric->get<std::string>());
  if (!parsed_metric.ok())
    return Status::InvalidArgument(path + ": metric: " + parsed_metric.status().message());
  c.info.metric = *parsed_metric;
  c.info.max_tokens = max_tokens->get<std::size_t>();
  c.info.max_batch = json.value("max_batch", std::size_t{32});
  c.model_path = dir + "/" + model->get<std::string>();
  c.model_sha256 = json.value("model_sha256", std::string());
  c.output = output->get<std::string>();
  c.normalize = json.value("normalize", false);
  const std::string pooling = json.value("pooling", std::string("none"));
  if (pooling != "none") {
    return Status::NotSupported(path + ": pooling '" + pooling +
                                "' is not supported yet; expected \"none\" (the graph pools)");
  }

  const auto& t = *tokenizer;
  const std::string type = t.value("type", std::string());
  if (type != "sentencepiece-unigram") {
    return Status::NotSupported(path + ": tokenizer.type '" + type +
                                "' is not supported yet; expected \"sentencepiece-unigram\"");
  }
  if (t.value("vocab_format", std::string("pairs")) != "pairs") {
    return Status::NotSupported(path + ": tokenizer.vocab_format must be \"pairs\"");
  }
  c.vocab_path = dir + "/" + t.value("vocab", std::string("vocab.json"));
  const std::string variant = t.value("variant", std::string("sentencepiece"));
  c.tokenizer.variant = variant.rfind("energetic-ai", 0) == 0
                            ? UnigramTokenizer::Variant::kEnergetic
                            : UnigramTokenizer::Variant::kStandard;
  const std::string normalization = t.value("normalization", std::string("NFKC"));
  if (normalization != "NFKC" && normalization != "none") {
    return Status::NotSupported(path + ": tokenizer.normalization must be \"NFKC\" or \"none\"");
  }
  c.tokenizer.nfkc = normalization == "NFKC";
  c.tokenizer.lowercase = t.value("lowercase", false);
  c.tokenizer.prefix_space = t.value("prefix_space", true);
  std::u32string space;
  if (!DecodeUtf8(t.value("space_symbol", std::string("\u2581")), &space)) {
    return Status::InvalidArgument(path + ": tokenizer.space_symbol is not UTF-8");
  }
  c.tokenizer.space_symbol = space;
  c.tokenizer.unk_id = t.value("unk_id", 0);
  c.tokenizer.merge_unknown = t.value("merge_unknown", true);
  c.tokenizer.reserved_ids = t.value("reserved_ids", 0);

  const auto& i = *inputs;
  const std::string layout = i.value("layout", std::string());
  if (layout != "sparse") {
    return Status::NotSupported(path + ": inputs.layout '" + layout +
                                "' is not supported yet; expected \"sparse\"");
  }
  c.input_indices = i.value("indices", std::string("indices"));
  c.input_values = i.value("values", std::string("values"));
  const std::string dtype = i.value("dtype", std::string("int32"));
  if (dtype != "int32" && dtype != "int64") {
    return Status::InvalidArgument(path + ": inputs.dtype must be \"int32\" or \"int64\"");
  }
  c.int64_inputs = dtype == "int64";
  return c;
}

#if QUIVER_HAVE_ONNXRUNTIME

const OrtApi& Api() {
  static const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  return *api;
}

/// Turns an OrtStatus into a Status (and releases it).
Status FromOrt(OrtStatus* status, std::string_view what) {
  if (status == nullptr) return Status::Ok();
  std::string message = std::string(what) + ": ONNX Runtime: " + Api().GetErrorMessage(status);
  Api().ReleaseStatus(status);
  return Status::Internal(std::move(message));
}

/// The process's one ONNX Runtime environment (ORT allows one per process).
Result<OrtEnv*> SharedEnv() {
  static std::mutex mu;
  static OrtEnv* env = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (env == nullptr) {
    Status s = FromOrt(Api().CreateEnv(ORT_LOGGING_LEVEL_WARNING, "quiver", &env), "CreateEnv");
    if (!s.ok()) return s;
  }
  return env;
}

/// "Api().Run(session, ...)" -> "Run".
std::string_view CallName(std::string_view call) {
  if (call.rfind("Api().", 0) == 0) call.remove_prefix(6);
  return call.substr(0, call.find('('));
}

/// Returns from the calling function when an ONNX Runtime call fails.
#define QUIVER_RETURN_IF_ORT(call)                         \
  do {                                                     \
    Status ort_status_ = FromOrt((call), CallName(#call)); \
    if (!ort_status_.ok()) return ort_status_;             \
  } while (0)

struct OrtDeleter {
  void operator()(OrtSession* p) const { Api().ReleaseSession(p); }
  void operator()(OrtSessionOptions* p) const { Api().ReleaseSessionOptions(p); }
  void operator()(OrtMemoryInfo* p) const { Api().ReleaseMemoryInfo(p); }
  void operator()(OrtValue* p) const { Api().ReleaseValue(p); }
  void operator()(OrtTensorTypeAndShapeInfo* p) const { Api().ReleaseTensorTypeAndShapeInfo(p); }
};
template <typename T>
using OrtPtr = std::unique_ptr<T, OrtDeleter>;

class OnnxEmbedder final : public Embedder {
 public:
  OnnxEmbedder(ModelConfig config, UnigramTokenizer tokenizer, OrtPtr<OrtSession> session,
               OrtPtr<OrtMemoryInfo> memory, bool truncate)
      : config_(std::move(config)),
        tokenizer_(std::move(tokenizer)),
        session_(std::move(session)),
        memory_(std::move(memory)),
        truncate_(truncate) {}

  const EmbedderInfo& info() const override { return config_.info; }

  Status CheckText(std::string_view text) const override {
    if (text.empty()) return Status::InvalidArgument("is empty; expected text to embed");
    auto ids = tokenizer_.Encode(text);
    if (!ids.ok()) return ids.status();
    if (ids->empty()) return Status::InvalidArgument("has no tokens; expected text to embed");
    if (!truncate_ && config_.info.max_tokens > 0 && ids->size() > config_.info.max_tokens) {
      return Status::InvalidArgument(
          std::to_string(ids->size()) + " tokens; model '" + config_.info.id + "' reads at most " +
          std::to_string(config_.info.max_tokens) +
          ": split the text into shorter chunks, or let the embedder truncate (--truncate-text)");
    }
    return Status::Ok();
  }

  Result<std::vector<float>> Embed(const std::vector<std::string>& texts,
                                   EmbedPurpose purpose) override {
    if (texts.empty()) return std::vector<float>{};
    // Sparse input: one row (text, position) and one id per token.
    std::vector<std::int64_t> indices;
    std::vector<std::int64_t> values;
    for (std::size_t t = 0; t < texts.size(); ++t) {
      Status checked = CheckText(texts[t]);
      if (!checked.ok()) {
        return Status::InvalidArgument("texts[" + std::to_string(t) + "]: " + checked.message());
      }
      auto ids = tokenizer_.Encode(texts[t]);
      if (!ids.ok()) return ids.status();
      std::size_t n = ids->size();
      if (config_.info.max_tokens > 0) n = std::min(n, config_.info.max_tokens);
      for (std::size_t p = 0; p < n; ++p) {
        indices.push_back(static_cast<std::int64_t>(t));
        indices.push_back(static_cast<std::int64_t>(p));
        values.push_back((*ids)[p]);
      }
    }
    const std::int64_t rows = static_cast<std::int64_t>(values.size());
    const std::int64_t indices_shape[2] = {rows, 2};
    const std::int64_t values_shape[1] = {rows};
    std::vector<std::int32_t> indices32, values32;
    OrtValue* raw_indices = nullptr;
    OrtValue* raw_values = nullptr;
    if (config_.int64_inputs) {
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), indices.data(), indices.size() * sizeof(std::int64_t), indices_shape, 2,
          ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &raw_indices));
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), values.data(), values.size() * sizeof(std::int64_t), values_shape, 1,
          ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &raw_values));
    } else {
      indices32.assign(indices.begin(), indices.end());
      values32.assign(values.begin(), values.end());
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), indices32.data(), indices32.size() * sizeof(std::int32_t), indices_shape,
          2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, &raw_indices));
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), values32.data(), values32.size() * sizeof(std::int32_t), values_shape, 1,
          ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, &raw_values));
    }
    OrtPtr<OrtValue> input_indices(raw_indices), input_values(raw_values);
    const char* input_names[2] = {config_.input_indices.c_str(), config_.input_values.c_str()};
    const OrtValue* inputs[2] = {input_indices.get(), input_values.get()};
    const char* output_names[1] = {config_.output.c_str()};
    OrtValue* raw_output = nullptr;
    QUIVER_RETURN_IF_ORT(
        Api().Run(session_.get(), nullptr, input_names, inputs, 2, output_names, 1, &raw_output));
    OrtPtr<OrtValue> output(raw_output);

    OrtTensorTypeAndShapeInfo* raw_shape = nullptr;
    QUIVER_RETURN_IF_ORT(Api().GetTensorTypeAndShape(output.get(), &raw_shape));
    OrtPtr<OrtTensorTypeAndShapeInfo> shape(raw_shape);
    std::size_t rank = 0;
    QUIVER_RETURN_IF_ORT(Api().GetDimensionsCount(shape.get(), &rank));
    std::int64_t dims[2] = {0, 0};
    if (rank == 2) QUIVER_RETURN_IF_ORT(Api().GetDimensions(shape.get(), dims, 2));
    const std::size_t d = config_.info.dimensions;
    if (rank != 2 || dims[0] != static_cast<std::int64_t>(texts.size()) ||
        dims[1] != static_cast<std::int64_t>(d)) {
      return Status::Internal("model '" + config_.info.id + "' returned a tensor of rank " +
                              std::to_string(rank) + " [" + std::to_string(dims[0]) + ", " +
                              std::to_string(dims[1]) + "]; expected [" +
                              std::to_string(texts.size()) + ", " + std::to_string(d) + "]");
    }
    float* data = nullptr;
    QUIVER_RETURN_IF_ORT(Api().GetTensorMutableData(output.get(), reinterpret_cast<void**>(&data)));
    std::vector<float> out(data, data + texts.size() * d);
    if (config_.normalize) {
      for (std::size_t t = 0; t < texts.size(); ++t) {
        double norm = 0;
        for (std::size_t j = 0; j < d; ++j) norm += double(out[t * d + j]) * out[t * d + j];
        norm = std::sqrt(norm);
        if (norm > 0) {
          for (std::size_t j = 0; j < d; ++j) out[t * d + j] = float(out[t * d + j] / norm);
        }
      }
    }
    (void)purpose;  // this model embeds queries and documents alike
    return out;
  }

 private:
  const ModelConfig config_;
  const UnigramTokenizer tokenizer_;
  const OrtPtr<OrtSession> session_;
  const OrtPtr<OrtMemoryInfo> memory_;
  const bool truncate_;
};

#endif  // QUIVER_HAVE_ONNXRUNTIME

}  // namespace

Result<std::shared_ptr<Embedder>> LoadOnnxModel(const std::string& model_dir,
                                                const OnnxOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!std::filesystem::is_directory(model_dir)) {
    return Status::NotFound("no model directory " + model_dir);
  }
  QUIVER_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(model_dir));
  if (!std::filesystem::exists(config.model_path)) {
    return Status::NotFound("model file " + config.model_path +
                            " is missing (run scripts/setup.sh)");
  }
  if (!config.model_sha256.empty()) {
    const std::string actual = Sha256File(config.model_path);
    if (actual != config.model_sha256) {
      return Status::Corruption("model file " + config.model_path + " has sha256 " + actual +
                                "; quiver-model.json expects " + config.model_sha256 +
                                " (reinstall it with scripts/setup.sh)");
    }
  }
  QUIVER_ASSIGN_OR_RETURN(UnigramTokenizer tokenizer,
                          UnigramTokenizer::FromPairsJson(config.vocab_path, config.tokenizer));
#if QUIVER_HAVE_ONNXRUNTIME
  QUIVER_ASSIGN_OR_RETURN(OrtEnv * env, SharedEnv());
  OrtSessionOptions* raw_options = nullptr;
  QUIVER_RETURN_IF_ORT(Api().CreateSessionOptions(&raw_options));
  OrtPtr<OrtSessionOptions> session_options(raw_options);
  if (options.threads > 0) {
    QUIVER_RETURN_IF_ORT(Api().SetIntraOpNumThreads(session_options.get(), options.threads));
  }
  QUIVER_RETURN_IF_ORT(Api().SetInterOpNumThreads(session_options.get(), 1));
  QUIVER_RETURN_IF_ORT(
      Api().SetSessionGraphOptimizationLevel(session_options.get(), ORT_ENABLE_ALL));
  OrtSession* raw_session = nullptr;
  Status created = FromOrt(
      Api().CreateSession(env, config.model_path.c_str(), session_options.get(), &raw_session),
      "loading " + config.model_path);
  if (!created.ok()) return created;
  OrtPtr<OrtSession> session(raw_session);
  OrtMemoryInfo* raw_memory = nullptr;
  QUIVER_RETURN_IF_ORT(
      Api().CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &raw_memory));
  OrtPtr<OrtMemoryInfo> memory(raw_memory);

  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  char load[32];
  std::snprintf(load, sizeof(load), "%.0f ms", ms);
  const auto bytes = std::filesystem::file_size(config.model_path);
  config.info.description = std::string("ONNX Runtime ") + OrtGetApiBase()->GetVersionString() +
                            ", " + config.model_path + " (" +
                            std::to_string(bytes / (1024 * 1024)) + " MiB), loaded in " + load;
  return std::shared_ptr<Embedder>(
      std::make_shared<OnnxEmbedder>(std::move(config), std::move(tokenizer), std::move(session),
                                     std::move(memory), options.truncate));
#else
  (void)start;
  (void)options;
  return Status::NotSupported(
      "this build of Quiver has no ONNX Runtime (scripts/setup.sh "
      "installs it on x86-64 Linux); cannot load " +
      model_dir);
#endif
}

}  // namespace quiver::embed
