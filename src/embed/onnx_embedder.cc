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
// Tokenizers: SentencePiece unigram (unigram_tokenizer.h) or BERT's
// WordPiece (wordpiece_tokenizer.h). Input layouts:
//   sparse  `indices` [N, 2] (text index, position) and `values` [N] (ids),
//           rows in row-major order, as TensorFlow's SparseTensor (Universal
//           Sentence Encoder Lite's TF.js graph).
//   dense   `input_ids` and `attention_mask` [batch, longest] (padded with the
//           pad id and 0), and `token_type_ids` (zeros) when named, as
//           BERT-style encoders take them; the output is either pooled
//           [batch, dimensions] ("pooling": "none") or per token
//           [batch, tokens, dimensions], pooled here: "mean" over the tokens
//           the mask keeps (sentence-transformers' mean pooling) or "cls"
//           (the first token).
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
#include <optional>
#include <sstream>
#include <thread>

#include "embed/unigram_tokenizer.h"
#include "embed/wordpiece_tokenizer.h"
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
  bool wordpiece = false;  // else SentencePiece unigram
  UnigramTokenizer::Options tokenizer;
  WordPieceTokenizer::Options wordpiece_options;
  bool dense = false;  // else sparse
  std::string input_indices;
  std::string input_values;
  std::string input_ids;
  std::string attention_mask;
  std::string token_type_ids;  // empty = the model takes none
  bool int64_inputs = false;
  std::string output;
  enum class Pooling { kNone, kMean, kCls } pooling = Pooling::kNone;
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
  if (pooling == "none") {
    c.pooling = ModelConfig::Pooling::kNone;
  } else if (pooling == "mean") {
    c.pooling = ModelConfig::Pooling::kMean;
  } else if (pooling == "cls") {
    c.pooling = ModelConfig::Pooling::kCls;
  } else {
    return Status::InvalidArgument(path + ": pooling '" + pooling +
                                   "'; expected \"none\" (the graph pools), \"mean\" or \"cls\"");
  }

  const auto& t = *tokenizer;
  const std::string type = t.value("type", std::string());
  if (type == "wordpiece") {
    c.wordpiece = true;
    c.vocab_path = dir + "/" + t.value("vocab", std::string("vocab.txt"));
    auto& w = c.wordpiece_options;
    w.lowercase = t.value("lowercase", true);
    w.strip_accents = t.value("strip_accents", w.lowercase);
    w.unk_token = t.value("unk_token", w.unk_token);
    w.cls_token = t.value("cls_token", w.cls_token);
    w.sep_token = t.value("sep_token", w.sep_token);
    w.pad_token = t.value("pad_token", w.pad_token);
    w.max_chars_per_word = t.value("max_chars_per_word", w.max_chars_per_word);
  } else if (type != "sentencepiece-unigram") {
    return Status::InvalidArgument(path + ": tokenizer.type '" + type +
                                   "'; expected \"sentencepiece-unigram\" or \"wordpiece\"");
  }
  if (!c.wordpiece) {
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
  }
  const auto& i = *inputs;
  const std::string layout = i.value("layout", std::string());
  if (layout == "dense") {
    c.dense = true;
    c.input_ids = i.value("input_ids", std::string("input_ids"));
    c.attention_mask = i.value("attention_mask", std::string("attention_mask"));
    c.token_type_ids = i.value("token_type_ids", std::string());
  } else if (layout == "sparse") {
    c.input_indices = i.value("indices", std::string("indices"));
    c.input_values = i.value("values", std::string("values"));
  } else {
    return Status::InvalidArgument(path + ": inputs.layout '" + layout +
                                   "'; expected \"sparse\" or \"dense\"");
  }
  if (!c.dense && c.pooling != ModelConfig::Pooling::kNone) {
    return Status::InvalidArgument(path + ": pooling must be \"none\" with the sparse layout");
  }
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

