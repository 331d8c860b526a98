// Copyright (c) Quiver authors.
//
// Full-text (SQLite FTS5, BM25) and hybrid search end to end:
//   - the full-text index equals the records after every kind of write
//     (insert, replace, same-text replace, delete, delete by filter, append),
//     checked against an oracle written here and by Verify;
//   - BM25 orders and scores as FTS5's documented formula says;
//   - hybrid search fuses a vector ranking and a BM25 ranking that disagree
//     into the order reciprocal rank fusion gives by hand;
//   - the filter applies to both sides; bad queries and options are
//     InvalidArgument naming the query or the field;
//   - a store made before full-text search gets its index at open, in one
//     transaction a crash rolls back; Verify sees a full-text index that
//     disagrees with the records.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "common/sqlite_util.h"
#include "common/test_embedder.h"
#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::BagOfWordsEmbedder;
using ::quiver::testing::BagOfWordsResolver;
using ::quiver::testing::QuerySql;
using ::quiver::testing::QuietOptions;
using ::quiver::testing::RunSql;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

/// Full-text search in FTS5's query syntax (most tests below exercise it).
TextSearchOptions FullText(std::size_t k) {
  TextSearchOptions options;
  options.mode = TextSearchMode::kFullText;
  options.syntax = TextQuerySyntax::kFts5;
  options.search.k = k;
  return options;
}

/// Full-text search of natural language (the default syntax).
TextSearchOptions PlainFullText(std::size_t k) {
  TextSearchOptions options;
  options.mode = TextSearchMode::kFullText;
  options.search.k = k;
  return options;
}

TextSearchOptions Hybrid(std::size_t k) {
  TextSearchOptions options;
  options.mode = TextSearchMode::kHybrid;
  options.search.k = k;
  return options;
}

std::vector<Key> KeysOf(const std::vector<Match>& matches) {
  std::vector<Key> keys;
  for (const Match& m : matches) keys.push_back(m.key);
  return keys;
}

/// The keys a one-query text search returns; fails the test on an error.
std::vector<Key> SearchKeys(Collection& c, const std::string& query,
                            const TextSearchOptions& options) {
  auto found = c.SearchText({query}, options);
  EXPECT_TRUE(found.ok()) << query << ": " << found.status().ToString();
  if (!found.ok()) return {};
  return KeysOf((*found)[0]);
}

/// Whether `text` holds `word` as a token (words here are ASCII letters).
bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string token;
  while (in >> token) {
    if (token == word) return true;
  }
  return false;
}

// --- The index follows every write ---------------------------------------------------

class FullTextConsistencyTest : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kDims = 4;

  void SetUp() override { Open(); }

  void Open() {
    store_ = std::move(Store::Open(dir_.path(), QuietOptions())).value();
    CollectionConfig config;
    config.dimensions = kDims;
    config.metric = Metric::kL2sq;
    c_ = *store_->OpenCollection("docs", config);
  }

  void Reopen() {
    c_.reset();
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }

  std::string RandomText() {
    std::string text;
    const std::size_t words = 1 + rng_() % 5;
    for (std::size_t i = 0; i < words; ++i) {
      if (!text.empty()) text += ' ';
      text += kVocabulary[rng_() % kVocabulary.size()];
    }
    return text;
  }

  Record MakeRecord(Key key, const std::string& text, const std::string& color) {
    std::vector<float> embedding(kDims);
    for (float& x : embedding) x = static_cast<float>(rng_() % 100) / 10.0f;
    return Record{key, "", text, "{\"color\": \"" + color + "\"}", embedding};
  }

  /// Every word of the vocabulary finds exactly the records whose text holds
  /// it, and Verify (rowid sets, sampled texts, FTS5's integrity-check) is clean.
  void ExpectIndexEqualsRecords(const std::string& when) {
    SCOPED_TRACE(when);
    for (const std::string& word : kVocabulary) {
      std::set<Key> expected;
      for (const auto& [key, text] : model_) {
        if (HasWord(text, word)) expected.insert(key);
      }
      TextSearchOptions options = FullText(kMaxSearchK);
      options.search.include_text = false;
      options.search.include_metadata = false;
      auto found = c_->SearchText({word}, options);
      ASSERT_TRUE(found.ok()) << found.status().ToString();
      std::set<Key> got;
      for (const Match& m : (*found)[0]) {
        got.insert(m.key);
        EXPECT_GT(m.score, 0.0f);
        EXPECT_TRUE(std::isnan(m.distance));
      }
      EXPECT_EQ(got, expected) << "word '" << word << "'";
    }
    auto report = c_->Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->clean()) << ::testing::PrintToString(report->problems);
  }

  const std::vector<std::string> kVocabulary = {"alpha",   "beta", "gamma", "delta",
                                                "epsilon", "zeta", "eta",   "theta"};
  TempDir dir_;
  std::mt19937 rng_{2024};
  std::unique_ptr<Store> store_;
  std::shared_ptr<Collection> c_;
  std::map<Key, std::string> model_;  // key -> text
};

