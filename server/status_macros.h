// Copyright (c) Quiver authors.
//
// Early-return helpers for Status and Result<T> in the server's handlers.
// (Prefixed QS_, "Quiver server", so they cannot clash with the core's own.)
//
//   QS_RETURN_IF_ERROR(collection->Upsert(records));
//   QS_ASSIGN_OR_RETURN(JsonObject root, body->RootObject());

#ifndef QUIVER_SERVER_STATUS_MACROS_H_
#define QUIVER_SERVER_STATUS_MACROS_H_

#include <utility>

#include "quiver/status.h"

#define QS_CONCAT_INNER_(a, b) a##b
#define QS_CONCAT_(a, b) QS_CONCAT_INNER_(a, b)

/// Evaluates `expr` (a Status) and returns it from the caller if not OK.
/// (The variable is named per line: `expr` may hold a lambda that uses the macro too.)
#define QS_RETURN_IF_ERROR(expr) QS_RETURN_IF_ERROR_IMPL_(QS_CONCAT_(qs_status_, __LINE__), expr)

#define QS_RETURN_IF_ERROR_IMPL_(qs_var, expr) \
  do {                                         \
    ::quiver::Status qs_var = (expr);          \
    if (!qs_var.ok()) return qs_var;           \
  } while (false)

/// Evaluates `expr` (a Result<T>); returns its status from the caller if it
/// failed, else declares/assigns `lhs` from its value (moved).
#define QS_ASSIGN_OR_RETURN(lhs, expr) \
  QS_ASSIGN_OR_RETURN_IMPL_(QS_CONCAT_(qs_result_, __LINE__), lhs, expr)

#define QS_ASSIGN_OR_RETURN_IMPL_(qs_var, lhs, expr) \
  auto qs_var = (expr);                              \
  if (!qs_var.ok()) return qs_var.status();          \
  lhs = std::move(qs_var).value()

#endif  // QUIVER_SERVER_STATUS_MACROS_H_
