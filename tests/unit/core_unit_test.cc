// Copyright (c) Quiver authors.
//
// Unit tests of the small modules: Status, names and validation, checksums,
// the POSIX Env, and the index checkpoint format.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "common/test_util.h"
#include "index/hnsw_index.h"
#include "quiver/quiver.h"
#include "util/checksum.h"

namespace quiver {
namespace {

using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

TEST(StatusTest, CarriesCodeMessageAndContext) {
  Status s = Status::InvalidArgument("k: 0; expected 1..10000");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "invalid_argument: k: 0; expected 1..10000");
  EXPECT_EQ(s.WithContext("search").message(), "search: k: 0; expected 1..10000");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
  Result<int> r = Status::NotFound("gone");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  Result<int> v = 7;
  EXPECT_EQ(*v, 7);
}

TEST(NamesTest, MetricAndScalarRoundTrip) {
  for (Metric m : {Metric::kCos, Metric::kIp, Metric::kL2sq}) {
    EXPECT_EQ(*ParseMetric(MetricName(m)), m);
  }
  for (ScalarKind k : {ScalarKind::kF32, ScalarKind::kF16, ScalarKind::kBF16, ScalarKind::kI8}) {
    EXPECT_EQ(*ParseScalarKind(ScalarKindName(k)), k);
  }
  EXPECT_THAT(ParseMetric("euclidean").status().message(),
              HasSubstr("'euclidean' is not one of cos, ip, l2sq"));
  EXPECT_FALSE(ParseScalarKind("f64").ok());
}

TEST(NamesTest, CollectionNameRules) {
  EXPECT_TRUE(ValidateCollectionName("docs_v2-en").ok());
  EXPECT_TRUE(ValidateCollectionName(std::string(64, 'x')).ok());
  EXPECT_FALSE(ValidateCollectionName(std::string(65, 'x')).ok());
  EXPECT_FALSE(ValidateCollectionName("").ok());
  EXPECT_THAT(ValidateCollectionName("../x").message(), HasSubstr("contains '.'"));
  EXPECT_FALSE(ValidateCollectionName("a;DROP TABLE x").ok());
  EXPECT_FALSE(ValidateCollectionName(std::string("a\0b", 3)).ok());
}

TEST(ChecksumTest, StreamingEqualsOneShot) {
  std::string data(100000, 'q');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  StreamingChecksum streaming;
  streaming.Update(data.data(), 1000);
  streaming.Update(data.data() + 1000, data.size() - 1000);
  EXPECT_EQ(streaming.Digest(), Checksum64(data.data(), data.size()));
  data[500] ^= 1;
  EXPECT_NE(streaming.Digest(), Checksum64(data.data(), data.size()));
}

TEST(PosixEnvTest, WriteSyncRenameListRemove) {
  TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir.Join("a/b")).ok());
  auto file = env->NewWritableFile(dir.Join("a/b/f.tmp"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("hello", 5).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  ASSERT_TRUE(env->RenameFile(dir.Join("a/b/f.tmp"), dir.Join("a/b/f")).ok());
  ASSERT_TRUE(env->SyncDir(dir.Join("a/b")).ok());
  EXPECT_EQ(*env->FileSize(dir.Join("a/b/f")), 5u);
  EXPECT_EQ(*env->ListDir(dir.Join("a/b")), std::vector<std::string>{"f"});
  auto reader = *env->NewSequentialFile(dir.Join("a/b/f"));
  char buffer[16];
  std::size_t got = 0;
  ASSERT_TRUE(reader->Read(sizeof(buffer), buffer, &got).ok());
  EXPECT_EQ(std::string(buffer, got), "hello");
  EXPECT_TRUE(env->RemoveFile(dir.Join("a/b/f")).ok());
  EXPECT_EQ(env->RemoveFile(dir.Join("a/b/f")).code(), StatusCode::kNotFound);
  EXPECT_EQ(env->NewSequentialFile(dir.Join("missing")).status().code(), StatusCode::kNotFound);
}

TEST(PosixEnvTest, LockIsExclusiveUntilReleased) {
  TempDir dir;
  Env* env = Env::Default();
  auto first = env->LockFile(dir.Join("LOCK"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(env->LockFile(dir.Join("LOCK")).status().code(), StatusCode::kBusy);
  first = Status::Internal("released");  // drops the lock
  EXPECT_TRUE(env->LockFile(dir.Join("LOCK")).ok());
}

class CheckpointFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.dimensions = 8;
    config_.metric = Metric::kL2sq;
    auto index = index::HnswIndex::Create(config_, 2, 2);
    ASSERT_TRUE(index.ok());
    index_ = std::move(index).value();
    auto vectors = ClusteredVectors(300, 8, 5);
    std::vector<Key> keys(300);
    for (Key k = 0; k < 300; ++k) keys[k] = k * 3;
    ASSERT_TRUE(index_->AddBatch(keys.data(), vectors.data(), keys.size()).ok());
    auto file = *Env::Default()->NewWritableFile(path());
    auto info = index_->SaveCheckpoint(file.get(), identity_);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ASSERT_TRUE(file->Close().ok());
    info_ = *info;
  }
  std::string path() const { return dir_.Join("1.usearch"); }
  Result<std::unique_ptr<index::HnswIndex>> Load(const index::CheckpointIdentity& id,
                                                 std::uint64_t checksum) {
    return index::HnswIndex::LoadCheckpoint(Env::Default(), path(), config_, id, checksum, 2, 2);
  }

  TempDir dir_;
  CollectionConfig config_;
  std::unique_ptr<index::HnswIndex> index_;
  index::CheckpointIdentity identity_{7, 1, 300};
  index::CheckpointInfo info_;
};

TEST_F(CheckpointFormatTest, RoundTripsKeysAndVectors) {
  EXPECT_EQ(info_.vector_count, 300u);
  EXPECT_EQ(info_.file_bytes, std::filesystem::file_size(path()));
  auto loaded = Load(identity_, info_.checksum);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->Keys(), index_->Keys());
  std::vector<float> a(8), b(8);
  ASSERT_TRUE(index_->GetVector(42, a.data()));
  ASSERT_TRUE((*loaded)->GetVector(42, b.data()));
  EXPECT_EQ(a, b);
}

