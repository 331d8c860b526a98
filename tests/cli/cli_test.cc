// Copyright (c) Quiver authors.
//
// End-to-end tests of the `quiver` binary (QUIVER_BINARY): each test runs
// the real command on a fresh data directory and checks its exit status,
// standard output and standard error.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "quiver/record.h"
#include "test_files.h"

namespace quiver::cli {
namespace {

using ::testing::AllOf;
using testing::Bytes;
using testing::FbinBytes;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RandomMatrix;
using testing::TempDir;
using Json = nlohmann::json;

constexpr std::size_t kRows = 2000;
constexpr std::size_t kDims = 16;

struct CommandRun {
  int exit_status = -1;
  std::string out;
  std::string err;
};

// Wraps `arg` in single quotes for /bin/sh.
std::string ShellQuote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(QUIVER_BINARY)) << "not built: " << QUIVER_BINARY;
    vectors_ = RandomMatrix(kRows, kDims);
    FbinBytes(vectors_, kDims).WriteTo(vectors_path_);
  }

  // Runs `quiver args...` with standard input from /dev/null and without
  // QUIVER_DATA in its environment, unless `env` sets it ("NAME=value ...").
  CommandRun Quiver(const std::vector<std::string>& args, const std::string& env = "") {
    std::string command = "env -u QUIVER_DATA " + env + " " + ShellQuote(QUIVER_BINARY);
    for (const std::string& arg : args) command += " " + ShellQuote(arg);
    command +=
        " </dev/null >" + ShellQuote(dir_.Path("stdout")) + " 2>" + ShellQuote(dir_.Path("stderr"));
    const int status = std::system(command.c_str());
    CommandRun run;
    run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(dir_.Path("stdout"));
    run.err = ReadFile(dir_.Path("stderr"));
    return run;
  }

  // Runs `quiver args... --data <data dir>` and expects exit status 0.
  CommandRun QuiverOk(std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data_});
    CommandRun run = Quiver(args);
    EXPECT_EQ(run.exit_status, 0) << "stdout: " << run.out << "\nstderr: " << run.err;
    return run;
  }

  // Creates collection `docs` (l2sq, kDims) and imports the 2,000 vectors.
  void CreateAndImport() {
    QuiverOk(
        {"create", "--collection", "docs", "--dims", std::to_string(kDims), "--metric", "l2sq"});
    CommandRun import =
        QuiverOk({"import", "--collection", "docs", vectors_path_, "--batch-size", "300"});
    EXPECT_THAT(import.out, HasSubstr("imported 2000 records into docs in "));
    EXPECT_THAT(import.out, HasSubstr("docs now holds 2000 records"));
  }

  // Writes rows `rows` of the imported vectors as an .fbin query file.
  std::string WriteQueries(const std::vector<std::size_t>& rows) {
    std::vector<float> queries;
    for (std::size_t row : rows) {
      queries.insert(queries.end(), vectors_.begin() + row * kDims,
                     vectors_.begin() + (row + 1) * kDims);
    }
    const std::string path = dir_.Path("queries.fbin");
    FbinBytes(queries, kDims).WriteTo(path);
    return path;
  }

  // Row `row` of the vectors as a --vector argument.
  std::string VectorArgument(std::size_t row) const {
    std::string text;
    for (std::size_t i = 0; i < kDims; ++i) {
      text += (i ? "," : "") + std::to_string(vectors_[row * kDims + i]);
    }
    return text;
  }

  // The keys of the matches of one `search --json` output line.
  static std::vector<std::uint64_t> MatchKeys(const std::string& line) {
    std::vector<std::uint64_t> keys;
    // Keep the parsed document alive: a range-for over a member of a temporary dangles.
    const Json parsed = Json::parse(line);
    for (const Json& match : parsed["matches"]) keys.push_back(match["key"]);
    return keys;
  }

  TempDir dir_;
  const std::string data_ = dir_.Path("data");
  const std::string vectors_path_ = dir_.Path("vectors.fbin");
  std::vector<float> vectors_;
};

