// Copyright (c) Quiver authors.

#include "cli/formats.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

namespace quiver::cli {

// The binary formats are little-endian and are read with memcpy.
static_assert(std::endian::native == std::endian::little,
              "the vector file readers assume a little-endian host");

namespace {

using nlohmann::json;

constexpr std::uint64_t kFloatBytes = sizeof(float);
constexpr std::uint64_t kInt32Bytes = sizeof(std::int32_t);
constexpr Key kLargestKey = kReservedKey - 1;

std::int32_t LoadInt32(const char* bytes) {
  std::int32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

// Opens a regular file for binary reading and returns its size in `*size`.
// NotFound when it does not exist; InvalidArgument when it is not a regular
// file (a reader must know the size up front); IOError otherwise.
Status OpenRegularFile(const std::string& path, std::ifstream* file, std::uint64_t* size) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) return Status::NotFound(path + ": no such file");
  if (!std::filesystem::is_regular_file(status)) {
    return Status::InvalidArgument(path + ": not a regular file");
  }
  *size = std::filesystem::file_size(path, error);
  if (error) return Status::IOError(fmt::format("{}: {}", path, error.message()));
  file->open(path, std::ios::binary);
  if (!file->is_open()) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  return Status::Ok();
}

// Reads exactly `n` bytes; false if the file ends first.
bool ReadExactly(std::ifstream& file, char* buffer, std::uint64_t n) {
  file.read(buffer, static_cast<std::streamsize>(n));
  return static_cast<std::uint64_t>(file.gcount()) == n;
}

// The byte layout of a matrix file: a header, then `rows` rows of
// `prefix_bytes` (fvecs: the row's own int32 d) plus `dims` float32.
struct MatrixLayout {
  std::uint64_t header_bytes = 0;
  std::uint64_t prefix_bytes = 0;
  std::uint64_t rows = 0;
  std::uint32_t dims = 0;

  std::uint64_t row_bytes() const { return prefix_bytes + std::uint64_t{dims} * kFloatBytes; }
};

// Checks that a file of `file_bytes` bytes holds exactly the rows `layout`
// announces. A shorter file names the row in which it ends.
Status CheckMatrixSize(const std::string& path, const MatrixLayout& layout,
                       std::uint64_t file_bytes) {
  const std::uint64_t row_bytes = layout.row_bytes();
  const std::uint64_t max_rows = (std::numeric_limits<std::uint64_t>::max() - layout.header_bytes) /
                                 std::max<std::uint64_t>(row_bytes, 1);
  if (layout.rows > max_rows) {
    return Status::InvalidArgument(
        fmt::format("{}: the header announces {} rows of {} dimensions, more than any file holds",
                    path, layout.rows, layout.dims));
  }
  const std::uint64_t expected = layout.header_bytes + layout.rows * row_bytes;
  if (file_bytes == expected) return Status::Ok();
  const std::string announced =
      fmt::format("the header announces {} rows of {} float32, which take {} bytes", layout.rows,
                  layout.dims, expected);
  if (file_bytes < expected) {
    const std::uint64_t complete_rows = (file_bytes - layout.header_bytes) / row_bytes;
    return Status::InvalidArgument(
        fmt::format("{}: truncated: {}, but the file has {} bytes and ends in row {}", path,
                    announced, file_bytes, complete_rows));
  }
  return Status::InvalidArgument(fmt::format("{}: {}, but the file has {} bytes ({} too many)",
                                             path, announced, file_bytes, file_bytes - expected));
}

// fvecs has no file header: every row starts with its int32 d. The first row's
// d fixes the layout, and the size must be a whole number of such rows.
Result<MatrixLayout> ReadFvecsLayout(const std::string& path, std::ifstream& file,
                                     std::uint64_t file_bytes) {
  MatrixLayout layout;
  layout.prefix_bytes = kInt32Bytes;
  if (file_bytes == 0) return layout;
  char bytes[kInt32Bytes];
  if (!ReadExactly(file, bytes, sizeof(bytes))) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} bytes is shorter than the int32 d that starts an fvecs row", path, file_bytes));
  }
  const std::int32_t d = LoadInt32(bytes);
  if (d <= 0) {
    return Status::InvalidArgument(
        fmt::format("{}: row 0 has d = {}: expected a positive dimension count", path, d));
  }
  layout.dims = static_cast<std::uint32_t>(d);
  file.seekg(0);
  const std::uint64_t row_bytes = layout.row_bytes();
  if (file_bytes % row_bytes != 0) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} bytes is not a whole number of {}-byte rows (int32 d = {}, then {} float32): "
        "truncated in row {}, or rows differ in d",
        path, file_bytes, row_bytes, d, d, file_bytes / row_bytes));
  }
  layout.rows = file_bytes / row_bytes;
  return layout;
}

