// Copyright (c) Quiver authors.
//
// Concurrent writers and readers on one collection, with every result checked.

#include <atomic>
#include <cmath>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

constexpr int kDimensions = 8;

// A distinct, deterministic vector per id.
Json VectorFor(int id) {
  std::vector<float> values(kDimensions);
  for (int d = 0; d < kDimensions; ++d) values[d] = 10.0f * std::sin(0.37f * id * (d + 1));
  return Json(values);
}

TEST(ConcurrencyTest, WritersAndReadersOnOneCollection) {
  TestServer server([](ServerOptions& options) { options.threads = 6; });
  server.CreateCollection("cc", kDimensions, "l2sq");

  constexpr int kWriters = 4, kBatches = 20, kBatchSize = 8, kReaders = 3, kQueries = 50;
  std::mutex mutex;
  std::vector<int> acknowledged;  // guarded by mutex
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        Json records = Json::array();
        std::vector<int> ids;
        for (int j = 0; j < kBatchSize; ++j) {
          const int id = w * 10000 + b * kBatchSize + j;
          ids.push_back(id);
          records.push_back(
              {{"id", id}, {"embedding", VectorFor(id)}, {"text", std::to_string(id)}});
        }
        Response response = server.Post("/v2/collections/cc/records", Json{{"records", records}});
        if (response.status != 200) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mutex);
        acknowledged.insert(acknowledged.end(), ids.begin(), ids.end());
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      for (int q = 0; q < kQueries; ++q) {
        int id = -1;
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!acknowledged.empty()) id = acknowledged[(q * 7919 + r) % acknowledged.size()];
        }
        if (id < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        // A stored record's own vector finds it first, at distance 0.
        Response response =
            server.Post("/v2/collections/cc/query", Json{{"vector", VectorFor(id)}, {"k", 5}});
        if (response.status != 200) {
          ++failures;
          continue;
        }
        const Json& matches = response.body["results"][0];
        bool found = false;
        double previous = -1;
        for (const Json& match : matches) {
          found = found || match["id"] == id;
          const double distance = match["distance"];
          if (distance < previous) ++failures;  // closest first
          previous = distance;
          if (match["text"] != std::to_string(match["id"].get<int>())) ++failures;
        }
        if (!found || matches[0]["distance"].get<double>() > 1e-3) ++failures;
      }
    });
  }
  // memista inserts alongside, into another database: ids never overlap.
  std::vector<std::vector<long long>> memista_ids(2);
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        Json chunks = Json::array();
        for (int j = 0; j < 4; ++j) {
          chunks.push_back({{"embedding", {1.0, 0.5 * j}}, {"text", "t"}, {"metadata", ""}});
        }
        Response response =
            server.Post("/v1/insert", Json{{"database_id", "mem"}, {"chunks", chunks}});
        if (response.status != 200) {
          ++failures;
          continue;
        }
        for (const Json& key : response.body["inserted_ids"]) memista_ids[t].push_back(key);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(acknowledged.size(), static_cast<std::size_t>(kWriters * kBatches * kBatchSize));
  EXPECT_EQ(server.Count("cc"), static_cast<long long>(acknowledged.size()));
  std::set<long long> distinct(memista_ids[0].begin(), memista_ids[0].end());
  distinct.insert(memista_ids[1].begin(), memista_ids[1].end());
  EXPECT_EQ(distinct.size(), 2u * 15 * 4);
  EXPECT_EQ(server.Count("mem"), 2 * 15 * 4);
}

}  // namespace
}  // namespace quiver::server::testing
