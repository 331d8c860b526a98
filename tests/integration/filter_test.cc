// Copyright (c) Quiver authors.
//
// Filters end to end (invariant I11): count / scan / delete by filter against
// an oracle written here, independently of the library (it evaluates filters
// over the test's own model of each record, not over the stored JSON), and
// filtered search recall at every selectivity against brute force over the
// matching records.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <variant>

#include <sys/wait.h>
#include <unistd.h>

#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::ExactDistance;
using ::quiver::testing::LowRankVectors;
using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

// --- The oracle's model of metadata -------------------------------------------------

/// A metadata value as the test generated it.
struct Val {
  enum Type { kMissing, kString, kNumber, kTrue, kFalse, kNull, kArray, kObject } type = kMissing;
  std::string s;
  double n = 0;
};

/// One record as the oracle sees it.
struct Model {
  Key key = 0;
  std::string id;                     // empty = none
  std::map<std::string, Val> fields;  // dotted path -> value ("nested.w")
};

std::string JsonOf(const Val& v) {
  switch (v.type) {
    case Val::kString:
      return "\"" + v.s + "\"";
    case Val::kNumber: {
      if (v.n == std::floor(v.n)) return std::to_string(static_cast<long long>(v.n));
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", v.n);
      return buf;
    }
    case Val::kTrue:
      return "true";
    case Val::kFalse:
      return "false";
    case Val::kNull:
      return "null";
    case Val::kArray:
      return "[1, \"a\"]";
    case Val::kObject:
      return "{\"x\": 1}";
    case Val::kMissing:
      break;
  }
  return "";
}

/// The metadata JSON of a model: top-level fields plus a "nested" object.
std::string MetadataJson(const Model& m) {
  std::string top, nested;
  for (const auto& [path, v] : m.fields) {
    if (v.type == Val::kMissing) continue;
    const bool in_nested = path.rfind("nested.", 0) == 0;
    std::string& out = in_nested ? nested : top;
    if (!out.empty()) out += ", ";
    out += "\"" + (in_nested ? path.substr(7) : path) + "\": " + JsonOf(v);
  }
  if (!nested.empty()) top += std::string(top.empty() ? "" : ", ") + "\"nested\": {" + nested + "}";
  return "{" + top + "}";
}

/// A random scalar operand, with its JSON text.
Val RandomScalar(std::mt19937& rng) {
  static const char* kWords[] = {"red", "green", "blue", "m", "zz", ""};
  Val v;
  switch (rng() % 6) {
    case 0:
    case 1:
      v.type = Val::kString;
      v.s = kWords[rng() % 6];
      break;
    case 2:
    case 3:
      v.type = Val::kNumber;
      v.n = static_cast<double>(rng() % 20) / (rng() % 3 == 0 ? 2 : 1);
      break;
    case 4:
      v.type = rng() % 2 ? Val::kTrue : Val::kFalse;
      break;
    default:
      v.type = Val::kNull;
      break;
  }
  return v;
}

Val RandomFieldValue(std::mt19937& rng) {
  const unsigned r = rng() % 10;
  if (r == 0) return Val{};  // missing
  if (r == 1) return Val{Val::kArray};
  if (r == 2) return Val{Val::kObject};
  return RandomScalar(rng);
}

/// The filter semantics of docs/filters.md, written again for the oracle.
bool ScalarEq(const Val& a, const Val& b) {
  if (a.type == Val::kNumber && b.type == Val::kNumber) return a.n == b.n;
  if (a.type != b.type) return false;
  if (a.type == Val::kString) return a.s == b.s;
  return a.type == Val::kTrue || a.type == Val::kFalse || a.type == Val::kNull;
}

bool Ordered(const Val& a, const std::string& op, const Val& b) {
  int c = 0;
  if (a.type == Val::kNumber && b.type == Val::kNumber) {
    c = a.n < b.n ? -1 : (a.n > b.n ? 1 : 0);
  } else if (a.type == Val::kString && b.type == Val::kString) {
    c = a.s.compare(b.s);
    c = c < 0 ? -1 : (c > 0 ? 1 : 0);
  } else {
    return false;
  }
  if (op == "$gt") return c > 0;
  if (op == "$gte") return c >= 0;
  if (op == "$lt") return c < 0;
  return c <= 0;
}

