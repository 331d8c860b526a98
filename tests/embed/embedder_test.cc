// Copyright (c) Quiver authors.
//
// The local embedding model: its tokenizer and its vectors against those of
// the original (TF.js) Universal Sentence Encoder Lite, recorded in
// tests/embed/use_lite_reference.json by tools/use_lite/reference.mjs; and
// text records end to end through a collection bound to it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/test_util.h"
#include "embed/unigram_tokenizer.h"
#include "quiver/embedders.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

const std::string kModelDir = embed::DefaultModelsDir() + "/use-lite";

nlohmann::json Reference() {
  std::ifstream in(std::string(QUIVER_SOURCE_DIR) + "/tests/embed/use_lite_reference.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::json::parse(buffer.str());
}

/// The model loaded once for the whole binary (loading costs ~0.3 s).
std::shared_ptr<Embedder> Model() {
  static std::shared_ptr<Embedder> model = [] {
    auto loaded = embed::LoadOnnxModel(kModelDir);
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? *loaded : nullptr;
  }();
  return model;
}

double Cosine(const float* a, const float* b, std::size_t n) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

embed::UnigramTokenizer UseLiteTokenizer() {
  embed::UnigramTokenizer::Options options;
  options.reserved_ids = 6;
  auto t = embed::UnigramTokenizer::FromPairsJson(kModelDir + "/vocab.json", options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(UnigramTokenizer, MatchesTheOriginalTokenIdsOnTheReferenceSentences) {
  const auto tokenizer = UseLiteTokenizer();
  const auto reference = Reference();
  ASSERT_GE(reference["sentences"].size(), 10u);
  for (const auto& s : reference["sentences"]) {
    auto ids = tokenizer.Encode(s["text"].get<std::string>());
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(*ids, s["ids"].get<std::vector<std::int32_t>>()) << s["text"];
  }
}

TEST(UnigramTokenizer, KeepsTheOriginalsQuirks) {
  const auto tokenizer = UseLiteTokenizer();
  // A best score of exactly 0 counts as "nothing yet" (tools/use_lite/README.md).
  EXPECT_EQ(*tokenizer.Encode("::"), (std::vector<std::int32_t>{30, 57, 57}));
  // A run of unknown characters is one unknown id, and the empty text has no ids.
  auto tabs = tokenizer.Encode("\t\t\t");
  ASSERT_TRUE(tabs.ok());
  EXPECT_EQ(std::count(tabs->begin(), tabs->end(), 0), 1);
  EXPECT_TRUE(tokenizer.Encode("")->empty());
  // Invalid UTF-8 is refused, not guessed at.
  EXPECT_EQ(tokenizer.Encode("caf\xC3").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer.Encode("\xED\xA0\x80").status().code(), StatusCode::kInvalidArgument);
}

TEST(OnnxEmbedder, ReproducesTheOriginalModelsVectors) {
  // The original reads the first 128 tokens of a longer text (one reference
  // sentence has 188): compare with an embedder that truncates likewise.
  embed::OnnxOptions truncating;
  truncating.truncate = true;
  auto loaded = embed::LoadOnnxModel(kModelDir, truncating);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto model = *loaded;
  EXPECT_EQ(model->info().id, "use-lite");
  EXPECT_EQ(model->info().dimensions, 512u);
  const auto reference = Reference();
  std::vector<std::string> texts;
  for (const auto& s : reference["sentences"]) texts.push_back(s["text"].get<std::string>());
  // One batch of every sentence (ragged lengths) and each alone must both match.
  auto batch = model->Embed(texts, EmbedPurpose::kDocument);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  double worst = 0;
  for (std::size_t t = 0; t < texts.size(); ++t) {
    auto single = model->Embed({texts[t]}, EmbedPurpose::kDocument);
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    const auto expected = reference["sentences"][t]["embedding"].get<std::vector<double>>();
    ASSERT_EQ(expected.size(), 512u);
    for (std::size_t j = 0; j < 512; ++j) {
      worst = std::max(worst, std::abs((*batch)[t * 512 + j] - expected[j]));
      worst = std::max(worst, std::abs((*single)[j] - expected[j]));
    }
  }
  EXPECT_LE(worst, 1e-5) << "max abs difference from the TF.js original";
}

TEST(OnnxEmbedder, ParaphrasesScoreCloserThanUnrelatedSentences) {
  auto model = Model();
  ASSERT_NE(model, nullptr);
  auto v = model->Embed({"How old are you?", "What is your age?",
                         "The stock market fell sharply after the announcement.",
                         "Stock prices dropped steeply once the news was out."},
                        EmbedPurpose::kDocument);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const float* age1 = v->data();
  const float* age2 = v->data() + 512;
  const float* stock1 = v->data() + 1024;
  const float* stock2 = v->data() + 1536;
  EXPECT_GT(Cosine(age1, age2, 512), Cosine(age1, stock1, 512) + 0.3);
  EXPECT_GT(Cosine(stock1, stock2, 512), Cosine(stock1, age2, 512) + 0.3);
}

TEST(OnnxEmbedder, RefusesTextItCannotEmbed) {
  auto model = Model();
  ASSERT_NE(model, nullptr);
  EXPECT_THAT(model->CheckText("").message(), HasSubstr("empty"));
  EXPECT_THAT(model->CheckText("bad \xFF byte").message(), HasSubstr("UTF-8"));
  std::string longer;
  for (int i = 0; i < 200; ++i) longer += "word ";
  Status s = model->CheckText(longer);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("at most 128"));
  // Embed refuses the same texts, naming the one at fault.
  auto v = model->Embed({"fine", ""}, EmbedPurpose::kDocument);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(v.status().message(), HasSubstr("texts[1]"));
}

TEST(OnnxEmbedder, ConfigurationErrorsNameTheProblem) {
  TempDir dir;
  EXPECT_EQ(embed::LoadOnnxModel(dir.path() + "/missing").status().code(), StatusCode::kNotFound);
  // A model file that is not the one its configuration pins is never loaded.
  std::filesystem::copy(kModelDir, dir.path() + "/m", std::filesystem::copy_options::recursive);
  { std::ofstream(dir.path() + "/m/model.onnx", std::ios::app) << "tampered"; }
  auto loaded = embed::LoadOnnxModel(dir.path() + "/m");
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(loaded.status().message(), HasSubstr("sha256"));
  auto unknown = embed::ResolveEmbedder("no-such-model");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("use-lite"));
}

// --- Text records end to end ----------------------------------------------------------

StoreOptions WithModels() {
  StoreOptions options = QuietOptions();
  options.embedder_resolver = embed::MakeResolver();
  return options;
}

TEST(TextRecords, UpsertTextAndSearchByTextRoundTrip) {
  TempDir dir;
  auto store = Store::Open(dir.path(), WithModels());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto model = Model();
  ASSERT_NE(model, nullptr);
  auto docs = (*store)->CreateCollection("docs", ConfigForEmbedder(model->info()));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  std::vector<Record> records;
  const std::vector<std::string> texts = {
      "The cat sat on the warm windowsill all afternoon.",
      "Interest rates rose again, and bond prices fell.",
      "Preheat the oven and bake the bread for forty minutes.",
      "The striker scored twice in the second half of the match."};
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Record r;
    r.id = "doc-" + std::to_string(i);
    r.key = KeyForStringId(r.id);
    r.text = texts[i];
    records.push_back(r);
  }
  ASSERT_TRUE((*docs)->Upsert(records).ok());
  // The stored embedding is the model's vector of the text.
  auto got = (*docs)->Get({records[1].key});
  ASSERT_TRUE(got.ok() && (*got)[0]);
  auto direct = model->Embed({texts[1]}, EmbedPurpose::kDocument);
  ASSERT_TRUE(direct.ok());
  ASSERT_EQ((*got)[0]->embedding.size(), direct->size());
  for (std::size_t j = 0; j < direct->size(); ++j) {
    // Batched and single calls differ in the last bits only (ONNX Runtime's kernels).
    EXPECT_NEAR((*got)[0]->embedding[j], (*direct)[j], 1e-6);
  }

  TextSearchOptions options;
  options.search.k = 2;
  auto found = (*docs)->SearchText(
      {"my kitten naps in the sunshine", "what happened in the football game?"}, options);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0][0].id, "doc-0");
  EXPECT_EQ((*found)[1][0].id, "doc-3");
  EXPECT_EQ((*found)[1][0].text, texts[3]);
}

