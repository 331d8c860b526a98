// Copyright (c) Quiver authors.
//
// quiver_bench_field's quiver-http system: Quiver f32 through its HTTP server.
// The benchmark starts `quiver serve` as a child process on a free loopback
// port and talks /v2 to it with keep-alive cpp-httplib clients: one upsert
// connection per insert thread, one query connection per search thread.
// What a measurement includes, on top of quiver-f32: JSON encoding here,
// loopback TCP, HTTP and JSON parsing in the server, the JSON response and
// its parsing here. Client and server share the machine's CPUs.
//
// The server process never outlives this one: it is killed (SIGKILL) by the
// destructor if it still runs, and by the kernel (PR_SET_PDEATHSIG) if the
// thread that started it dies first.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <simdjson.h>

#include "field_systems.h"

namespace quiver::bench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// The collection every run creates (as quiver-f32 does).
constexpr const char* kCollection = "bench";
constexpr const char* kJson = "application/json";
/// How long the server may take to become ready, and to checkpoint and exit
/// after SIGTERM (a 1M-vector store loads and writes ~0.5 GB).
constexpr int kServerTimeoutS = 900;
/// Attempts to start the server, each on a newly chosen free port (another
/// process may take the port between choosing it and the server binding it).
constexpr int kStartAttempts = 3;