TEST_F(CliTest, CreatedCollectionShowsInListAndStats) {
  CommandRun created =
      QuiverOk({"create", "--collection", "docs", "--dims", "16", "--metric", "cos", "--scalar",
                "f16", "--connectivity", "8", "--model-id", "m", "--model-version", "1"});
  EXPECT_THAT(created.out, HasSubstr("created collection docs"));

  CommandRun list = QuiverOk({"list"});
  EXPECT_THAT(list.out, AllOf(HasSubstr("NAME"), HasSubstr("docs"), HasSubstr("cos"),
                              HasSubstr("f16"), HasSubstr("m@1")));
  CommandRun list_json = QuiverOk({"list", "--json"});
  const Json entry = Json::parse(list_json.out);
  EXPECT_EQ(entry["name"], "docs");
  EXPECT_EQ(entry["records"], 0);
  EXPECT_EQ(entry["dimensions"], 16);
  EXPECT_EQ(entry["connectivity"], 8);

  CommandRun stats = QuiverOk({"stats", "--collection", "docs", "--json"});
  const Json counters = Json::parse(stats.out);
  EXPECT_EQ(counters["name"], "docs");
  EXPECT_EQ(counters["config"]["metric"], "cos");
  EXPECT_EQ(counters["records"], 0);
  EXPECT_THAT(QuiverOk({"stats"}).out, HasSubstr("collection docs"));
}

TEST_F(CliTest, ImportedVectorsAreTheirOwnNearestNeighbours) {
  CreateAndImport();
  const std::vector<std::size_t> rows = {0, 17, 999, 1999};
  CommandRun search =
      QuiverOk({"search", "--collection", "docs", "-k", "3", "--json", WriteQueries(rows)});
  const std::vector<std::string> lines = Lines(search.out);
  ASSERT_EQ(lines.size(), rows.size()) << search.out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Json result = Json::parse(lines[i]);
    EXPECT_EQ(result["query"], i);
    ASSERT_EQ(result["matches"].size(), 3u);
    EXPECT_EQ(result["matches"][0]["key"], rows[i]);
    EXPECT_NEAR(result["matches"][0]["distance"].get<double>(), 0.0, 1e-4);
    EXPECT_FALSE(result["matches"][0].contains("text"));  // not asked for
  }
  EXPECT_THAT(search.err, AllOf(HasSubstr("4 queries in"), HasSubstr("queries/s (k=3, ef=64)")));
}

TEST_F(CliTest, SearchLimitRunsOnlyTheFirstQueries) {
  CreateAndImport();
  CommandRun search = QuiverOk({"search", "--collection", "docs", "--json", "--limit", "2",
                                "--expansion-search", "100", WriteQueries({5, 6, 7})});
  EXPECT_EQ(Lines(search.out).size(), 2u);
  EXPECT_THAT(search.err, HasSubstr("ef=100"));
}

TEST_F(CliTest, SearchWithAVectorPrintsATable) {
  CreateAndImport();
  CommandRun search =
      QuiverOk({"search", "--collection", "docs", "-k", "2", "--vector", VectorArgument(42)});
  const std::vector<std::string> lines = Lines(search.out);
  ASSERT_EQ(lines.size(), 4u) << search.out;
  EXPECT_EQ(lines[0], "query 0");
  EXPECT_THAT(lines[1], AllOf(HasSubstr("RANK"), HasSubstr("KEY"), HasSubstr("DISTANCE")));
  EXPECT_THAT(lines[2], ::testing::StartsWith("1     42 "));
}

