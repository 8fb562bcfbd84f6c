// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation and lock interposer (see alloc_guard.h).  The counters are
// thread-local so a worker thread's allocations never count against run().
#include "alloc_guard.h"

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>

static __thread int armed;
static __thread CantusGuardCounts counts;

void cantus_guard_arm(void)
{
  counts = (CantusGuardCounts){0, 0, 0};
  armed = 1;
}

CantusGuardCounts cantus_guard_disarm(void)
{
  armed = 0;
  return counts;
}

#if defined(__SANITIZE_ADDRESS__)
#  define GUARD_SAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define GUARD_SAN 1
#  endif
#endif

#ifdef GUARD_SAN
void __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                               void (*f)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n)
{
  (void)p, (void)n;
  if (armed) {
    counts.allocs++;
  }
}
static void on_free(const volatile void *p)
{
  if (armed && p) {
    counts.frees++;
  }
}
__attribute__((constructor)) static void install_hooks(void)
{
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
void *__libc_memalign(size_t, size_t);

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);
int posix_memalign(void **p, size_t align, size_t n);
void *aligned_alloc(size_t align, size_t n);
void *memalign(size_t align, size_t n);

void *malloc(size_t n)
{
  if (armed) {
    counts.allocs++;
  }
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
  if (armed) {
    counts.allocs++;
  }
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
  if (armed) {
    counts.allocs++;
    counts.frees++;
  }
  return __libc_realloc(p, n);
}

void free(void *p)
{
  if (armed && p) {
    counts.frees++;
  }
  __libc_free(p);
}

int posix_memalign(void **p, size_t align, size_t n)
{
  if (armed) {
    counts.allocs++;
  }
  *p = __libc_memalign(align, n);
  return *p ? 0 : 12;
}

void *aligned_alloc(size_t align, size_t n)
{
  if (armed) {
    counts.allocs++;
  }
  return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
  if (armed) {
    counts.allocs++;
  }
  return __libc_memalign(align, n);
}
#endif

// Locks: count, then forward to the real function.
#define FORWARD(ret, name, params, args)                                  \
  ret name params;                                                        \
  ret name params                                                         \
  {                                                                       \
    static ret(*real) params;                                             \
    if (armed) {                                                          \
      counts.locks++;                                                     \
    }                                                                     \
    if (!real) {                                                          \
      *(void **)&real = dlsym(RTLD_NEXT, #name);                          \
    }                                                                     \
    return real args;                                                     \
  }

FORWARD(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
FORWARD(int, pthread_mutex_trylock, (pthread_mutex_t * m), (m))
FORWARD(int, pthread_mutex_unlock, (pthread_mutex_t * m), (m))
FORWARD(int, pthread_rwlock_rdlock, (pthread_rwlock_t * l), (l))
FORWARD(int, pthread_rwlock_wrlock, (pthread_rwlock_t * l), (l))
FORWARD(int, pthread_rwlock_unlock, (pthread_rwlock_t * l), (l))
FORWARD(int, pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t *m), (c, m))
FORWARD(int, pthread_cond_signal, (pthread_cond_t * c), (c))
FORWARD(int, pthread_cond_broadcast, (pthread_cond_t * c), (c))
FORWARD(int, sem_wait, (sem_t * s), (s))
FORWARD(int, sem_post, (sem_t * s), (s))