struct TestFilter {
  std::string json;
  std::function<bool(const Model&)> eval;
};

/// A random leaf: a field, an operator and operands (type mismatches included).
TestFilter RandomLeaf(std::mt19937& rng) {
  static const char* kFields[] = {"color",    "price",  "size", "flag", "tags",
                                  "nested.w", "absent", "id",   "key"};
  const std::string field = kFields[rng() % 9];
  static const char* kOps[] = {"$eq",  "$ne", "$gt",  "$gte",   "$lt",
                               "$lte", "$in", "$nin", "$exists"};
  std::string op = kOps[rng() % 9];
  auto value_of = [field](const Model& m) -> Val {
    auto it = m.fields.find(field);
    return it == m.fields.end() ? Val{} : it->second;
  };

  if (field == "key") {
    const Key v = rng() % 400;
    if (op == "$exists") op = "$eq";
    if (op == "$in" || op == "$nin") {
      const Key w = rng() % 400;
      const bool in = op == "$in";
      return {"{\"key\": {\"" + op + "\": [" + std::to_string(v) + ", " + std::to_string(w) + "]}}",
              [=](const Model& m) { return in == (m.key == v || m.key == w); }};
    }
    return {"{\"key\": {\"" + op + "\": " + std::to_string(v) + "}}", [=](const Model& m) {
              if (op == "$eq") return m.key == v;
              if (op == "$ne") return m.key != v;
              if (op == "$gt") return m.key > v;
              if (op == "$gte") return m.key >= v;
              if (op == "$lt") return m.key < v;
              return m.key <= v;
            }};
  }
  if (field == "id") {
    const std::string v = "doc-" + std::to_string(rng() % 400);
    if (op == "$exists") {
      const bool want = rng() % 2;
      return {std::string("{\"id\": {\"$exists\": ") + (want ? "true" : "false") + "}}",
              [=](const Model& m) { return want == !m.id.empty(); }};
    }
    if (op == "$in" || op == "$nin") op = "$eq";
    return {"{\"id\": {\"" + op + "\": \"" + v + "\"}}", [=](const Model& m) {
              if (op == "$ne") return m.id.empty() || m.id != v;
              if (m.id.empty()) return false;
              if (op == "$eq") return m.id == v;
              const int c = m.id.compare(v);
              if (op == "$gt") return c > 0;
              if (op == "$gte") return c >= 0;
              if (op == "$lt") return c < 0;
              return c <= 0;
            }};
  }
  if (op == "$exists") {
    const bool want = rng() % 2;
    return {"{\"" + field + "\": {\"$exists\": " + (want ? "true" : "false") + "}}",
            [=](const Model& m) { return want == (value_of(m).type != Val::kMissing); }};
  }
  if (op == "$in" || op == "$nin") {
    std::vector<Val> values;
    const std::size_t n = rng() % 4;  // [] included
    std::string list;
    for (std::size_t i = 0; i < n; ++i) {
      values.push_back(RandomScalar(rng));
      list += (i ? ", " : "") + JsonOf(values.back());
    }
    const bool in = op == "$in";
    return {"{\"" + field + "\": {\"" + op + "\": [" + list + "]}}", [=](const Model& m) {
              const Val got = value_of(m);
              const bool any = std::any_of(values.begin(), values.end(),
                                           [&](const Val& v) { return ScalarEq(got, v); });
              return in == any;
            }};
  }
  Val v = RandomScalar(rng);
  const bool ordered = op != "$eq" && op != "$ne";
  if (ordered && v.type != Val::kString && v.type != Val::kNumber) v = Val{Val::kNumber, "", 7};
  const bool shorthand = op == "$eq" && rng() % 2;
  const std::string json = shorthand ? "{\"" + field + "\": " + JsonOf(v) + "}"
                                     : "{\"" + field + "\": {\"" + op + "\": " + JsonOf(v) + "}}";
  return {json, [=](const Model& m) {
            const Val got = value_of(m);
            if (op == "$eq") return ScalarEq(got, v);
            if (op == "$ne") return !ScalarEq(got, v);
            return Ordered(got, op, v);
          }};
}