TEST_F(CliTest, GetPrintsRecordsAsJsonLines) {
  const std::string jsonl = dir_.Path("docs.jsonl");
  Bytes()
      .Text(R"({"id": "alpha", "embedding": [1, 0], "text": "first", "metadata": {"page": 1}})"
            "\n")
      .Text(R"({"id": 9, "embedding": [0, 1], "text": "second"})"
            "\n")
      .WriteTo(jsonl);
  QuiverOk(
      {"import", "--collection", "docs", "--create", "--metric", "cos", "--offset", "100", jsonl});

  // A string id gets the key every face gives it; an integer id is the key.
  CommandRun get = QuiverOk({"get", "--collection", "docs", "alpha", "9"});
  const std::vector<std::string> lines = Lines(get.out);
  ASSERT_EQ(lines.size(), 2u) << get.out;
  const Json first = Json::parse(lines[0]);
  EXPECT_EQ(first["key"], KeyForStringId("alpha"));
  EXPECT_EQ(first["id"], "alpha");
  EXPECT_EQ(first["text"], "first");
  EXPECT_EQ(first["metadata"], Json({{"page", 1}}));
  EXPECT_FALSE(first.contains("embedding"));
  const Json second = Json::parse(lines[1]);
  EXPECT_EQ(second["key"], 9);
  EXPECT_TRUE(second["id"].is_null());

  CommandRun with_embedding = QuiverOk({"get", "--collection", "docs", "--with-embedding", "9"});
  EXPECT_EQ(Json::parse(with_embedding.out)["embedding"], Json({0.0, 1.0}));

  CommandRun search = QuiverOk({"search", "--collection", "docs", "-k", "1", "--json", "--include",
                                "id,text,metadata", "--vector", "[1, 0]"});
  const Json match = Json::parse(search.out)["matches"][0];
  EXPECT_EQ(match["id"], "alpha");
  EXPECT_EQ(match["text"], "first");
  EXPECT_EQ(match["metadata"]["page"], 1);

  CommandRun missing = Quiver({"get", "--data", data_, "--collection", "docs", "9", "12345"});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_EQ(Lines(missing.out).size(), 1u);
  EXPECT_THAT(missing.err, AllOf(HasSubstr("error: "), HasSubstr("12345")));
}

TEST_F(CliTest, DeletedKeyIsNoLongerFound) {
  CreateAndImport();
  CommandRun deleted = QuiverOk({"delete", "--collection", "docs", "17", "99999"});
  EXPECT_THAT(deleted.out, HasSubstr("deleted 1 record of 2 keys from docs"));

  CommandRun search = QuiverOk(
      {"search", "--collection", "docs", "-k", "5", "--json", "--vector", VectorArgument(17)});
  EXPECT_THAT(MatchKeys(search.out), Not(::testing::Contains(17u)));
  EXPECT_EQ(Quiver({"get", "--data", data_, "--collection", "docs", "17"}).exit_status, 2);
  CommandRun verify = QuiverOk({"verify"});
  EXPECT_THAT(verify.out, HasSubstr("docs: clean (1999 records"));
}

TEST_F(CliTest, DropNeedsYesWithoutATerminal) {
  CreateAndImport();
  CommandRun refused = Quiver({"drop", "--data", data_, "--collection", "docs"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_THAT(refused.err, HasSubstr("--yes"));
  EXPECT_THAT(QuiverOk({"list"}).out, HasSubstr("docs"));

  QuiverOk({"drop", "--collection", "docs", "--yes"});
  EXPECT_THAT(QuiverOk({"list"}).out, HasSubstr("no collections"));
}

TEST_F(CliTest, DataDirectoryMayComeFromTheEnvironment) {
  CommandRun run = Quiver({"create", "--collection", "docs", "--dims", "4", "--metric", "ip"},
                          "QUIVER_DATA=" + ShellQuote(data_));
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(data_));
}

TEST_F(CliTest, MissingDataDirectoryNamesBothSources) {
  CommandRun run = Quiver({"list"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("error: "), HasSubstr("--data"), HasSubstr("QUIVER_DATA")));
}

TEST_F(CliTest, BadCollectionNameIsRejectedBeforeAnythingIsWritten) {
  CommandRun run = Quiver(
      {"create", "--data", data_, "--collection", "../x", "--dims", "4", "--metric", "l2sq"});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, HasSubstr("--collection"));
  EXPECT_FALSE(std::filesystem::exists(data_));
}

TEST_F(CliTest, KOfZeroIsRejected) {
  CreateAndImport();
  CommandRun run = Quiver({"search", "--data", data_, "--collection", "docs", "-k", "0", "--vector",
                           VectorArgument(0)});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("error: "), HasSubstr("-k")));
  EXPECT_TRUE(run.out.empty());
}

