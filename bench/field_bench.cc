// Copyright (c) Quiver authors.
//
// quiver_bench_field: Quiver (as a library and through its HTTP server)
// against raw USearch, hnswlib and FAISS on one data set, in one run, with the
// same parameters (tracker issue 5).
//
// For every system, two child processes (this binary re-executed with
// --child), so that each one's peak RSS is its own:
//   build   read base.fbin; build the index on --insert-threads threads
//           (Quiver: Collection::Upsert in batches of --batch into a durable
//           store); save it (Quiver: Store::Close, which checkpoints); measure
//           the bytes in its directory.
//   search  read query.fbin and the ground truth; open what build saved and
//           answer the first query (timed); then, for every ef and every
//           thread count, search --queries queries split into contiguous
//           shares across that many std::threads, one query per call (FAISS
//           HNSW also with one batch call per thread), and measure recall@k
//           and queries per second.
// Every measurement is one JSON line in --out (see docs/benchmarks.md for the
// fields); bench/plot_field.py turns the file into tables and plots.
//
//   quiver_bench_field --data data/fashion-mnist [--out FILE.jsonl] [--systems LIST]
//       [--ef 16,32,64,128,256,512] [--search-threads 1,2] [--insert-threads 2]
//       [--queries N] [--flat-queries 1000] [--rounds 3] [--k 10] [--connectivity 16]
//       [--expansion-add 128] [--batch 1000] [--checkpoint-every 100000]
//       [--quiver-synchronous full|normal] [--quiver-bin PATH] [--work DIR] [--keep]
//       [--meta KEY=VALUE]...
//
// Exit status: 0 if every system ran; 1 if some system failed (its error is
// recorded and the others still run); 2 for bad arguments or missing inputs.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "field_systems.h"

// The profiling modes mark their measured region for callgrind
// (valgrind --tool=callgrind --instr-atstart=no); no-ops otherwise.
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define QUIVER_PROFILE_START() CALLGRIND_START_INSTRUMENTATION
#define QUIVER_PROFILE_STOP() CALLGRIND_STOP_INSTRUMENTATION
#else
#define QUIVER_PROFILE_START() \
  do {                         \
  } while (0)
#define QUIVER_PROFILE_STOP() \
  do {                        \
  } while (0)
#endif

namespace quiver::bench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

/// Prefix of the lines a child writes to standard output for the parent.
constexpr const char* kReportPrefix = "@field ";
/// ef of the first query after reopening (USearch's and Quiver's default).
constexpr std::size_t kFirstQueryEf = 64;
/// Queries run untimed after the first query, before the measured sweep.
constexpr std::size_t kWarmupQueries = 500;

/// Every system this binary can run, in the order a run uses by default.
const std::vector<std::string>& KnownSystems() {
  static const std::vector<std::string> systems = {
      "usearch",     "quiver-f32", "quiver-f32-numkong", "quiver-f32-4k",
      "quiver-http", "quiver-f16", "quiver-i8",          "quiver-bf16",
      "hnswlib",     "faiss-hnsw", "faiss-flat"};
  return systems;
}

/// Systems run when --systems is not given (quiver-bf16 and quiver-f32-4k
/// only on request).
std::vector<std::string> DefaultSystems() {
  // quiver-f32-numkong: Quiver with raw USearch's distance kernel, so that the
  // difference to `usearch` is Quiver's own overhead alone.
  std::vector<std::string> out = {"usearch", "quiver-f32", "quiver-f32-numkong"};
#ifdef QUIVER_BENCH_HAVE_HTTP
  out.push_back("quiver-http");
#endif
  out.push_back("quiver-f16");
  out.push_back("quiver-i8");
#ifdef QUIVER_BENCH_HAVE_HNSWLIB
  out.push_back("hnswlib");
#endif
#ifdef QUIVER_BENCH_HAVE_FAISS
  out.push_back("faiss-hnsw");
  out.push_back("faiss-flat");
#endif
  return out;
}