TestFilter RandomFilter(std::mt19937& rng, int depth) {
  const unsigned r = rng() % 10;
  if (depth >= 3 || r < 5) return RandomLeaf(rng);
  if (r == 5) {
    TestFilter inner = RandomFilter(rng, depth + 1);
    return {"{\"$not\": " + inner.json + "}", [=](const Model& m) { return !inner.eval(m); }};
  }
  const bool is_and = r < 8;
  std::vector<TestFilter> children;
  const std::size_t n = 1 + rng() % 3;
  std::string list;
  for (std::size_t i = 0; i < n; ++i) {
    children.push_back(RandomFilter(rng, depth + 1));
    list += (i ? ", " : "") + children.back().json;
  }
  return {std::string("{\"") + (is_and ? "$and" : "$or") + "\": [" + list + "]}",
          [=](const Model& m) {
            for (const TestFilter& c : children) {
              if (c.eval(m) != is_and) return !is_and;
            }
            return is_and;
          }};
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<Store> store;
  std::shared_ptr<Collection> collection;
  std::vector<Model> models;
  std::vector<Record> records;
};

/// A collection of `n` records with random metadata (fixed seed), half of
/// them with a string id, and the oracle's models.
void Populate(Fixture* f, std::size_t n, std::uint32_t seed, bool index_fields) {
  auto store = Store::Open(f->dir.path(), QuietOptions());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  f->store = std::move(store).value();
  CollectionConfig config;
  config.dimensions = 4;
  auto c = f->store->CreateCollection("c", config);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  f->collection = *c;
  if (index_fields) {
    for (const char* field : {"color", "price", "size", "nested.w"}) {
      ASSERT_TRUE(f->collection->CreateFieldIndex(field).ok());
    }
  }
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    Model m;
    m.key = i;
    if (i % 2 == 0) m.id = "doc-" + std::to_string(i);
    for (const char* field : {"color", "price", "size", "flag", "tags", "nested.w"}) {
      m.fields[field] = RandomFieldValue(rng);
    }
    Record r;
    r.key = m.key;
    r.id = m.id;
    r.metadata = MetadataJson(m);
    r.embedding = {static_cast<float>(i % 7), 1.0f, static_cast<float>(i % 3), 0.5f};
    f->models.push_back(std::move(m));
    f->records.push_back(std::move(r));
  }
  ASSERT_TRUE(f->collection->Upsert(f->records).ok());
}

std::set<Key> OracleKeys(const Fixture& f, const TestFilter& filter) {
  std::set<Key> keys;
  for (const Model& m : f.models) {
    if (filter.eval(m)) keys.insert(m.key);
  }
  return keys;
}

std::set<Key> ScanKeys(Collection* c, const std::string& filter, std::size_t page) {
  std::set<Key> keys;
  ScanOptions options;
  options.filter = filter;
  options.limit = page;
  options.include_text = false;
  for (int pages = 0; pages < 10000; ++pages) {
    auto result = c->Scan(options);
    EXPECT_TRUE(result.ok()) << filter << ": " << result.status().ToString();
    if (!result.ok()) break;
    for (const Record& r : result->records) EXPECT_TRUE(keys.insert(r.key).second) << r.key;
    if (result->next_cursor.empty()) break;
    options.cursor = result->next_cursor;
  }
  return keys;
}

class FilterDifferentialTest : public ::testing::TestWithParam<bool> {};

// count and scan by 400 random filters equal the oracle, on indexed and
// non-indexed fields alike.
TEST_P(FilterDifferentialTest, CountAndScanMatchTheOracle) {
  Fixture f;
  Populate(&f, 400, /*seed=*/7, /*index_fields=*/GetParam());
  std::mt19937 rng(99);
  std::size_t nonempty = 0;
  for (int i = 0; i < 400; ++i) {
    const TestFilter filter = RandomFilter(rng, 0);
    const std::set<Key> expected = OracleKeys(f, filter);
    nonempty += !expected.empty() && expected.size() < f.models.size();
    auto count = f.collection->Count(filter.json);
    ASSERT_TRUE(count.ok()) << filter.json << ": " << count.status().ToString();
    EXPECT_EQ(*count, expected.size()) << filter.json;
    EXPECT_EQ(ScanKeys(f.collection.get(), filter.json, 1 + i % 50), expected) << filter.json;
  }
  // The generator must exercise the filters, not produce trivial ones.
  EXPECT_GT(nonempty, 200u);
}

