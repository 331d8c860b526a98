// Copyright (c) Quiver authors.
//
// Helpers shared by the benchmarks in bench/: the .fbin/.ibin readers,
// recall@k, timing, process memory (RSS), load average, bytes on disk, and
// running a measurement in a child process so that its peak RSS is its own.
//
// Benchmarks are programs, not library code: failures here throw
// std::runtime_error with a message meant for the person running them.

#ifndef QUIVER_BENCH_BENCH_UTIL_H_
#define QUIVER_BENCH_BENCH_UTIL_H_

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace quiver::bench {

using Clock = std::chrono::steady_clock;

/// Seconds elapsed since `start` (steady clock).
inline double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A row-major matrix read from an .fbin (float32, in `f`) or .ibin (int32,
/// in `i`) file; only one of the two vectors is filled.
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<float> f;
  std::vector<std::int32_t> i;
  /// Row `r` of a float matrix (cols floats). No bounds check.
  const float* Row(std::size_t r) const { return f.data() + r * cols; }
};

/// Reads an .fbin (ints = false) or .ibin (ints = true) file: little-endian
/// int32 rows, int32 cols, then rows*cols float32 or int32 values.
/// Throws std::runtime_error when the file is missing (the message ends with
/// `prepare_hint`, the command that makes it), has a bad header, or its size
/// does not match the header (truncated or trailing bytes).
Matrix ReadBin(const std::string& path, bool ints, const std::string& prepare_hint);

/// Reads only the header of an .fbin/.ibin file: {rows, cols}. Throws like ReadBin.
std::pair<std::size_t, std::size_t> ReadBinHeader(const std::string& path,
                                                  const std::string& prepare_hint);

/// Key value that marks "no result" in a found-keys buffer.
inline constexpr std::uint64_t kNoKey = ~std::uint64_t{0};

/// Mean recall@k: `found` holds num_queries rows of k keys (kNoKey = none;
/// duplicates count once), `truth` holds at least num_queries rows of at
/// least k exact neighbour ids, nearest first. Returns |found ∩ truth[:k]| /
/// (num_queries * k), in [0, 1]. Throws if truth is too small.
double RecallAtK(const std::uint64_t* found, std::size_t num_queries, std::size_t k,
                 const Matrix& truth);

/// Total bytes of the regular files under `path` (or of `path` itself if it is
/// a file). 0 if it does not exist.
std::uint64_t DiskBytes(const std::string& path);

/// A "Key:   123 kB" value of /proc/<pid>/status in KiB (pid 0 = this
/// process), e.g. key "VmHWM"; -1 if the process or the key is not there.
long ProcessStatusKib(pid_t pid, const std::string& key);

/// This process's peak resident set size (VmHWM) and current RSS (VmRSS), KiB,
/// from /proc/self/status; 0 if unavailable.
long PeakRssKib();
long CurrentRssKib();

/// User + system CPU seconds used so far by all threads of this process (getrusage).
double ProcessCpuSeconds();

/// The 1-, 5- and 15-minute load averages from /proc/loadavg ({-1,-1,-1} if unreadable).
struct LoadAverage {
  double one = -1, five = -1, fifteen = -1;
};
LoadAverage ReadLoadAverage();

/// "model name" of the first CPU in /proc/cpuinfo, e.g. "AMD EPYC"; "" if unknown.
std::string CpuModel();

/// Absolute path of the running executable (/proc/self/exe).
std::string SelfExecutable();

/// Outcome of a child process.
struct ChildResult {
  int exit_code = -1;       // exit status; 128 + signal number if killed by a signal
  std::string output;       // everything it wrote to standard output
  long peak_rss_kib = 0;    // its ru_maxrss (KiB), from wait4
  double wall_seconds = 0;  // fork to exit
  double cpu_seconds = 0;   // its user + system CPU time, from wait4; cpu/wall shows
                            // how many cores it actually got
};

/// Runs `argv` (argv[0] = executable path) in a child process with fork/execv,
/// standard error inherited, standard output captured. Throws if fork/exec
/// plumbing fails; a non-zero exit is reported in exit_code, not thrown.
ChildResult RunChildProcess(const std::vector<std::string>& argv);

/// Runs `work()` in a forked child (no exec) and returns the trivially
/// copyable value it returns, passed back through a pipe; `*peak_rss_kib`
/// receives the child's ru_maxrss. The child inherits this process's memory,
/// so its RSS includes pages it touches of what the parent had loaded.
/// Throws std::runtime_error if the child fails (exception, crash, short write).
template <typename T, typename Work>
T RunInForkedChild(Work work, long* peak_rss_kib) {
  static_assert(std::is_trivially_copyable_v<T>, "results cross a pipe as bytes");
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    try {
      T value = work();
      if (::write(fds[1], &value, sizeof(value)) != static_cast<ssize_t>(sizeof(value))) ::_exit(2);
      ::_exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      ::_exit(1);
    }
  }
  ::close(fds[1]);
  T value{};
  std::size_t got = 0;
  while (got < sizeof(value)) {
    const ssize_t n = ::read(fds[0], reinterpret_cast<char*>(&value) + got, sizeof(value) - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  if (got != sizeof(value) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("benchmark child failed");
  }
  *peak_rss_kib = usage.ru_maxrss;
  return value;
}

/// Splits "16,32,64" into {16, 32, 64}. Throws on an empty or non-numeric item.
std::vector<std::size_t> ParseSizeList(const std::string& text, const std::string& what);

/// Local date as "YYYY-MM-DD" and UTC time as "YYYY-MM-DDTHH:MM:SSZ".
std::string LocalDate();
std::string UtcTimestamp();

}  // namespace quiver::bench

#endif  // QUIVER_BENCH_BENCH_UTIL_H_
