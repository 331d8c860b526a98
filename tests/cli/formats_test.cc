// Copyright (c) Quiver authors.
//
// The vector file readers of cli/formats.h, on small files written byte by
// byte: every format round-trips, and every malformed file fails with a
// message that names the file, the row or line, and the expectation.

#include "cli/formats.h"
#include "quiver/record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_files.h"

namespace quiver::cli {
namespace {

using ::testing::AllOf;
using testing::Bytes;
using testing::FbinBytes;
using testing::FvecsBytes;
using ::testing::HasSubstr;
using testing::NpyBytes;
using testing::NpyFloat32Bytes;
using testing::RandomMatrix;
using testing::TempDir;

constexpr std::size_t kRows = 5;
constexpr std::size_t kDims = 3;

// Reads all of `reader` in batches of `batch_rows`; fails the test on error.
std::vector<float> ReadAll(MatrixReader& reader, std::size_t batch_rows) {
  std::vector<float> values;
  while (true) {
    Result<std::size_t> rows = reader.ReadBatch(batch_rows, &values);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok() || *rows == 0) return values;
  }
}

// The error message of a Result that must have failed with InvalidArgument.
template <typename T>
std::string ErrorOf(const Result<T>& result) {
  EXPECT_FALSE(result.ok());
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << result.status().ToString();
  return result.status().message();
}

class FormatsTest : public ::testing::Test {
 protected:
  // Writes `bytes` to `name` in the temporary directory and opens it.
  Result<MatrixReader> OpenMatrix(const std::string& name, const Bytes& bytes, FileFormat format) {
    bytes.WriteTo(dir_.Path(name));
    return MatrixReader::Open(dir_.Path(name), format);
  }

  Result<JsonlReader> OpenJsonl(const std::string& text, RecordReadOptions options = {}) {
    Bytes().Text(text).WriteTo(dir_.Path("records.jsonl"));
    return JsonlReader::Open(dir_.Path("records.jsonl"), options);
  }

  // The error of the first ReadBatch of a JSONL file whose first line is valid.
  std::string JsonlBatchError(const std::string& text, RecordReadOptions options = {}) {
    Result<JsonlReader> reader = OpenJsonl(text, options);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return "";
    std::vector<Record> records;
    return ErrorOf(reader->ReadBatch(100, &records));
  }

  TempDir dir_;
  const std::vector<float> values_ = RandomMatrix(kRows, kDims);
};

TEST_F(FormatsTest, FormatFollowsTheExtensionOrTheName) {
  EXPECT_EQ(*FileFormatFromPath("a/b.fvecs"), FileFormat::kFvecs);
  EXPECT_EQ(*FileFormatFromPath("b.fbin"), FileFormat::kFbin);
  EXPECT_EQ(*FileFormatFromPath("b.npy"), FileFormat::kNpy);
  EXPECT_EQ(*FileFormatFromPath("b.jsonl"), FileFormat::kJsonl);
  EXPECT_EQ(*FileFormatFromPath("b.ndjson"), FileFormat::kJsonl);
  EXPECT_THAT(ErrorOf(FileFormatFromPath("vectors.bin")),
              AllOf(HasSubstr("vectors.bin"), HasSubstr("'.bin'"), HasSubstr("--format")));
  EXPECT_EQ(*ResolveFileFormat("fbin", "vectors.bin"), FileFormat::kFbin);
  EXPECT_THAT(ErrorOf(ParseFileFormat("csv")), HasSubstr("'csv'"));
}

TEST_F(FormatsTest, FbinRoundTripsInBatches) {
  Result<MatrixReader> reader = OpenMatrix("v.fbin", FbinBytes(values_, kDims), FileFormat::kFbin);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->rows(), kRows);
  EXPECT_EQ(reader->dims(), kDims);
  EXPECT_EQ(ReadAll(*reader, 2), values_);
  EXPECT_EQ(reader->rows_read(), kRows);
  EXPECT_EQ(reader->bytes_read(), reader->file_bytes());
}

