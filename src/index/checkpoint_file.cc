// Copyright (c) Quiver authors.

#include "index/checkpoint_file.h"

#include <algorithm>
#include <cstring>

#include "util/status_macros.h"

namespace quiver::index {
namespace {

constexpr char kFooterMagic[8] = {'Q', 'V', 'R', 'I', 'N', 'D', 'X', '1'};
constexpr std::uint32_t kFooterVersion = 1;
constexpr std::size_t kIoChunkBytes = 1 << 20;

void PutU32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void PutU64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint32_t GetU32(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t GetU64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void EncodeFooter(const CheckpointFooter& f, unsigned char out[kCheckpointFooterBytes]) {
  std::memcpy(out, kFooterMagic, 8);
  PutU32(out + 8, kFooterVersion);
  PutU32(out + 12, kCheckpointFooterBytes);
  PutU64(out + 16, f.collection_id);
  PutU64(out + 24, f.generation);
  PutU64(out + 32, f.applied_seq);
  PutU64(out + 40, f.payload_bytes);
  PutU64(out + 48, f.payload_checksum);
  PutU64(out + 56, Checksum64(out, 56));
}

Result<CheckpointFooter> DecodeFooter(const unsigned char in[kCheckpointFooterBytes],
                                      const std::string& path) {
  if (std::memcmp(in, kFooterMagic, 8) != 0) {
    return Status::Corruption(path + ": no Quiver checkpoint footer (torn or foreign file)");
  }
  if (GetU64(in + 56) != Checksum64(in, 56)) {
    return Status::Corruption(path + ": checkpoint footer checksum mismatch");
  }
  if (GetU32(in + 8) != kFooterVersion || GetU32(in + 12) != kCheckpointFooterBytes) {
    return Status::Corruption(path + ": unsupported checkpoint footer version " +
                              std::to_string(GetU32(in + 8)));
  }
  CheckpointFooter f;
  f.collection_id = GetU64(in + 16);
  f.generation = GetU64(in + 24);
  f.applied_seq = GetU64(in + 32);
  f.payload_bytes = GetU64(in + 40);
  f.payload_checksum = GetU64(in + 48);
  return f;
}

}  // namespace

// --- Writing ---------------------------------------------------------------------

CheckpointWriter::CheckpointWriter(WritableFile* file) : file_(file) {
  buffer_.reserve(kIoChunkBytes);
}

bool CheckpointWriter::Flush() {
  if (buffer_.empty()) return true;
  error_ = file_->Append(buffer_.data(), buffer_.size());
  buffer_.clear();
  return error_.ok();
}

bool CheckpointWriter::Append(const void* data, std::size_t n) {
  if (!error_.ok()) return false;
  const auto* bytes = static_cast<const unsigned char*>(data);
  checksum_.Update(bytes, n);
  payload_bytes_ += n;
  if (buffer_.size() + n > kIoChunkBytes && !Flush()) return false;
  if (n >= kIoChunkBytes) {
    error_ = file_->Append(bytes, n);
    return error_.ok();
  }
  buffer_.insert(buffer_.end(), bytes, bytes + n);
  return true;
}

Result<CheckpointInfo> CheckpointWriter::Finish(const CheckpointIdentity& identity) {
  if (!error_.ok() || !Flush()) return error_;
  CheckpointFooter footer;
  footer.collection_id = static_cast<std::uint64_t>(identity.collection_id);
  footer.generation = identity.generation;
  footer.applied_seq = identity.applied_seq;
  footer.payload_bytes = payload_bytes_;
  footer.payload_checksum = checksum_.Digest();
  unsigned char footer_bytes[kCheckpointFooterBytes];
  EncodeFooter(footer, footer_bytes);
  QUIVER_RETURN_IF_ERROR(file_->Append(footer_bytes, kCheckpointFooterBytes));
  CheckpointInfo info;
  info.checksum = footer.payload_checksum;
  info.file_bytes = payload_bytes_ + kCheckpointFooterBytes;
  return info;
}

// --- Verifying ---------------------------------------------------------------------

Result<CheckpointFooter> VerifyCheckpointFile(Env* env, const std::string& path,
                                              const CheckpointIdentity& id,
                                              std::uint64_t expected_checksum,
                                              const PayloadCheck& check) {
  QUIVER_ASSIGN_OR_RETURN(std::uint64_t size, env->FileSize(path));
  if (size < kCheckpointFooterBytes + 8) {
    return Status::Corruption(path + ": " + std::to_string(size) +
                              " bytes is too short for a checkpoint (torn file)");
  }
  const std::uint64_t payload_bytes = size - kCheckpointFooterBytes;
  StreamingChecksum checksum;
  QUIVER_ASSIGN_OR_RETURN(auto payload,
                          CheckpointPayloadReader::Open(env, path, payload_bytes, &checksum));
  if (check) {
    Status checked = check(payload.get());
    if (!payload->error().ok()) return payload->error();
    if (!checked.ok()) return Status::Corruption(path + ": " + checked.message());
  }
  if (!payload->Skip(payload->remaining())) {
    if (!payload->error().ok()) return payload->error();
    return Status::Corruption(path + ": file shrank while being read");
  }
  // The payload reader never reads past the payload: the footer is next.
  unsigned char footer_bytes[kCheckpointFooterBytes];
  std::size_t got = 0;
  QUIVER_RETURN_IF_ERROR(payload->file_->Read(kCheckpointFooterBytes, footer_bytes, &got));
  if (got != kCheckpointFooterBytes) return Status::Corruption(path + ": truncated footer");
  QUIVER_ASSIGN_OR_RETURN(CheckpointFooter footer, DecodeFooter(footer_bytes, path));
  if (footer.payload_bytes != payload_bytes) {
    return Status::Corruption(path + ": footer says " + std::to_string(footer.payload_bytes) +
                              " payload bytes, file has " + std::to_string(payload_bytes));
  }
  if (footer.payload_checksum != checksum.Digest()) {
    return Status::Corruption(path + ": payload checksum mismatch (torn or modified file)");
  }
  if (footer.collection_id != static_cast<std::uint64_t>(id.collection_id) ||
      footer.generation != id.generation || footer.applied_seq != id.applied_seq) {
    return Status::Corruption(
        path + ": belongs to collection " + std::to_string(footer.collection_id) + " generation " +
        std::to_string(footer.generation) + " applied_seq " + std::to_string(footer.applied_seq) +
        "; expected collection " + std::to_string(id.collection_id) + " generation " +
        std::to_string(id.generation) + " applied_seq " + std::to_string(id.applied_seq) +
        " (foreign file)");
  }
  if (footer.payload_checksum != expected_checksum) {
    return Status::Corruption(path + ": checksum differs from the manifest's");
  }
  return footer;
}

// --- Reading the payload -----------------------------------------------------------

Result<std::unique_ptr<CheckpointPayloadReader>> CheckpointPayloadReader::Open(
    Env* env, const std::string& path, std::uint64_t payload_bytes, StreamingChecksum* checksum) {
  QUIVER_ASSIGN_OR_RETURN(auto file, env->NewSequentialFile(path));
  return std::unique_ptr<CheckpointPayloadReader>(
      new CheckpointPayloadReader(std::move(file), payload_bytes, checksum));
}

CheckpointPayloadReader::CheckpointPayloadReader(std::unique_ptr<SequentialFile> file,
                                                 std::uint64_t payload_bytes,
                                                 StreamingChecksum* checksum)
    : file_(std::move(file)),
      checksum_(checksum),
      remaining_(payload_bytes),
      unread_(payload_bytes),
      chunk_(kIoChunkBytes) {}

bool CheckpointPayloadReader::ReadFromFile(void* out, std::size_t n) {
  std::size_t got = 0;
  error_ = file_->Read(n, out, &got);
  if (!error_.ok() || got != n) return false;
  if (checksum_ != nullptr) checksum_->Update(out, n);
  unread_ -= n;
  return true;
}

bool CheckpointPayloadReader::Skip(std::uint64_t n) {
  if (n > remaining_ || !error_.ok()) return false;
  // What is buffered first, then whole chunks through the buffer.
  const std::size_t buffered =
      static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_end_ - chunk_pos_));
  chunk_pos_ += buffered;
  remaining_ -= buffered;
  n -= buffered;
  while (n > 0) {
    const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_.size()));
    if (!ReadFromFile(chunk_.data(), step)) return false;
    chunk_pos_ = chunk_end_ = 0;
    remaining_ -= step;
    n -= step;
  }
  return true;
}

bool CheckpointPayloadReader::Read(void* buffer, std::size_t n) {
  if (n == 0) return true;  // a null buffer is allowed then: memcpy must not see it
  if (n > remaining_ || buffer == nullptr || !error_.ok()) return false;
  auto* out = static_cast<unsigned char*>(buffer);
  remaining_ -= n;
  const std::size_t buffered = std::min(n, chunk_end_ - chunk_pos_);
  std::memcpy(out, chunk_.data() + chunk_pos_, buffered);
  chunk_pos_ += buffered;
  out += buffered;
  n -= buffered;
  if (n == 0) return true;
  if (n >= chunk_.size()) return ReadFromFile(out, n);  // large: no copy
  const std::size_t refill =
      static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), unread_));
  if (!ReadFromFile(chunk_.data(), refill)) return false;
  chunk_pos_ = 0;
  chunk_end_ = refill;
  if (n > chunk_end_) return false;  // cannot happen: n <= remaining_ <= unread_
  std::memcpy(out, chunk_.data(), n);
  chunk_pos_ = n;
  return true;
}

}  // namespace quiver::index