TEST_F(FullTextConsistencyTest, TheIndexEqualsTheRecordsAfterEveryKindOfWrite) {
  // Inserts, with keys at both ends of the uint64 range (2^63 and up are
  // negative rowids in SQLite) and one record of empty text.
  std::vector<Record> batch;
  for (Key key = 0; key < 200; ++key) {
    batch.push_back(MakeRecord(key, RandomText(), key % 2 ? "red" : "blue"));
  }
  batch.push_back(MakeRecord((Key{1} << 63) + 5, "alpha omega", "red"));
  batch.push_back(MakeRecord(kReservedKey - 1, "beta", "blue"));
  batch.push_back(MakeRecord(500, "", "blue"));
  ASSERT_TRUE(c_->Upsert(batch).ok());
  for (const Record& r : batch) model_[r.key] = r.text;
  ExpectIndexEqualsRecords("after the inserts");

  // Replacements with new texts, and with the same text (a new embedding and
  // metadata only: the update trigger leaves the index alone).
  batch.clear();
  for (Key key = 0; key < 60; ++key) {
    const std::string text = key < 40 ? RandomText() : model_[key];
    batch.push_back(MakeRecord(key, text, "green"));
    model_[key] = text;
  }
  ASSERT_TRUE(c_->Upsert(batch).ok());
  ExpectIndexEqualsRecords("after the replacements");

  // Deletes by key (one absent), by filter, and appended records.
  std::vector<Key> doomed = {3, 4, 5, 77, 150, 999, (Key{1} << 63) + 5};
  ASSERT_TRUE(c_->Delete(doomed).ok());
  for (Key k : doomed) model_.erase(k);
  ExpectIndexEqualsRecords("after the deletes");
  auto deleted = c_->DeleteWhere(R"({"color": "green"})");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 57u);  // keys 0..59 but 3, 4, 5
  for (auto it = model_.begin(); it != model_.end();) {
    it = it->first < 60 ? model_.erase(it) : std::next(it);
  }
  ExpectIndexEqualsRecords("after the delete by filter");
  std::vector<Record> appended;
  for (int i = 0; i < 5; ++i) appended.push_back(MakeRecord(0, "gamma theta", "red"));
  auto keys = c_->Insert(appended);
  ASSERT_TRUE(keys.ok());
  for (Key k : *keys) model_[k] = "gamma theta";
  ExpectIndexEqualsRecords("after the appends");

  Reopen();
  ExpectIndexEqualsRecords("after a reopen");
}

TEST_F(FullTextConsistencyTest, ADroppedCollectionTakesItsIndexAlong) {
  ASSERT_TRUE(c_->Upsert({MakeRecord(1, "alpha", "red")}).ok());
  // The FTS5 table and the three triggers that keep it.
  EXPECT_EQ(QuerySql(dir_.path(),
                     "SELECT count(*) FROM sqlite_master WHERE name = 'records_1_fts' OR "
                     "(type = 'trigger' AND tbl_name = 'records_1')"),
            "4");
  c_.reset();
  ASSERT_TRUE(store_->DropCollection("docs").ok());
  EXPECT_EQ(
      QuerySql(dir_.path(), "SELECT count(*) FROM sqlite_master WHERE name LIKE 'records_1%'"),
      "0");
  // A new collection starts with an empty index.
  CollectionConfig config;
  config.dimensions = kDims;
  config.metric = Metric::kL2sq;
  c_ = *store_->CreateCollection("docs", config);
  EXPECT_TRUE(SearchKeys(*c_, "alpha", FullText(10)).empty());
}

