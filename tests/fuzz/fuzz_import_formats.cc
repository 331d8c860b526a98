// Copyright (c) Quiver authors.
//
// libFuzzer target: the readers of `quiver import` and `quiver search`
// (cli/formats.h: fvecs, fbin, npy, JSONL). These take files from anywhere;
// whatever the bytes, a reader must return records or an InvalidArgument
// naming the row or line, and never crash, hang, read out of bounds or
// allocate what the file merely claims to hold.
//
// Input: byte 0 chooses the format (bits 0-1: fvecs, fbin, npy, jsonl) and
// the expected dimensions (bit 2: 0 = any, as `import` into a new collection;
// 1 = 3, as `search` of a 3-d collection); the rest is the file.
// Checked beyond "no crash": every record returned has the dimensions the
// reader reported, and a matrix file yields keys 0, 1, 2... in order.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/formats.h"
#include "fuzz_util.h"

namespace {

constexpr quiver::cli::FileFormat kFormats[] = {
    quiver::cli::FileFormat::kFvecs, quiver::cli::FileFormat::kFbin, quiver::cli::FileFormat::kNpy,
    quiver::cli::FileFormat::kJsonl};
constexpr const char* kNames[] = {"input.fvecs", "input.fbin", "input.npy", "input.jsonl"};
constexpr std::size_t kBatch = 16;  // small, so that batch boundaries are exercised

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned format_index = data[0] & 3u;
  quiver::cli::RecordReadOptions options;
  options.dims = (data[0] & 4u) != 0 ? 3 : 0;
  const std::string path = quiver::fuzz::WriteScratchFile(kNames[format_index], data + 1, size - 1);

  auto reader = quiver::cli::RecordReader::Open(path, kFormats[format_index], options);
  if (!reader.ok()) return 0;
  const bool matrix = kFormats[format_index] != quiver::cli::FileFormat::kJsonl;
  std::uint64_t row = 0;
  std::vector<quiver::Record> records;
  while (true) {
    records.clear();
    auto got = reader->ReadBatch(kBatch, &records);
    if (!got.ok() || *got == 0) break;
    if (*got != records.size()) std::abort();  // the count must match what was appended
    for (const quiver::Record& record : records) {
      // A JSONL line with text and no embedding is left for the collection's
      // model to embed; every other record has the file's dimensions.
      const bool text_only = !matrix && record.embedding.empty() && !record.text.empty();
      if (!text_only && record.embedding.size() != reader->dims()) std::abort();
      if (!text_only && options.dims != 0 && record.embedding.size() != options.dims) {
        std::abort();
      }
      if (matrix && record.key != row) std::abort();
      ++row;
    }
  }
  return 0;
}