TEST_F(CheckpointFormatTest, RejectsWrongIdentityOrChecksum) {
  EXPECT_THAT(Load({8, 1, 300}, info_.checksum).status().message(), HasSubstr("foreign"));
  EXPECT_THAT(Load({7, 2, 300}, info_.checksum).status().message(), HasSubstr("foreign"));
  EXPECT_THAT(Load(identity_, info_.checksum + 1).status().message(),
              HasSubstr("differs from the manifest"));
}

TEST_F(CheckpointFormatTest, RejectsEveryTruncation) {
  const auto size = std::filesystem::file_size(path());
  for (std::uintmax_t cut : {std::uintmax_t{0}, std::uintmax_t{10}, size / 2, size - 1}) {
    std::filesystem::resize_file(path(), cut);
    auto loaded = Load(identity_, info_.checksum);
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << "cut at " << cut;
  }
}

TEST_F(CheckpointFormatTest, RejectsAnIndexOfAnotherShape) {
  CollectionConfig other = config_;
  other.metric = Metric::kCos;
  auto loaded = index::HnswIndex::LoadCheckpoint(Env::Default(), path(), other, identity_,
                                                 info_.checksum, 2, 2);
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(loaded.status().message(), HasSubstr("metric"));
}

// A payload that passes every checksum but is not a well-formed USearch
// index of this collection (a buggy or forged writer: the file is resealed
// with a valid footer) is refused before USearch parses it, never loaded.
TEST_F(CheckpointFormatTest, RefusesAResealedPayloadOfAnotherStructure) {
  std::vector<unsigned char> payload(std::filesystem::file_size(path()) -
                                     index::kCheckpointFooterBytes);
  {
    std::ifstream in(path(), std::ios::binary);
    in.read(reinterpret_cast<char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  }
  auto u32 = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, payload.data() + at, 4);
    return v;
  };
  const std::size_t rows = u32(0), cols = u32(4);
  ASSERT_EQ(rows, 300u);
  const std::size_t head = 8 + rows * cols;         // index_dense_t's 64-byte head
  const std::size_t graph = head + 64;              // index_gt's 40-byte header
  const std::size_t nodes = graph + 40 + rows * 2;  // after one i16 level per node
  struct Mutation {
    const char* name;
    std::function<void(std::vector<unsigned char>&)> apply;
    const char* why;
  };
  const Mutation mutations[] = {
      {"rows claim 2^31 vectors", [](auto& p) { p[3] = 0x7f; }, "more than its bytes hold"},
      {"multi byte not a bool", [&](auto& p) { p[head + 41] = 2; }, "multi flag"},
      {"dimensions", [&](auto& p) { p[head + 33] ^= 1; }, "dimensions"},
      {"graph size", [&](auto& p) { p[graph] ^= 1; }, "graph nodes"},
      {"entry slot past the end", [&](auto& p) { std::memset(&p[graph + 32], 0x7f, 8); },
       "entry slot"},
      {"first node's key repeated in the second",
       [&](auto& p) {
         const std::int16_t level0 = static_cast<std::int16_t>(p[graph + 40] | p[graph + 41] << 8);
         const std::size_t node0_bytes = 10 + (4 + 32 * 4) + level0 * (4 + 16 * 4);
         std::memcpy(&p[nodes + node0_bytes], &p[nodes], 8);
       },
       "twice"},
      {"an edge to a node that does not exist",
       [&](auto& p) {
         std::uint32_t count = 1, to = 300 + 5;
         std::memcpy(&p[nodes + 10], &count, 4);
         std::memcpy(&p[nodes + 14], &to, 4);
       },
       "links to node 305"},
  };
  for (const Mutation& m : mutations) {
    std::vector<unsigned char> mutated = payload;
    m.apply(mutated);
    const std::string resealed = dir_.Join("9.usearch");
    auto file = *Env::Default()->NewWritableFile(resealed);
    index::CheckpointWriter writer(file.get());
    ASSERT_TRUE(writer.Append(mutated.data(), mutated.size()));
    auto info = *writer.Finish(identity_);
    ASSERT_TRUE(file->Close().ok());
    for (auto mode : {index::HnswIndex::LoadMode::kCopy, index::HnswIndex::LoadMode::kView}) {
      auto loaded = index::HnswIndex::LoadCheckpoint(Env::Default(), resealed, config_, identity_,
                                                     info.checksum, 2, 2, mode);
      EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << m.name;
      EXPECT_THAT(loaded.status().message(), HasSubstr(m.why)) << m.name;
    }
  }
}

