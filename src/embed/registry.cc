// Copyright (c) Quiver authors.
//
// Finding an embedder by name: local models by directory, remote ones by
// "openai:<model>" (see quiver/embedders.h).

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "quiver/embedders.h"
#include "util/status_macros.h"

#ifndef QUIVER_DEFAULT_MODELS_DIR
#define QUIVER_DEFAULT_MODELS_DIR ""
#endif

namespace quiver::embed {
namespace {

std::string FromEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

constexpr std::string_view kOpenAIPrefix = "openai:";
constexpr std::string_view kOnnxPrefix = "onnx:";

}  // namespace

std::string DefaultModelsDir() {
  std::string dir = FromEnv("QUIVER_MODELS_DIR");
  if (!dir.empty()) return dir;
  dir = QUIVER_DEFAULT_MODELS_DIR;
  std::error_code ec;
  if (!dir.empty() && std::filesystem::is_directory(dir, ec)) return dir;
  // An installed quiver: <prefix>/bin/quiver and <prefix>/share/quiver/models.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share" / "quiver" / "models";
    if (std::filesystem::is_directory(installed, ec)) return installed.string();
  }
  return dir;
}

std::vector<std::string> ListLocalModels(const std::string& models_dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(models_dir, ec)) {
    if (std::filesystem::exists(entry.path() / "quiver-model.json", ec)) {
      ids.push_back(entry.path().filename().string());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::shared_ptr<Embedder>> ResolveEmbedder(const std::string& name,
                                                  const ResolverOptions& options) {
  if (name.rfind(kOpenAIPrefix, 0) == 0) {
    OpenAIOptions openai;
    openai.model = name.substr(kOpenAIPrefix.size());
    openai.base_url = options.openai_base_url;
    if (openai.base_url.empty()) openai.base_url = FromEnv("QUIVER_EMBEDDING_URL");
    if (openai.base_url.empty()) openai.base_url = FromEnv("OPENAI_BASE_URL");
    if (openai.base_url.empty()) openai.base_url = "https://api.openai.com";
    openai.api_key = options.openai_api_key;
    if (openai.api_key.empty()) openai.api_key = FromEnv("QUIVER_EMBEDDING_API_KEY");
    if (openai.api_key.empty()) openai.api_key = FromEnv("OPENAI_API_KEY");
    return ConnectOpenAI(openai);
  }
  if (name.rfind(kOnnxPrefix, 0) == 0) {
    return LoadOnnxModel(name.substr(kOnnxPrefix.size()), options.onnx);
  }
  const std::string dir = options.models_dir.empty() ? DefaultModelsDir() : options.models_dir;
  const bool plain =
      !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
  std::error_code ec;
  if (!plain || dir.empty() ||
      !std::filesystem::exists(dir + "/" + name + "/quiver-model.json", ec)) {
    const auto known = ListLocalModels(dir);
    std::string list;
    for (const auto& id : known) {
      if (!list.empty()) list += ", ";
      list += id;
    }
    return Status::NotFound(
        "unknown embedder '" + name + "'; expected a local model (" +
        (list.empty() ? "none installed in '" + dir + "'" : list + " in " + dir) +
        "), onnx:<model directory>, or openai:<model> for an "
        "OpenAI-compatible server ($QUIVER_EMBEDDING_URL)");
  }
  return LoadOnnxModel(dir + "/" + name, options.onnx);
}

EmbedderResolver MakeResolver(const ResolverOptions& options) {
  return [options](const std::string& model_id,
                   const std::string& model_version) -> Result<std::shared_ptr<Embedder>> {
    QUIVER_ASSIGN_OR_RETURN(auto embedder, ResolveEmbedder(model_id, options));
    const EmbedderInfo& info = embedder->info();
    if (info.version != model_version) {
      return Status::FailedPrecondition(
          "the collection was embedded with '" + model_id + "@" + model_version +
          "', but the installed model is '" + info.id + "@" + info.version +
          "'; re-embed it with: quiver rebuild --collection <name> --embedder " + model_id);
    }
    return embedder;
  };
}

}  // namespace quiver::embed