TEST(TextRecords, AFailedEmbeddingWritesNothing) {
  TempDir dir;
  auto store = Store::Open(dir.path(), WithModels());
  ASSERT_TRUE(store.ok());
  auto model = Model();
  ASSERT_NE(model, nullptr);
  auto docs = (*store)->CreateCollection("docs", ConfigForEmbedder(model->info()));
  ASSERT_TRUE(docs.ok());
  std::string too_long;
  for (int i = 0; i < 300; ++i) too_long += "token ";
  std::vector<Record> records(3);
  records[0].key = 1;
  records[0].text = "a fine sentence";
  records[1].key = 2;
  records[1].embedding.assign(512, 0.01f);  // has its own embedding: not embedded
  records[2].key = 3;
  records[2].text = too_long;
  Status s = (*docs)->Upsert(records);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("records[2].text"));
  EXPECT_EQ(*(*docs)->Count(), 0u);

  records[2].text = "";  // neither text nor embedding
  s = (*docs)->Upsert(records);
  EXPECT_THAT(s.message(), HasSubstr("records[2].embedding: missing"));
  EXPECT_EQ(*(*docs)->Count(), 0u);
}

TEST(TextRecords, ACollectionWithoutAModelRefusesTextClearly) {
  TempDir dir;
  auto store = Store::Open(dir.path(), WithModels());
  ASSERT_TRUE(store.ok());
  CollectionConfig config;
  config.dimensions = 4;
  auto vectors = (*store)->CreateCollection("vectors", config);
  ASSERT_TRUE(vectors.ok());
  Record r;
  r.key = 1;
  r.text = "no model to embed me";
  Status s = (*vectors)->Upsert({r});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has no embedding model"));
  auto found = (*vectors)->SearchText({"anything"}, TextSearchOptions{});
  EXPECT_EQ(found.status().code(), StatusCode::kFailedPrecondition);
}