/// Command-line options of a run (parent) or of one child; see Usage. Sizes
/// are counts, k and ef in neighbours; every field has the documented default.
struct Options {
  std::string data;
  std::string dataset;  // default: basename of data
  std::string out;      // default: bench/results/field-<dataset>-<date>.jsonl
  std::vector<std::string> systems;
  std::vector<std::size_t> ef = {16, 32, 64, 128, 256, 512};
  std::vector<std::size_t> search_threads = {1, 2};
  std::size_t insert_threads = 2;
  std::size_t queries = 0;  // 0 = all
  std::size_t flat_queries = 1000;
  std::size_t rounds = 3;  // timed repetitions of each sweep point; the median is reported
  std::size_t k = 10;
  std::size_t connectivity = 16;
  std::size_t expansion_add = 128;
  std::size_t batch = 1000;
  std::uint64_t checkpoint_every = 100000;
  std::string synchronous = "full";
  std::string quiver_bin;  // default: $QUIVER_BIN, else ../quiver beside this binary
  std::string work;        // default: $TMPDIR/quiver-field-<pid>
  bool keep = false;
  std::vector<std::pair<std::string, std::string>> meta;
  // Child mode.
  std::string child;  // "build" or "search"
  std::string system;
  std::string dir;
};

/// The command that prepares the data set in `data` (for error messages).
std::string PrepareHint(const std::string& data) {
  const std::string name = fs::path(data).filename().string();
  unsigned long long n = 0, d = 0;
  if (std::sscanf(name.c_str(), "clustered-%llux%llu", &n, &d) == 2) {
    return "/usr/bin/python3 bench/prepare_clustered.py --n " + std::to_string(n) + " --dims " +
           std::to_string(d) + " (or bench/run_field.sh, which prepares what is missing)";
  }
  return "/usr/bin/python3 bench/prepare_fashion_mnist.py (needs apt-get install "
         "dataset-fashion-mnist; bench/run_field.sh does both)";
}

[[noreturn]] void Usage(int status) {
  std::FILE* out = status == 0 ? stdout : stderr;
  std::fprintf(
      out,
      "quiver_bench_field --data DIR [--dataset NAME] [--out FILE.jsonl] [--systems LIST]\n"
      "    [--ef 16,32,64,128,256,512] [--search-threads 1,2] [--insert-threads 2]\n"
      "    [--queries N] [--flat-queries 1000] [--rounds 3] [--k 10] [--connectivity 16]\n"
      "    [--expansion-add 128] [--batch 1000] [--checkpoint-every 100000]\n"
      "    [--quiver-synchronous full|normal] [--quiver-bin PATH]\n"
      "    [--work DIR] [--keep] [--meta KEY=VALUE]...\n"
      "  DIR holds base.fbin, query.fbin and gt_l2sq.ibin (bench/prepare_*.py).\n"
      "  --rounds: each sweep point is timed this many times in a row and the\n"
      "  median is reported (short points are easily disturbed by other work).\n"
      "  --quiver-bin: the `quiver` that quiver-http runs as its server (default:\n"
      "  $QUIVER_BIN, else build/release/quiver beside build/release/bench/).\n"
      "  Systems compiled in: ");
  for (const auto& s : DefaultSystems()) std::fprintf(out, "%s ", s.c_str());
  std::fprintf(out, "quiver-bf16 quiver-f32-4k\n  See docs/benchmarks.md.\n");
  std::exit(status);
}

