// Copyright (c) Quiver authors.
//
// Writes the seed corpus of fuzz_checkpoint_load: real checkpoints of small
// indexes, one per configuration the target knows (ConfigFor in
// fuzz_checkpoint_load.cc), each in the target's "raw" and "resealed" input
// forms. Run once after a checkpoint format change:
//   build/fuzz/tests/fuzz/quiver_make_checkpoint_seeds tests/fuzz/corpus/checkpoint_load
// Exit status 0 on success, 1 with a message on standard error otherwise.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "index/hnsw_index.h"
#include "quiver/env.h"

namespace {

struct SeedConfig {
  const char* name;
  quiver::CollectionConfig config;
  std::size_t vectors;
  std::size_t removed;  // keys removed again before the save (free slots in the file)
};

quiver::CollectionConfig Make(std::uint32_t dims, quiver::Metric metric, quiver::ScalarKind scalar,
                              std::uint32_t connectivity) {
  quiver::CollectionConfig config;
  config.dimensions = dims;
  config.metric = metric;
  config.scalar = scalar;
  config.connectivity = connectivity;
  return config;
}

int Fail(const std::string& what, const quiver::Status& status) {
  std::fprintf(stderr, "make_checkpoint_seeds: %s: %s\n", what.c_str(), status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out_dir = argv[1];
  // Index i here is configuration i of the fuzz target (bits 1-2 of byte 0).
  const SeedConfig seeds[] = {
      {"f32_cos_3d", Make(3, quiver::Metric::kCos, quiver::ScalarKind::kF32, 16), 24, 4},
      {"i8_l2sq_4d", Make(4, quiver::Metric::kL2sq, quiver::ScalarKind::kI8, 16), 16, 0},
      {"f16_ip_8d", Make(8, quiver::Metric::kIp, quiver::ScalarKind::kF16, 16), 12, 2},
      {"bf16_l2sq_5d_m4", Make(5, quiver::Metric::kL2sq, quiver::ScalarKind::kBF16, 4), 40, 0},
  };
  quiver::Env* env = quiver::Env::Default();
  for (unsigned i = 0; i < std::size(seeds); ++i) {
    const SeedConfig& seed = seeds[i];
    auto index = quiver::index::HnswIndex::Create(seed.config, 1, 1);
    if (!index.ok()) return Fail(seed.name, index.status());
    std::vector<quiver::Key> keys;
    std::vector<float> vectors;
    for (std::size_t k = 0; k < seed.vectors; ++k) {
      keys.push_back(k * 7 + 1);  // sparse keys, not 0..n-1
      for (std::uint32_t d = 0; d < seed.config.dimensions; ++d) {
        vectors.push_back(static_cast<float>((k * 31 + d * 17) % 23) / 23.0f - 0.4f);
      }
    }
    quiver::Status s = (*index)->AddBatch(keys.data(), vectors.data(), keys.size());
    if (!s.ok()) return Fail(seed.name, s);
    s = (*index)->Remove(keys.data(), seed.removed);
    if (!s.ok()) return Fail(seed.name, s);

    const std::string tmp = out_dir + "/.tmp.usearch";
    auto file = env->NewWritableFile(tmp);
    if (!file.ok()) return Fail(tmp, file.status());
    auto saved = (*index)->SaveCheckpoint(file->get(), {1, 1, 1});
    if (!saved.ok()) return Fail(seed.name, saved.status());
    if (s = (*file)->Close(); !s.ok()) return Fail(tmp, s);
    std::ifstream in(tmp, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    (void)env->RemoveFile(tmp);

    // Raw form: the whole file. Resealed form: the payload only (the footer,
    // 64 bytes, is recomputed by the target).
    const char raw_mode = static_cast<char>(i << 1);
    const char resealed_mode = static_cast<char>(raw_mode | 1);
    std::ofstream(out_dir + "/raw_" + seed.name, std::ios::binary)
        .put(raw_mode)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(out_dir + "/resealed_" + seed.name, std::ios::binary)
        .put(resealed_mode)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 64));
    std::printf("%s: %zu bytes\n", seed.name, bytes.size());
  }
  return 0;
}
