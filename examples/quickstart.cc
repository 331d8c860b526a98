// Quiver in a program: create a collection, upsert records, search, reopen.
// Built with the project (target quiver_example_quickstart) and run by CTest.
//
//   quiver_example_quickstart DATA_DIR
#include <cstdio>

#include <quiver/quiver.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  auto store = quiver::Store::Open(argv[1], quiver::StoreOptions{});
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.status().ToString().c_str());
    return 1;
  }

  quiver::CollectionConfig config;
  config.dimensions = 3;
  config.metric = quiver::Metric::kCos;
  // Returns the existing collection if its configuration matches.
  auto docs = (*store)->OpenCollection("docs", config);
  if (!docs.ok()) {
    std::fprintf(stderr, "error: %s\n", docs.status().ToString().c_str());
    return 1;
  }

  // One atomic, durable batch: {key, id, text, metadata JSON, embedding}.
  quiver::Status s = (*docs)->Upsert({
      {1, "", "red apple", R"({"color": "red"})", {0.9f, 0.1f, 0.0f}},
      {2, "", "green leaf", R"({"color": "green"})", {0.1f, 0.9f, 0.1f}},
      {3, "", "blue sky", R"({"color": "blue"})", {0.0f, 0.2f, 0.9f}},
  });
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }

  quiver::SearchOptions options;
  options.k = 2;
  auto matches = (*docs)->Search(std::vector<float>{1.0f, 0.2f, 0.0f}, options);
  if (!matches.ok()) {
    std::fprintf(stderr, "error: %s\n", matches.status().ToString().c_str());
    return 1;
  }
  for (const quiver::Match& m : *matches) {
    // Cosine distance: lower is closer.
    std::printf("key=%llu distance=%.4f text=%s metadata=%s\n",
                static_cast<unsigned long long>(m.key), m.distance, m.text.c_str(),
                m.metadata.c_str());
  }
  return (*store)->Close().ok() ? 0 : 1;
}