/// Parses argv into Options. Throws std::runtime_error naming the argument for
/// an unknown flag, a missing or non-numeric value, or an ef below k.
Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    auto number = [&]() -> std::size_t { return ParseSizeList(next(), a).at(0); };
    if (a == "--data") {
      o.data = next();
    } else if (a == "--dataset") {
      o.dataset = next();
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--systems") {
      std::stringstream list(next());
      o.systems.clear();
      for (std::string s; std::getline(list, s, ',');) o.systems.push_back(s);
    } else if (a == "--ef") {
      o.ef = ParseSizeList(next(), a);
    } else if (a == "--search-threads") {
      o.search_threads = ParseSizeList(next(), a);
    } else if (a == "--insert-threads") {
      o.insert_threads = number();
    } else if (a == "--queries") {
      o.queries = number();
    } else if (a == "--flat-queries") {
      o.flat_queries = number();
    } else if (a == "--rounds") {
      o.rounds = std::max<std::size_t>(1, number());
    } else if (a == "--k") {
      o.k = number();
    } else if (a == "--connectivity") {
      o.connectivity = number();
    } else if (a == "--expansion-add") {
      o.expansion_add = number();
    } else if (a == "--batch") {
      o.batch = number();
    } else if (a == "--checkpoint-every") {
      o.checkpoint_every = number();
    } else if (a == "--quiver-synchronous") {
      o.synchronous = next();
      if (o.synchronous != "full" && o.synchronous != "normal") {
        throw std::runtime_error("--quiver-synchronous: full or normal");
      }
    } else if (a == "--quiver-bin") {
      o.quiver_bin = next();
    } else if (a == "--work") {
      o.work = next();
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--meta") {
      const std::string kv = next();
      const std::size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw std::runtime_error("--meta wants KEY=VALUE");
      o.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (a == "--child") {
      o.child = next();
    } else if (a == "--system") {
      o.system = next();
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--help" || a == "-h") {
      Usage(0);
    } else {
      throw std::runtime_error("unknown argument " + a + " (see --help)");
    }
  }
  if (o.data.empty()) throw std::runtime_error("--data DIR is required (see --help)");
  if (o.dataset.empty()) o.dataset = fs::path(o.data).lexically_normal().filename().string();
  if (o.dataset.empty()) o.dataset = fs::path(o.data).lexically_normal().parent_path().filename();
  if (o.systems.empty()) o.systems = DefaultSystems();
  if (o.k == 0 || o.insert_threads == 0 || o.batch == 0) {
    throw std::runtime_error("--k, --insert-threads and --batch must be positive");
  }
  for (std::size_t t : o.search_threads) {
    if (t == 0) throw std::runtime_error("--search-threads: 0 is not a thread count");
  }
  for (std::size_t ef : o.ef) {
    if (ef < o.k) {
      throw std::runtime_error("--ef: " + std::to_string(ef) + " is below k=" +
                               std::to_string(o.k) + "; libraries would raise it differently");
    }
  }
  return o;
}

/// FieldParams for a run with options `o` on vectors of `dims` dimensions.
FieldParams ParamsOf(const Options& o, std::size_t dims) {
  FieldParams p;
  p.dims = dims;
  p.connectivity = o.connectivity;
  p.expansion_add = o.expansion_add;
  p.insert_threads = o.insert_threads;
  p.search_threads = *std::max_element(o.search_threads.begin(), o.search_threads.end());
  p.batch = o.batch;
  p.checkpoint_every_changes = o.checkpoint_every;
  p.synchronous_full = o.synchronous == "full";
  p.quiver_bin = o.quiver_bin;
  return p;
}

/// Creates system `name`; throws naming what is missing if it was not compiled in.
std::unique_ptr<AnnSystem> MakeSystem(const std::string& name, const FieldParams& p) {
  if (name == "usearch") return MakeUsearchSystem(p);
  if (name == "quiver-http") {
#ifdef QUIVER_BENCH_HAVE_HTTP
    return MakeQuiverHttpSystem(p);
#else
    throw std::runtime_error(
        "the HTTP server was not built (QUIVER_BUILD_SERVER=OFF or cpp-httplib missing), so "
        "quiver-http is not available");
#endif
  }
  if (name.rfind("quiver-", 0) == 0) return MakeQuiverSystem(p, name.substr(7));
  if (name == "hnswlib") {
#ifdef QUIVER_BENCH_HAVE_HNSWLIB
    return MakeHnswlibSystem(p);
#else
    throw std::runtime_error(
        "hnswlib was not found when this was built (apt-get install "
        "libhnswlib-dev, then rebuild)");
#endif
  }
  if (name == "faiss-hnsw" || name == "faiss-flat") {
#ifdef QUIVER_BENCH_HAVE_FAISS
    return name == "faiss-hnsw" ? MakeFaissHnswSystem(p) : MakeFaissFlatSystem(p);
#else
    throw std::runtime_error(
        "FAISS was not found when this was built (apt-get install "
        "libfaiss-dev, then rebuild)");
#endif
  }
  throw std::runtime_error("unknown system '" + name + "'");
}

/// [1 min, 5 min, 15 min] load averages as a JSON array.
json LoadJson(const LoadAverage& l) { return json::array({l.one, l.five, l.fifteen}); }

/// Writes one report line for the parent.
void Report(const json& j) {
  std::printf("%s%s\n", kReportPrefix, j.dump().c_str());
  std::fflush(stdout);
}

// --- Child: build ----------------------------------------------------------------------