// --- BM25 ---------------------------------------------------------------------------

/// FTS5's bm25() for a one-term query (https://sqlite.org/fts5.html#the_bm25_function,
/// Robertson and Zaragoza 2009): idf * tf (k1 + 1) / (tf + k1 (1 - b + b |D| / avgdl)),
/// idf = ln((N - n + 0.5) / (n + 0.5)), k1 = 1.2, b = 0.75.
double Bm25(double tf, double doc_tokens, double avg_tokens, double docs, double docs_with_term) {
  constexpr double k1 = 1.2, b = 0.75;
  const double idf = std::log((docs - docs_with_term + 0.5) / (docs_with_term + 0.5));
  return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_tokens / avg_tokens));
}

class TextSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options = QuietOptions();
    options.embedder_resolver = BagOfWordsResolver();
    store_ = std::move(Store::Open(dir_.path(), options)).value();
  }

  std::shared_ptr<Collection> Plain(const std::string& name) {
    CollectionConfig config;
    config.dimensions = 2;
    config.metric = Metric::kL2sq;
    return *store_->CreateCollection(name, config);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(TextSearchTest, Bm25RanksARepeatedTermInAShortTextFirstAndScoresAsTheFormula) {
  auto c = Plain("bm25");
  // Token counts: 3, 10, 2, 2, 3, 0, 2 = 22 over 7 records (the empty text counts).
  ASSERT_TRUE(
      c->Upsert(
           {{1, "", "apple apple banana", "", {0, 0}},
            {2, "", "apple cherry date elderberry fig grape honeydew kiwi lemon mango", "", {0, 0}},
            {3, "", "banana cherry", "", {0, 0}},
            {4, "", "date fig", "", {0, 0}},
            {5, "", "grape kiwi lemon", "", {0, 0}},
            {6, "", "", "", {0, 0}},
            {7, "", "Apple pie", "", {0, 0}}})
          .ok());
  auto found = c->SearchText({"apple"}, FullText(10));
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  const std::vector<Match>& matches = (*found)[0];
  // Two mentions in 3 tokens > one in 2 (case folded) > one in 10.
  ASSERT_EQ(KeysOf(matches), (std::vector<Key>{1, 7, 2}));
  const double avg = 22.0 / 7.0;
  EXPECT_NEAR(matches[0].score, Bm25(2, 3, avg, 7, 3), 1e-6);
  EXPECT_NEAR(matches[1].score, Bm25(1, 2, avg, 7, 3), 1e-6);
  EXPECT_NEAR(matches[2].score, Bm25(1, 10, avg, 7, 3), 1e-6);
  EXPECT_EQ(matches[0].text, "apple apple banana");  // filled like any match
  for (const Match& m : matches) EXPECT_TRUE(std::isnan(m.distance));

  // OR sums the terms' scores: the record holding both terms comes first.
  EXPECT_EQ(SearchKeys(*c, "banana OR cherry", FullText(10)).front(), 3u);
  // k cuts the list; the query syntax: implicit AND, phrases, NOT, prefixes.
  EXPECT_EQ(SearchKeys(*c, "apple", FullText(2)), (std::vector<Key>{1, 7}));
  EXPECT_EQ(SearchKeys(*c, "apple banana", FullText(10)), (std::vector<Key>{1}));
  EXPECT_EQ(SearchKeys(*c, "\"apple pie\"", FullText(10)), (std::vector<Key>{7}));
  EXPECT_EQ(SearchKeys(*c, "apple NOT banana NOT pie", FullText(10)), (std::vector<Key>{2}));
  EXPECT_EQ(SearchKeys(*c, "honey*", FullText(10)), (std::vector<Key>{2}));
  EXPECT_TRUE(SearchKeys(*c, "durian", FullText(10)).empty());
}

TEST_F(TextSearchTest, TokensAreCaseAndDiacriticFolded) {
  auto c = Plain("folded");
  ASSERT_TRUE(c->Upsert({{1, "", "Crème Brûlée à la Française", "", {0, 0}},
                         {2, "", "naïve café, ÜBER-größe", "", {0, 0}}})
                  .ok());
  EXPECT_EQ(SearchKeys(*c, "creme brulee", FullText(10)), (std::vector<Key>{1}));
  EXPECT_EQ(SearchKeys(*c, "FRANCAISE", FullText(10)), (std::vector<Key>{1}));
  EXPECT_EQ(SearchKeys(*c, "naive cafe uber", FullText(10)), (std::vector<Key>{2}));
}

TEST_F(TextSearchTest, TheFilterIsAppliedBeforeTheTopKIsCut) {
  auto c = Plain("filtered");
  ASSERT_TRUE(c->Upsert({{1, "", "tea tea tea", R"({"shop": "a"})", {0, 0}},
                         {2, "", "tea tea green", R"({"shop": "b"})", {0, 0}},
                         {3, "", "tea and some biscuits on the side", R"({"shop": "b"})", {0, 0}},
                         {4, "", "coffee", R"({"shop": "b"})", {0, 0}},
                         {5, "", "water", R"({"shop": "b"})", {0, 0}},
                         {6, "", "juice", R"({"shop": "a"})", {0, 0}},
                         {7, "", "milk", R"({"shop": "a"})", {0, 0}}})
                  .ok());
  EXPECT_EQ(SearchKeys(*c, "tea", FullText(1)), (std::vector<Key>{1}));
  TextSearchOptions options = FullText(1);
  options.search.filter = R"({"shop": "b"})";
  EXPECT_EQ(SearchKeys(*c, "tea", options), (std::vector<Key>{2}));
  options.search.k = 10;
  EXPECT_EQ(SearchKeys(*c, "tea", options), (std::vector<Key>{2, 3}));
  options.search.filter = R"({"shop": "c"})";
  EXPECT_TRUE(SearchKeys(*c, "tea", options).empty());
  // A bad filter names its node.
  options.search.filter = R"({"shop": {"$gt": {}}})";
  auto bad = c->SearchText({"tea"}, options);
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), StartsWith("where.shop.$gt"));
}