TEST_F(FormatsTest, FvecsRoundTripsInBatches) {
  Result<MatrixReader> reader =
      OpenMatrix("v.fvecs", FvecsBytes(values_, kDims), FileFormat::kFvecs);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->rows(), kRows);
  EXPECT_EQ(reader->dims(), kDims);
  EXPECT_EQ(ReadAll(*reader, 3), values_);
  EXPECT_EQ(reader->bytes_read(), reader->file_bytes());
}

TEST_F(FormatsTest, NpyRoundTripsInEveryFormatVersion) {
  for (int version : {1, 2, 3}) {
    SCOPED_TRACE(version);
    Result<MatrixReader> reader =
        OpenMatrix("v.npy", NpyFloat32Bytes(values_, kDims, version), FileFormat::kNpy);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_EQ(reader->rows(), kRows);
    EXPECT_EQ(reader->dims(), kDims);
    EXPECT_EQ(ReadAll(*reader, 4), values_);
  }
}

TEST_F(FormatsTest, EmptyMatricesHaveNoRows) {
  Result<MatrixReader> fbin = OpenMatrix("e.fbin", FbinBytes({}, kDims), FileFormat::kFbin);
  ASSERT_TRUE(fbin.ok()) << fbin.status().ToString();
  EXPECT_EQ(fbin->rows(), 0u);
  Result<MatrixReader> fvecs = OpenMatrix("e.fvecs", Bytes(), FileFormat::kFvecs);
  ASSERT_TRUE(fvecs.ok()) << fvecs.status().ToString();
  EXPECT_EQ(fvecs->rows(), 0u);
  std::vector<float> values;
  EXPECT_EQ(*fvecs->ReadBatch(10, &values), 0u);
}

TEST_F(FormatsTest, MissingFileIsNotFound) {
  Result<MatrixReader> reader = MatrixReader::Open(dir_.Path("absent.fbin"), FileFormat::kFbin);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(reader.status().message(), HasSubstr("absent.fbin"));
}

TEST_F(FormatsTest, TruncatedFbinNamesExpectedAndActualSizeAndRow) {
  // 8 + 5 * 3 * 4 = 68 bytes announced; 6 bytes short ends inside row 4.
  const std::string error =
      ErrorOf(OpenMatrix("t.fbin", FbinBytes(values_, kDims).Chop(6), FileFormat::kFbin));
  EXPECT_THAT(error, AllOf(HasSubstr("t.fbin"), HasSubstr("truncated"), HasSubstr("68 bytes"),
                           HasSubstr("has 62 bytes"), HasSubstr("row 4")));
}

TEST_F(FormatsTest, FbinWithTrailingBytesIsRejected) {
  const std::string error =
      ErrorOf(OpenMatrix("long.fbin", FbinBytes(values_, kDims).Int32(0), FileFormat::kFbin));
  EXPECT_THAT(error, AllOf(HasSubstr("long.fbin"), HasSubstr("68 bytes"), HasSubstr("4 too many")));
}

TEST_F(FormatsTest, FbinShorterThanItsHeaderIsRejected) {
  const std::string error = ErrorOf(OpenMatrix("h.fbin", Bytes().Int32(5), FileFormat::kFbin));
  EXPECT_THAT(error, AllOf(HasSubstr("h.fbin"), HasSubstr("8-byte fbin header")));
}

TEST_F(FormatsTest, TruncatedFvecsNamesRowSize) {
  // Rows are 4 + 3 * 4 = 16 bytes; 80 - 3 = 77 bytes ends inside row 4.
  const std::string error =
      ErrorOf(OpenMatrix("t.fvecs", FvecsBytes(values_, kDims).Chop(3), FileFormat::kFvecs));
  EXPECT_THAT(error, AllOf(HasSubstr("t.fvecs"), HasSubstr("77 bytes"), HasSubstr("16-byte rows"),
                           HasSubstr("row 4")));
}

TEST_F(FormatsTest, FvecsRowWithAnotherDimensionIsRejectedAtItsRow) {
  // Row 2 claims 4 dimensions but the file size still fits rows of 3.
  Bytes bytes;
  for (std::size_t row = 0; row < kRows; ++row) {
    bytes.Int32(row == 2 ? 4 : static_cast<std::int32_t>(kDims))
        .Floats(values_.data() + row * kDims, kDims);
  }
  Result<MatrixReader> reader = OpenMatrix("d.fvecs", bytes, FileFormat::kFvecs);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<float> values;
  EXPECT_EQ(*reader->ReadBatch(2, &values), 2u);
  EXPECT_THAT(ErrorOf(reader->ReadBatch(2, &values)),
              AllOf(HasSubstr("d.fvecs"), HasSubstr("row 2 has d = 4, expected 3")));
}

