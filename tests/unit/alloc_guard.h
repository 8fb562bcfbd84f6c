// SPDX-License-Identifier: GPL-3.0-or-later
// Allocation and lock guard: while armed on the calling thread, counts every
// malloc/calloc/realloc/free/aligned allocation and every pthread mutex,
// rwlock, condition-variable and semaphore call on that thread.  Used around
// engine and plugin run() calls to prove the real-time rules.
// Plain builds interpose the functions; SAN=1 builds count allocations
// through the sanitizer allocator hooks (locks are still interposed).
#ifndef CANTUS_ALLOC_GUARD_H
#define CANTUS_ALLOC_GUARD_H

typedef struct {
  long allocs;  // malloc, calloc, realloc, aligned allocations
  long frees;   // free (of non-NULL) and realloc
  long locks;   // pthread mutex/rwlock/cond/sem calls
} CantusGuardCounts;

void cantus_guard_arm(void);
CantusGuardCounts cantus_guard_disarm(void);  // stops counting, returns the counts since arm

#endif
