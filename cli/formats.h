// Copyright (c) Quiver authors.
//
// Readers of the vector files that `quiver import` and `quiver search` accept:
//
//   fvecs  per row: int32 d, then d float32 (the TEXMEX / ANN_SIFT format)
//   fbin   int32 n, int32 d, then n * d float32, row-major (big-ann-benchmarks)
//   npy    NumPy .npy, format versions 1 to 3, dtype '<f4', 2-D, C order
//   jsonl  one JSON object per line: {"id", "embedding", "text", "metadata"}
//
// Numbers in the binary formats are little-endian. Every reader streams: it
// holds one batch in memory, never the whole file. Every error is a Status
// whose message names the file, the row (0-based, as keys count) or the line
// (1-based, as editors count), and what was expected:
//   InvalidArgument  the file is malformed, truncated or does not fit the options
//   NotFound         the file does not exist
//   IOError          the operating system failed to read it
//
// Thread safety: a reader is used by one thread at a time.

#ifndef QUIVER_CLI_FORMATS_H_
#define QUIVER_CLI_FORMATS_H_

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quiver/record.h"
#include "quiver/status.h"

namespace quiver::cli {

enum class FileFormat { kFvecs, kFbin, kNpy, kJsonl };

/// "fvecs", "fbin", "npy" or "jsonl".
std::string_view FileFormatName(FileFormat format);

/// Parses a format name: "fvecs", "fbin", "npy", "jsonl" or its synonym
/// "ndjson". InvalidArgument listing the known names otherwise.
Result<FileFormat> ParseFileFormat(std::string_view name);

/// The format named by the extension of `path`: .fvecs, .fbin, .npy, .jsonl or
/// .ndjson (case-sensitive). InvalidArgument naming the path otherwise.
Result<FileFormat> FileFormatFromPath(const std::string& path);

/// The format named by `name` (see ParseFileFormat), or when `name` is empty,
/// by the extension of `path` (see FileFormatFromPath).
Result<FileFormat> ResolveFileFormat(std::string_view name, const std::string& path);

/// Reads a dense float32 matrix (fvecs, fbin or npy) in batches of rows.
class MatrixReader {
 public:
  /// Opens `path`, parses its header and checks up front that the file size is
  /// exactly what the header implies, so that a truncated or padded file fails
  /// here, before anything is imported. `format` must be kFvecs, kFbin or kNpy.
  static Result<MatrixReader> Open(const std::string& path, FileFormat format);

  MatrixReader(MatrixReader&&) = default;
  MatrixReader& operator=(MatrixReader&&) = default;

  const std::string& path() const { return path_; }
  /// Number of rows in the file.
  std::uint64_t rows() const { return rows_; }
  /// Floats per row. 0 only for an empty fvecs file (which has no header).
  std::uint32_t dims() const { return dims_; }
  /// Rows returned by ReadBatch so far.
  std::uint64_t rows_read() const { return rows_read_; }
  /// Bytes consumed so far and in total, for progress reports.
  std::uint64_t bytes_read() const;
  std::uint64_t file_bytes() const { return file_bytes_; }

  /// Appends the next min(max_rows, rows() - rows_read()) rows to `*values`,
  /// row-major, and returns how many rows it appended (0 at the end).
  /// InvalidArgument naming the row: an fvecs row whose d differs from the
  /// first row's, or a file that ended early (it shrank after Open).
  Result<std::size_t> ReadBatch(std::size_t max_rows, std::vector<float>* values);

 private:
  MatrixReader() = default;

  // Byte layout of the file: `header_bytes_`, then rows of `row_bytes()`.
  // fvecs rows start with their own int32 d (`row_prefix_bytes_` = 4).
  std::uint64_t row_bytes() const { return row_prefix_bytes_ + std::uint64_t{dims_} * 4; }
  Status ReadFvecsRows(std::size_t count, std::vector<float>* values);
  Status ReadPlainRows(std::size_t count, std::vector<float>* values);
  Status TruncatedAt(std::uint64_t row) const;