TEST_F(TextSearchTest, PlainQueriesMatchAnyOfTheirWordsAndNeverFailToParse) {
  auto c = Plain("plain");
  ASSERT_TRUE(c->Upsert({{1, "", "apple pie with cream", "", {0, 0}},
                         {2, "", "cherry pie", "", {0, 0}},
                         {3, "", "banana bread", "", {0, 0}}})
                  .ok());
  // A sentence, punctuation and all: records with more (and rarer) of its words first.
  EXPECT_EQ(SearchKeys(*c, "Is there apple pie, or not?", PlainFullText(10)),
            (std::vector<Key>{1, 2}));
  // FTS5's operators are words here, not syntax.
  EXPECT_EQ(SearchKeys(*c, "banana AND (", PlainFullText(10)), (std::vector<Key>{3}));
  EXPECT_EQ(SearchKeys(*c, "\"unterminated cherry", PlainFullText(10)), (std::vector<Key>{2}));
  // No word at all: no match, not an error.
  auto none = c->SearchText({"?!", "apple"}, PlainFullText(10));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE((*none)[0].empty());
  EXPECT_EQ(KeysOf((*none)[1]), (std::vector<Key>{1}));
}

TEST_F(TextSearchTest, QueriesFts5RefusesAreInvalidArgumentNamingTheQuery) {
  auto c = Plain("syntax");
  ASSERT_TRUE(c->Upsert({{1, "", "apple pie", "", {0, 0}}}).ok());
  auto bad = c->SearchText({"apple", "AND"}, FullText(10));
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "queries[1]: fts5: syntax error near \"AND\"");
  for (const std::string& query : {"apple OR", "\"unterminated", "(apple", "C++", "*reads"}) {
    auto refused = c->SearchText({query}, FullText(10));
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << query;
    EXPECT_THAT(refused.status().message(), StartsWith("queries[0]: fts5: ")) << query;
  }
  auto column = c->SearchText({"foo:bar"}, FullText(10));
  ASSERT_EQ(column.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(column.status().message(), HasSubstr("no such column: foo"));
  EXPECT_THAT(column.status().message(), HasSubstr("double quotes"));
  // Quoted, the same characters are words.
  EXPECT_EQ(SearchKeys(*c, "\"foo:bar\" OR \"apple\"", FullText(10)), (std::vector<Key>{1}));
  // At most 16 KiB: FTS5's parse time grows faster than the query.
  std::string many_terms = "apple";
  while (many_terms.size() <= 16384) many_terms += " OR apple";
  auto long_query = c->SearchText({"apple", many_terms}, FullText(10));
  ASSERT_EQ(long_query.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(long_query.status().message(), "queries[1]: " + std::to_string(many_terms.size()) +
                                               " bytes; a full-text query takes at most 16384");
  std::string at_limit = "apple";
  while (at_limit.size() + 9 <= 16384) at_limit += " OR apple";
  EXPECT_EQ(SearchKeys(*c, at_limit, FullText(10)), (std::vector<Key>{1}));
  // No query, an empty one.
  EXPECT_EQ(c->SearchText({}, FullText(10)).status().code(), StatusCode::kInvalidArgument);
  auto empty = c->SearchText({"apple", ""}, FullText(10));
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), StartsWith("queries[1]"));
}