/// The quiver binary: FieldParams::quiver_bin, else $QUIVER_BIN, else `quiver`
/// in the parent of the benchmark's directory (build/release/quiver beside
/// build/release/bench/quiver_bench_field).
std::string QuiverBinary(const FieldParams& params) {
  if (!params.quiver_bin.empty()) return params.quiver_bin;
  if (const char* env = std::getenv("QUIVER_BIN"); env != nullptr && *env != '\0') return env;
  return (fs::path(SelfExecutable()).parent_path().parent_path() / "quiver").string();
}

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("choosing a free loopback port: " + error);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// User + system CPU seconds of a running process (/proc/<pid>/stat); -1 if unreadable.
double ProcCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// One `quiver serve` child process. Not thread-safe; used from the thread
/// that started it (PR_SET_PDEATHSIG is tied to that thread).
class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  /// Kills the server (SIGKILL) if it still runs: never leaves an orphan.
  ~ServerProcess() { Kill(); }

  /// Starts `binary serve` on `dir` and returns once /readyz answers 200.
  /// Retries on a new port if the server exits before it is ready; throws
  /// naming the exit status (the server's own log, on standard error, says why).
  void Start(const std::string& binary, const std::string& dir, std::size_t threads,
             std::size_t max_body_bytes) {
    if (::access(binary.c_str(), X_OK) != 0) {
      throw std::runtime_error("quiver binary '" + binary + "' is missing or not executable (" +
                               std::strerror(errno) +
                               "); build it (scripts/build.sh release quiver) or name it with "
                               "--quiver-bin or $QUIVER_BIN");
    }
    binary_ = binary;
    std::string last_error;
    for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
      port_ = FreeLoopbackPort();
      Spawn({binary, "serve", "--data", dir, "--host", "127.0.0.1", "--port", std::to_string(port_),
             "--threads", std::to_string(threads), "--max-body-bytes",
             std::to_string(max_body_bytes)});
      last_error = WaitReady();
      if (last_error.empty()) return;
      if (exit_code_ == 127) break;  // exec failed: another port will not help
    }
    throw std::runtime_error(last_error);
  }

  /// Graceful stop: SIGTERM, then waits for the server to finish its requests,
  /// checkpoint, close the store and exit. Throws unless it exits with status 0.
  void Stop() {
    if (pid_ <= 0) return;
    hwm_before_stop_kib_ = ProcessStatusKib(pid_, "VmHWM");
    ::kill(pid_, SIGTERM);
    if (!WaitExit(kServerTimeoutS)) {
      Kill();
      throw std::runtime_error("quiver serve did not exit within " +
                               std::to_string(kServerTimeoutS) + " s of SIGTERM; killed");
    }
    if (exit_code_ != 0) {
      throw std::runtime_error("quiver serve exited with status " + std::to_string(exit_code_) +
                               " after SIGTERM (its log is above)");
    }
  }

  /// SIGKILL and reap, if it runs. Never throws.
  void Kill() noexcept {
    if (pid_ <= 0) return;
    hwm_before_stop_kib_ = ProcessStatusKib(pid_, "VmHWM");
    ::kill(pid_, SIGKILL);
    WaitExit(-1);
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }

  /// Peak RSS and CPU time of the server: while it runs, VmHWM and the CPU
  /// time so far (/proc); once it exited, its whole life's (wait4).
  json Stats() const {
    json out = {{"server_pid", last_pid_}};
    if (pid_ > 0) {
      out["server_peak_rss_kib"] = ProcessStatusKib(pid_, "VmHWM");
      out["server_cpu_s"] = ProcCpuSeconds(pid_);
      out["server_running"] = true;
    } else if (last_pid_ > 0) {
      out["server_peak_rss_kib"] = usage_.ru_maxrss;
      out["server_vm_hwm_before_stop_kib"] = hwm_before_stop_kib_;
      out["server_cpu_s"] = usage_.ru_utime.tv_sec + usage_.ru_utime.tv_usec / 1e6 +
                            usage_.ru_stime.tv_sec + usage_.ru_stime.tv_usec / 1e6;
      out["server_exit_code"] = exit_code_;
      out["server_running"] = false;
    }
    return out;
  }

 private:
  /// fork + exec of `argv`. The child's standard output goes to standard error
  /// (this process's standard output carries its reports to the parent), it
  /// gets no other descriptor, an empty signal mask, and SIGKILL when the
  /// thread that started it dies.
  void Spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
      ::close_range(3, ~0U, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      ::execv(args[0], args.data());
      static const char kMessage[] = "quiver_bench_field: exec of the quiver binary failed\n";
      [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
      ::_exit(127);
    }
    pid_ = last_pid_ = pid;
    exit_code_ = -1;
  }

  /// Polls /readyz until 200. Returns "" when ready, else why not (the server
  /// exited, or did not get ready in time, in which case it is killed).
  std::string WaitReady() {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(5, 0);
    const auto start = Clock::now();
    while (Seconds(start) < kServerTimeoutS) {
      if (WaitExit(0)) {
        return "quiver serve (" + binary_ + ") exited with status " + std::to_string(exit_code_) +
               " before it was ready (its log is above)";
      }
      auto res = client.Get("/readyz");
      if (res && res->status == 200) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    Kill();
    return "quiver serve was not ready within " + std::to_string(kServerTimeoutS) + " s; killed";
  }

  /// Waits up to `timeout_s` seconds (-1 = forever, 0 = just check) for the
  /// server to exit; reaps it, keeping its rusage and exit code. True if it exited.
  bool WaitExit(int timeout_s) noexcept {
    if (pid_ <= 0) return true;
    const auto start = Clock::now();
    for (;;) {
      int status = 0;
      const pid_t got = ::wait4(pid_, &status, timeout_s < 0 ? 0 : WNOHANG, &usage_);
      if (got == pid_ || (got < 0 && errno != EINTR)) {
        exit_code_ = got < 0               ? -1
                     : WIFEXITED(status)   ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : -1;
        pid_ = -1;
        return true;
      }
      if (timeout_s == 0 || (timeout_s > 0 && Seconds(start) >= timeout_s)) return false;
      if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  std::string binary_;
  pid_t pid_ = -1;       // running server, or -1
  pid_t last_pid_ = -1;  // the last server started (for Stats after it exited)
  int port_ = 0;
  int exit_code_ = -1;
  long hwm_before_stop_kib_ = -1;
  struct rusage usage_ {};
};

/// Appends `v` in the shortest text that reads back as the same float32.
void AppendFloat(std::string& out, float v) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), v);
  out.append(buffer, end);
}

void AppendUint(std::string& out, std::uint64_t v) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), v);
  out.append(buffer, end);
}

/// Appends `[v0,v1,...]` for `dims` floats.
void AppendVector(std::string& out, const float* v, std::size_t dims) {
  out.push_back('[');
  for (std::size_t i = 0; i < dims; ++i) {
    if (i) out.push_back(',');
    AppendFloat(out, v[i]);
  }
  out.push_back(']');
}

/// A keep-alive connection to the server. POSTs retry once when the
/// connection itself failed (the server closes idle connections after 5 s
/// and every connection after 1,000 requests); upserts and queries are idempotent.
class Connection {
 public:
  explicit Connection(int port) : client_("127.0.0.1", port) {
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(kServerTimeoutS, 0);
    client_.set_write_timeout(kServerTimeoutS, 0);
  }