// delete by filter removes exactly the oracle's records, atomically, and
// reports how many; search never returns them afterwards.
TEST_P(FilterDifferentialTest, DeleteWhereMatchesTheOracle) {
  Fixture f;
  Populate(&f, 300, /*seed=*/11, /*index_fields=*/GetParam());
  std::mt19937 rng(5);
  for (int i = 0; i < 30; ++i) {
    const TestFilter filter = RandomFilter(rng, 0);
    const std::set<Key> expected = OracleKeys(f, filter);
    auto deleted = f.collection->DeleteWhere(filter.json);
    ASSERT_TRUE(deleted.ok()) << filter.json << ": " << deleted.status().ToString();
    EXPECT_EQ(*deleted, expected.size()) << filter.json;
    std::set<Key> all;
    for (const Model& m : f.models) all.insert(m.key);
    std::set<Key> rest;
    std::set_difference(all.begin(), all.end(), expected.begin(), expected.end(),
                        std::inserter(rest, rest.end()));
    EXPECT_EQ(ScanKeys(f.collection.get(), "{}", 97), rest) << filter.json;
    SearchOptions options;
    options.k = 300;
    auto found = f.collection->Search(std::vector<float>{1, 1, 1, 0.5f}, options);
    ASSERT_TRUE(found.ok());
    for (const Match& m : *found) EXPECT_EQ(expected.count(m.key), 0u) << m.key;
    ASSERT_TRUE(f.collection->Upsert(f.records).ok());  // restore for the next filter
  }
}

