// Copyright (c) Quiver authors.
//
// Early-return helpers for Status and Result<T>. Internal: not part of the API.

#ifndef QUIVER_UTIL_STATUS_MACROS_H_
#define QUIVER_UTIL_STATUS_MACROS_H_

#include "quiver/status.h"

#define QUIVER_CONCAT_INNER_(a, b) a##b
#define QUIVER_CONCAT_(a, b) QUIVER_CONCAT_INNER_(a, b)

/// Evaluates `expr` (a Status) and returns it from the enclosing function if not OK.
#define QUIVER_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::quiver::Status _quiver_status = (expr);        \
    if (!_quiver_status.ok()) return _quiver_status; \
  } while (0)

/// `QUIVER_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result<T>'s
/// value, or returns its Status from the enclosing function.
#define QUIVER_ASSIGN_OR_RETURN(lhs, expr) \
  QUIVER_ASSIGN_OR_RETURN_IMPL_(QUIVER_CONCAT_(_quiver_result_, __LINE__), lhs, expr)
#define QUIVER_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                  \
  if (!result.ok()) return result.status();              \
  lhs = std::move(result).value()

#endif  // QUIVER_UTIL_STATUS_MACROS_H_