  /// POSTs `body` as JSON; returns the response body. Throws naming `path`
  /// and the transport error or the HTTP status and error body.
  std::string Post(const std::string& path, const std::string& body) {
    httplib::Result res = client_.Post(path.c_str(), body.data(), body.size(), kJson);
    if (!res) res = client_.Post(path.c_str(), body.data(), body.size(), kJson);
    return Check(res, "POST " + path);
  }

  std::string Get(const std::string& path) {
    httplib::Result res = client_.Get(path.c_str());
    if (!res) res = client_.Get(path.c_str());
    return Check(res, "GET " + path);
  }

 private:
  static std::string Check(httplib::Result& res, const std::string& what) {
    if (!res) throw std::runtime_error(what + ": " + httplib::to_string(res.error()));
    if (res->status < 200 || res->status > 299) {
      throw std::runtime_error(what + ": HTTP " + std::to_string(res->status) + " " +
                               res->body.substr(0, 500));
    }
    return std::move(res->body);
  }

  httplib::Client client_;
};

/// Quiver f32 over HTTP: the collection quiver-f32 makes, created, filled and
/// searched through `quiver serve`'s /v2 API.
class QuiverHttpSystem : public AnnSystem {
 public:
  explicit QuiverHttpSystem(const FieldParams& params) : params_(params) {}

  void Build(const Matrix& base, const std::string& dir) override {
    // Settings `quiver serve` has no flag for keep the store's defaults; say
    // so instead of silently measuring something else.
    const std::size_t hardware = std::max(1u, std::thread::hardware_concurrency());
    if (params_.insert_threads != hardware || params_.checkpoint_every_changes != 100000 ||
        !params_.synchronous_full) {
      std::fprintf(stderr,
                   "  quiver-http: warning: quiver serve has no flags for insert threads, "
                   "checkpoint_every_changes or synchronous; it uses the store's defaults "
                   "(%zu insert threads = hardware threads, 100000, full), not the run's "
                   "(%zu, %llu, %s)\n",
                   hardware, params_.insert_threads,
                   static_cast<unsigned long long>(params_.checkpoint_every_changes),
                   params_.synchronous_full ? "full" : "normal");
    }
    // Workers for every upsert connection (and the searches to come).
    StartServer(dir, std::max(params_.insert_threads, params_.search_threads));
    json config = {{"dimensions", params_.dims},
                   {"metric", "l2sq"},
                   {"scalar", "f32"},
                   {"connectivity", params_.connectivity},
                   {"expansion_add", params_.expansion_add}};
    Connection(server_.port())
        .Post("/v2/collections", json{{"name", kCollection}, {"config", config}}.dump());
    Insert(base.f.data(), base.rows, 0);
    RecordStats();
  }