TEST_F(CliTest, UnknownCollectionIsNotFound) {
  CreateAndImport();
  CommandRun run =
      Quiver({"search", "--data", data_, "--collection", "nope", "--vector", VectorArgument(0)});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr("error: "), HasSubstr("nope")));
  EXPECT_THAT(QuiverOk({"list"}).out, Not(HasSubstr("nope")));
}

TEST_F(CliTest, ReadingCommandsDoNotCreateAStore) {
  for (const char* command : {"list", "stats", "verify"}) {
    CommandRun run = Quiver({command, "--data", data_});
    EXPECT_EQ(run.exit_status, 2) << command;
    EXPECT_THAT(run.err, HasSubstr("error: ")) << command;
  }
  EXPECT_FALSE(std::filesystem::exists(data_));
}

TEST_F(CliTest, TruncatedFileIsRejectedBeforeAnythingIsWritten) {
  const std::string truncated = dir_.Path("truncated.fbin");
  FbinBytes(RandomMatrix(10, 4), 4).Chop(5).WriteTo(truncated);
  CommandRun run = Quiver({"import", "--data", data_, "--collection", "docs", "--create",
                           "--metric", "l2sq", truncated});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("truncated.fbin"), HasSubstr("truncated")));
  EXPECT_FALSE(std::filesystem::exists(data_));
}

TEST_F(CliTest, ImportThatFailsInItsFirstBatchWritesNothing) {
  const std::string jsonl = dir_.Path("bad.jsonl");
  Bytes()
      .Text("{\"embedding\": [1, 2]}\n{\"embedding\": [1, 2], \"metadata\": 3}\n")
      .WriteTo(jsonl);
  CommandRun run = Quiver(
      {"import", "--data", data_, "--collection", "docs", "--create", "--metric", "l2sq", jsonl});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("bad.jsonl line 2"), HasSubstr("\"metadata\"")));
  EXPECT_FALSE(std::filesystem::exists(data_));
}

TEST_F(CliTest, FileOfOtherDimensionsIsRejected) {
  QuiverOk({"create", "--collection", "docs", "--dims", "8", "--metric", "l2sq"});
  CommandRun run = Quiver({"import", "--data", data_, "--collection", "docs", vectors_path_});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("16 dimensions"), HasSubstr("docs has 8")));
  EXPECT_EQ(Json::parse(QuiverOk({"list", "--json"}).out)["records"], 0);
}

TEST_F(CliTest, FailedImportReportsWhatWasCommitted) {
  const std::string jsonl = dir_.Path("bad.jsonl");
  Bytes bytes;
  for (int line = 1; line <= 30; ++line) {
    bytes.Text(line == 25 ? "{\"embedding\": [1, 2,\n"
                          : "{\"embedding\": [" + std::to_string(line) + ", 1]}\n");
  }
  bytes.WriteTo(jsonl);
  CommandRun run = Quiver({"import", "--data", data_, "--collection", "docs", "--create",
                           "--metric", "l2sq", "--batch-size", "10", jsonl});
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.err,
              AllOf(HasSubstr("bad.jsonl line 25"), HasSubstr("20 records committed into docs")));
  EXPECT_EQ(Json::parse(QuiverOk({"list", "--json"}).out)["records"], 20);
}

TEST_F(CliTest, HelpExplainsDistancesAndVersionPrints) {
  CommandRun help = Quiver({"search", "--help"});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("LOWER IS CLOSER"), HasSubstr("--expansion-search")));
  CommandRun version = Quiver({"--version"});
  EXPECT_EQ(version.exit_status, 0);
  EXPECT_THAT(version.out, HasSubstr("quiver "));
}