TEST_F(TextSearchTest, OutOfRangeOptionsNameTheFieldBeforeAnyEmbedding) {
  auto c = Plain("options");  // no model: a vector or hybrid search would fail later
  ASSERT_TRUE(c->Upsert({{1, "", "apple", "", {0, 0}}}).ok());
  auto expect_field = [&](TextSearchOptions options, const std::string& field) {
    auto result = c->SearchText({"apple"}, options);
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(result.status().message(), StartsWith(field + ":")) << field;
  };
  TextSearchOptions o = Hybrid(10);
  o.rrf_k = 0;
  expect_field(o, "rrf_k");
  o.rrf_k = 10001;
  expect_field(o, "rrf_k");
  o = Hybrid(10);
  o.vector_weight = -0.1f;
  expect_field(o, "vector_weight");
  o.vector_weight = 1.5f;
  expect_field(o, "vector_weight");
  o.vector_weight = std::nanf("");
  expect_field(o, "vector_weight");
  o.vector_weight = std::numeric_limits<float>::infinity();
  expect_field(o, "vector_weight");
  o = Hybrid(10);
  o.candidates = kMaxSearchK + 1;
  expect_field(o, "candidates");
  o.candidates = 5;  // below k
  expect_field(o, "candidates");
  o = FullText(0);
  expect_field(o, "k");
  o = FullText(kMaxSearchK + 1);
  expect_field(o, "k");
  o = Hybrid(10);
  o.mode = static_cast<TextSearchMode>(7);
  expect_field(o, "mode");
  o = Hybrid(10);
  o.fusion = static_cast<FusionMethod>(9);
  expect_field(o, "fusion");
  // Valid options on a collection without a model: only the full-text mode works.
  EXPECT_EQ(c->SearchText({"apple"}, Hybrid(10)).status().code(), StatusCode::kFailedPrecondition);
  o = FullText(10);
  o.rrf_k = 10000;
  o.vector_weight = 1.0f;
  o.candidates = kMaxSearchK;
  EXPECT_EQ(SearchKeys(*c, "apple", o), (std::vector<Key>{1}));
}

// --- Hybrid search --------------------------------------------------------------------

/// Records whose vector ranking and BM25 ranking for the query "apple"
/// disagree. The vectors are set by hand at an angle from the query's
/// embedding (the test embedder puts "apple" on one axis): cosine distance
/// 1 - cos(angle), so the vector order is 3, 2, 4, 1, 5. BM25 for "apple":
/// 1 (three mentions in three words), 2 (one in six), 4 (one in nine).
class HybridTest : public TextSearchTest {
 protected:
  void SetUp() override {
    TextSearchTest::SetUp();
    c_ = *store_->CreateCollection("hybrid", ConfigForEmbedder(BagOfWordsEmbedder().info()));
    const std::size_t axis = BagOfWordsEmbedder::Component("apple");
    const std::size_t other = (axis + 1) % BagOfWordsEmbedder::kDims;
    auto at = [&](double angle) {
      std::vector<float> v(BagOfWordsEmbedder::kDims, 0.0f);
      v[axis] = static_cast<float>(std::cos(angle));
      v[other] = static_cast<float>(std::sin(angle));
      return v;
    };
    ASSERT_TRUE(
        c_->Upsert(
              {{1, "", "apple apple apple", R"({"color": "red"})", at(0.9)},
               {2, "", "apple pie with cream and sugar", R"({"color": "green"})", at(0.3)},
               {3, "", "banana bread", R"({"color": "red"})", at(0.0)},
               {4, "", "an apple a day keeps the doctor away", R"({"color": "green"})", at(0.6)},
               {5, "", "cherry", R"({"color": "red"})", at(1.5)}})
            .ok());
  }
  std::shared_ptr<Collection> c_;
};