  /// Upserts the rows in batches of FieldParams::batch, on insert_threads
  /// keep-alive connections that take the next batch as they finish one.
  void Insert(const float* rows, std::size_t n, std::uint64_t first_key) override {
    const std::size_t batches = (n + params_.batch - 1) / params_.batch;
    const std::size_t threads = std::min(params_.insert_threads, batches);
    const std::string path = std::string("/v2/collections/") + kCollection + "/records";
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::string error;
    std::mutex error_mutex;
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        try {
          Connection connection(server_.port());
          std::string body;
          for (std::size_t b = next++; b < batches && !failed; b = next++) {
            const std::size_t lo = b * params_.batch, hi = std::min(n, lo + params_.batch);
            body.clear();
            body += "{\"records\":[";
            for (std::size_t i = lo; i < hi; ++i) {
              if (i > lo) body.push_back(',');
              body += "{\"id\":";
              AppendUint(body, first_key + i);
              body += ",\"embedding\":";
              AppendVector(body, rows + i * params_.dims, params_.dims);
              body.push_back('}');
            }
            body += "]}";
            connection.Post(path, body);
          }
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!failed.exchange(true)) error = e.what();
        }
      });
    }
    for (auto& thread : pool) thread.join();
    if (failed) throw std::runtime_error("upsert: " + error);
  }

  void Save() override { server_.Stop(); }

  void Load(const std::string& dir) override {
    StartServer(dir, params_.search_threads);
    RecordStats();
    search_.clear();
    search_.resize(params_.search_threads);
  }

  void SetExpansionSearch(std::size_t ef) override { ef_ = ef; }

  void Search(const float* query, std::size_t k, std::size_t thread, std::uint64_t* keys) override {
    if (thread >= search_.size()) {
      throw std::runtime_error("quiver-http: search thread " + std::to_string(thread) +
                               " but Load prepared " + std::to_string(search_.size()));
    }
    SearchThread& state = search_[thread];
    if (!state.connection) state.connection = std::make_unique<Connection>(server_.port());
    std::string& body = state.body;
    body.clear();
    body += "{\"vector\":";
    AppendVector(body, query, params_.dims);
    body += ",\"k\":";
    AppendUint(body, k);
    body += ",\"expansion_search\":";
    AppendUint(body, ef_);
    body += ",\"include\":[]}";  // ids and keys only: no distance, text or metadata
    std::string response = state.connection->Post(query_path_, body);

    std::fill(keys, keys + k, kNoKey);
    const simdjson::error_code error = ParseKeys(state.parser, response, k, keys);
    if (error) {
      throw std::runtime_error("query response: " + std::string(simdjson::error_message(error)) +
                               ": " + response.substr(0, 200));
    }
  }

  nlohmann::json Describe() const override { return info_; }
  nlohmann::json ProcessStats() const override { return server_.Stats(); }
  std::size_t dims() const override { return params_.dims; }

 private:
  /// A search thread's connection, request buffer and parser (reused).
  struct SearchThread {
    std::unique_ptr<Connection> connection;
    std::string body;
    simdjson::ondemand::parser parser;
  };

  /// Reads the "key" of each match of the first query of a /query response
  /// `{"results": [[{"id": 3, "key": 3}, ...]]}` into keys[0..k). Pads
  /// `response` in place for simdjson.
  static simdjson::error_code ParseKeys(simdjson::ondemand::parser& parser, std::string& response,
                                        std::size_t k, std::uint64_t* keys) {
    const std::size_t length = response.size();
    response.reserve(length + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    simdjson::ondemand::array results;
    if (auto e = parser.iterate(response.data(), length, response.capacity()).get(doc)) return e;
    if (auto e = doc["results"].get_array().get(results)) return e;
    for (auto list_value : results) {
      simdjson::ondemand::array list;
      if (auto e = list_value.get_array().get(list)) return e;
      std::size_t i = 0;
      for (auto match_value : list) {
        simdjson::ondemand::object match;
        std::uint64_t key = 0;
        if (auto e = match_value.get_object().get(match)) return e;
        if (auto e = match["key"].get_uint64().get(key)) return e;
        if (i < k) keys[i++] = key;
      }
      break;  // one query per request
    }
    return simdjson::SUCCESS;
  }

  /// Starts the server on `dir` with `threads` workers and a body limit that
  /// fits a batch in the longest float text.
  void StartServer(const std::string& dir, std::size_t threads) {
    // Per value at most 15 characters ("-1.1754944e-38") and a comma; per record its id.
    const std::size_t batch_bytes = params_.batch * (params_.dims * 16 + 64) + 4096;
    const std::size_t max_body = std::max<std::size_t>(batch_bytes, 64u << 20);
    server_.Start(QuiverBinary(params_), dir, threads, max_body);
    info_["server_port"] = server_.port();
    info_["server_threads"] = threads;
    info_["server_max_body_bytes"] = max_body;
    info_["quiver_bin"] = fs::absolute(QuiverBinary(params_)).string();
  }

  /// Copies the server's versions and the collection's kernel, index memory
  /// and checkpoint count (GET /v2/info and /stats) into info_.
  void RecordStats() {
    Connection connection(server_.port());
    const json about = json::parse(connection.Get("/v2/info"));
    info_["server_version"] = about.value("version", "");
    info_["usearch_version"] = about.value("usearch_version", "");
    const json stats =
        json::parse(connection.Get(std::string("/v2/collections/") + kCollection + "/stats"));
    info_["simd_kernel"] = stats.value("simd_kernel", "");
    info_["index_memory_bytes"] = stats.value("index_memory_bytes", 0);
    info_["config"] = stats.value("config", json::object());
    info_["checkpoint_generation"] = stats.value("checkpoint_generation", 0);
    info_["server_store_options"] =
        "quiver serve defaults: insert_threads = hardware threads, checkpoint_every_changes = "
        "100000, synchronous = full";
  }

  FieldParams params_;
  ServerProcess server_;
  std::size_t ef_ = 0;  // 0 = the collection's expansion_search
  const std::string query_path_ = std::string("/v2/collections/") + kCollection + "/query";
  std::vector<SearchThread> search_;
  json info_ = json::object();
};

}  // namespace

std::unique_ptr<AnnSystem> MakeQuiverHttpSystem(const FieldParams& params) {
  return std::make_unique<QuiverHttpSystem>(params);
}

}  // namespace quiver::bench