/// --child build: reads base.fbin, builds --system into --dir on
/// --insert-threads threads, saves it, and reports one "build" line (seconds,
/// bytes on disk, RSS in KiB). Returns 0; throws on any failure (exit 2).
int ChildBuild(const Options& o) {
  const std::string hint = PrepareHint(o.data);
  const Matrix base = ReadBin(o.data + "/base.fbin", false, hint);
  const long input_rss = CurrentRssKib();
  auto system = MakeSystem(o.system, ParamsOf(o, base.cols));

  const LoadAverage load_start = ReadLoadAverage();
  auto start = Clock::now();
  system->Build(base, o.dir);
  const double build_s = Seconds(start);
  json info = system->Describe();
  start = Clock::now();
  system->Save();
  const double save_s = Seconds(start);
  const json processes = system->ProcessStats();  // quiver-http: the server's RSS and CPU
  const LoadAverage load_end = ReadLoadAverage();
  std::fprintf(stderr, "  %-11s build %.2f s, save %.2f s, on disk %.1f MiB, kernel %s\n",
               o.system.c_str(), build_s, save_s, DiskBytes(o.dir) / double(1 << 20),
               info.value("simd_kernel", std::string("?")).c_str());
  if (processes.contains("server_peak_rss_kib")) {
    std::fprintf(stderr, "  %-11s server peak RSS %.0f MiB, server CPU %.1f s\n", o.system.c_str(),
                 processes.value("server_peak_rss_kib", 0.0) / 1024,
                 processes.value("server_cpu_s", 0.0));
  }
  json line = {{"type", "build"},
               {"build_s", build_s},
               {"save_s", save_s},
               {"disk_bytes", DiskBytes(o.dir)},
               {"input_rss_kib", input_rss},
               {"vm_hwm_kib", PeakRssKib()},
               {"loadavg_start", LoadJson(load_start)},
               {"loadavg_end", LoadJson(load_end)},
               {"info", info}};
  line.update(processes);
  Report(line);
  return 0;
}

// --- Child: search ---------------------------------------------------------------------

/// One point of the sweep: `nq` queries on `threads` threads.
struct Point {
  double seconds = 0;
  double recall = 0;
  double p50_us = 0, p99_us = 0;  // single-query calls only
};