TEST_F(HybridTest, EachSideAloneGivesItsOwnOrder) {
  TextSearchOptions vector_only;
  vector_only.search.k = 5;
  EXPECT_EQ(SearchKeys(*c_, "apple", vector_only), (std::vector<Key>{3, 2, 4, 1, 5}));
  EXPECT_EQ(SearchKeys(*c_, "apple", FullText(5)), (std::vector<Key>{1, 2, 4}));
}

TEST_F(HybridTest, ReciprocalRankFusionGivesTheOrderWorkedOutByHand) {
  auto found = c_->SearchText({"apple"}, Hybrid(5));
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  const std::vector<Match>& m = (*found)[0];
  // 2: 1/62 + 1/62; 1: 1/64 + 1/61; 4: 1/63 + 1/63; 3: 1/61; 5: 1/65.
  ASSERT_EQ(KeysOf(m), (std::vector<Key>{2, 1, 4, 3, 5}));
  EXPECT_FLOAT_EQ(m[0].score, static_cast<float>(1.0 / 62 + 1.0 / 62));
  EXPECT_FLOAT_EQ(m[1].score, static_cast<float>(1.0 / 64 + 1.0 / 61));
  EXPECT_FLOAT_EQ(m[3].score, static_cast<float>(1.0 / 61));
  // Distances come from the vector side, text and metadata from SQLite.
  EXPECT_NEAR(m[0].distance, 1 - std::cos(0.3), 1e-5);
  EXPECT_NEAR(m[3].distance, 0.0, 1e-5);
  EXPECT_EQ(m[0].text, "apple pie with cream and sugar");
  EXPECT_EQ(m[0].metadata, R"({"color": "green"})");
  // rrf_k = 1 weighs the top ranks more: 1 (1/5 + 1/2) overtakes 2 (1/3 + 1/3),
  // and 3 (1/2) ties with 4 (1/4 + 1/4) and wins by key.
  TextSearchOptions sharp = Hybrid(3);
  sharp.rrf_k = 1;
  EXPECT_EQ(SearchKeys(*c_, "apple", sharp), (std::vector<Key>{1, 2, 3}));
}

TEST_F(HybridTest, CandidatesBoundEachSideAndTextOnlyMatchesHaveNoDistance) {
  // Three candidates a side: vector 3, 2, 4; text 1, 2, 4. 1 and 3 tie at 1/61 (by key).
  TextSearchOptions options = Hybrid(3);
  options.candidates = 3;
  auto found = c_->SearchText({"apple"}, options);
  ASSERT_TRUE(found.ok());
  const std::vector<Match>& m = (*found)[0];
  ASSERT_EQ(KeysOf(m), (std::vector<Key>{2, 4, 1}));
  EXPECT_FALSE(std::isnan(m[0].distance));
  EXPECT_TRUE(std::isnan(m[2].distance));  // only BM25 found record 1
}

TEST_F(HybridTest, WeightedFusionMovesFromTheTextOrderToTheVectorOrder) {
  TextSearchOptions options = Hybrid(5);
  options.fusion = FusionMethod::kWeighted;
  options.vector_weight = 1.0f;
  EXPECT_EQ(SearchKeys(*c_, "apple", options), (std::vector<Key>{3, 2, 4, 1, 5}));
  options.vector_weight = 0.0f;
  // BM25 order; 4, the weakest BM25 match, normalizes to 0 like the records
  // BM25 does not match, and the three tie at 0, by key.
  EXPECT_EQ(SearchKeys(*c_, "apple", options), (std::vector<Key>{1, 2, 3, 4, 5}));
  options.vector_weight = 0.5f;
  auto found = c_->SearchText({"apple"}, options);
  ASSERT_TRUE(found.ok());
  for (const Match& m : (*found)[0]) {
    EXPECT_GE(m.score, 0.0f);
    EXPECT_LE(m.score, 1.0f);
  }
}

