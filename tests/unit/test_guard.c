// SPDX-License-Identifier: GPL-3.0-or-later
// The guard itself must see what it claims to see, or every RT test using it
// would pass vacuously.
#include "alloc_guard.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>

TEST(guard_counts_allocations_and_locks)
{
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  cantus_guard_arm();
  void *volatile p = malloc(64);
  free(p);
  pthread_mutex_lock(&mu);
  pthread_mutex_unlock(&mu);
  CantusGuardCounts c = cantus_guard_disarm();
  CHECK(c.allocs >= 1);
  CHECK(c.frees >= 1);
  CHECK_EQ(c.locks, 2);
  cantus_guard_arm();
  c = cantus_guard_disarm();
  CHECK_EQ(c.allocs + c.frees + c.locks, 0);
}
