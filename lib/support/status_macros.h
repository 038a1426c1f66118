// Status propagation macros in the shape of Abseil's ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN,
// which libabsl20220623 does not ship yet (absl/status/status_macros.h arrived in 2026).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QC_INTERNAL_CONCAT_(a, b) a##b
#define QC_INTERNAL_CONCAT(a, b) QC_INTERNAL_CONCAT_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define QC_RETURN_IF_ERROR(expr)                        \
  do {                                                  \
    ::absl::Status qc_status_ = (expr);                 \
    if (!qc_status_.ok()) return qc_status_;            \
  } while (false)

// `QC_ASSIGN_OR_RETURN(auto x, Foo());` — declares/assigns `x` from a StatusOr or returns its error.
#define QC_ASSIGN_OR_RETURN(lhs, expr) \
  QC_INTERNAL_ASSIGN_OR_RETURN_(QC_INTERNAL_CONCAT(qc_statusor_, __LINE__), lhs, expr)
#define QC_INTERNAL_ASSIGN_OR_RETURN_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
