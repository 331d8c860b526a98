// Copyright (c) Quiver authors.
//
// Status and Result<T>: errors are values across Quiver's API. No public
// function throws; each returns a Status (or a Result<T> that holds either a T
// or a non-OK Status). The set of codes is closed so that callers (the CLI, the
// HTTP server) can map them exhaustively, e.g. to exit codes or HTTP statuses.
//
// Thread safety: Status and Result are values; distinct objects may be used
// from distinct threads without synchronization.

#ifndef QUIVER_STATUS_H_
#define QUIVER_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace quiver {

/// The closed set of error kinds. Stable: the numeric values are never reused.
enum class StatusCode : int {
  kOk = 0,
  /// The caller's input is wrong (bad dimension, NaN, malformed JSON, bad name, k = 0...).
  kInvalidArgument = 1,
  /// A collection, record or file that was asked for does not exist.
  kNotFound = 2,
  /// A collection with that name exists already.
  kAlreadyExists = 3,
  /// Stored bytes fail a checksum or a format check (torn or foreign file).
  kCorruption = 4,
  /// The operating system or SQLite reported an I/O error. The outcome of a
  /// write that fails with kIOError is indeterminate: it may or may not be durable.
  kIOError = 5,
  /// Another process holds the store's LOCK, or SQLite stayed busy.
  kBusy = 6,
  /// The operation is not supported in this mode (e.g. a write on a read-only store).
  kNotSupported = 7,
  /// The store's state forbids the operation: configuration mismatch, a
  /// collection latched read-only after a failed fsync, a closed store.
  kFailedPrecondition = 8,
  /// A bug in Quiver or a dependency; please report it.
  kInternal = 9,
  /// A service Quiver depends on failed: an embedding server that is down,
  /// timed out, overloaded after retries, or answered with the wrong count,
  /// dimension or non-finite values. The message names the service and
  /// quotes its reply. Retrying later may succeed; nothing was written.
  kUnavailable = 10,
};

/// Returns the stable lower-case name of a code, e.g. "invalid_argument".
std::string_view StatusCodeName(StatusCode code);

/// The outcome of an operation: OK, or a code with a human-readable message
/// that names the offending field and the expected value.
class [[nodiscard]] Status {
 public:
  /// An OK status.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "OK", or "<code name>: <message>".
  std::string ToString() const;

  /// Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

/// Either a value of type T or a non-OK Status. Accessing the value of a
/// failed Result is a programming error (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  /// A successful result. Implicit so that `return value;` works.
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  /// A failed result; `status` must not be OK.
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "Result constructed from an OK status without a value");
    if (status_.ok()) status_ = Status::Internal("Result constructed from OK status without value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace quiver

#endif  // QUIVER_STATUS_H_