/// Searches queries [0, nq) split into `threads` contiguous shares, one
/// std::thread each, one query per call (batch = false) or one call per
/// thread (batch = true). Timing starts when every thread is ready and ends
/// when the last one finishes. Rethrows the first error of any thread.
Point RunPoint(AnnSystem& system, const Matrix& query, const Matrix& truth, std::size_t nq,
               std::size_t k, std::size_t threads, bool batch) {
  std::vector<std::uint64_t> found(nq * k, kNoKey);
  std::vector<float> latency_us(batch ? 0 : nq);
  std::latch ready(static_cast<std::ptrdiff_t>(threads));
  std::latch go(1);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::size_t lo = t * nq / threads, hi = (t + 1) * nq / threads;
      try {
        system.BeginSearchThread();
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
      ready.count_down();
      go.wait();
      if (!errors[t].empty()) return;
      try {
        if (batch) {
          if (hi > lo) system.SearchBatch(query.Row(lo), hi - lo, k, t, found.data() + lo * k);
        } else {
          for (std::size_t q = lo; q < hi; ++q) {
            const auto t0 = Clock::now();
            system.Search(query.Row(q), k, t, found.data() + q * k);
            latency_us[q] = static_cast<float>(Seconds(t0) * 1e6);
          }
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  ready.wait();
  const auto start = Clock::now();
  go.count_down();
  for (auto& thread : pool) thread.join();
  Point p;
  p.seconds = Seconds(start);
  for (const auto& e : errors) {
    if (!e.empty()) throw std::runtime_error(e);
  }
  p.recall = RecallAtK(found.data(), nq, k, truth);
  if (!batch && nq > 0) {
    std::sort(latency_us.begin(), latency_us.end());
    p.p50_us = latency_us[nq / 2];
    p.p99_us = latency_us[std::min(nq - 1, nq * 99 / 100)];
  }
  return p;
}

/// --child search: reads the queries and the ground truth, reopens --dir,
/// times the first query, warms up, then reports one "search" line per (ef,
/// threads, call mode) and a final "search_end". Returns 0; throws on failure.
int ChildSearch(const Options& o) {
  const std::string hint = PrepareHint(o.data);
  const Matrix query = ReadBin(o.data + "/query.fbin", false, hint);
  const Matrix truth = ReadBin(o.data + "/gt_l2sq.ibin", true, hint);
  const long input_rss = CurrentRssKib();
  auto system = MakeSystem(o.system, ParamsOf(o, query.cols));
  std::size_t nq = std::min(query.rows, truth.rows);
  if (o.queries > 0) nq = std::min(nq, o.queries);
  if (!system->UsesExpansionSearch() && o.flat_queries > 0) nq = std::min(nq, o.flat_queries);

  const LoadAverage load_start = ReadLoadAverage();
  auto start = Clock::now();
  system->Load(o.dir);
  const double open_s = Seconds(start);
  if (system->UsesExpansionSearch()) system->SetExpansionSearch(kFirstQueryEf);
  system->BeginSearchThread();
  std::vector<std::uint64_t> keys(o.k);
  start = Clock::now();
  system->Search(query.Row(0), o.k, 0, keys.data());
  const double first_query_ms = Seconds(start) * 1000;
  std::fprintf(stderr, "  %-11s reopen %.1f ms, first query %.2f ms\n", o.system.c_str(),
               open_s * 1000, first_query_ms);
  Report({{"type", "open"},
          {"open_s", open_s},
          {"first_query_ms", first_query_ms},
          {"first_query_ef", system->UsesExpansionSearch() ? kFirstQueryEf : 0},
          {"input_rss_kib", input_rss},
          {"loadavg_start", LoadJson(load_start)},
          {"info", system->Describe()}});

  // Warm-up (untimed): page in what the first query did not touch.
  for (std::size_t q = 1; q < std::min(nq, kWarmupQueries); ++q) {
    system->Search(query.Row(q), o.k, 0, keys.data());
  }

  const std::vector<std::size_t> efs =
      system->UsesExpansionSearch() ? o.ef : std::vector<std::size_t>{0};
  for (std::size_t ef : efs) {
    if (system->UsesExpansionSearch()) system->SetExpansionSearch(ef);
    for (std::size_t threads : o.search_threads) {
      for (bool batch : {false, true}) {
        if (batch && !system->SupportsBatch()) continue;
        const LoadAverage before = ReadLoadAverage();
        // The same point o.rounds times in a row; report the round with the
        // median time (recall is the same every round: searches are deterministic).
        std::vector<Point> rounds;
        for (std::size_t r = 0; r < o.rounds; ++r) {
          rounds.push_back(RunPoint(*system, query, truth, nq, o.k, threads, batch));
        }
        std::vector<double> round_seconds;
        for (const auto& r : rounds) round_seconds.push_back(r.seconds);
        std::sort(rounds.begin(), rounds.end(),
                  [](const Point& a, const Point& b) { return a.seconds < b.seconds; });
        const Point p = rounds[rounds.size() / 2];
        const LoadAverage after = ReadLoadAverage();
        json line = {{"type", "search"},
                     {"ef", ef == 0 ? json(nullptr) : json(ef)},
                     {"threads", threads},
                     {"call", batch ? "batch" : "single"},
                     {"queries", nq},
                     {"k", o.k},
                     {"recall_at_k", p.recall},
                     {"seconds", p.seconds},
                     {"qps", nq / p.seconds},
                     {"rounds", round_seconds.size()},
                     {"seconds_rounds", round_seconds},
                     {"loadavg_start", LoadJson(before)},
                     {"loadavg_end", LoadJson(after)}};
        if (!batch) {
          line["latency_p50_us"] = p.p50_us;
          line["latency_p99_us"] = p.p99_us;
        }
        Report(line);
        std::fprintf(stderr, "  %-11s ef=%-4s threads=%zu %-6s recall@%zu=%.4f  %8.0f q/s\n",
                     o.system.c_str(), ef ? std::to_string(ef).c_str() : "-", threads,
                     batch ? "batch" : "single", o.k, p.recall, nq / p.seconds);
      }
    }
  }
  json end = {{"type", "search_end"},
              {"vm_hwm_kib", PeakRssKib()},
              {"input_rss_kib", input_rss},
              {"loadavg_end", LoadJson(ReadLoadAverage())}};
  end.update(system->ProcessStats());  // quiver-http: the server's, while it still runs
  if (end.contains("server_peak_rss_kib")) {
    std::fprintf(stderr, "  %-11s server peak RSS %.0f MiB, server CPU %.1f s\n", o.system.c_str(),
                 end.value("server_peak_rss_kib", 0.0) / 1024, end.value("server_cpu_s", 0.0));
  }
  Report(end);
  return 0;
}

// --- Child: profile (diagnosis, not part of a run) ----------------------------------------

/// --child profile-search: opens the index in --dir (made by a run with
/// --keep), then searches the first --queries queries (default 1000) one per
/// call on one thread at the first --ef. --child profile-import: adds the first
/// --queries query vectors under new keys (n, n+1, ...): Quiver in Upsert
/// batches of --batch, raw USearch in one Insert. Only that region is
/// instrumented for callgrind. Prints one JSON line (seconds, open_s, ...).
int ChildProfile(const Options& o, bool import) {
  const std::string hint = PrepareHint(o.data);
  const Matrix query = ReadBin(o.data + "/query.fbin", false, hint);
  const Matrix truth = ReadBin(o.data + "/gt_l2sq.ibin", true, hint);
  const std::size_t base_rows = ReadBinHeader(o.data + "/base.fbin", hint).first;
  const std::size_t nq = std::min(query.rows, o.queries ? o.queries : 1000);
  auto system = MakeSystem(o.system, ParamsOf(o, query.cols));
  auto start = Clock::now();
  system->Load(o.dir);
  const double open_s = Seconds(start);
  system->SetExpansionSearch(o.ef.at(0));
  system->BeginSearchThread();
  std::vector<std::uint64_t> found(nq * o.k, kNoKey);
  start = Clock::now();
  system->Search(query.Row(0), o.k, 0, found.data());  // first query outside the region
  const double first_query_ms = Seconds(start) * 1000;
  const double cpu_start = ProcessCpuSeconds();
  start = Clock::now();
  QUIVER_PROFILE_START();
  if (import) {
    // Quiver imports in Upsert batches of --batch, as in a build; raw USearch adds
    // all rows in one call on its insert threads, as in its build.
    const std::size_t step = o.system.rfind("quiver-", 0) == 0 ? o.batch : nq;
    for (std::size_t i = 0; i < nq; i += step) {
      system->Insert(query.Row(i), std::min(step, nq - i), base_rows + i);
    }
  } else {
    for (std::size_t q = 0; q < nq; ++q)
      system->Search(query.Row(q), o.k, 0, found.data() + q * o.k);
  }
  QUIVER_PROFILE_STOP();
  const double seconds = Seconds(start);
  const double cpu_seconds = ProcessCpuSeconds() - cpu_start;
  json line = {{"type", import ? "profile_import" : "profile_search"},
               {"system", o.system},
               {"rows", nq},
               {"ef", o.ef.at(0)},
               {"seconds", seconds},
               {"cpu_s", cpu_seconds},
               {"open_s", open_s},
               {"first_query_ms", first_query_ms}};
  if (!import) line["recall_at_k"] = RecallAtK(found.data(), nq, o.k, truth);
  std::printf("%s\n", line.dump().c_str());
  if (import) system->Save();
  return 0;
}

// --- Parent ----------------------------------------------------------------------------

/// Arguments that make a child of this binary do `phase` for `system` in `dir`.
std::vector<std::string> ChildArgs(const Options& o, const std::string& phase,
                                   const std::string& system, const std::string& dir) {
  auto list = [](const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t x : v) {
      if (!s.empty()) s += ',';
      s += std::to_string(x);
    }
    return s;
  };
  return {SelfExecutable(),
          "--child",
          phase,
          "--system",
          system,
          "--dir",
          dir,
          "--data",
          o.data,
          "--dataset",
          o.dataset,
          "--ef",
          list(o.ef),
          "--search-threads",
          list(o.search_threads),
          "--insert-threads",
          std::to_string(o.insert_threads),
          "--queries",
          std::to_string(o.queries),
          "--flat-queries",
          std::to_string(o.flat_queries),
          "--rounds",
          std::to_string(o.rounds),
          "--k",
          std::to_string(o.k),
          "--connectivity",
          std::to_string(o.connectivity),
          "--expansion-add",
          std::to_string(o.expansion_add),
          "--batch",
          std::to_string(o.batch),
          "--checkpoint-every",
          std::to_string(o.checkpoint_every),
          "--quiver-synchronous",
          o.synchronous,
          "--quiver-bin",
          o.quiver_bin};
}

/// The report lines (prefix removed, parsed) in a child's standard output.
std::vector<json> ParseReports(const std::string& output) {
  std::vector<json> out;
  std::stringstream lines(output);
  const std::size_t prefix = std::strlen(kReportPrefix);
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, prefix, kReportPrefix) != 0) continue;
    out.push_back(json::parse(line.substr(prefix)));
  }
  return out;
}