TEST_F(HybridTest, TheFilterAppliesToBothSides) {
  TextSearchOptions options = Hybrid(5);
  options.search.filter = R"({"color": "red"})";
  // Red: vector 3, 1, 5; text 1. 1: 1/62 + 1/61; 3: 1/61; 5: 1/63.
  auto found = c_->SearchText({"apple"}, options);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(KeysOf((*found)[0]), (std::vector<Key>{1, 3, 5}));
  for (const Match& m : (*found)[0]) EXPECT_EQ(m.metadata, R"({"color": "red"})");
  options.search.filter = R"({"color": "green"})";
  EXPECT_EQ(SearchKeys(*c_, "apple", options), (std::vector<Key>{2, 4}));
  // Several queries in one call, each its own list.
  auto two = c_->SearchText({"apple", "cherry"}, Hybrid(1));
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(KeysOf((*two)[0]), (std::vector<Key>{2}));
  EXPECT_EQ(KeysOf((*two)[1]), (std::vector<Key>{5}));  // the only BM25 match
}

// --- Format migration and Verify ---------------------------------------------------------

class MigrationTest : public ::testing::Test {
 protected:
  /// A store whose collection "old" has three records and the schema of a
  /// Quiver without full-text search (no FTS5 table, no triggers), plus the
  /// full-text table of a collection an older Quiver dropped.
  void SetUp() override {
    {
      auto store = std::move(Store::Open(dir_.path(), QuietOptions())).value();
      CollectionConfig config;
      config.dimensions = 2;
      config.metric = Metric::kL2sq;
      auto c = *store->CreateCollection("old", config);
      ASSERT_TRUE(c->Upsert({{1, "", "red apple", "{}", {1, 0}},
                             {2, "", "green apple", "{}", {0, 1}},
                             {3, "", "plum", "{}", {1, 1}}})
                      .ok());
      ASSERT_TRUE(store->Close().ok());
    }
    RunSql(dir_.path(),
           "DROP TRIGGER records_1_fts_insert; DROP TRIGGER records_1_fts_delete; "
           "DROP TRIGGER records_1_fts_update; DROP TABLE records_1_fts; "
           "CREATE VIRTUAL TABLE records_99_fts USING fts5(text);");
    ASSERT_EQ(FullTextObjects(), "1");  // only the orphan
  }

  std::string FullTextObjects() {
    return QuerySql(dir_.path(),
                    "SELECT count(*) FROM sqlite_master WHERE name GLOB 'records_*_fts'");
  }

  std::unique_ptr<Store> OpenLogged(bool read_only) {
    StoreOptions options;
    options.read_only = read_only;
    options.logger = [this](LogLevel, std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_ += std::string(line) + "\n";
    };
    auto store = Store::Open(dir_.path(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  std::mutex log_mu_;
  std::string log_;
};

TEST_F(MigrationTest, AStoreWithoutTheIndexGetsItAtAWritableOpen) {
  {
    // Read-only: nothing is written; full-text search says what to do.
    auto store = OpenLogged(/*read_only=*/true);
    auto c = *store->GetCollection("old");
    auto found = c->SearchText({"apple"}, FullText(10));
    EXPECT_EQ(found.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(found.status().message(), HasSubstr("open it for writing once"));
    auto report = c->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_THAT(report->problems, ::testing::Contains(HasSubstr("full-text index: missing")));
  }
  EXPECT_EQ(FullTextObjects(), "1");
  {
    auto store = OpenLogged(/*read_only=*/false);
    EXPECT_THAT(log_, HasSubstr("collection 'old': built its full-text index"));
    EXPECT_THAT(log_, HasSubstr("3 records indexed"));
    auto c = *store->GetCollection("old");
    EXPECT_EQ(SearchKeys(*c, "apple", FullText(10)).size(), 2u);
    auto report = c->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->clean()) << ::testing::PrintToString(report->problems);
    // The triggers are in place: later writes reach the index.
    ASSERT_TRUE(c->Upsert({{4, "", "apple crumble", "{}", {2, 2}}}).ok());
    ASSERT_TRUE(c->Delete({1}).ok());
    EXPECT_EQ(SearchKeys(*c, "apple", FullText(10)), (std::vector<Key>{2, 4}));
    ASSERT_TRUE(store->Close().ok());
  }
  // The orphan is gone, and the next open has nothing to migrate.
  EXPECT_EQ(FullTextObjects(), "1");
  EXPECT_EQ(QuerySql(dir_.path(), "SELECT name FROM sqlite_master WHERE name = 'records_99_fts'"),
            "");
  log_.clear();
  auto store = OpenLogged(/*read_only=*/false);
  EXPECT_THAT(log_, ::testing::Not(HasSubstr("full-text")));
}

TEST_F(MigrationTest, AMigrationThatDiesBeforeItsCommitLeavesTheOldSchema) {
  crash_point::Arm("fulltext_migration.before_commit",
                   [](std::string_view) { return Status::IOError("injected crash"); });
  auto failed = Store::Open(dir_.path(), QuietOptions());
  crash_point::DisarmAll();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("injected crash"));
  // Rolled back: no table, no trigger.
  EXPECT_EQ(
      QuerySql(dir_.path(), "SELECT count(*) FROM sqlite_master WHERE name LIKE 'records_1_fts%'"),
      "0");
  auto store = OpenLogged(/*read_only=*/false);
  auto c = *store->GetCollection("old");
  EXPECT_EQ(SearchKeys(*c, "plum", FullText(10)), (std::vector<Key>{3}));
  EXPECT_TRUE(c->Verify()->clean());
}

class VerifyFullTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::move(Store::Open(dir_.path(), QuietOptions())).value();
    CollectionConfig config;
    config.dimensions = 2;
    config.metric = Metric::kL2sq;
    auto c = *store->CreateCollection("docs", config);
    std::vector<Record> records;
    for (Key key = 1; key <= 20; ++key) {
      records.push_back({key, "", "record number " + std::to_string(key), "{}", {0, 0}});
    }
    ASSERT_TRUE(c->Upsert(records).ok());
    ASSERT_TRUE(store->Close().ok());
  }