INSTANTIATE_TEST_SUITE_P(IndexedAndNot, FilterDifferentialTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Indexed" : "NotIndexed"; });

// --- Filtered search recall at every selectivity --------------------------------------

struct RecallCase {
  Metric metric;
  ScalarKind scalar;
  SearchStrategy strategy;
};

class FilteredRecallTest : public ::testing::TestWithParam<RecallCase> {};

// recall@10 >= 0.95 against brute force over the matching records, from 100%
// down to a single matching record, and never fewer than min(k, matching)
// results.
TEST_P(FilteredRecallTest, RecallAtEverySelectivity) {
  const RecallCase rc = GetParam();
  constexpr std::size_t kDims = 24, kBase = 2000, kQueries = 25, kK = 10;
  TempDir dir;
  auto store = Store::Open(dir.path(), QuietOptions());
  ASSERT_TRUE(store.ok());
  CollectionConfig config;
  config.dimensions = kDims;
  config.metric = rc.metric;
  config.scalar = rc.scalar;
  auto c = (*store)->CreateCollection("v", config);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<float> base = LowRankVectors(kBase, kDims, /*seed=*/3);
  std::vector<float> queries = LowRankVectors(kQueries, kDims, /*seed=*/4);
  if (rc.metric != Metric::kL2sq) {  // unit vectors, as ip expects and i8 keeps
    for (std::vector<float>* m : {&base, &queries}) {
      for (std::size_t i = 0; i < m->size() / kDims; ++i) {
        double norm = 0;
        for (std::size_t d = 0; d < kDims; ++d) norm += (*m)[i * kDims + d] * (*m)[i * kDims + d];
        for (std::size_t d = 0; d < kDims; ++d) (*m)[i * kDims + d] /= std::sqrt(norm);
      }
    }
  }
  // bucket = a random permutation of 0..kBase-1: {"bucket": {"$lt": t}}
  // matches exactly t records, spread over the whole data set.
  std::vector<std::size_t> bucket(kBase);
  std::iota(bucket.begin(), bucket.end(), 0);
  std::shuffle(bucket.begin(), bucket.end(), std::mt19937(8));
  std::vector<Record> records(kBase);
  for (std::size_t i = 0; i < kBase; ++i) {
    records[i].key = i;
    records[i].metadata = "{\"bucket\": " + std::to_string(bucket[i]) + "}";
    records[i].embedding.assign(base.begin() + i * kDims, base.begin() + (i + 1) * kDims);
  }
  ASSERT_TRUE((*c)->Upsert(records).ok());

  for (const std::size_t matching :
       {kBase, kBase / 2, kBase / 10, kBase / 100, std::size_t{4}, std::size_t{1}}) {
    SearchOptions options;
    options.k = kK;
    options.filter = "{\"bucket\": {\"$lt\": " + std::to_string(matching) + "}}";
    options.include_text = options.include_metadata = options.include_id = false;
    options.strategy = rc.strategy;
    options.rerank = rc.scalar != ScalarKind::kF32;
    auto found = (*c)->Search(queries.data(), kQueries, options);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    double hits = 0, wanted = 0;
    for (std::size_t q = 0; q < kQueries; ++q) {
      const float* query = queries.data() + q * kDims;
      std::vector<std::pair<double, Key>> scored;
      for (std::size_t i = 0; i < kBase; ++i) {
        if (bucket[i] < matching) {
          scored.push_back({ExactDistance(rc.metric, query, base.data() + i * kDims, kDims), i});
        }
      }
      std::sort(scored.begin(), scored.end());
      const std::size_t top = std::min(kK, scored.size());
      ASSERT_EQ((*found)[q].size(), top) << "matching=" << matching << " query " << q;
      std::set<Key> truth;
      for (std::size_t i = 0; i < top; ++i) truth.insert(scored[i].second);
      for (const Match& m : (*found)[q]) {
        EXPECT_LT(bucket[m.key], matching) << "a non-matching record was returned";
        hits += truth.count(m.key);
      }
      wanted += static_cast<double>(top);
    }
    EXPECT_GE(hits / wanted, 0.95) << "matching=" << matching << " of " << kBase;
  }
}

INSTANTIATE_TEST_SUITE_P(
    MetricsScalarsStrategies, FilteredRecallTest,
    ::testing::Values(RecallCase{Metric::kL2sq, ScalarKind::kF32, SearchStrategy::kAuto},
                      RecallCase{Metric::kIp, ScalarKind::kF32, SearchStrategy::kAuto},
                      RecallCase{Metric::kCos, ScalarKind::kF32, SearchStrategy::kAuto},
                      RecallCase{Metric::kL2sq, ScalarKind::kF32, SearchStrategy::kFilteredHnsw},
                      RecallCase{Metric::kCos, ScalarKind::kF32, SearchStrategy::kFilteredHnsw},
                      RecallCase{Metric::kIp, ScalarKind::kF32, SearchStrategy::kExact},
                      RecallCase{Metric::kCos, ScalarKind::kI8, SearchStrategy::kAuto},
                      RecallCase{Metric::kCos, ScalarKind::kI8, SearchStrategy::kFilteredHnsw},
                      RecallCase{Metric::kIp, ScalarKind::kF16, SearchStrategy::kAuto}),
    [](const auto& info) {
      const RecallCase& c = info.param;
      std::string name =
          std::string(MetricName(c.metric)) + "_" + std::string(ScalarKindName(c.scalar)) + "_";
      name += c.strategy == SearchStrategy::kAuto    ? "auto"
              : c.strategy == SearchStrategy::kExact ? "exact"
                                                     : "filtered_hnsw";
      return name;
    });

// --- Distance bound, re-rank, explain, field indexes, bad input ------------------------

class FilterApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path(), QuietOptions());
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    CollectionConfig config;
    config.dimensions = 3;
    config.metric = Metric::kL2sq;
    auto c = store_->CreateCollection("fruits", config);
    ASSERT_TRUE(c.ok());
    c_ = *c;
    ASSERT_TRUE(
        c_->Upsert({{1, "apple", "a red apple", R"({"color": "red", "price": 3})", {1, 0, 0}},
                    {2, "lime", "a green lime", R"({"color": "green", "price": 1.5})", {0, 1, 0}},
                    {3, "plum", "a purple plum", R"({"color": "purple"})", {0, 0, 1}}})
            .ok());
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<Collection> c_;
};

TEST_F(FilterApiTest, MaxDistanceDropsFartherMatches) {
  SearchOptions options;
  options.k = 3;
  options.max_distance = 1.5f;  // apple at 0.01; lime and plum at about 2
  auto found = c_->Search(std::vector<float>{0.9f, 0, 0}, options);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "apple");
  options.max_distance = std::nanf("");
  EXPECT_FALSE(c_->Search(std::vector<float>{0.9f, 0, 0}, options).ok());
}