TEST_F(CliTest, RebuildChangesIndexParametersAndKeepsEveryRecord) {
  CreateAndImport();
  CommandRun rebuilt =
      QuiverOk({"rebuild", "--collection", "docs", "--scalar", "f16", "--connectivity", "8"});
  EXPECT_THAT(rebuilt.out, HasSubstr("after:  dims=16 metric=l2sq scalar=f16 M=8"));
  EXPECT_THAT(QuiverOk({"list"}).out, HasSubstr("f16"));
  EXPECT_EQ(QuiverOk({"verify"}).exit_status, 0);
  CommandRun found =
      QuiverOk({"search", "--collection", "docs", "-k", "1", "--json", WriteQueries({123})});
  EXPECT_EQ(MatchKeys(Lines(found.out)[0]), std::vector<std::uint64_t>{123});
  CommandRun bad = Quiver({"rebuild", "--data", data_, "--collection", "docs", "--scalar", "f64"});
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_THAT(bad.err, HasSubstr("--scalar"));
}

TEST_F(CliTest, BackupAndRestoreMakeVerifiedCopies) {
  CreateAndImport();
  QuiverOk({"delete", "--collection", "docs", "5"});
  const std::string backup = dir_.Path("backup");
  CommandRun backed_up = QuiverOk({"backup", backup});
  EXPECT_THAT(backed_up.out, HasSubstr("1 collections, 1999 records, verified"));
  CommandRun again = Quiver({"backup", "--data", data_, backup});
  EXPECT_EQ(again.exit_status, 2);
  EXPECT_THAT(again.err, HasSubstr("is not empty"));

  const std::string restored = dir_.Path("restored");
  CommandRun restore = Quiver({"restore", backup, restored});
  EXPECT_EQ(restore.exit_status, 0) << restore.err;
  CommandRun got = Quiver({"get", "--data", restored, "--collection", "docs", "5"});
  EXPECT_NE(got.exit_status, 0) << "the delete before the backup is in the copy";
  CommandRun kept = Quiver({"get", "--data", restored, "--collection", "docs", "6"});
  EXPECT_EQ(kept.exit_status, 0) << kept.err;
}

// --- Filters, scan, export and the one id rule -------------------------------------------

// Writes the tour's fruits as JSONL (string ids, text, metadata).
std::string WriteFruits(const TempDir& dir, const std::string& name, bool second_file) {
  const std::string path = dir.Path(name);
  Bytes bytes;
  if (!second_file) {
    bytes
        .Text(
            R"({"id": "apple", "embedding": [0.9, 0.1, 0.0], "text": "a red apple", "metadata": {"color": "red", "price": 3}})"
            "\n")
        .Text(
            R"({"id": "lime", "embedding": [0.1, 0.9, 0.1], "text": "a green lime", "metadata": {"color": "green", "price": 1.5}})"
            "\n")
        .Text(
            R"({"id": "plum", "embedding": [0.5, 0.0, 0.8], "text": "a purple plum", "metadata": {"color": "purple"}})"
            "\n");
  } else {
    bytes.Text(
        R"({"id": "kiwi", "embedding": [0.2, 0.8, 0.2], "text": "a green kiwi", "metadata": {"color": "green", "price": 0.5}})"
        "\n");
  }
  bytes.WriteTo(path);
  return path;
}

TEST_F(CliTest, SecondJsonlFileImportsBesideTheFirstAndIdsReachRecords) {
  QuiverOk({"create", "--collection", "fruits", "--dims", "3", "--metric", "cos"});
  QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "a.jsonl", false)});
  CommandRun second =
      QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "b.jsonl", true)});
  EXPECT_THAT(second.out, HasSubstr("fruits now holds 4 records"));
  EXPECT_EQ(Json::parse(QuiverOk({"get", "--collection", "fruits", "kiwi"}).out)["text"],
            "a green kiwi");
  // The hash of "apple" as a bare key does not reach the apple.
  CommandRun by_key = Quiver(
      {"get", "--data", data_, "--collection", "fruits", std::to_string(KeyForStringId("apple"))});
  EXPECT_EQ(by_key.exit_status, 2) << by_key.out;
  CommandRun deleted = QuiverOk({"delete", "--collection", "fruits", "lime"});
  EXPECT_THAT(deleted.out, HasSubstr("deleted 1 record"));
  EXPECT_EQ(QuiverOk({"count", "--collection", "fruits"}).out, "3\n");
}

