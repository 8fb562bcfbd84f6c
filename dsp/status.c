// SPDX-License-Identifier: GPL-3.0-or-later
// Status text and error-message formatting.  Non-RT (vsnprintf).
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

const char *cantus_strerror(CantusStatus status)
{
  static const char *const text[CANTUS_N_STATUS] = {
    [CANTUS_OK] = "success",
    [CANTUS_ERR_IO] = "input/output error",
    [CANTUS_ERR_BAD_MAGIC] = "bad magic (not a file of this kind)",
    [CANTUS_ERR_VERSION] = "unsupported format version",
    [CANTUS_ERR_TRUNCATED] = "truncated",
    [CANTUS_ERR_TOO_LARGE] = "size over a hard limit",
    [CANTUS_ERR_NOT_FINITE] = "NaN or infinite value",
    [CANTUS_ERR_CHECKSUM] = "checksum mismatch",
    [CANTUS_ERR_NO_MEMORY] = "out of memory",
    [CANTUS_ERR_FORMAT] = "malformed content",
    [CANTUS_ERR_ARGUMENT] = "invalid argument",
  };
  if ((unsigned)status >= CANTUS_N_STATUS) {
    return "unknown status";
  }
  return text[status];
}

CantusStatus cantus_error(CantusError *err, CantusStatus status, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return status;
}