TEST_F(FilterApiTest, FilteredSearchReturnsOnlyMatchesWithTheirFields) {
  SearchOptions options;
  options.k = 3;
  options.filter = R"({"price": {"$lt": 2}})";
  auto found = c_->Search(std::vector<float>{1, 0, 0}, options);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "lime");
  EXPECT_EQ((*found)[0].text, "a green lime");
  auto plan = c_->Explain(options);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->strategy, SearchStrategy::kExact);
  EXPECT_EQ(plan->matching, 1u);
  EXPECT_EQ(plan->total, 3u);
  EXPECT_THAT(plan->ToString(), HasSubstr("exact: 1 of 3 records match"));
}

TEST_F(FilterApiTest, FieldIndexesAreListedAndGiveTheSameAnswers) {
  auto before = c_->Count(R"({"color": {"$in": ["red", "purple"]}})");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 2u);
  ASSERT_TRUE(c_->CreateFieldIndex("color").ok());
  ASSERT_TRUE(c_->CreateFieldIndex("color").ok());  // idempotent
  ASSERT_TRUE(c_->CreateFieldIndex("dims.w").ok());
  auto fields = c_->FieldIndexes();
  ASSERT_TRUE(fields.ok());
  EXPECT_THAT(*fields, ::testing::ElementsAre("color", "dims.w"));
  auto stats = c_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_THAT(stats->indexed_fields, ::testing::ElementsAre("color", "dims.w"));
  EXPECT_EQ(*c_->Count(R"({"color": {"$in": ["red", "purple"]}})"), 2u);
  EXPECT_FALSE(c_->CreateFieldIndex("id").ok());
  EXPECT_FALSE(c_->CreateFieldIndex("a\"b").ok());
  ASSERT_TRUE(c_->DropFieldIndex("dims.w").ok());
  EXPECT_EQ(c_->DropFieldIndex("dims.w").code(), StatusCode::kNotFound);
  // The index survives a reopen (it is part of the SQLite schema).
  c_.reset();
  ASSERT_TRUE(store_->Close().ok());
  store_ = std::move(Store::Open(dir_.path(), QuietOptions())).value();
  c_ = *store_->GetCollection("fruits");
  EXPECT_THAT(*c_->FieldIndexes(), ::testing::ElementsAre("color"));
}