/// Writes JSON lines to the results file (truncated first: one run per file;
/// plot_field.py reads the last run of each file), each with the run's common fields.
class ResultsFile {
 public:
  ResultsFile(const std::string& path, json common) : common_(std::move(common)) {
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    out_.open(path, std::ios::trunc);
    if (!out_) throw std::runtime_error("cannot write " + path);
  }
  void Write(const json& line) {
    json merged = common_;
    merged.update(line);
    out_ << merged.dump() << "\n";
    out_.flush();
  }

 private:
  json common_;
  std::ofstream out_;
};

/// Mebibytes from bytes (bytes = true) or from KiB.
double Mib(double kib_or_bytes, bool bytes) {
  return bytes ? kib_or_bytes / (1 << 20) : kib_or_bytes / 1024;
}

/// The run: checks the data set, then for every system runs a build child and a
/// search child of this binary, one at a time, adds each child's peak RSS, CPU
/// time and the load averages around it to its report lines, and writes them to
/// --out. Returns 0, or 1 if some system failed (the others still ran); throws
/// for missing inputs or bad arguments.
int Parent(const Options& o) {
  const std::string hint = PrepareHint(o.data);
  const auto [n, dims] = ReadBinHeader(o.data + "/base.fbin", hint);
  const auto [nq, qdims] = ReadBinHeader(o.data + "/query.fbin", hint);
  const auto [gt_rows, gt_k] = ReadBinHeader(o.data + "/gt_l2sq.ibin", hint);
  if (qdims != dims) {
    throw std::runtime_error("query.fbin has " + std::to_string(qdims) + " dims, base.fbin " +
                             std::to_string(dims));
  }
  if (gt_rows < nq || gt_k < o.k) {
    throw std::runtime_error("gt_l2sq.ibin is " + std::to_string(gt_rows) + " x " +
                             std::to_string(gt_k) + "; need " + std::to_string(nq) + " x " +
                             std::to_string(o.k) + "; regenerate with: " + hint);
  }
  for (const auto& s : o.systems) {
    if (std::find(KnownSystems().begin(), KnownSystems().end(), s) == KnownSystems().end()) {
      throw std::runtime_error("unknown system '" + s + "' (see --help)");
    }
    MakeSystem(s, ParamsOf(o, dims));  // fails now if it was not compiled in
  }
  const std::string out =
      o.out.empty() ? "bench/results/field-" + o.dataset + "-" + LocalDate() + ".jsonl" : o.out;
  const std::string work =
      o.work.empty()
          ? (fs::temp_directory_path() / ("quiver-field-" + std::to_string(::getpid()))).string()
          : o.work;
  const std::string run_id = UtcTimestamp() + "-" + std::to_string(::getpid());
  const std::size_t queries = o.queries ? std::min(o.queries, nq) : nq;

  json common = {{"run_id", run_id},
                 {"dataset", o.dataset},
                 {"date", LocalDate()},
                 {"n", n},
                 {"dims", dims},
                 {"metric", "l2sq"},
                 {"M", o.connectivity},
                 {"ef_construction", o.expansion_add},
                 {"insert_threads", o.insert_threads}};
  ResultsFile results(out, common);
  json run = {{"type", "run"},
              {"time_utc", UtcTimestamp()},
              {"nproc", std::thread::hardware_concurrency()},
              {"cpu_model", CpuModel()},
              {"systems", o.systems},
              {"ef_sweep", o.ef},
              {"search_threads", o.search_threads},
              {"queries", queries},
              {"flat_queries", o.flat_queries ? std::min(o.flat_queries, queries) : queries},
              {"rounds", o.rounds},
              {"k", o.k},
              {"quiver_batch", o.batch},
              {"quiver_checkpoint_every_changes", o.checkpoint_every},
              {"quiver_synchronous", o.synchronous},
              {"work_dir", work},
              {"build", QUIVER_BENCH_BUILD_INFO},
              {"loadavg_start", LoadJson(ReadLoadAverage())}};
  run.update(QuiverAndUsearchInfo());
#ifdef QUIVER_BENCH_HAVE_HNSWLIB
  run.update(HnswlibInfo());
#endif
#ifdef QUIVER_BENCH_HAVE_FAISS
  run.update(FaissInfo());
#endif
  for (const auto& [key, value] : o.meta) run["meta"][key] = value;
  results.Write(run);

  std::printf(
      "%s: %zu x %zu, %zu queries, k=%zu, M=%zu, ef_construction=%zu, %zu insert "
      "threads, search threads %s; results -> %s\n",
      o.dataset.c_str(), n, dims, queries, o.k, o.connectivity, o.expansion_add, o.insert_threads,
      json(o.search_threads).dump().c_str(), out.c_str());
  std::fflush(stdout);

  const auto run_start = Clock::now();
  int failures = 0;
  for (const auto& system : o.systems) {
    const std::string dir = work + "/" + o.dataset + "-" + system;
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const std::string phase : {"build", "search"}) {
      std::fprintf(stderr, "[%s] %s ...\n", system.c_str(), phase.c_str());
      const LoadAverage load_start = ReadLoadAverage();
      const ChildResult child = RunChildProcess(ChildArgs(o, phase, system, dir));
      const LoadAverage load_end = ReadLoadAverage();
      std::vector<json> reports;
      try {
        reports = ParseReports(child.output);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[%s] unreadable report: %s\n", system.c_str(), e.what());
      }
      json phase_extra = {{"system", system},
                          {"peak_rss_kib", child.peak_rss_kib},
                          {"process_wall_s", child.wall_seconds},
                          {"process_cpu_s", child.cpu_seconds},
                          {"process_loadavg_start", LoadJson(load_start)},
                          {"process_loadavg_end", LoadJson(load_end)}};
      for (auto& r : reports) {
        r["system"] = system;
        if (r["type"] == "build" || r["type"] == "search_end") r.update(phase_extra);
        results.Write(r);
        if (r["type"] == "build" || r["type"] == "search_end") {
          std::fprintf(stderr, "  %-11s %s process peak RSS %.0f MiB (inputs %.0f MiB)\n",
                       system.c_str(), phase.c_str(), Mib(child.peak_rss_kib, false),
                       Mib(r.value("input_rss_kib", 0.0), false));
        }
      }
      if (child.exit_code != 0) {
        std::fprintf(stderr, "[%s] %s failed (exit status %d); continuing with the next system\n",
                     system.c_str(), phase.c_str(), child.exit_code);
        json error = {{"type", "error"}, {"phase", phase}, {"exit_code", child.exit_code}};
        error.update(phase_extra);
        results.Write(error);
        ++failures;
        break;
      }
    }
    if (!o.keep) fs::remove_all(dir);
  }
  if (!o.keep) fs::remove(work);  // only if empty
  results.Write({{"type", "run_end"},
                 {"total_s", Seconds(run_start)},
                 {"failures", failures},
                 {"loadavg_end", LoadJson(ReadLoadAverage())}});
  std::printf("%s: done in %.0f s, %d failure(s); results in %s\n", o.dataset.c_str(),
              Seconds(run_start), failures, out.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  using namespace quiver::bench;
  Options options;
  try {
    options = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quiver_bench_field: error: %s\n", e.what());
    return 2;
  }
  try {
    if (options.child == "build") return ChildBuild(options);
    if (options.child == "search") return ChildSearch(options);
    if (options.child == "profile-search") return ChildProfile(options, /*import=*/false);
    if (options.child == "profile-import") return ChildProfile(options, /*import=*/true);
    if (!options.child.empty()) {
      throw std::runtime_error("--child: build, search, profile-search or profile-import");
    }
    return Parent(options);
  } catch (const std::exception& e) {
    std::fprintf(
        stderr, "quiver_bench_field%s: error: %s\n",
        options.child.empty() ? "" : (" [" + options.system + " " + options.child + "]").c_str(),
        e.what());
    return 2;
  }
}
