// Copyright (c) Quiver authors.
//
// Unit tests of the on-disk names (util/layout.h) and of the checkpoint file
// format on an opaque payload (index/checkpoint_file.h), without USearch.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "common/test_util.h"
#include "index/checkpoint_file.h"
#include "util/layout.h"

namespace quiver {
namespace {

using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

TEST(LayoutTest, NamesEveryFileOfAStore) {
  EXPECT_EQ(layout::DatabasePath("/data"), "/data/quiver.db");
  EXPECT_EQ(layout::LockPath("/data"), "/data/LOCK");
  EXPECT_EQ(layout::IndexesDir("rel"), "rel/indexes");
  EXPECT_EQ(layout::IndexDir("/data", 12), "/data/indexes/12");
  EXPECT_EQ(layout::CheckpointFileName(3), "3.usearch");
  EXPECT_EQ(layout::CheckpointPath("/data/indexes/12", 3), "/data/indexes/12/3.usearch");
  EXPECT_EQ(layout::TempPath("/data/indexes/12/3.usearch"), "/data/indexes/12/3.usearch.tmp");
}

TEST(LayoutTest, ParsesOnlyWhatItNames) {
  for (std::uint64_t g : {std::uint64_t{1}, std::uint64_t{42}, ~std::uint64_t{0}}) {
    auto file = layout::ParseIndexFileName(layout::CheckpointFileName(g));
    ASSERT_TRUE(file.has_value()) << g;
    EXPECT_EQ(file->kind, layout::IndexFileKind::kCheckpoint);
    EXPECT_EQ(file->generation, g);
    auto temp = layout::ParseIndexFileName(layout::TempPath(layout::CheckpointFileName(g)));
    ASSERT_TRUE(temp.has_value()) << g;
    EXPECT_EQ(temp->kind, layout::IndexFileKind::kTempCheckpoint);
    EXPECT_EQ(temp->generation, g);
  }
  for (const char* foreign :
       {"", ".usearch", "0.usearch", "007.usearch", "-1.usearch", "+1.usearch", "1.usearch.bak",
        "x1.usearch", "1x.usearch", "18446744073709551616.usearch", "1.tmp", "notes.txt",
        "1.usearch.tmp.tmp"}) {
    EXPECT_FALSE(layout::ParseIndexFileName(foreign).has_value()) << foreign;
  }
  EXPECT_EQ(layout::ParseIndexDirName("7"), 7);
  for (const char* foreign : {"", "0", "07", "-7", "7a", "scratch", "9223372036854775808"}) {
    EXPECT_FALSE(layout::ParseIndexDirName(foreign).has_value()) << foreign;
  }
}

// A payload written in pieces of every size class (empty, small, across the
// 1 MiB buffer, larger than it) verifies, and reads back byte for byte.
class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    payload_.resize((3 << 20) + 12345);
    std::iota(payload_.begin(), payload_.end(), static_cast<unsigned char>(1));
    auto file = *Env::Default()->NewWritableFile(path());
    index::CheckpointWriter writer(file.get());
    std::size_t at = 0;
    for (std::size_t piece :
         {std::size_t{0}, std::size_t{7}, std::size_t{(1 << 20) - 3}, std::size_t{(3 << 20) / 2}}) {
      ASSERT_TRUE(writer.Append(payload_.data() + at, piece));
      at += piece;
    }
    ASSERT_TRUE(writer.Append(payload_.data() + at, payload_.size() - at));
    auto info = writer.Finish(identity_);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    info_ = *info;
    ASSERT_TRUE(file->Close().ok());
  }
  std::string path() const { return dir_.Join("5.usearch"); }
  Result<index::CheckpointFooter> Verify(const index::PayloadCheck& check = nullptr) {
    return index::VerifyCheckpointFile(Env::Default(), path(), identity_, info_.checksum, check);
  }

  TempDir dir_;
  std::vector<unsigned char> payload_;
  index::CheckpointIdentity identity_{3, 5, 1234};
  index::CheckpointInfo info_;
};

TEST_F(CheckpointFileTest, VerifiesAndReadsBackThePayload) {
  EXPECT_EQ(info_.file_bytes, payload_.size() + index::kCheckpointFooterBytes);
  EXPECT_EQ(info_.file_bytes, std::filesystem::file_size(path()));
  EXPECT_EQ(info_.checksum, Checksum64(payload_.data(), payload_.size()));
  // The payload check sees the payload's bytes; the rest is still checksummed.
  std::vector<unsigned char> head(100);
  auto verified = Verify([&](index::CheckpointPayloadReader* payload) {
    EXPECT_TRUE(payload->Read(head.data(), head.size()));
    EXPECT_TRUE(payload->Skip(1 << 20));
    return Status::Ok();
  });
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload_bytes, payload_.size());
  EXPECT_EQ(verified->generation, 5u);
  EXPECT_EQ(head, std::vector<unsigned char>(payload_.begin(), payload_.begin() + 100));
  // What the check refuses is Corruption, naming the file.
  auto refused = Verify([](index::CheckpointPayloadReader*) {
    return Status::Corruption("not the expected structure");
  });
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(refused.status().message(), HasSubstr("5.usearch: not the expected structure"));

  auto reader = *index::CheckpointPayloadReader::Open(Env::Default(), path(), payload_.size());
  std::vector<unsigned char> back(payload_.size());
  std::size_t at = 0;
  EXPECT_TRUE(reader->Read(nullptr, 0));  // USearch may pass a null buffer for 0 bytes
  for (std::size_t piece : {std::size_t{1}, std::size_t{4096}, std::size_t{2 << 20}}) {
    ASSERT_TRUE(reader->Read(back.data() + at, piece));
    at += piece;
  }
  ASSERT_TRUE(reader->Read(back.data() + at, back.size() - at));
  EXPECT_EQ(back, payload_);
  EXPECT_EQ(reader->remaining(), 0u);
  unsigned char beyond = 0;
  EXPECT_FALSE(reader->Read(&beyond, 1)) << "the footer is not payload";
}

TEST_F(CheckpointFileTest, RefusesAnyChangedByteAndAnotherIdentity) {
  const auto size = std::filesystem::file_size(path());
  for (std::uintmax_t at : {std::uintmax_t{0}, std::uintmax_t{1 << 20}, size - 64, size - 1}) {
    std::fstream f(path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(at));
    c = static_cast<char>(c ^ 0x20);
    f.write(&c, 1);
    f.close();
    EXPECT_EQ(Verify().status().code(), StatusCode::kCorruption) << "byte " << at;
    std::fstream g(path(), std::ios::in | std::ios::out | std::ios::binary);
    c = static_cast<char>(c ^ 0x20);
    g.seekp(static_cast<std::streamoff>(at));
    g.write(&c, 1);
  }
  ASSERT_TRUE(Verify().ok());
  EXPECT_THAT(index::VerifyCheckpointFile(Env::Default(), path(), {3, 6, 1234}, info_.checksum)
                  .status()
                  .message(),
              HasSubstr("foreign"));
  EXPECT_EQ(index::VerifyCheckpointFile(Env::Default(), dir_.Join("missing.usearch"), identity_,
                                        info_.checksum)
                .status()
                .code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace quiver
