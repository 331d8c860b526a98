// Copyright (c) Quiver authors.
//
// What the libFuzzer targets in tests/fuzz share: a private scratch directory
// (on /dev/shm when it exists, so that the files a target writes for every
// input cost no disk I/O) and a way to hand an input to a reader that wants a
// file path.
//
// Thread safety: none; libFuzzer runs one input at a time per process.

#ifndef QUIVER_TESTS_FUZZ_FUZZ_UTIL_H_
#define QUIVER_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace quiver::fuzz {

/// The process's scratch directory, created on first use and removed at exit:
/// "/dev/shm/quiver-fuzz-XXXXXX" (else under $TMPDIR or /tmp). Aborts when it
/// cannot be created: a fuzz run without it would test nothing.
inline const std::string& ScratchDir() {
  // Never destroyed: the exit handler below runs after static destructors.
  static const std::string* const dir = [] {
    std::string base = "/dev/shm";
    if (!std::filesystem::is_directory(base)) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    auto* pattern = new std::string(base + "/quiver-fuzz-XXXXXX");
    if (mkdtemp(pattern->data()) == nullptr) {
      std::perror("quiver fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return pattern;
  }();
  return *dir;
}

/// Writes `size` bytes at `data` to ScratchDir()/`name` (replacing it) and
/// returns the path. Aborts on a write error (a full /dev/shm is not a finding).
inline std::string WriteScratchFile(const std::string& name, const std::uint8_t* data,
                                    std::size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || (size > 0 && std::fwrite(data, 1, size, file) != size) ||
      std::fclose(file) != 0) {
    std::perror(("quiver fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

}  // namespace quiver::fuzz

#endif  // QUIVER_TESTS_FUZZ_FUZZ_UTIL_H_