/// The tokenizer a model configuration names.
class Tokenizer {
 public:
  Tokenizer(std::optional<UnigramTokenizer> unigram, std::optional<WordPieceTokenizer> wordpiece)
      : unigram_(std::move(unigram)), wordpiece_(std::move(wordpiece)) {}
  Result<std::vector<std::int32_t>> Encode(std::string_view text) const {
    return unigram_ ? unigram_->Encode(text) : wordpiece_->Encode(text);
  }
  /// Ids that pad a dense batch; the id that must end a cut WordPiece text.
  std::int32_t pad_id() const { return wordpiece_ ? wordpiece_->pad_id() : 0; }
  std::optional<std::int32_t> final_id() const {
    return wordpiece_ ? std::optional<std::int32_t>(wordpiece_->sep_id()) : std::nullopt;
  }
  /// A WordPiece text always has [CLS] and [SEP]: two ids and no word.
  std::size_t empty_size() const { return wordpiece_ ? 2 : 0; }

 private:
  std::optional<UnigramTokenizer> unigram_;
  std::optional<WordPieceTokenizer> wordpiece_;
};

class OnnxEmbedder final : public Embedder {
 public:
  OnnxEmbedder(ModelConfig config, Tokenizer tokenizer, OrtPtr<OrtSession> session,
               OrtPtr<OrtMemoryInfo> memory, bool truncate)
      : config_(std::move(config)),
        tokenizer_(std::move(tokenizer)),
        session_(std::move(session)),
        memory_(std::move(memory)),
        truncate_(truncate) {}

  const EmbedderInfo& info() const override { return config_.info; }

  Status CheckText(std::string_view text) const override { return Tokenize(text).status(); }

  Result<std::vector<float>> Embed(const std::vector<std::string>& texts,
                                   EmbedPurpose purpose) override {
    (void)purpose;  // these models embed queries and documents alike
    if (texts.empty()) return std::vector<float>{};
    std::vector<std::vector<std::int32_t>> ids(texts.size());
    for (std::size_t t = 0; t < texts.size(); ++t) {
      auto tokens = Tokenize(texts[t]);
      if (!tokens.ok()) {
        return Status::InvalidArgument("texts[" + std::to_string(t) +
                                       "]: " + tokens.status().message());
      }
      ids[t] = std::move(tokens).value();
    }
    QUIVER_ASSIGN_OR_RETURN(std::vector<float> out, config_.dense ? RunDense(ids) : RunSparse(ids));
    if (config_.normalize) {
      const std::size_t d = config_.info.dimensions;
      for (std::size_t t = 0; t < texts.size(); ++t) {
        double norm = 0;
        for (std::size_t j = 0; j < d; ++j) norm += double(out[t * d + j]) * out[t * d + j];
        norm = std::sqrt(norm);
        if (norm > 0) {
          for (std::size_t j = 0; j < d; ++j) out[t * d + j] = float(out[t * d + j] / norm);
        }
      }
    }
    return out;
  }

 private:
  /// The ids the model reads for `text`, cut to max_tokens when truncating;
  /// InvalidArgument for an empty text, one without tokens, or (without
  /// truncation) one longer than max_tokens.
  Result<std::vector<std::int32_t>> Tokenize(std::string_view text) const {
    if (text.empty()) return Status::InvalidArgument("is empty; expected text to embed");
    QUIVER_ASSIGN_OR_RETURN(std::vector<std::int32_t> ids, tokenizer_.Encode(text));
    if (ids.size() <= tokenizer_.empty_size()) {
      return Status::InvalidArgument("has no tokens; expected text to embed");
    }
    const std::size_t limit = config_.info.max_tokens;
    if (limit > 0 && ids.size() > limit) {
      if (!truncate_) {
        return Status::InvalidArgument(
            std::to_string(ids.size()) + " tokens; model '" + config_.info.id + "' reads at most " +
            std::to_string(limit) +
            ": split the text into shorter chunks, or let the embedder truncate (--truncate-text)");
      }
      ids.resize(limit);
      if (auto last = tokenizer_.final_id()) ids.back() = *last;  // keep [SEP] last
    }
    return ids;
  }