// --- Memory placement (hnsw_index.cc, PlaceInHugePages) -------------------------------

/// Whether this kernel gives transparent huge pages to memory that asks for
/// them ("always" or "madvise"), and QUIVER_HUGE_PAGES does not switch it off.
bool HugePagesOffered() {
  if (const char* env = std::getenv("QUIVER_HUGE_PAGES"); env && std::string(env) == "0") {
    return false;
  }
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  return line.find("[always]") != std::string::npos || line.find("[madvise]") != std::string::npos;
}

/// This process's anonymous memory in transparent huge pages, KiB.
long AnonHugePagesKib() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "AnonHugePages:" && in >> value) return value;
  }
  return 0;
}

TEST(HnswMemoryTest, BuiltAndLoadedIndexesLiveInHugePages) {
  // Without huge pages offered, the rest still checks that the placement
  // leaves the index intact.
  const bool offered = HugePagesOffered();
  CollectionConfig config;
  config.dimensions = 96;
  config.metric = Metric::kL2sq;
  config.connectivity = 8;
  config.expansion_add = 16;
  // 40,000 x 96 float32 = 15 MiB of vectors (+ nodes): several whole 2 MiB pages.
  constexpr std::size_t kCount = 40000;
  auto vectors = ClusteredVectors(kCount, config.dimensions, 11);
  std::vector<Key> keys(kCount);
  for (Key k = 0; k < kCount; ++k) keys[k] = k;
  const long before_build = AnonHugePagesKib();
  auto built = index::HnswIndex::Create(config, 1, 2);
  ASSERT_TRUE(built.ok());
  for (std::size_t first = 0; first < kCount; first += 10000) {
    ASSERT_TRUE((*built)->AddBatch(&keys[first], &vectors[first * 96], 10000).ok());
  }
  if (offered) EXPECT_GE(AnonHugePagesKib() - before_build, 8 * 1024) << "after a build";

  TempDir dir;
  auto file = *Env::Default()->NewWritableFile(dir.Join("1.usearch"));
  const index::CheckpointIdentity identity{1, 1, kCount};
  auto info = (*built)->SaveCheckpoint(file.get(), identity);
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(file->Close().ok());
  const long before_load = AnonHugePagesKib();
  auto loaded = index::HnswIndex::LoadCheckpoint(Env::Default(), dir.Join("1.usearch"), config,
                                                 identity, info->checksum, 1, 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  if (offered) EXPECT_GE(AnonHugePagesKib() - before_load, 8 * 1024) << "after a load";

  // The same graph and vectors: both answer every query alike, and every
  // stored vector reads back as written.
  std::vector<Match> from_built, from_loaded;
  std::vector<float> stored(config.dimensions);
  for (Key k = 0; k < kCount; k += 397) {
    const float* query = &vectors[k * 96];
    ASSERT_TRUE((*built)->Search(query, 10, 64, &from_built).ok());
    ASSERT_TRUE((*loaded)->Search(query, 10, 64, &from_loaded).ok());
    ASSERT_EQ(from_built.size(), 10u);
    ASSERT_EQ(from_loaded.size(), from_built.size());
    for (std::size_t i = 0; i < from_built.size(); ++i) {
      EXPECT_EQ(from_loaded[i].key, from_built[i].key) << "query " << k << " rank " << i;
      EXPECT_EQ(from_loaded[i].distance, from_built[i].distance);
    }
    ASSERT_TRUE((*loaded)->GetVector(k, stored.data()));
    EXPECT_TRUE(std::equal(stored.begin(), stored.end(), query)) << "vector " << k;
  }
}

}  // namespace
}  // namespace quiver
