// SPDX-License-Identifier: GPL-3.0-or-later
// Status codes returned by every non-real-time dsp/ function, and their text.
// Thread class: any (cantus_strerror is a table lookup).
#ifndef CANTUS_STATUS_H
#define CANTUS_STATUS_H

#include <stddef.h>

typedef enum {
  CANTUS_OK = 0,
  CANTUS_ERR_IO,         // file cannot be opened or read or written
  CANTUS_ERR_BAD_MAGIC,  // not a file of the expected kind
  CANTUS_ERR_VERSION,    // newer format version than this build reads
  CANTUS_ERR_TRUNCATED,  // file ends before its declared contents
  CANTUS_ERR_TOO_LARGE,  // a size exceeds a hard cap
  CANTUS_ERR_NOT_FINITE, // NaN or Inf where numbers must be finite
  CANTUS_ERR_CHECKSUM,   // CRC-32 mismatch
  CANTUS_ERR_NO_MEMORY,  // allocation failed
  CANTUS_ERR_FORMAT,     // inconsistent or unsupported content
  CANTUS_ERR_ARGUMENT,   // caller passed an invalid value
  CANTUS_N_STATUS
} CantusStatus;

// A one-line, human-readable explanation for a failed call: the file (or
// object) and what is wrong with it, e.g. "x.cantus: truncated at byte 812
// (header says 4096 bytes)".  Functions that fail fill it when non-NULL.
typedef struct {
  char msg[512];
} CantusError;

// Text for a status code.  Never NULL.
const char *cantus_strerror(CantusStatus status);

// Sets err->msg from a printf-style format (when err is non-NULL) and returns
// status, so callers can write `return cantus_error(err, CANTUS_ERR_IO, ...)`.
CantusStatus cantus_error(CantusError *err, CantusStatus status, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#endif
