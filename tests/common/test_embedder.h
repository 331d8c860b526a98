// Copyright (c) Quiver authors.
//
// A small deterministic embedder for tests of text search: hashed bag of
// words. Each word (a maximal run of ASCII letters and digits, lowercased)
// adds 1 to component FNV-1a-64(word) mod 64; the vector is then scaled to
// unit length. A text without words embeds to the first axis. Model tag
// "test-bow" @ "1", 64 dimensions, metric cos.

#ifndef QUIVER_TESTS_COMMON_TEST_EMBEDDER_H_
#define QUIVER_TESTS_COMMON_TEST_EMBEDDER_H_

#include <cctype>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/quiver.h"

namespace quiver::testing {

class BagOfWordsEmbedder final : public Embedder {
 public:
  static constexpr std::uint32_t kDims = 64;

  BagOfWordsEmbedder() {
    info_.id = "test-bow";
    info_.version = "1";
    info_.dimensions = kDims;
    info_.metric = Metric::kCos;
    info_.max_batch = 8;
    info_.description = "hashed bag of words (tests)";
  }

  /// The component a word lands in.
  static std::size_t Component(std::string_view word) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : word) {
      h ^= static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(c)));
      h *= 0x100000001b3ULL;
    }
    return static_cast<std::size_t>(h % kDims);
  }

  /// The embedding of one text.
  static std::vector<float> Embed(std::string_view text) {
    std::vector<float> v(kDims, 0.0f);
    std::string word;
    auto flush = [&] {
      if (!word.empty()) v[Component(word)] += 1.0f;
      word.clear();
    };
    for (const char c : text) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        word += c;
      } else {
        flush();
      }
    }
    flush();
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    if (norm == 0) {
      v[0] = 1.0f;
      return v;
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  }

  const EmbedderInfo& info() const override { return info_; }

  Status CheckText(std::string_view text) const override {
    if (text.empty()) return Status::InvalidArgument("is empty; expected text to embed");
    return Status::Ok();
  }

  Result<std::vector<float>> Embed(const std::vector<std::string>& texts, EmbedPurpose) override {
    std::vector<float> out;
    for (const std::string& text : texts) {
      Status checked = CheckText(text);
      if (!checked.ok()) return checked;
      const std::vector<float> v = Embed(text);
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }

 private:
  EmbedderInfo info_;
};

/// A resolver that knows "test-bow" @ "1" and nothing else.
inline EmbedderResolver BagOfWordsResolver() {
  auto embedder = std::make_shared<BagOfWordsEmbedder>();
  return [embedder](const std::string& id,
                    const std::string& version) -> Result<std::shared_ptr<Embedder>> {
    if (id == embedder->info().id && version == embedder->info().version) {
      return std::shared_ptr<Embedder>(embedder);
    }
    return Status::NotFound("no test embedder '" + id + "@" + version + "'");
  };
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_COMMON_TEST_EMBEDDER_H_