TEST_F(CliTest, WhereFiltersCountScanSearchAndDelete) {
  QuiverOk({"create", "--collection", "fruits", "--dims", "3", "--metric", "cos", "--index-field",
            "color"});
  QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "a.jsonl", false)});
  QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "b.jsonl", true)});
  EXPECT_EQ(QuiverOk({"count", "--collection", "fruits", "--where", R"({"color": "green"})"}).out,
            "2\n");
  EXPECT_EQ(QuiverOk({"count", "--collection", "fruits", "--where",
                      R"({"price": {"$lt": 2}, "color": {"$ne": "red"}})"})
                .out,
            "2\n");
  EXPECT_THAT(QuiverOk({"stats", "--collection", "fruits"}).out, HasSubstr("indexed      color"));

  CommandRun search =
      QuiverOk({"search", "--collection", "fruits", "-k", "3", "--json", "--include", "id",
                "--where", R"({"color": "green"})", "--explain", "--vector", "1,0.2,0"});
  const Json matches = Json::parse(search.out)["matches"];
  ASSERT_EQ(matches.size(), 2u) << search.out;
  EXPECT_EQ(matches[0]["id"], "kiwi");
  EXPECT_EQ(matches[1]["id"], "lime");
  EXPECT_THAT(search.err, HasSubstr("plan: exact: 2 of 4 records match"));

  CommandRun page = QuiverOk({"scan", "--collection", "fruits", "--limit", "1", "--where",
                              R"({"color": {"$in": ["green", "purple"]}})"});
  ASSERT_EQ(Lines(page.out).size(), 1u);
  EXPECT_THAT(page.err, HasSubstr("next page: --cursor "));
  const std::string cursor = page.err.substr(page.err.find("--cursor ") + 9,
                                             page.err.find('\n') - page.err.find("--cursor ") - 9);
  CommandRun rest = QuiverOk({"scan", "--collection", "fruits", "--limit", "10", "--cursor", cursor,
                              "--where", R"({"color": {"$in": ["green", "purple"]}})"});
  EXPECT_EQ(Lines(rest.out).size(), 2u);
  EXPECT_THAT(rest.err, HasSubstr("no more pages"));

  CommandRun bad = Quiver({"count", "--data", data_, "--collection", "fruits", "--where",
                           R"({"price": {"$gt": [1]}})"});
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_THAT(bad.err, HasSubstr("where.price.$gt"));

  CommandRun deleted =
      QuiverOk({"delete", "--collection", "fruits", "--where", R"({"color": "green"})"});
  EXPECT_THAT(deleted.out, HasSubstr("deleted 2 records matching the filter"));
  EXPECT_EQ(QuiverOk({"count", "--collection", "fruits"}).out, "2\n");
  EXPECT_THAT(
      QuiverOk({"delete", "--collection", "fruits", "--where", R"({"color": "black"})"}).out,
      HasSubstr("deleted 0 records"));
}

TEST_F(CliTest, ExportThenImportRoundTripsACollectionExactly) {
  QuiverOk({"create", "--collection", "fruits", "--dims", "3", "--metric", "cos"});
  QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "a.jsonl", false)});
  const std::string numbered = dir_.Path("n.jsonl");
  Bytes()
      .Text(
          R"({"id": 7, "embedding": [0.25, 0.5, 0.125], "text": "seven", "metadata": {"n": {"deep": [1, 2]}}})"
          "\n")
      .WriteTo(numbered);
  QuiverOk({"import", "--collection", "fruits", numbered});
  const std::string exported = dir_.Path("export.jsonl");
  CommandRun run = QuiverOk({"export", "--collection", "fruits", "--output", exported});
  EXPECT_THAT(run.err, HasSubstr("exported 4 records from fruits"));
  // Refuses to overwrite.
  EXPECT_NE(
      Quiver({"export", "--data", data_, "--collection", "fruits", "-o", exported}).exit_status, 0);

  QuiverOk({"create", "--collection", "copy", "--dims", "3", "--metric", "cos"});
  QuiverOk({"import", "--collection", "copy", exported});
  const std::string again = dir_.Path("again.jsonl");
  QuiverOk({"export", "--collection", "copy", "--output", again});
  EXPECT_EQ(ReadFile(exported), ReadFile(again));
  EXPECT_EQ(Lines(ReadFile(again)).size(), 4u);
  const Json seven =
      Json::parse(QuiverOk({"get", "--collection", "copy", "--with-embedding", "7"}).out);
  EXPECT_EQ(seven["embedding"], Json({0.25, 0.5, 0.125}));
  EXPECT_EQ(seven["metadata"]["n"]["deep"], Json({1, 2}));
}