TEST_F(FormatsTest, TruncatedNpyNamesExpectedAndActualSizeAndRow) {
  Bytes bytes = NpyFloat32Bytes(values_, kDims).Chop(13);
  const std::string error = ErrorOf(OpenMatrix("t.npy", bytes, FileFormat::kNpy));
  // 128 header bytes + 60 data bytes announced; 175 bytes end inside row 3.
  EXPECT_THAT(error, AllOf(HasSubstr("t.npy"), HasSubstr("truncated"), HasSubstr("188 bytes"),
                           HasSubstr("has 175 bytes"), HasSubstr("row 3")));
}

TEST_F(FormatsTest, NpyOfAnotherDtypeIsRejectedWithAConversionHint) {
  const std::vector<double> doubles(kRows * kDims, 0.5);
  Bytes bytes = NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }",
                         doubles.data(), doubles.size() * sizeof(double));
  EXPECT_THAT(ErrorOf(OpenMatrix("f8.npy", bytes, FileFormat::kNpy)),
              AllOf(HasSubstr("f8.npy"), HasSubstr("dtype '<f8'"), HasSubstr("expected '<f4'"),
                    HasSubstr("astype")));
}

TEST_F(FormatsTest, NpyThatIsNotTwoDimensionalIsRejected) {
  Bytes three_d = NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5, 3), }",
                           values_.data(), values_.size() * sizeof(float));
  EXPECT_THAT(ErrorOf(OpenMatrix("3d.npy", three_d, FileFormat::kNpy)),
              AllOf(HasSubstr("3d.npy"), HasSubstr("shape (1, 5, 3) is 3-D"),
                    HasSubstr("expected a 2-D array")));
  Bytes one_d = NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (15,), }",
                         values_.data(), values_.size() * sizeof(float));
  EXPECT_THAT(ErrorOf(OpenMatrix("1d.npy", one_d, FileFormat::kNpy)),
              HasSubstr("shape (15,) is 1-D"));
}

TEST_F(FormatsTest, FortranOrderNpyIsRejected) {
  Bytes bytes = NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (5, 3), }",
                         values_.data(), values_.size() * sizeof(float));
  EXPECT_THAT(ErrorOf(OpenMatrix("f.npy", bytes, FileFormat::kNpy)),
              AllOf(HasSubstr("f.npy"), HasSubstr("Fortran"), HasSubstr("expected C order")));
}

TEST_F(FormatsTest, NpyWithoutMagicOrWithAMalformedHeaderIsRejected) {
  EXPECT_THAT(ErrorOf(OpenMatrix("x.npy", FbinBytes(values_, kDims), FileFormat::kNpy)),
              AllOf(HasSubstr("x.npy"), HasSubstr("not an .npy file")));
  Bytes bytes = NpyBytes("{'descr': '<f4', 'shape': (5, 3)", values_.data(), 60);
  EXPECT_THAT(ErrorOf(OpenMatrix("m.npy", bytes, FileFormat::kNpy)),
              AllOf(HasSubstr("m.npy"), HasSubstr("malformed header")));
}

TEST_F(FormatsTest, FileThatShrinksWhileReadingNamesTheRow) {
  // Large enough that the stream cannot have buffered it all at Open.
  constexpr std::size_t kManyRows = 10000;
  Result<MatrixReader> reader =
      OpenMatrix("s.fbin", FbinBytes(RandomMatrix(kManyRows, kDims), kDims), FileFormat::kFbin);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::filesystem::resize_file(dir_.Path("s.fbin"), 8 + 5000 * kDims * sizeof(float) + 1);
  std::vector<float> values;
  EXPECT_THAT(ErrorOf(reader->ReadBatch(kManyRows, &values)),
              AllOf(HasSubstr("s.fbin"), HasSubstr("ended in row 5000 of 10000")));
  EXPECT_TRUE(values.empty());
}

