// Copyright (c) Quiver authors.

#include "bench_util.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace quiver::bench {
namespace {

std::runtime_error MissingFile(const std::string& path, const std::string& prepare_hint) {
  return std::runtime_error("cannot open " + path + ": " + std::strerror(errno) +
                            (prepare_hint.empty() ? "" : "\n  prepare it with: " + prepare_hint));
}

}  // namespace

std::pair<std::size_t, std::size_t> ReadBinHeader(const std::string& path,
                                                  const std::string& prepare_hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw MissingFile(path, prepare_hint);
  std::int32_t header[2] = {0, 0};
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  if (!in || header[0] < 0 || header[1] <= 0) {
    throw std::runtime_error(path + ": bad header (expected int32 rows, int32 cols)");
  }
  return {static_cast<std::size_t>(header[0]), static_cast<std::size_t>(header[1])};
}

Matrix ReadBin(const std::string& path, bool ints, const std::string& prepare_hint) {
  auto [rows, cols] = ReadBinHeader(path, prepare_hint);
  const std::uint64_t expected = 8 + std::uint64_t{rows} * cols * 4;
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec || size != expected) {
    throw std::runtime_error(
        path + ": header says " + std::to_string(rows) + " x " + std::to_string(cols) + " (" +
        std::to_string(expected) + " bytes) but the file has " + std::to_string(size) +
        " bytes; regenerate it" + (prepare_hint.empty() ? "" : " with: " + prepare_hint));
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(8);
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  const std::size_t n = rows * cols;
  char* data;
  if (ints) {
    m.i.resize(n);
    data = reinterpret_cast<char*>(m.i.data());
  } else {
    m.f.resize(n);
    data = reinterpret_cast<char*>(m.f.data());
  }
  in.read(data, static_cast<std::streamsize>(n * 4));
  if (!in) throw std::runtime_error(path + ": read failed");
  return m;
}

double RecallAtK(const std::uint64_t* found, std::size_t num_queries, std::size_t k,
                 const Matrix& truth) {
  if (truth.rows < num_queries || truth.cols < k || truth.i.empty()) {
    throw std::runtime_error("ground truth has " + std::to_string(truth.rows) + " x " +
                             std::to_string(truth.cols) + " ids; need " +
                             std::to_string(num_queries) + " x " + std::to_string(k));
  }
  std::size_t hits = 0;
  std::vector<std::uint64_t> expected(k);
  for (std::size_t q = 0; q < num_queries; ++q) {
    for (std::size_t j = 0; j < k; ++j) {
      expected[j] = static_cast<std::uint64_t>(truth.i[q * truth.cols + j]);
    }
    const std::uint64_t* row = found + q * k;
    for (std::size_t j = 0; j < k; ++j) {
      if (row[j] == kNoKey) continue;
      // Count a key once even if a system returned it twice.
      if (std::find(row, row + j, row[j]) != row + j) continue;
      if (std::find(expected.begin(), expected.end(), row[j]) != expected.end()) ++hits;
    }
  }
  return double(hits) / double(num_queries * k);
}

std::uint64_t DiskBytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  if (!fs::is_directory(path, ec)) return 0;
  std::uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

double ProcessCpuSeconds() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

long ProcessStatusKib(pid_t pid, const std::string& key) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

long PeakRssKib() { return std::max(0L, ProcessStatusKib(0, "VmHWM")); }
long CurrentRssKib() { return std::max(0L, ProcessStatusKib(0, "VmRSS")); }

LoadAverage ReadLoadAverage() {
  LoadAverage l;
  std::ifstream in("/proc/loadavg");
  in >> l.one >> l.five >> l.fifteen;
  if (!in) return LoadAverage{};
  return l;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

std::string SelfExecutable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  return path.string();
}

ChildResult RunChildProcess(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::runtime_error("RunChildProcess: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  ChildResult r;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  struct rusage usage {};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.wall_seconds = Seconds(start);
  r.peak_rss_kib = usage.ru_maxrss;
  r.cpu_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                  usage.ru_stime.tv_usec / 1e6;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

std::vector<std::size_t> ParseSizeList(const std::string& text, const std::string& what) {
  std::vector<std::size_t> out;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) {
      throw std::runtime_error(what + ": '" + item + "' is not a non-negative integer");
    }
    out.push_back(std::stoul(item));
  }
  if (out.empty()) throw std::runtime_error(what + ": empty list");
  return out;
}

std::string LocalDate() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d", &tm);
  return buffer;
}

std::string UtcTimestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace quiver::bench