TEST_F(FilterApiTest, BadFiltersNameTheNodeAndWriteNothing) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"price": {"$gt": {"a": 1}}})", "where.price.$gt"},
      {R"({"price": {"$between": 1}})", "where.price.$between: unknown operator"},
      {R"({"$and": []})", "where.$and"},
      {R"({"$or": {}})", "where.$or"},
      {R"({"$and": [{"a": 1}, {"price": {"$in": 3}}]})", "where.$and[1].price.$in"},
      {R"({"$xor": [{"a": 1}]})", "where.$xor: unknown operator"},
      {R"({"a'b": 1})", "where.a'b"},
      {R"({"a[0]": 1})", "where.a[0]"},
      {R"({"key": "x"})", "where.key"},
      {R"({"id": 5})", "where.id"},
      {R"({"tags": [1, 2]})", "$in"},
      {R"([1, 2])", "where: is a JSON array"},
      {R"({"price": {"$gt": true}})", "expected a number or a string"},
      {R"({"price": {}})", "where.price: is an empty object"},
      {R"({"price": )", "not valid JSON"},
      {R"({"x": 1}; DROP TABLE records_1; --)", "not valid JSON"},
      {R"({"price": {"$exists": 1}})", "where.price.$exists"},
  };
  for (const auto& [filter, message] : cases) {
    auto count = c_->Count(filter);
    ASSERT_FALSE(count.ok()) << filter;
    EXPECT_EQ(count.status().code(), StatusCode::kInvalidArgument) << filter;
    EXPECT_THAT(count.status().message(), HasSubstr(message)) << filter;
    auto deleted = c_->DeleteWhere(filter);
    EXPECT_FALSE(deleted.ok()) << filter;
  }
  // Too deep, too many terms, too long a field.
  std::string deep = "{\"a\": 1}";
  for (int i = 0; i < 40; ++i) deep = "{\"$not\": " + deep + "}";
  EXPECT_THAT(c_->Count(deep).status().message(), HasSubstr("deeper than 32"));
  std::string many = "{\"a\": {\"$in\": [";
  for (int i = 0; i < 1001; ++i) many += (i ? "," : "") + std::to_string(i);
  many += "]}}";
  EXPECT_THAT(c_->Count(many).status().message(), HasSubstr("more than 1000 terms"));
  EXPECT_THAT(c_->Count("{\"" + std::string(1000, 'a') + "\": 1}").status().message(),
              HasSubstr("expected at most 256"));
  // A value that looks like SQL is only a value.
  EXPECT_EQ(*c_->Count(R"({"color": "red' OR '1'='1"})"), 0u);
  EXPECT_EQ(*c_->Count("{}"), 3u);
  EXPECT_EQ(c_->DeleteWhere("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*c_->DeleteWhere(R"({"color": "black"})"), 0u);
  EXPECT_EQ(*c_->Count(), 3u);
}

TEST_F(FilterApiTest, ScanPagesWithCursorOffsetAndEmbeddings) {
  ScanOptions options;
  options.limit = 2;
  options.include_embedding = true;
  auto first = c_->Scan(options);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->records.size(), 2u);
  EXPECT_EQ(first->records[0].key, 1u);
  EXPECT_EQ(first->records[0].embedding, (std::vector<float>{1, 0, 0}));
  EXPECT_EQ(first->records[0].metadata, R"({"color": "red", "price": 3})");
  ASSERT_FALSE(first->next_cursor.empty());
  options.cursor = first->next_cursor;
  auto second = c_->Scan(options);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->records.size(), 1u);
  EXPECT_EQ(second->records[0].id, "plum");
  EXPECT_TRUE(second->next_cursor.empty());
  options.cursor = "";
  options.offset = 2;
  EXPECT_EQ(c_->Scan(options)->records.at(0).id, "plum");
  options.cursor = "bogus";
  EXPECT_EQ(c_->Scan(options).status().code(), StatusCode::kInvalidArgument);
  options.cursor = "";
  options.limit = 0;
  EXPECT_EQ(c_->Scan(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FilterApiTest, KeyRangesCompareKeysAsUnsigned) {
  const Key big = (Key{1} << 63) + 5;  // stored as a negative int64
  ASSERT_TRUE(c_->Upsert({{big, "", "big", "{}", {1, 1, 1}}}).ok());
  EXPECT_EQ(*c_->Count(R"({"key": {"$gt": 2}})"), 2u);  // 3 and big
  EXPECT_EQ(*c_->Count("{\"key\": {\"$gte\": " + std::to_string(big) + "}}"), 1u);
  EXPECT_EQ(*c_->Count("{\"key\": {\"$lt\": " + std::to_string(big) + "}}"), 3u);
  EXPECT_EQ(*c_->Count("{\"key\": " + std::to_string(big) + "}"), 1u);
}

// A delete by filter that fails or dies before its commit deletes nothing,
// from SQLite and from the index, also after a reopen (I9).
TEST_F(FilterApiTest, DeleteWhereIsAllOrNothingAcrossACrash) {
  crash_point::Arm("delete_where.before_commit",
                   [](std::string_view) { return Status::IOError("injected"); });
  auto failed = c_->DeleteWhere(R"({"color": {"$ne": "black"}})");
  crash_point::DisarmAll();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(*c_->Count(), 3u);
  SearchOptions options;
  options.k = 3;
  EXPECT_EQ(c_->Search(std::vector<float>{1, 0, 0}, options)->size(), 3u);

  // The same delete in a child process that dies at that point.
  c_.reset();
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = Store::Open(dir_.path(), QuietOptions());
    if (!store.ok()) _exit(2);
    auto c = (*store)->GetCollection("fruits");
    if (!c.ok()) _exit(3);
    crash_point::Arm("delete_where.before_commit", [](std::string_view) -> Status { _exit(9); });
    (void)(*c)->DeleteWhere(R"({"color": {"$ne": "black"}})");
    _exit(4);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 9);
  store_ = std::move(Store::Open(dir_.path(), QuietOptions())).value();
  c_ = *store_->GetCollection("fruits");
  EXPECT_EQ(*c_->Count(), 3u);
  EXPECT_EQ(c_->Search(std::vector<float>{1, 0, 0}, options)->size(), 3u);
  auto report = c_->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
  // And without the crash, it deletes all three at once.
  EXPECT_EQ(*c_->DeleteWhere(R"({"color": {"$ne": "black"}})"), 3u);
  EXPECT_EQ(*c_->Count(), 0u);
}

}  // namespace
}  // namespace quiver
