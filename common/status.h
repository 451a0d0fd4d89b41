#pragma once

// Status propagation helpers. Abseil 20220623 ships none, so they live here once.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TACHYON_CONCAT_INNER_(a, b) a##b
#define TACHYON_CONCAT_(a, b) TACHYON_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the caller when not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status tachyon_status_ = (expr);           \
    if (!tachyon_status_.ok()) return tachyon_status_; \
  } while (0)

#define TACHYON_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// `ASSIGN_OR_RETURN(auto x, FooOr())` declares x from an OK StatusOr, or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  TACHYON_ASSIGN_OR_RETURN_IMPL_(TACHYON_CONCAT_(tachyon_statusor_, __LINE__), lhs, expr)