  std::vector<std::string> Problems(bool read_only) {
    StoreOptions options = QuietOptions();
    options.read_only = read_only;
    auto store = std::move(Store::Open(dir_.path(), options)).value();
    auto report = (*store->GetCollection("docs"))->Verify();
    EXPECT_TRUE(report.ok());
    return report->problems;
  }

  TempDir dir_;
};

TEST_F(VerifyFullTextTest, ReportsEntriesMissingExtraOrStale) {
  EXPECT_TRUE(Problems(false).empty());
  // Behind the triggers' back: drop key 5's entry, add one for a key that
  // has no record, and give key 6 an entry of other words.
  RunSql(dir_.path(),
         "INSERT INTO records_1_fts(records_1_fts, rowid, text) "
         "  VALUES ('delete', 5, 'record number 5');"
         "INSERT INTO records_1_fts(rowid, text) VALUES (424242, 'ghost');"
         "INSERT INTO records_1_fts(records_1_fts, rowid, text) "
         "  VALUES ('delete', 6, 'record number 6');"
         "INSERT INTO records_1_fts(rowid, text) VALUES (6, 'something else entirely');");
  for (const bool read_only : {true, false}) {
    SCOPED_TRACE(read_only ? "read-only" : "writable");
    const std::vector<std::string> problems = Problems(read_only);
    EXPECT_THAT(problems,
                ::testing::Contains("key 5: in SQLite, missing from the full-text index"));
    EXPECT_THAT(problems, ::testing::Contains("key 424242: in the full-text index, not in SQLite"));
    EXPECT_THAT(problems,
                ::testing::Contains("key 6: the full-text index does not hold its current text"));
    // FTS5's own check needs a writable store.
    EXPECT_EQ(std::count_if(problems.begin(), problems.end(),
                            [](const std::string& p) {
                              return p.find("integrity-check") != std::string::npos;
                            }),
              read_only ? 0 : 1);
  }
}

TEST_F(VerifyFullTextTest, Fts5IntegrityCheckSeesAStaleEntryTheSampleCannot) {
  // Key 7's entry holds its text and more: a phrase query of its text still
  // matches, FTS5's token-by-token comparison does not.
  RunSql(dir_.path(),
         "INSERT INTO records_1_fts(records_1_fts, rowid, text) "
         "  VALUES ('delete', 7, 'record number 7');"
         "INSERT INTO records_1_fts(rowid, text) VALUES (7, 'record number 7 and more');");
  EXPECT_TRUE(Problems(true).empty());
  EXPECT_THAT(Problems(false),
              ::testing::ElementsAre(HasSubstr("FTS5 integrity-check against the records failed")));
}

}  // namespace
}  // namespace quiver
