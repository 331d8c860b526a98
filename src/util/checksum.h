// Copyright (c) Quiver authors.
//
// 64-bit checksums of index checkpoints: XXH3-64 (xxHash 0.8, Yann Collet;
// https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), seed 0.

#ifndef QUIVER_UTIL_CHECKSUM_H_
#define QUIVER_UTIL_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace quiver {

/// XXH3-64 of `n` bytes at `data`.
std::uint64_t Checksum64(const void* data, std::size_t n);

/// Incremental XXH3-64: Update() any number of times, then Digest(); the
/// result equals Checksum64 of the concatenated bytes. Not thread-safe.
class StreamingChecksum {
 public:
  StreamingChecksum();
  ~StreamingChecksum();
  StreamingChecksum(const StreamingChecksum&) = delete;
  StreamingChecksum& operator=(const StreamingChecksum&) = delete;

  void Update(const void* data, std::size_t n);
  std::uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace quiver

#endif  // QUIVER_UTIL_CHECKSUM_H_