TEST_F(FormatsTest, JsonlRoundTripsEveryField) {
  Result<JsonlReader> reader =
      OpenJsonl(R"({"id": 7, "embedding": [1, 2.5, -3], "text": "seven", "metadata": {"page": 3}})"
                "\n\n"
                R"({"id": "doc-b", "embedding": [0, 0, 1]})"
                "\n"
                R"({"embedding": [4, 5, 6], "text": null, "metadata": null, "extra": true})"
                "\r\n",
                {.dims = 0, .key_offset = 100});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->dims(), 3u);
  std::vector<Record> records;
  ASSERT_EQ(*reader->ReadBatch(10, &records), 3u);
  EXPECT_EQ(*reader->ReadBatch(10, &records), 0u);
  EXPECT_EQ(reader->lines_read(), 4u);
  EXPECT_EQ(reader->bytes_read(), reader->file_bytes());

  EXPECT_EQ(records[0].key, 7u);  // an integer id is the key, without offset
  EXPECT_EQ(records[0].id, "");
  EXPECT_EQ(records[0].text, "seven");
  EXPECT_EQ(records[0].metadata, R"({"page":3})");
  EXPECT_EQ(records[0].embedding, (std::vector<float>{1, 2.5f, -3}));
  // A string id gets the key every face gives it (the one id rule), not its line's.
  EXPECT_EQ(records[1].key, KeyForStringId("doc-b"));
  EXPECT_EQ(records[1].id, "doc-b");
  EXPECT_EQ(records[2].key, 103u);
  EXPECT_EQ(records[2].text, "");
  EXPECT_EQ(records[2].metadata, "");
}

TEST_F(FormatsTest, JsonlKeyNamesTheKeyOutright) {
  Result<JsonlReader> reader = OpenJsonl(R"({"key": 5, "id": "doc-b", "embedding": [1]})"
                                         "\n"
                                         R"({"key": 6, "id": 6, "embedding": [1]})"
                                         "\n",
                                         {.dims = 0, .key_offset = 0});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Record> records;
  ASSERT_EQ(*reader->ReadBatch(10, &records), 2u);
  EXPECT_EQ(records[0].key, 5u);  // "key" wins over the hash of the string id
  EXPECT_EQ(records[0].id, "doc-b");
  EXPECT_EQ(records[1].key, 6u);
  EXPECT_THAT(JsonlBatchError(R"({"embedding": [1]})"
                              "\n"
                              R"({"key": 5, "id": 6, "embedding": [1]})"
                              "\n"),
              HasSubstr("differs from"));
  EXPECT_THAT(JsonlBatchError(R"({"embedding": [1]})"
                              "\n"
                              R"({"key": -1, "embedding": [1]})"
                              "\n"),
              HasSubstr("\"key\" must be an integer"));
}

TEST_F(FormatsTest, JsonlWithBadJsonNamesTheLine) {
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1]}\n{\"embedding\": [1}\n"),
              AllOf(HasSubstr("records.jsonl line 2"), HasSubstr("invalid JSON at column")));
}

// Found by tests/fuzz (import_formats): nlohmann-json reports a number that
// overflows a double as out_of_range, not as a parse_error.
TEST_F(FormatsTest, JsonlNumberThatOverflowsADoubleNamesTheLine) {
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1]}\n{\"embedding\": [1e999]}\n"),
              AllOf(HasSubstr("records.jsonl line 2"), HasSubstr("number overflow")));
}

TEST_F(FormatsTest, JsonlErrorsOnTheFirstLineFailOpen) {
  EXPECT_THAT(
      ErrorOf(OpenJsonl("[1, 2]\n")),
      AllOf(HasSubstr("records.jsonl line 1"), HasSubstr("expected a JSON object, got array")));
}

TEST_F(FormatsTest, JsonlWithoutEmbeddingNamesTheField) {
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1]}\n{\"metadata\": {}}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("missing \"embedding\""),
                    HasSubstr("no \"text\" to embed")));
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1]}\n{\"text\": \"\", \"embedding\": null}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("missing \"embedding\"")));
  EXPECT_THAT(
      JsonlBatchError("{\"embedding\": [1]}\n{\"embedding\": [\"x\"]}\n"),
      AllOf(HasSubstr("line 2"), HasSubstr("\"embedding\"[0] must be a number, got string")));
}

