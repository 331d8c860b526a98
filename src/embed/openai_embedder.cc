// Copyright (c) Quiver authors.
//
// A client of OpenAI's embeddings API (POST /v1/embeddings,
// https://platform.openai.com/docs/api-reference/embeddings), which Ollama,
// llama.cpp's server, vLLM, LocalAI and `quiver serve` also answer:
//
//   request   {"model": "<name>", "input": ["text", ...], "encoding_format": "float"}
//   reply     {"data": [{"index": i, "embedding": [floats]}, ...], "model": ..., "usage": ...}
//
// Replies are placed by their "index" (servers may reorder), checked for
// count, dimensions and finite values. 429 and 5xx replies and network errors
// are retried with exponential backoff and jitter (a Retry-After of at most
// 30 s is honoured); other 4xx replies fail at once with the server's message.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "quiver/embedders.h"
#include "util/status_macros.h"

namespace quiver::embed {
namespace {

/// The first `n` bytes of a reply, for error messages.
std::string Quote(const std::string& body, std::size_t n = 300) {
  std::string q = body.size() > n ? body.substr(0, n) + "..." : body;
  std::replace(q.begin(), q.end(), '\n', ' ');
  return q;
}

/// A server's own error text: {"error": {"message": ...}} (OpenAI),
/// {"error": "..."} (Ollama) or the body.
std::string ServerMessage(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    auto it = json.find("error");
    if (it != json.end()) {
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
        return (*it)["message"].get<std::string>();
      }
    }
  }
  return Quote(body);
}

class OpenAIEmbedder final : public Embedder {
 public:
  OpenAIEmbedder(OpenAIOptions options, std::string scheme_host_port, std::string path)
      : options_(std::move(options)), origin_(std::move(scheme_host_port)), path_(std::move(path)) {
    info_.id = "openai:" + options_.model;
    info_.version = "1";
    info_.dimensions = options_.dimensions;
    info_.metric = options_.metric;
    info_.max_tokens = 0;  // the server decides
    info_.max_batch = std::max<std::size_t>(1, options_.batch);
    info_.description = "OpenAI-compatible server " + origin_ + path_ + ", model " + options_.model;
  }

  const EmbedderInfo& info() const override { return info_; }
  void set_dimensions(std::uint32_t d) { info_.dimensions = d; }