  /// Creates an int32 or int64 tensor (as the model's inputs.dtype says) of
  /// `shape` over `values`; `narrow` holds the int32 copy. Both must outlive
  /// the tensor.
  Result<OrtPtr<OrtValue>> Tensor(const std::vector<std::int64_t>& values,
                                  const std::vector<std::int64_t>& shape,
                                  std::vector<std::int32_t>* narrow) const {
    OrtValue* raw = nullptr;
    if (config_.int64_inputs) {
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), const_cast<std::int64_t*>(values.data()),
          values.size() * sizeof(std::int64_t), shape.data(), shape.size(),
          ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &raw));
    } else {
      narrow->assign(values.begin(), values.end());
      QUIVER_RETURN_IF_ORT(Api().CreateTensorWithDataAsOrtValue(
          memory_.get(), narrow->data(), narrow->size() * sizeof(std::int32_t), shape.data(),
          shape.size(), ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, &raw));
    }
    return OrtPtr<OrtValue>(raw);
  }

  /// Runs the session; returns the output and its shape.
  Result<OrtPtr<OrtValue>> Run(const std::vector<const char*>& names,
                               const std::vector<const OrtValue*>& inputs,
                               std::vector<std::int64_t>* shape_out) const {
    const char* output_names[1] = {config_.output.c_str()};
    OrtValue* raw_output = nullptr;
    QUIVER_RETURN_IF_ORT(Api().Run(session_.get(), nullptr, names.data(), inputs.data(),
                                   inputs.size(), output_names, 1, &raw_output));
    OrtPtr<OrtValue> output(raw_output);
    OrtTensorTypeAndShapeInfo* raw_shape = nullptr;
    QUIVER_RETURN_IF_ORT(Api().GetTensorTypeAndShape(output.get(), &raw_shape));
    OrtPtr<OrtTensorTypeAndShapeInfo> shape(raw_shape);
    std::size_t rank = 0;
    QUIVER_RETURN_IF_ORT(Api().GetDimensionsCount(shape.get(), &rank));
    shape_out->assign(rank, 0);
    if (rank > 0) QUIVER_RETURN_IF_ORT(Api().GetDimensions(shape.get(), shape_out->data(), rank));
    return output;
  }

  Status ShapeError(const std::vector<std::int64_t>& shape, const std::string& expected) const {
    std::string got;
    for (std::int64_t d : shape) {
      if (!got.empty()) got += ", ";
      got += std::to_string(d);
    }
    return Status::Internal("model '" + config_.info.id + "' returned a tensor of shape [" + got +
                            "]; expected " + expected);
  }

  Result<std::vector<float>> RunSparse(const std::vector<std::vector<std::int32_t>>& ids) const {
    std::vector<std::int64_t> indices, values;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      for (std::size_t p = 0; p < ids[t].size(); ++p) {
        indices.push_back(static_cast<std::int64_t>(t));
        indices.push_back(static_cast<std::int64_t>(p));
        values.push_back(ids[t][p]);
      }
    }
    const auto rows = static_cast<std::int64_t>(values.size());
    std::vector<std::int32_t> indices32, values32;
    QUIVER_ASSIGN_OR_RETURN(auto indices_tensor, Tensor(indices, {rows, 2}, &indices32));
    QUIVER_ASSIGN_OR_RETURN(auto values_tensor, Tensor(values, {rows}, &values32));
    std::vector<std::int64_t> shape;
    QUIVER_ASSIGN_OR_RETURN(auto output,
                            Run({config_.input_indices.c_str(), config_.input_values.c_str()},
                                {indices_tensor.get(), values_tensor.get()}, &shape));
    const std::size_t d = config_.info.dimensions;
    if (shape.size() != 2 || shape[0] != static_cast<std::int64_t>(ids.size()) ||
        shape[1] != static_cast<std::int64_t>(d)) {
      return ShapeError(shape, "[" + std::to_string(ids.size()) + ", " + std::to_string(d) + "]");
    }
    float* data = nullptr;
    QUIVER_RETURN_IF_ORT(Api().GetTensorMutableData(output.get(), reinterpret_cast<void**>(&data)));
    return std::vector<float>(data, data + ids.size() * d);
  }

  Result<std::vector<float>> RunDense(const std::vector<std::vector<std::int32_t>>& ids) const {
    std::size_t longest = 0;
    for (const auto& v : ids) longest = std::max(longest, v.size());
    const std::size_t batch = ids.size();
    std::vector<std::int64_t> input_ids(batch * longest, tokenizer_.pad_id());
    std::vector<std::int64_t> mask(batch * longest, 0);
    for (std::size_t t = 0; t < batch; ++t) {
      for (std::size_t p = 0; p < ids[t].size(); ++p) {
        input_ids[t * longest + p] = ids[t][p];
        mask[t * longest + p] = 1;
      }
    }
    const std::vector<std::int64_t> shape2 = {static_cast<std::int64_t>(batch),
                                              static_cast<std::int64_t>(longest)};
    std::vector<std::int32_t> ids32, mask32, types32;
    QUIVER_ASSIGN_OR_RETURN(auto ids_tensor, Tensor(input_ids, shape2, &ids32));
    QUIVER_ASSIGN_OR_RETURN(auto mask_tensor, Tensor(mask, shape2, &mask32));
    std::vector<const char*> names = {config_.input_ids.c_str(), config_.attention_mask.c_str()};
    std::vector<const OrtValue*> inputs = {ids_tensor.get(), mask_tensor.get()};
    const std::vector<std::int64_t> zeros(batch * longest, 0);
    OrtPtr<OrtValue> types_tensor;
    if (!config_.token_type_ids.empty()) {
      QUIVER_ASSIGN_OR_RETURN(types_tensor, Tensor(zeros, shape2, &types32));
      names.push_back(config_.token_type_ids.c_str());
      inputs.push_back(types_tensor.get());
    }
    std::vector<std::int64_t> shape;
    QUIVER_ASSIGN_OR_RETURN(auto output, Run(names, inputs, &shape));
    float* data = nullptr;
    QUIVER_RETURN_IF_ORT(Api().GetTensorMutableData(output.get(), reinterpret_cast<void**>(&data)));
    const std::size_t d = config_.info.dimensions;
    const auto b = static_cast<std::int64_t>(batch);
    const auto dd = static_cast<std::int64_t>(d);
    if (config_.pooling == ModelConfig::Pooling::kNone) {
      if (shape.size() != 2 || shape[0] != b || shape[1] != dd) {
        return ShapeError(
            shape, "[" + std::to_string(batch) + ", " + std::to_string(d) + "] (pooling \"none\")");
      }
      return std::vector<float>(data, data + batch * d);
    }
    if (shape.size() != 3 || shape[0] != b || shape[1] != static_cast<std::int64_t>(longest) ||
        shape[2] != dd) {
      return ShapeError(shape, "[" + std::to_string(batch) + ", " + std::to_string(longest) + ", " +
                                   std::to_string(d) + "] (per-token output to pool)");
    }
    std::vector<float> out(batch * d, 0.0f);
    for (std::size_t t = 0; t < batch; ++t) {
      if (config_.pooling == ModelConfig::Pooling::kCls) {
        std::copy(data + t * longest * d, data + t * longest * d + d, out.begin() + t * d);
        continue;
      }
      // Mean over the tokens the mask keeps (padding excluded).
      std::vector<double> sum(d, 0.0);
      for (std::size_t p = 0; p < ids[t].size(); ++p) {
        const float* row = data + (t * longest + p) * d;
        for (std::size_t j = 0; j < d; ++j) sum[j] += row[j];
      }
      for (std::size_t j = 0; j < d; ++j) {
        out[t * d + j] = static_cast<float>(sum[j] / static_cast<double>(ids[t].size()));
      }
    }
    return out;
  }

  const ModelConfig config_;
  const Tokenizer tokenizer_;
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
  std::optional<UnigramTokenizer> unigram;
  std::optional<WordPieceTokenizer> wordpiece;
  if (config.wordpiece) {
    QUIVER_ASSIGN_OR_RETURN(
        wordpiece, WordPieceTokenizer::FromVocabTxt(config.vocab_path, config.wordpiece_options));
  } else {
    QUIVER_ASSIGN_OR_RETURN(unigram,
                            UnigramTokenizer::FromPairsJson(config.vocab_path, config.tokenizer));
  }
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
  return std::shared_ptr<Embedder>(std::make_shared<OnnxEmbedder>(
      std::move(config), Tokenizer(std::move(unigram), std::move(wordpiece)), std::move(session),
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
