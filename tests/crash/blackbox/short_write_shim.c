/* Copyright (c) Quiver authors.
 *
 * libquiver_short_write_shim.so: an LD_PRELOAD library that makes every
 * write(2), pwrite(2) and pwrite64(2) to a regular file a short write: it
 * really writes only the first part of the buffer and returns that count, as
 * the kernel may (a signal, a full disk, a quota). A correct writer loops until
 * everything is written; one that does not leaves a torn file behind.
 *
 * Environment:
 *   QUIVER_SHORT_WRITE=half   write half of each request (at least 1 byte)
 *   QUIVER_SHORT_WRITE=<n>    write at most n bytes per call (default 1000)
 * Writes to pipes, terminals and sockets are passed through unchanged.
 *
 * At exit it prints one line on standard error,
 *   "short-write shim: shortened S of W writes to regular files (...)",
 * so that a test can check the shim really did something (S > 0).
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);

static write_fn real_write;
static pwrite_fn real_pwrite;
static pwrite_fn real_pwrite64;
static size_t max_bytes = 1000; /* per call; 0 = half mode */
static uint64_t writes_seen;    /* to regular files */
static uint64_t writes_shortened;

/* Resolves the libc functions and reads the environment. Idempotent; may
 * run concurrently (every thread computes the same values). */
static void init(void) {
  if (real_write) return;
  real_pwrite = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
  const char* mode = getenv("QUIVER_SHORT_WRITE");
  if (mode && strcmp(mode, "half") == 0) {
    max_bytes = 0;
  } else if (mode && atol(mode) > 0) {
    max_bytes = (size_t)atol(mode);
  }
  __atomic_store_n(&real_write, (write_fn)dlsym(RTLD_NEXT, "write"), __ATOMIC_RELEASE);
}

/* The byte count to really write for a request of `count` bytes to `fd`. */
static size_t shortened(int fd, size_t count) {
  struct stat st;
  if (count <= 1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return count;
  __atomic_add_fetch(&writes_seen, 1, __ATOMIC_RELAXED);
  size_t n = max_bytes == 0 ? count / 2 : (count > max_bytes ? max_bytes : count);
  if (n < count) __atomic_add_fetch(&writes_shortened, 1, __ATOMIC_RELAXED);
  return n;
}

ssize_t write(int fd, const void* buf, size_t count) {
  init();
  return real_write(fd, buf, shortened(fd, count));
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  init();
  return real_pwrite(fd, buf, shortened(fd, count), offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  init();
  return real_pwrite64(fd, buf, shortened(fd, count), offset);
}

/* Reports what the shim did, on standard error, when the process exits normally. */
__attribute__((destructor)) static void report(void) {
  init();
  char line[200];
  int n = snprintf(line, sizeof(line),
                   "short-write shim: shortened %llu of %llu writes to regular files (%s)\n",
                   (unsigned long long)__atomic_load_n(&writes_shortened, __ATOMIC_RELAXED),
                   (unsigned long long)__atomic_load_n(&writes_seen, __ATOMIC_RELAXED),
                   max_bytes == 0 ? "half of each request" : "a bounded count per call");
  if (n > 0) (void)!real_write(2, line, (size_t)n);
}