TEST(TextRecords, AnotherVersionOfTheModelIsRefusedWithTheRebuildCommand) {
  TempDir dir;
  auto store = Store::Open(dir.path(), WithModels());
  ASSERT_TRUE(store.ok());
  auto model = Model();
  ASSERT_NE(model, nullptr);
  CollectionConfig config = ConfigForEmbedder(model->info());
  config.model_version = "0-older";
  auto docs = (*store)->CreateCollection("docs", config);
  ASSERT_TRUE(docs.ok());
  auto found = (*docs)->SearchText({"anything"}, TextSearchOptions{});
  EXPECT_EQ(found.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(found.status().message(), HasSubstr("quiver rebuild --collection"));
}

// --- Re-embedding -------------------------------------------------------------------

/// A second model of other dimensions: a hashed bag of words (64-d, unit length).
class BagOfWords final : public Embedder {
 public:
  BagOfWords() {
    info_.id = "test-bow";
    info_.version = "1";
    info_.dimensions = 64;
    info_.metric = Metric::kCos;
    info_.max_batch = 5;
  }
  const EmbedderInfo& info() const override { return info_; }
  Status CheckText(std::string_view text) const override {
    return text.empty() ? Status::InvalidArgument("is empty") : Status::Ok();
  }
  Result<std::vector<float>> Embed(const std::vector<std::string>& texts, EmbedPurpose) override {
    std::vector<float> out(texts.size() * 64, 0.0f);
    for (std::size_t t = 0; t < texts.size(); ++t) {
      std::istringstream words(texts[t]);
      std::string w;
      while (words >> w) out[t * 64 + std::hash<std::string>{}(w) % 64] += 1.0f;
      double norm = 0;
      for (int j = 0; j < 64; ++j) norm += out[t * 64 + j] * out[t * 64 + j];
      for (int j = 0; j < 64; ++j) out[t * 64 + j] /= static_cast<float>(std::sqrt(norm));
    }
    return out;
  }

 private:
  EmbedderInfo info_;
};

/// A store with `n` text records in collection "docs", embedded by use-lite.
std::unique_ptr<Store> StoreWithTexts(const std::string& dir, std::size_t n) {
  auto store = Store::Open(dir, WithModels());
  EXPECT_TRUE(store.ok());
  auto docs = (*store)->CreateCollection("docs", ConfigForEmbedder(Model()->info()));
  EXPECT_TRUE(docs.ok());
  std::vector<Record> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    records[i].key = i + 1;
    records[i].text =
        "record number " + std::to_string(i) + " about topic " + std::to_string(i % 7);
    records[i].metadata = R"({"i": )" + std::to_string(i) + "}";
  }
  EXPECT_TRUE((*docs)->Upsert(records).ok());
  return std::move(store).value();
}

