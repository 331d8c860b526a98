// Copyright (c) Quiver authors.
//
// POST /v1/embeddings: OpenAI's embeddings API
// (https://platform.openai.com/docs/api-reference/embeddings) answered with
// the server's local models, so that any OpenAI client, and Quiver's own
// embedder client, can use `quiver serve` as its embedding server.
//
//   request   {"model": "use-lite", "input": "text" | ["text", ...],
//              "encoding_format": "float" | "base64", "dimensions": 512, "user": ...}
//   reply     {"object": "list", "model": "use-lite",
//              "data": [{"object": "embedding", "index": 0, "embedding": [...] | "<base64>"}],
//              "usage": {"prompt_tokens": n, "total_tokens": n}}
//
// "base64" is the little-endian float32 array, base64-encoded (what OpenAI's
// Python client asks for by default). Token-array inputs are refused (400):
// token ids are model-specific. usage is reported as 0 tokens (the Embedder
// interface does not count them). Errors use the native shape {"error": {"code", "message"}}, which
// OpenAI clients read as error.message.

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "quiver/embedder.h"
#include "server/json_body.h"
#include "server/json_out.h"
#include "server/routes.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

/// Inputs one request may carry (OpenAI's own limit).
constexpr std::size_t kMaxInputs = 2048;

std::string Base64(const float* values, std::size_t count) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes(count * sizeof(float));
  std::memcpy(bytes.data(), values, bytes.size());  // x86-64 and arm64 are little-endian
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    const unsigned v = (bytes[i] << 16) | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<Reply> CreateEmbeddings(Service& service, const httplib::Request& request) {
  QS_ASSIGN_OR_RETURN(std::unique_ptr<JsonBody> body, JsonBody::Parse(request.body));
  QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());
  QS_RETURN_IF_ERROR(root.OnlyFields({"model", "input", "encoding_format", "dimensions", "user"}));
  QS_ASSIGN_OR_RETURN(JsonValue model_value, root.Required("model"));
  QS_ASSIGN_OR_RETURN(std::string_view model_name, model_value.AsString());
  bool base64 = false;
  if (std::optional<JsonValue> format = root.Optional("encoding_format")) {
    QS_ASSIGN_OR_RETURN(std::string_view name, format->AsString());
    if (name != "float" && name != "base64") {
      return Status::InvalidArgument(
          fmt::format("encoding_format: '{}'; expected \"float\" or \"base64\"", name));
    }
    base64 = name == "base64";
  }

  std::vector<std::string> texts;
  QS_ASSIGN_OR_RETURN(JsonValue input, root.Required("input"));
  if (input.element().is_string()) {
    QS_ASSIGN_OR_RETURN(std::string_view text, input.AsString());
    texts.emplace_back(text);
  } else {
    QS_ASSIGN_OR_RETURN(JsonArray inputs, input.AsArray());
    QS_RETURN_IF_ERROR(inputs.CheckSize(1, kMaxInputs));
    QS_RETURN_IF_ERROR(inputs.ForEach([&](std::size_t, const JsonValue& item) -> Status {
      if (!item.element().is_string()) {
        return Status::InvalidArgument(
            item.Name() +
            ": expected a string (token-array inputs are not supported: token "
            "ids belong to one model's tokenizer)");
      }
      QS_ASSIGN_OR_RETURN(std::string_view text, item.AsString());
      texts.emplace_back(text);
      return Status::Ok();
    }));
  }

  QS_ASSIGN_OR_RETURN(std::shared_ptr<Embedder> embedder,
                      service.LocalEmbedder(std::string(model_name)));
  const EmbedderInfo& info = embedder->info();
  if (std::optional<JsonValue> dimensions = root.Optional("dimensions")) {
    QS_ASSIGN_OR_RETURN(std::uint64_t wanted, dimensions->AsUint(1, 65536));
    if (wanted != info.dimensions) {
      return Status::InvalidArgument(
          fmt::format("dimensions: {}; model '{}' makes {}-dimensional embeddings (it cannot "
                      "shorten them)",
                      wanted, model_name, info.dimensions));
    }
  }
  const bool single = input.element().is_string();
  QS_ASSIGN_OR_RETURN(std::vector<float> vectors, EmbedAll(
                                                      *embedder, texts, EmbedPurpose::kDocument,
                                                      [single](std::size_t i) {
                                                        return single ? std::string("input")
                                                                      : fmt::format("input[{}]", i);
                                                      },
                                                      "model '" + info.id + "'"));

  JsonOut data = JsonOut::array();
  const std::size_t d = info.dimensions;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const float* row = vectors.data() + i * d;
    JsonOut item = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      item["embedding"] = Base64(row, d);
    } else {
      item["embedding"] = std::vector<float>(row, row + d);
    }
    data.push_back(std::move(item));
  }
  return Reply::Json(JsonOut{{"object", "list"},
                             {"model", std::string(model_name)},
                             {"data", std::move(data)},
                             {"usage", {{"prompt_tokens", 0}, {"total_tokens", 0}}}});
}

}  // namespace

std::vector<Route> EmbeddingRoutes(Service& service) {
  return BindRoutes(service, ErrorStyle::kNative,
                    {{"POST", "/v1/embeddings", CreateEmbeddings, /*json_body=*/true,
                      /*needs_store=*/false}});
}

}  // namespace quiver::server
