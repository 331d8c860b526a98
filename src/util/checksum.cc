// Copyright (c) Quiver authors.

#include "util/checksum.h"

#include <xxhash.h>

namespace quiver {

std::uint64_t Checksum64(const void* data, std::size_t n) { return XXH3_64bits(data, n); }

struct StreamingChecksum::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

StreamingChecksum::StreamingChecksum() : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(state_->xxh);
}

StreamingChecksum::~StreamingChecksum() = default;

void StreamingChecksum::Update(const void* data, std::size_t n) {
  XXH3_64bits_update(state_->xxh, data, n);
}

std::uint64_t StreamingChecksum::Digest() const { return XXH3_64bits_digest(state_->xxh); }

}  // namespace quiver