TEST(Reembed, SwapsInTheNewModelsEmbeddingsAndDimensions) {
  TempDir dir;
  auto store = StoreWithTexts(dir.path(), 40);
  auto before = (*store).GetCollection("docs");
  ASSERT_TRUE(before.ok());
  ReembedOptions options;
  options.embedder = std::make_shared<BagOfWords>();
  std::uint64_t last_progress = 0;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(total, 40u);
    last_progress = done;
  };
  auto report = store->Reembed("docs", options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records, 40u);
  EXPECT_EQ(last_progress, 40u);
  // The old handle is told the collection was replaced; a new one sees the new model.
  EXPECT_THAT((*before)->Count().status().message(), HasSubstr("replaced by a re-embedding"));
  auto docs = store->GetCollection("docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ((*docs)->config().dimensions, 64u);
  EXPECT_EQ((*docs)->config().model_id, "test-bow");
  auto got = (*docs)->Get({7});
  ASSERT_TRUE(got.ok() && (*got)[0]);
  EXPECT_EQ((*got)[0]->embedding.size(), 64u);
  EXPECT_EQ((*got)[0]->metadata, R"({"i": 6})");
  auto found = (*docs)->SearchText({"record number 12 about topic 5"}, TextSearchOptions{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ((*found)[0][0].key, 13u);
  // Survives a reopen, and the store holds no hidden leftovers.
  ASSERT_TRUE(store->Close().ok());
  auto reopened = Store::Open(dir.path(), WithModels());
  ASSERT_TRUE(reopened.ok());
  auto listed = (*reopened)->ListCollections();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].config.dimensions, 64u);
  auto verified = (*(*reopened)->GetCollection("docs"))->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->clean());
}

TEST(Reembed, RecordsWithoutTextAreReportedNotSilentlyDropped) {
  TempDir dir;
  auto store = StoreWithTexts(dir.path(), 5);
  Record vector_only;
  vector_only.key = 99;
  vector_only.embedding.assign(512, 0.05f);
  ASSERT_TRUE((*store->GetCollection("docs"))->Upsert({vector_only}).ok());
  ReembedOptions options;
  options.embedder = std::make_shared<BagOfWords>();
  auto refused = store->Reembed("docs", options);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("1 of 6 records have no text"));
  EXPECT_THAT(refused.status().message(), HasSubstr("99"));
  EXPECT_EQ((*store->GetCollection("docs"))->config().dimensions, 512u);  // unchanged

  options.drop_records_without_text = true;
  auto report = store->Reembed("docs", options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records, 5u);
  EXPECT_EQ(report->dropped_without_text, 1u);
  EXPECT_EQ(*(*store->GetCollection("docs"))->Count(), 5u);
}

class ReembedCrash : public ::testing::TestWithParam<const char*> {
 protected:
  void TearDown() override { crash_point::DisarmAll(); }
};

// A crash before the swap leaves the old model in charge; after it, the new one.
// Either way the next open drops the hidden collection and verifies clean.
TEST_P(ReembedCrash, LeavesExactlyOneModelInCharge) {
  const std::string point = GetParam();
  TempDir dir;
  {
    auto store = StoreWithTexts(dir.path(), 20);
    crash_point::Arm(point, [](std::string_view p) {
      return Status::IOError("simulated crash at " + std::string(p));
    });
    ReembedOptions options;
    options.embedder = std::make_shared<BagOfWords>();
    EXPECT_FALSE(store->Reembed("docs", options).ok());
    crash_point::DisarmAll();
  }
  StoreOptions options = WithModels();
  auto bow = std::make_shared<BagOfWords>();
  auto base = embed::MakeResolver();
  options.embedder_resolver = [bow, base](const std::string& id, const std::string& version) {
    return id == "test-bow" ? Result<std::shared_ptr<Embedder>>(bow) : base(id, version);
  };
  auto reopened = Store::Open(dir.path(), options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto listed = (*reopened)->ListCollections();
  ASSERT_EQ(listed->size(), 1u);  // no hidden collection is left
  auto docs = (*reopened)->GetCollection("docs");
  ASSERT_TRUE(docs.ok());
  const bool swapped = point == std::string("reembed.after_swap");
  EXPECT_EQ((*docs)->config().dimensions, swapped ? 64u : 512u);
  EXPECT_EQ(*(*docs)->Count(), 20u);
  auto verified = (*docs)->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->clean());
  auto found = (*docs)->SearchText({"record number 3 about topic 3"}, TextSearchOptions{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_FALSE((*found)[0].empty());
}

INSTANTIATE_TEST_SUITE_P(Points, ReembedCrash,
                         ::testing::Values("reembed.before_swap", "reembed.after_swap"));

}  // namespace
}  // namespace quiver