// --- Text search (docs/text.md) ---------------------------------------------------------

class CliTextTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    QuiverOk({"create", "--collection", "fruits", "--dims", "3", "--metric", "cos"});
    QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "a.jsonl", false)});
    QuiverOk({"import", "--collection", "fruits", WriteFruits(dir_, "b.jsonl", true)});
  }
};

TEST_F(CliTextTest, FullTextSearchPrintsScoresWithoutAnEmbeddingModel) {
  CommandRun table =
      QuiverOk({"search", "--collection", "fruits", "--text", "green", "--mode", "fulltext"});
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 4u) << table.out;  // "query 0", the header, kiwi and lime
  EXPECT_THAT(lines[1], AllOf(HasSubstr("SCORE"), Not(HasSubstr("DISTANCE"))));
  EXPECT_THAT(table.out, AllOf(HasSubstr("a green kiwi"), HasSubstr("a green lime")));
  EXPECT_THAT(table.err, HasSubstr("mode=fulltext"));

  // Two queries, JSON: a score > 0 and no distance; the filter applies.
  CommandRun json = QuiverOk({"search", "--collection", "fruits", "--text", "green OR red",
                              "--text", "plum", "--mode", "fulltext", "--json", "--include", "id",
                              "--where", R"({"price": {"$lt": 2}})"});
  const std::vector<std::string> results = Lines(json.out);
  ASSERT_EQ(results.size(), 2u) << json.out;
  const Json first = Json::parse(results[0]);
  ASSERT_EQ(first["matches"].size(), 2u);
  for (const Json& match : first["matches"]) {
    EXPECT_GT(match["score"].get<double>(), 0.0);
    EXPECT_TRUE(match["distance"].is_null());
    EXPECT_TRUE(match["id"] == "kiwi" || match["id"] == "lime") << match;
  }
  EXPECT_TRUE(Json::parse(results[1])["matches"].empty());  // the plum has no price
}

TEST_F(CliTextTest, BadTextSearchesNameTheProblem) {
  CommandRun syntax = Quiver({"search", "--data", data_, "--collection", "fruits", "--text",
                              "green AND", "--mode", "fulltext", "--syntax", "fts5"});
  EXPECT_EQ(syntax.exit_status, 1);
  EXPECT_THAT(syntax.err, HasSubstr("queries[0]: fts5: syntax error"));
  // Vector and hybrid modes embed the text: this collection has no model.
  CommandRun hybrid = Quiver(
      {"search", "--data", data_, "--collection", "fruits", "--text", "green", "--mode", "hybrid"});
  EXPECT_EQ(hybrid.exit_status, 2);
  EXPECT_THAT(hybrid.err, AllOf(HasSubstr("no embedding model"), HasSubstr("--mode fulltext")));
  CommandRun both = Quiver({"search", "--data", data_, "--collection", "fruits", "--text", "green",
                            "--vector", "1,0,0"});
  EXPECT_NE(both.exit_status, 0);
  EXPECT_THAT(both.err, HasSubstr("excludes"));
  CommandRun orphan_flag = Quiver({"search", "--data", data_, "--collection", "fruits", "--vector",
                                   "1,0,0", "--mode", "hybrid"});
  EXPECT_NE(orphan_flag.exit_status, 0);
  EXPECT_THAT(orphan_flag.err, HasSubstr("--mode requires --text"));
  CommandRun weight = Quiver({"search", "--data", data_, "--collection", "fruits", "--text",
                              "green", "--mode", "hybrid", "--vector-weight", "1.5"});
  EXPECT_NE(weight.exit_status, 0);
  EXPECT_THAT(weight.err, HasSubstr("--vector-weight"));
}

}  // namespace
}  // namespace quiver::cli