  Status CheckText(std::string_view text) const override {
    if (text.empty()) return Status::InvalidArgument("is empty; expected text to embed");
    // JSON strings must be UTF-8: refuse what the server could not read.
    auto dumped = nlohmann::json(std::string(text))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::ignore);
    if (dumped.size() < text.size() + 2) return Status::InvalidArgument("is not valid UTF-8");
    return Status::Ok();
  }

  Result<std::vector<float>> Embed(const std::vector<std::string>& texts,
                                   EmbedPurpose purpose) override {
    (void)purpose;
    if (texts.empty()) return std::vector<float>{};
    nlohmann::json request = {
        {"model", options_.model}, {"input", texts}, {"encoding_format", "float"}};
    const std::string body = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    QUIVER_ASSIGN_OR_RETURN(std::string reply, Post(body));
    return Parse(reply, texts.size());
  }

  /// Parses a reply of `count` embeddings; learns the dimensions when unknown.
  Result<std::vector<float>> Parse(const std::string& reply, std::size_t count) {
    const std::string who = "embedding server " + origin_ + " (model " + options_.model + ")";
    auto json = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object() || !json.contains("data") ||
        !json["data"].is_array()) {
      return Status::Unavailable(who + " replied without a \"data\" array: " + Quote(reply));
    }
    const auto& data = json["data"];
    if (data.size() != count) {
      return Status::Unavailable(who + " returned " + std::to_string(data.size()) +
                                 " embeddings for " + std::to_string(count) + " texts");
    }
    std::uint32_t dims = info_.dimensions;
    std::vector<float> out;
    std::vector<bool> filled(count, false);
    for (std::size_t i = 0; i < data.size(); ++i) {
      const auto& item = data[i];
      if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array()) {
        return Status::Unavailable(who + ": data[" + std::to_string(i) +
                                   "] has no \"embedding\" array");
      }
      std::size_t index = i;
      if (item.contains("index")) {
        if (!item["index"].is_number_unsigned() || item["index"].get<std::size_t>() >= count) {
          return Status::Unavailable(who + ": data[" + std::to_string(i) +
                                     "].index is not an index of the request's inputs");
        }
        index = item["index"].get<std::size_t>();
      }
      if (filled[index]) {
        return Status::Unavailable(who + ": two embeddings for input " + std::to_string(index));
      }
      filled[index] = true;
      const auto& e = item["embedding"];
      if (dims == 0) dims = static_cast<std::uint32_t>(e.size());
      if (e.size() != dims || dims == 0) {
        return Status::Unavailable(who + " returned a " + std::to_string(e.size()) +
                                   "-dimensional embedding for input " + std::to_string(index) +
                                   "; expected " + std::to_string(dims));
      }
      if (out.empty()) out.assign(count * dims, 0.0f);
      for (std::size_t j = 0; j < dims; ++j) {
        if (!e[j].is_number()) {
          return Status::Unavailable(who + " returned a non-number in embedding " +
                                     std::to_string(index));
        }
        const double v = e[j].get<double>();
        if (!std::isfinite(v)) {
          return Status::Unavailable(who + " returned a non-finite value in embedding " +
                                     std::to_string(index));
        }
        out[index * dims + j] = static_cast<float>(v);
      }
    }
    if (info_.dimensions == 0) info_.dimensions = dims;
    return out;
  }

 private:
  /// POSTs `body`, retrying 429/5xx/network errors; the reply body on 2xx.
  Result<std::string> Post(const std::string& body) const {
    const std::string who = "embedding server " + origin_;
    httplib::Client client(origin_);
    const auto timeout = std::chrono::milliseconds(options_.timeout_ms);
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    httplib::Headers headers;
    if (!options_.api_key.empty()) {
      headers.emplace("Authorization", "Bearer " + options_.api_key);
    }
    std::mt19937 jitter(std::random_device{}());
    std::string last_error;
    for (std::uint32_t attempt = 0;; ++attempt) {
      auto result = client.Post(path_, headers, body, "application/json");
      std::uint32_t wait_ms = 0;
      if (!result) {
        last_error = "could not be reached (" + httplib::to_string(result.error()) + ")";
      } else if (result->status >= 200 && result->status < 300) {
        return result->body;
      } else if (result->status == 429 || result->status >= 500) {
        last_error =
            "answered HTTP " + std::to_string(result->status) + ": " + ServerMessage(result->body);
        if (result->has_header("Retry-After")) {
          const std::string value = result->get_header_value("Retry-After");
          char* end = nullptr;
          const long seconds = std::strtol(value.c_str(), &end, 10);
          if (end != value.c_str() && seconds >= 0 && seconds <= 30) {
            wait_ms = static_cast<std::uint32_t>(seconds * 1000);
          }
        }
      } else {
        return Status::Unavailable(who + " answered HTTP " + std::to_string(result->status) +
                                   " to POST " + path_ + ": " + ServerMessage(result->body));
      }
      if (attempt >= options_.max_retries) {
        return Status::Unavailable(who + " " + last_error + "; gave up after " +
                                   std::to_string(attempt + 1) + " attempts");
      }
      if (wait_ms == 0) {
        const std::uint32_t base = options_.retry_backoff_ms
                                   << std::min<std::uint32_t>(attempt, 10);
        wait_ms = base / 2 + std::uniform_int_distribution<std::uint32_t>(0, base / 2 + 1)(jitter);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
  }

  const OpenAIOptions options_;
  const std::string origin_;
  const std::string path_;
  EmbedderInfo info_;
};

}  // namespace

Result<std::shared_ptr<Embedder>> ConnectOpenAI(const OpenAIOptions& options) {
  if (options.model.empty()) {
    return Status::InvalidArgument("model: empty; expected the server's embedding model name");
  }
  std::string url = options.base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return Status::InvalidArgument("base_url: '" + options.base_url +
                                   "'; expected http://host[:port][/path] or https://...");
  }
  const std::size_t path_start = url.find('/', scheme_end + 3);
  std::string origin = url.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : url.substr(path_start);
  if (origin.size() <= scheme_end + 3) {
    return Status::InvalidArgument("base_url: '" + options.base_url + "' has no host");
  }
  // A base that already ends in /v1 (as OpenAI's own clients take it) is accepted.
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0)
    path.resize(path.size() - 3);
  path += "/v1/embeddings";
  auto embedder = std::make_shared<OpenAIEmbedder>(options, origin, path);
  if (options.dimensions == 0) {
    // One probe request learns the dimensions (and that the server answers).
    QUIVER_ASSIGN_OR_RETURN(auto probe, embedder->Embed({"dimension probe"}, EmbedPurpose::kQuery));
    (void)probe;
    if (embedder->info().dimensions == 0) {
      return Status::Unavailable("embedding server " + origin + " returned an empty embedding");
    }
  }
  return std::shared_ptr<Embedder>(embedder);
}

}  // namespace quiver::embed