TEST_F(FormatsTest, JsonlTextWithoutEmbeddingIsLeftForTheCollectionToEmbed) {
  Result<JsonlReader> reader = OpenJsonl(R"({"id": "a", "text": "embed me"})"
                                         "\n"
                                         R"({"id": "b", "embedding": [1, 2], "text": "has one"})"
                                         "\n");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Record> records;
  ASSERT_EQ(*reader->ReadBatch(10, &records), 2u);
  EXPECT_TRUE(records[0].embedding.empty());
  EXPECT_EQ(records[0].text, "embed me");
  EXPECT_EQ(records[1].embedding, (std::vector<float>{1, 2}));
  // A text-only line fixes no dimensions; the first embedding does.
  EXPECT_EQ(reader->dims(), 2u);
}

TEST_F(FormatsTest, JsonlMetadataMustBeAnObject) {
  EXPECT_THAT(
      JsonlBatchError("{\"embedding\": [1]}\n{\"embedding\": [1], \"metadata\": [1]}\n"),
      AllOf(HasSubstr("line 2"), HasSubstr("\"metadata\" must be a JSON object, got array")));
}

TEST_F(FormatsTest, JsonlEmbeddingsMustAgreeInDimensions) {
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1, 2]}\n\n{\"embedding\": [1, 2, 3]}\n"),
              AllOf(HasSubstr("line 3"), HasSubstr("has 3 values, expected 2 (as on line 1)")));
  EXPECT_THAT(ErrorOf(OpenJsonl("{\"embedding\": [1, 2]}\n", {.dims = 4, .key_offset = 0})),
              AllOf(HasSubstr("line 1"), HasSubstr("has 2 values, expected 4")));
}

TEST_F(FormatsTest, JsonlIdsMustBeKeysOrStrings) {
  EXPECT_THAT(JsonlBatchError("{\"embedding\": [1]}\n{\"id\": -1, \"embedding\": [1]}\n"),
              AllOf(HasSubstr("line 2"), HasSubstr("\"id\" -1 is negative")));
  EXPECT_THAT(
      JsonlBatchError("{\"embedding\": [1]}\n{\"id\": 1.5, \"embedding\": [1]}\n"),
      AllOf(HasSubstr("line 2"), HasSubstr("\"id\" must be an integer (the key) or a string")));
}

TEST_F(FormatsTest, RecordReaderKeysMatrixRowsFromTheOffset) {
  FbinBytes(values_, kDims).WriteTo(dir_.Path("v.fbin"));
  Result<RecordReader> reader = RecordReader::Open(dir_.Path("v.fbin"), FileFormat::kFbin,
                                                   {.dims = kDims, .key_offset = 1000});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Record> records;
  ASSERT_EQ(*reader->ReadBatch(3, &records), 3u);
  ASSERT_EQ(*reader->ReadBatch(3, &records), 2u);
  for (std::size_t row = 0; row < kRows; ++row) {
    EXPECT_EQ(records[row].key, 1000 + row);
    EXPECT_EQ(records[row].embedding, std::vector<float>(values_.begin() + row * kDims,
                                                         values_.begin() + (row + 1) * kDims));
  }
}

TEST_F(FormatsTest, RecordReaderChecksDimensionsAndKeyRange) {
  FbinBytes(values_, kDims).WriteTo(dir_.Path("v.fbin"));
  EXPECT_THAT(ErrorOf(RecordReader::Open(dir_.Path("v.fbin"), FileFormat::kFbin,
                                         {.dims = 8, .key_offset = 0})),
              AllOf(HasSubstr("v.fbin"), HasSubstr("rows have 3 dimensions, expected 8")));
  EXPECT_THAT(ErrorOf(RecordReader::Open(dir_.Path("v.fbin"), FileFormat::kFbin,
                                         {.dims = 0, .key_offset = kReservedKey - 2})),
              HasSubstr("pass the largest key"));
}

}  // namespace
}  // namespace quiver::cli