  std::string path_;
  FileFormat format_ = FileFormat::kFbin;
  std::ifstream file_;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t header_bytes_ = 0;
  std::uint64_t row_prefix_bytes_ = 0;
  std::uint64_t rows_ = 0;
  std::uint32_t dims_ = 0;
  std::uint64_t rows_read_ = 0;
  std::vector<char> scratch_;  // one batch of fvecs rows
};

/// Options of the readers that produce records.
struct RecordReadOptions {
  /// Required length of every embedding; 0 = any, as long as every record
  /// agrees with the first one.
  std::uint32_t dims = 0;
  /// Added to the row index (0-based) to form a record's key: matrix row r and
  /// the record on JSONL line r + 1 get key `key_offset + r`. Integer JSONL ids
  /// are keys as they stand and ignore it.
  Key key_offset = 0;
};

/// Reads records from a JSONL file: one JSON object per line,
///   {"id": 7 or "doc-7", "embedding": [0.1, ...], "text": "...", "metadata": {...}}
/// where only "embedding" (an array of finite numbers) is required, and other
/// fields are ignored. An integer "id" (0 .. 2^64 - 2) is the record's key; a
/// string "id" becomes Record::id, and the key is then key_offset + the line's
/// 0-based index, as when "id" is absent or null. "text" must be a string,
/// "metadata" an object (null = absent). Blank lines are skipped but counted.
/// Mixing integer and string ids in one file can give two records one key: the
/// later line then replaces the earlier one.
class JsonlReader {
 public:
  /// Opens `path` and parses its first record, so that dims() is known and a
  /// file that is wrong from its first line fails here.
  static Result<JsonlReader> Open(const std::string& path, const RecordReadOptions& options);

  JsonlReader(JsonlReader&&) = default;
  JsonlReader& operator=(JsonlReader&&) = default;

  const std::string& path() const { return path_; }
  /// Length of every embedding: options.dims, or the first record's when that
  /// was 0. 0 when the file holds no record.
  std::uint32_t dims() const { return dims_; }
  /// Lines consumed so far (including blank ones), and bytes, for progress.
  std::uint64_t lines_read() const { return lines_read_; }
  std::uint64_t bytes_read() const { return bytes_read_; }
  std::uint64_t file_bytes() const { return file_bytes_; }

  /// Appends up to `max_records` records to `*records` and returns how many
  /// (0 at the end). On an InvalidArgument naming the line, the records
  /// appended before it are kept in `*records`.
  Result<std::size_t> ReadBatch(std::size_t max_records, std::vector<Record>* records);

 private:
  JsonlReader() = default;

  /// The record on the next non-blank line; nullopt at the end of the file.
  Result<std::optional<Record>> ReadRecord();
  Result<Record> ParseRecord(std::string_view line, std::uint64_t line_index);
  Status LineError(std::uint64_t line_index, std::string_view message) const;

  std::string path_;
  RecordReadOptions options_;
  std::ifstream file_;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t lines_read_ = 0;
  std::uint32_t dims_ = 0;
  // Line (1-based) whose record fixed dims_ when options_.dims was 0; else 0.
  std::uint64_t dims_line_ = 0;
  // The first record, parsed by Open and returned by the first ReadBatch.
  std::optional<Record> pending_;
  std::string line_;
};

/// Any supported file as a stream of records: the common input of `import`
/// and `search`. Matrix row r becomes a record with key options.key_offset + r
/// and only an embedding; JSONL lines are read as JsonlReader describes.
class RecordReader {
 public:
  /// Opens `path` in `format` and checks its dimensions against options.dims
  /// (when not 0) and that every key fits below kReservedKey.
  static Result<RecordReader> Open(const std::string& path, FileFormat format,
                                   const RecordReadOptions& options);

  const std::string& path() const;
  /// See MatrixReader::dims and JsonlReader::dims.
  std::uint32_t dims() const;
  std::uint64_t bytes_read() const;
  std::uint64_t file_bytes() const;

  /// Appends up to `max_records` records to `*records`; returns how many (0 at
  /// the end). Errors as the underlying reader's.
  Result<std::size_t> ReadBatch(std::size_t max_records, std::vector<Record>* records);

 private:
  RecordReader(MatrixReader matrix, Key key_offset);
  explicit RecordReader(JsonlReader jsonl);

  std::variant<MatrixReader, JsonlReader> reader_;
  Key key_offset_ = 0;
  std::vector<float> values_;  // one batch of matrix rows
};

}  // namespace quiver::cli

#endif  // QUIVER_CLI_FORMATS_H_