// fbin: int32 rows, int32 dims, then the rows.
Result<MatrixLayout> ReadFbinLayout(const std::string& path, std::ifstream& file,
                                    std::uint64_t file_bytes) {
  char bytes[2 * kInt32Bytes];
  if (!ReadExactly(file, bytes, sizeof(bytes))) {
    return Status::InvalidArgument(
        fmt::format("{}: {} bytes is shorter than the 8-byte fbin header (int32 rows, int32 dims)",
                    path, file_bytes));
  }
  const std::int32_t rows = LoadInt32(bytes);
  const std::int32_t dims = LoadInt32(bytes + kInt32Bytes);
  if (rows < 0 || dims < 0 || (rows > 0 && dims == 0)) {
    return Status::InvalidArgument(
        fmt::format("{}: the header says {} rows of {} dimensions: expected rows >= 0 and dims > 0",
                    path, rows, dims));
  }
  MatrixLayout layout;
  layout.header_bytes = sizeof(bytes);
  layout.rows = static_cast<std::uint64_t>(rows);
  layout.dims = static_cast<std::uint32_t>(dims);
  return layout;
}

// The fields of an .npy header that Quiver needs.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Parses the Python dict literal of an .npy header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2000, 128), }
// Only what numpy writes there is accepted: string keys; string, True/False
// and integer-tuple values. Errors are InvalidArgument without the file name.
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(std::string_view text) : text_(text) {}

  Result<NpyHeader> Parse() {
    NpyHeader header;
    bool has_descr = false, has_order = false, has_shape = false;
    if (!Consume('{')) return Error("expected '{'");
    while (!Consume('}')) {
      std::string key;
      if (!ParseString(&key)) return Error("expected a quoted key");
      if (!Consume(':')) return Error("expected ':'");
      bool parsed = false;
      if (key == "descr") {
        parsed = has_descr = ParseString(&header.descr);
      } else if (key == "fortran_order") {
        parsed = has_order = ParseBool(&header.fortran_order);
      } else if (key == "shape") {
        parsed = has_shape = ParseShape(&header.shape);
      } else {
        return Error(fmt::format("unknown key '{}'", key));
      }
      if (!parsed) return Error(fmt::format("unsupported value of '{}'", key));
      if (!Consume(',') && !LookingAt('}')) return Error("expected ',' or '}'");
    }
    if (!has_descr || !has_order || !has_shape) {
      return Error("expected the keys 'descr', 'fortran_order' and 'shape'");
    }
    return header;
  }

 private:
  Status Error(std::string_view message) const {
    return Status::InvalidArgument(
        fmt::format("malformed header at byte {} of \"{}\": {}", pos_, text_, message));
  }

  void SkipSpaces() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  bool LookingAt(char c) {
    SkipSpaces();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool Consume(char c) {
    if (!LookingAt(c)) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(std::string_view word) {
    SkipSpaces();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // A string in single or double quotes, without escapes (numpy writes none).
  bool ParseString(std::string* out) {
    SkipSpaces();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_];
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return false;
    *out = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return true;
  }

  bool ParseBool(bool* out) {
    if (ConsumeWord("True")) {
      *out = true;
    } else if (ConsumeWord("False")) {
      *out = false;
    } else {
      return false;
    }
    return true;
  }

  bool ParseUnsigned(std::uint64_t* out) {
    SkipSpaces();
    const std::size_t start = pos_;
    std::uint64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 long suffix
    *out = value;
    return pos_ > start;
  }

  // A tuple of integers: "()", "(5,)", "(2000, 128)".
  bool ParseShape(std::vector<std::uint64_t>* shape) {
    if (!Consume('(')) return false;
    while (!Consume(')')) {
      std::uint64_t extent;
      if (!ParseUnsigned(&extent)) return false;
      shape->push_back(extent);
      if (!Consume(',') && !LookingAt(')')) return false;
    }
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// "(2000,)", "(2000, 128)", as numpy prints shapes.
std::string ShapeToString(const std::vector<std::uint64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// Checks that an .npy header describes what Quiver reads: a C-order 2-D array
// of little-endian float32.
Status CheckNpyHeader(const NpyHeader& header) {
  if (header.descr != "<f4") {
    return Status::InvalidArgument(
        fmt::format("dtype '{}' is not supported: expected '<f4' (little-endian float32); "
                    "convert with numpy: array.astype('<f4')",
                    header.descr));
  }
  if (header.fortran_order) {
    return Status::InvalidArgument(
        "the array is in Fortran (column-major) order: expected C order; convert with numpy: "
        "numpy.ascontiguousarray(array)");
  }
  if (header.shape.size() != 2) {
    return Status::InvalidArgument(
        fmt::format("shape {} is {}-D: expected a 2-D array (rows, dimensions)",
                    ShapeToString(header.shape), header.shape.size()));
  }
  const std::uint64_t dims = header.shape[1];
  if (dims > std::numeric_limits<std::uint32_t>::max() || (dims == 0 && header.shape[0] > 0)) {
    return Status::InvalidArgument(fmt::format("shape {} has {} dimensions: expected 1 to {}",
                                               ShapeToString(header.shape), dims,
                                               std::numeric_limits<std::uint32_t>::max()));
  }
  return Status::Ok();
}

// .npy: magic "\x93NUMPY", version major.minor, header length (uint16 in
// version 1, uint32 in versions 2 and 3), then the header dict, then the data.
Result<MatrixLayout> ReadNpyLayout(const std::string& path, std::ifstream& file,
                                   std::uint64_t file_bytes) {
  constexpr std::string_view kMagic = "\x93NUMPY";
  char prefix[12];
  if (!ReadExactly(file, prefix, 10) || std::string_view(prefix, kMagic.size()) != kMagic) {
    return Status::InvalidArgument(path + ": not an .npy file (no \\x93NUMPY magic)");
  }
  const auto major = static_cast<unsigned char>(prefix[6]);
  if (major < 1 || major > 3) {
    return Status::InvalidArgument(fmt::format(
        "{}: .npy format version {} is not supported: expected 1, 2 or 3", path, major));
  }
  std::uint64_t header_length = 0;
  std::uint64_t prefix_bytes = 10;
  if (major == 1) {
    header_length = static_cast<unsigned char>(prefix[8]) |
                    (std::uint64_t{static_cast<unsigned char>(prefix[9])} << 8);
  } else {
    prefix_bytes = 12;
    if (!ReadExactly(file, prefix + 10, 2)) {
      return Status::InvalidArgument(path + ": truncated .npy header");
    }
    std::uint32_t length;
    std::memcpy(&length, prefix + 8, sizeof(length));
    header_length = length;
  }
  if (prefix_bytes + header_length > file_bytes) {
    return Status::InvalidArgument(
        fmt::format("{}: truncated .npy header: it announces {} bytes, the file has {}", path,
                    prefix_bytes + header_length, file_bytes));
  }
  std::string text(header_length, '\0');
  if (!ReadExactly(file, text.data(), header_length)) {
    return Status::IOError(path + ": could not read the .npy header");
  }
  Result<NpyHeader> header = NpyHeaderParser(text).Parse();
  Status status = header.ok() ? CheckNpyHeader(*header) : header.status();
  if (!status.ok()) return status.WithContext(path);

  MatrixLayout layout;
  layout.header_bytes = prefix_bytes + header_length;
  layout.rows = header->shape[0];
  layout.dims = static_cast<std::uint32_t>(header->shape[1]);
  return layout;
}

// "column 12: syntax error while parsing value - invalid literal; last read:
// 'tru'" from nlohmann's "[json.exception.parse_error.101] parse error at line
// 1, column 12: syntax error ...". A JSONL line is one line, so drop "line 1".
std::string DescribeParseError(const json::parse_error& error) {
  const std::string what = error.what();
  const std::size_t detail = what.find(": ", what.find("column"));
  if (detail == std::string::npos) return what;
  return fmt::format("column {}: {}", error.byte, what.substr(detail + 2));
}

// The key and external id of a JSONL record (see JsonlReader). `line_key` is
// the key the line gets when "id" is not an integer.
Status ParseKeyAndId(const json& object, Key line_key, Record* record) {
  record->key = line_key;
  // "key" (what `quiver export` writes) names the key outright; then a string
  // "id" is only the record's id, whatever key it would hash to.
  const auto key = object.find("key");
  const bool has_key = key != object.end() && !key->is_null();
  if (has_key) {
    if (!key->is_number_unsigned() || key->get<Key>() == kReservedKey) {
      return Status::InvalidArgument(
          fmt::format("\"key\" must be an integer 0 to {}, got {}", kLargestKey, key->dump()));
    }
    record->key = key->get<Key>();
  }
  const auto id = object.find("id");
  if (id == object.end() || id->is_null()) return Status::Ok();
  if (id->is_number_unsigned()) {
    if (has_key && id->get<Key>() != record->key) {
      return Status::InvalidArgument(
          fmt::format("integer \"id\" {} differs from \"key\" {}", id->get<Key>(), record->key));
    }
    record->key = id->get<Key>();
    if (record->key == kReservedKey) {
      return Status::InvalidArgument(fmt::format(
          "\"id\" {} is reserved: integer ids are keys, 0 to {}", record->key, kLargestKey));
    }
    return Status::Ok();
  }
  if (id->is_string()) {
    record->id = id->get<std::string>();
    if (record->id.empty()) return Status::InvalidArgument("\"id\" is an empty string");
    // The one id rule of every face (quiver/record.h): a string id's key is its hash.
    if (!has_key) record->key = KeyForStringId(record->id);
    return Status::Ok();
  }
  if (id->is_number_integer()) {
    return Status::InvalidArgument(
        fmt::format("\"id\" {} is negative: integer ids are keys, 0 to {}", id->get<std::int64_t>(),
                    kLargestKey));
  }
  return Status::InvalidArgument(
      fmt::format("\"id\" must be an integer (the key) or a string, got {}", id->type_name()));
}

Status ParseEmbedding(const json& object, std::vector<float>* embedding) {
  const auto values = object.find("embedding");
  if (values == object.end() || values->is_null()) {
    return Status::InvalidArgument("missing \"embedding\" (an array of numbers)");
  }
  if (!values->is_array()) {
    return Status::InvalidArgument(
        fmt::format("\"embedding\" must be an array of numbers, got {}", values->type_name()));
  }
  if (values->empty()) return Status::InvalidArgument("\"embedding\" is empty");
  embedding->reserve(values->size());
  for (const json& value : *values) {
    const std::size_t i = embedding->size();
    if (!value.is_number()) {
      return Status::InvalidArgument(
          fmt::format("\"embedding\"[{}] must be a number, got {}", i, value.type_name()));
    }
    const auto component = static_cast<float>(value.get<double>());
    if (!std::isfinite(component)) {
      return Status::InvalidArgument(
          fmt::format("\"embedding\"[{}] = {} is not a finite float32", i, value.dump()));
    }
    embedding->push_back(component);
  }
  return Status::Ok();
}

Status ParseTextAndMetadata(const json& object, Record* record) {
  const auto text = object.find("text");
  if (text != object.end() && !text->is_null()) {
    if (!text->is_string()) {
      return Status::InvalidArgument(
          fmt::format("\"text\" must be a string, got {}", text->type_name()));
    }
    record->text = text->get<std::string>();
  }
  const auto metadata = object.find("metadata");
  if (metadata != object.end() && !metadata->is_null()) {
    if (!metadata->is_object()) {
      return Status::InvalidArgument(
          fmt::format("\"metadata\" must be a JSON object, got {}", metadata->type_name()));
    }
    record->metadata = metadata->dump();
  }
  return Status::Ok();
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

std::string_view FileFormatName(FileFormat format) {
  switch (format) {
    case FileFormat::kFvecs:
      return "fvecs";
    case FileFormat::kFbin:
      return "fbin";
    case FileFormat::kNpy:
      return "npy";
    case FileFormat::kJsonl:
      return "jsonl";
  }
  return "unknown";
}

Result<FileFormat> ParseFileFormat(std::string_view name) {
  for (FileFormat format :
       {FileFormat::kFvecs, FileFormat::kFbin, FileFormat::kNpy, FileFormat::kJsonl}) {
    if (name == FileFormatName(format)) return format;
  }
  if (name == "ndjson") return FileFormat::kJsonl;
  return Status::InvalidArgument(
      fmt::format("unknown format '{}': expected fvecs, fbin, npy, jsonl or ndjson", name));
}

Result<FileFormat> FileFormatFromPath(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  Result<FileFormat> format = ParseFileFormat(extension.empty() ? "" : extension.substr(1));
  if (format.ok()) return format;
  return Status::InvalidArgument(
      fmt::format("{}: cannot tell the format from the extension '{}': expected .fvecs, .fbin, "
                  ".npy, .jsonl or .ndjson, or pass --format",
                  path, extension));
}

Result<FileFormat> ResolveFileFormat(std::string_view name, const std::string& path) {
  return name.empty() ? FileFormatFromPath(path) : ParseFileFormat(name);
}

// --- MatrixReader

Result<MatrixReader> MatrixReader::Open(const std::string& path, FileFormat format) {
  MatrixReader reader;
  reader.path_ = path;
  reader.format_ = format;
  Status opened = OpenRegularFile(path, &reader.file_, &reader.file_bytes_);
  if (!opened.ok()) return opened;

  Result<MatrixLayout> layout = Status::InvalidArgument(
      fmt::format("{}: {} is not a matrix format", path, FileFormatName(format)));
  switch (format) {
    case FileFormat::kFvecs:
      layout = ReadFvecsLayout(path, reader.file_, reader.file_bytes_);
      break;
    case FileFormat::kFbin:
      layout = ReadFbinLayout(path, reader.file_, reader.file_bytes_);
      break;
    case FileFormat::kNpy:
      layout = ReadNpyLayout(path, reader.file_, reader.file_bytes_);
      break;
    case FileFormat::kJsonl:
      break;
  }
  if (!layout.ok()) return layout.status();
  Status sized = CheckMatrixSize(path, *layout, reader.file_bytes_);
  if (!sized.ok()) return sized;

  reader.header_bytes_ = layout->header_bytes;
  reader.row_prefix_bytes_ = layout->prefix_bytes;
  reader.rows_ = layout->rows;
  reader.dims_ = layout->dims;
  return reader;
}

std::uint64_t MatrixReader::bytes_read() const { return header_bytes_ + rows_read_ * row_bytes(); }

Result<std::size_t> MatrixReader::ReadBatch(std::size_t max_rows, std::vector<float>* values) {
  const auto count =
      static_cast<std::size_t>(std::min<std::uint64_t>(max_rows, rows_ - rows_read_));
  if (count == 0) return std::size_t{0};
  Status read =
      format_ == FileFormat::kFvecs ? ReadFvecsRows(count, values) : ReadPlainRows(count, values);
  if (!read.ok()) return read;
  rows_read_ += count;
  return count;
}

Status MatrixReader::ReadPlainRows(std::size_t count, std::vector<float>* values) {
  const std::size_t old_size = values->size();
  values->resize(old_size + count * dims_);
  const std::uint64_t bytes = count * row_bytes();
  file_.read(reinterpret_cast<char*>(values->data() + old_size),
             static_cast<std::streamsize>(bytes));
  const auto got = static_cast<std::uint64_t>(file_.gcount());
  if (got == bytes) return Status::Ok();
  values->resize(old_size);
  return TruncatedAt(rows_read_ + got / row_bytes());
}

Status MatrixReader::ReadFvecsRows(std::size_t count, std::vector<float>* values) {
  const std::uint64_t row_size = row_bytes();
  scratch_.resize(count * row_size);
  if (!ReadExactly(file_, scratch_.data(), scratch_.size())) {
    return TruncatedAt(rows_read_ + static_cast<std::uint64_t>(file_.gcount()) / row_size);
  }
  const std::size_t old_size = values->size();
  values->resize(old_size + count * dims_);
  for (std::size_t i = 0; i < count; ++i) {
    const char* row = scratch_.data() + i * row_size;
    const std::int32_t d = LoadInt32(row);
    if (d != static_cast<std::int32_t>(dims_)) {
      values->resize(old_size);
      return Status::InvalidArgument(fmt::format("{}: row {} has d = {}, expected {} (as row 0)",
                                                 path_, rows_read_ + i, d, dims_));
    }
    std::memcpy(values->data() + old_size + i * dims_, row + row_prefix_bytes_,
                dims_ * kFloatBytes);
  }
  return Status::Ok();
}

Status MatrixReader::TruncatedAt(std::uint64_t row) const {
  if (file_.bad()) return Status::IOError(fmt::format("{}: read failed in row {}", path_, row));
  return Status::InvalidArgument(
      fmt::format("{}: the file ended in row {} of {} (it is shorter than when it was opened)",
                  path_, row, rows_));
}

// --- JsonlReader

Result<JsonlReader> JsonlReader::Open(const std::string& path, const RecordReadOptions& options) {
  JsonlReader reader;
  reader.path_ = path;
  reader.options_ = options;
  reader.dims_ = options.dims;
  Status opened = OpenRegularFile(path, &reader.file_, &reader.file_bytes_);
  if (!opened.ok()) return opened;
  Result<std::optional<Record>> first = reader.ReadRecord();
  if (!first.ok()) return first.status();
  reader.pending_ = std::move(*first);
  return reader;
}

Result<std::size_t> JsonlReader::ReadBatch(std::size_t max_records, std::vector<Record>* records) {
  std::size_t added = 0;
  if (pending_.has_value() && max_records > 0) {
    records->push_back(std::move(*pending_));
    pending_.reset();
    ++added;
  }
  while (added < max_records) {
    Result<std::optional<Record>> next = ReadRecord();
    if (!next.ok()) return next.status();
    if (!next->has_value()) break;
    records->push_back(std::move(**next));
    ++added;
  }
  return added;
}

Result<std::optional<Record>> JsonlReader::ReadRecord() {
  while (std::getline(file_, line_)) {
    const std::uint64_t line_index = lines_read_++;
    bytes_read_ = std::min(file_bytes_, bytes_read_ + line_.size() + 1);
    if (IsBlank(line_)) continue;
    Result<Record> record = ParseRecord(line_, line_index);
    if (!record.ok()) return record.status();
    return std::optional<Record>(std::move(*record));
  }
  if (file_.bad()) {
    return Status::IOError(fmt::format("{}: read failed after line {}", path_, lines_read_));
  }
  return std::optional<Record>();
}

Result<Record> JsonlReader::ParseRecord(std::string_view line, std::uint64_t line_index) {
  json object;
  try {
    object = json::parse(line.begin(), line.end());
  } catch (const json::parse_error& error) {
    return LineError(line_index, "invalid JSON at " + DescribeParseError(error));
  } catch (const json::exception& error) {  // e.g. a number that overflows a double: 1e999
    return LineError(line_index, std::string("invalid JSON: ") + error.what());
  }
  if (!object.is_object()) {
    return LineError(line_index, fmt::format("expected a JSON object, got {}", object.type_name()));
  }
  if (line_index > kLargestKey - options_.key_offset) {
    return LineError(line_index, fmt::format("key offset {} + line index {} passes the largest key",
                                             options_.key_offset, line_index));
  }
  Record record;
  Status parsed = ParseKeyAndId(object, options_.key_offset + line_index, &record);
  if (parsed.ok()) parsed = ParseTextAndMetadata(object, &record);
  // A line with text and no "embedding" is embedded by the collection's model.
  const auto embedding = object.find("embedding");
  const bool text_only =
      !record.text.empty() && (embedding == object.end() || embedding->is_null());
  if (parsed.ok() && !text_only) {
    parsed = ParseEmbedding(object, &record.embedding);
    if (!parsed.ok() && (embedding == object.end() || embedding->is_null())) {
      parsed = Status::InvalidArgument(
          "missing \"embedding\" (an array of numbers) and no \"text\" to embed");
    }
  }
  if (!parsed.ok()) return LineError(line_index, parsed.message());

  const std::size_t dims = record.embedding.size();
  if (text_only) return record;
  if (dims_ == 0) {
    dims_ = static_cast<std::uint32_t>(dims);
    dims_line_ = line_index + 1;
  } else if (dims != dims_) {
    const std::string origin = dims_line_ > 0 ? fmt::format(" (as on line {})", dims_line_) : "";
    return LineError(
        line_index, fmt::format("\"embedding\" has {} values, expected {}{}", dims, dims_, origin));
  }
  return record;
}

Status JsonlReader::LineError(std::uint64_t line_index, std::string_view message) const {
  return Status::InvalidArgument(fmt::format("{} line {}: {}", path_, line_index + 1, message));
}

// --- RecordReader

RecordReader::RecordReader(MatrixReader matrix, Key key_offset)
    : reader_(std::move(matrix)), key_offset_(key_offset) {}

RecordReader::RecordReader(JsonlReader jsonl) : reader_(std::move(jsonl)) {}

Result<RecordReader> RecordReader::Open(const std::string& path, FileFormat format,
                                        const RecordReadOptions& options) {
  if (format == FileFormat::kJsonl) {
    Result<JsonlReader> jsonl = JsonlReader::Open(path, options);
    if (!jsonl.ok()) return jsonl.status();
    return RecordReader(std::move(*jsonl));
  }
  Result<MatrixReader> matrix = MatrixReader::Open(path, format);
  if (!matrix.ok()) return matrix.status();
  if (matrix->rows() == 0) return RecordReader(std::move(*matrix), options.key_offset);
  if (options.dims != 0 && matrix->dims() != options.dims) {
    return Status::InvalidArgument(fmt::format("{}: rows have {} dimensions, expected {}", path,
                                               matrix->dims(), options.dims));
  }
  if (matrix->rows() - 1 > kLargestKey - options.key_offset) {
    return Status::InvalidArgument(
        fmt::format("{}: {} rows from key offset {} pass the largest key {}", path, matrix->rows(),
                    options.key_offset, kLargestKey));
  }
  return RecordReader(std::move(*matrix), options.key_offset);
}

const std::string& RecordReader::path() const {
  return std::visit([](const auto& reader) -> const std::string& { return reader.path(); },
                    reader_);
}

std::uint32_t RecordReader::dims() const {
  return std::visit([](const auto& reader) { return reader.dims(); }, reader_);
}

std::uint64_t RecordReader::bytes_read() const {
  return std::visit([](const auto& reader) { return reader.bytes_read(); }, reader_);
}

std::uint64_t RecordReader::file_bytes() const {
  return std::visit([](const auto& reader) { return reader.file_bytes(); }, reader_);
}

Result<std::size_t> RecordReader::ReadBatch(std::size_t max_records, std::vector<Record>* records) {
  if (auto* jsonl = std::get_if<JsonlReader>(&reader_)) {
    return jsonl->ReadBatch(max_records, records);
  }
  auto& matrix = std::get<MatrixReader>(reader_);
  values_.clear();
  Result<std::size_t> rows = matrix.ReadBatch(max_records, &values_);
  if (!rows.ok() || *rows == 0) return rows;
  const std::uint64_t first_row = matrix.rows_read() - *rows;
  const std::size_t dims = matrix.dims();
  for (std::size_t i = 0; i < *rows; ++i) {
    Record record;
    record.key = key_offset_ + first_row + i;
    record.embedding.assign(values_.begin() + i * dims, values_.begin() + (i + 1) * dims);
    records->push_back(std::move(record));
  }
  return rows;
}

}  // namespace quiver::cli
