// Copyright (c) Quiver authors.
//
// The checkpoint file format: a serialized index (the payload, opaque here)
// followed by a footer that names what the file is and checksums every byte
// (docs/durability.md §3, invariant I4). Knows nothing of USearch: the HNSW
// adapter (hnsw_index.cc) writes its payload through a CheckpointWriter and
// reads it back through a CheckpointPayloadReader or a memory map, and only
// after VerifyCheckpointFile accepted the whole file.
//
// File "<generation>.usearch" (name from util/layout.h):
//   [payload: payload_bytes bytes]
//   [footer, 64 bytes, little-endian]
//     0  char[8]  magic "QVRINDX1"
//     8  u32      footer version (1)
//    12  u32      footer size (64)
//    16  u64      collection id
//    24  u64      generation
//    32  u64      applied_seq
//    40  u64      payload bytes
//    48  u64      XXH3-64 of the payload (util/checksum.h)
//    56  u64      XXH3-64 of footer bytes 0..55
// A file is served only if its size, both checksums, the collection id,
// generation and applied_seq match what the manifest row in SQLite expects.
//
// Thread safety: the functions are reentrant; a writer or reader object is
// used by one thread at a time.

#ifndef QUIVER_INDEX_CHECKPOINT_FILE_H_
#define QUIVER_INDEX_CHECKPOINT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "quiver/env.h"
#include "quiver/status.h"
#include "util/checksum.h"

namespace quiver::index {

/// What a checkpoint file must match to be loaded: the manifest's view of it.
struct CheckpointIdentity {
  std::int64_t collection_id = 0;
  std::uint64_t generation = 0;
  std::uint64_t applied_seq = 0;
};

/// What a checkpoint write produced, for the manifest row.
struct CheckpointInfo {
  std::uint64_t checksum = 0;    // XXH3-64 of the payload
  std::uint64_t file_bytes = 0;  // payload + footer
  std::uint64_t vector_count = 0;
};

/// The decoded footer.
struct CheckpointFooter {
  std::uint64_t collection_id = 0;
  std::uint64_t generation = 0;
  std::uint64_t applied_seq = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t payload_checksum = 0;
};

/// Bytes of the footer at the end of every checkpoint file.
inline constexpr std::size_t kCheckpointFooterBytes = 64;

/// Writes a checkpoint to a file the caller opened (normally a ".tmp" name)
/// and later syncs, closes and renames: Append() the payload in pieces of
/// any size (buffered into 1 MiB writes, checksummed on the way), then
/// Finish() once to write the footer.
class CheckpointWriter {
 public:
  explicit CheckpointWriter(WritableFile* file);
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Appends payload bytes. false after a write error (then see error()).
  bool Append(const void* data, std::size_t n);
  /// The first write error, or OK.
  const Status& error() const { return error_; }
  /// Flushes the payload and writes the footer for `identity`. Returns the
  /// payload checksum and the file size (vector_count is the caller's).
  Result<CheckpointInfo> Finish(const CheckpointIdentity& identity);

 private:
  bool Flush();

  WritableFile* const file_;
  StreamingChecksum checksum_;
  std::vector<unsigned char> buffer_;
  std::uint64_t payload_bytes_ = 0;
  Status error_;
};

class CheckpointPayloadReader;

/// A check of the payload's own structure, run by VerifyCheckpointFile as it
/// reads the file: it pulls bytes from the reader (which checksums them on
/// the way) and returns Corruption, with the reason, if they are not what the
/// serialized index should be. It may stop before the end; the rest is read
/// and checksummed after it.
using PayloadCheck = std::function<Status(CheckpointPayloadReader* payload)>;

/// Reads the whole file at `path` once through `env` and verifies it: the
/// size, the footer's magic, version and checksum, that its payload size
/// matches the file, the payload checksum, that the footer's identity equals
/// `identity` and its checksum equals `expected_checksum` (the manifest's),
/// and, when given, `check` over the payload. Returns the footer. Cost: one
/// sequential read of the file. Errors: NotFound (no file), IOError,
/// Corruption naming the first mismatch (torn, modified or foreign file, or a
/// payload `check` refuses).
Result<CheckpointFooter> VerifyCheckpointFile(Env* env, const std::string& path,
                                              const CheckpointIdentity& identity,
                                              std::uint64_t expected_checksum,
                                              const PayloadCheck& check = nullptr);

/// Reads the payload of a verified checkpoint file sequentially, in pieces of
/// any size, never past the payload (the footer follows it). Small reads are
/// served from a 1 MiB buffer, so a load costs one read(2) per MiB.
class CheckpointPayloadReader {
 public:
  /// Opens `path` through `env`; `payload_bytes` comes from its verified
  /// footer (or, while verifying, from the file's size). With `checksum`,
  /// every byte read from the file is added to it.
  static Result<std::unique_ptr<CheckpointPayloadReader>> Open(
      Env* env, const std::string& path, std::uint64_t payload_bytes,
      StreamingChecksum* checksum = nullptr);

  /// Copies the next `n` payload bytes to `out`. false (nothing more can be
  /// read) if fewer remain or the file cannot be read (then see error()).
  /// n == 0 always succeeds and never touches `out`, which may then be null.
  bool Read(void* out, std::size_t n);
  /// Passes over the next `n` payload bytes (they are still read, and
  /// checksummed). false as Read.
  bool Skip(std::uint64_t n);
  /// Payload bytes not yet returned by Read.
  std::uint64_t remaining() const { return remaining_; }
  /// The first read error, or OK.
  const Status& error() const { return error_; }

 private:
  friend Result<CheckpointFooter> VerifyCheckpointFile(Env*, const std::string&,
                                                       const CheckpointIdentity&, std::uint64_t,
                                                       const PayloadCheck&);
  CheckpointPayloadReader(std::unique_ptr<SequentialFile> file, std::uint64_t payload_bytes,
                          StreamingChecksum* checksum);
  bool ReadFromFile(void* out, std::size_t n);

  const std::unique_ptr<SequentialFile> file_;
  StreamingChecksum* const checksum_;
  std::uint64_t remaining_;  // not yet handed out
  std::uint64_t unread_;     // not yet read from the file
  std::vector<unsigned char> chunk_;
  std::size_t chunk_pos_ = 0;
  std::size_t chunk_end_ = 0;
  Status error_;
};

}  // namespace quiver::index

#endif  // QUIVER_INDEX_CHECKPOINT_FILE_H_
