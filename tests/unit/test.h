// SPDX-License-Identifier: GPL-3.0-or-later
// The test harness: TEST() registers a case (at load time, so every
// tests/unit/test_*.c adds its cases without a central list); CHECK* report
// "FAIL file:line: ..." and let the case continue; SKIP("reason", ...) ends
// the case as skipped (what it needs is missing here: a corpus, a CPU
// feature), unless a check already failed.  Each case runs in its own forked
// process, so a crash fails one case, not the run.  Skipped cases are listed
// with their reasons ("SKIP name: reason") before the runner's last line,
// "tests: N passed, N failed, N skipped".  Whether a skip is allowed is
// decided by tests/run.sh (CANTUS_REQUIRE, CANTUS_ALLOW_SKIP).
#ifndef CANTUS_TEST_H
#define CANTUS_TEST_H

#include <math.h>
#include <stdio.h>

typedef void (*CantusTestFn)(void);
void cantus_test_register(const char *name, const char *file, CantusTestFn fn);
void cantus_test_fail(void);
__attribute__((noreturn, format(printf, 1, 2))) void cantus_test_skip(const char *fmt, ...);
extern int cantus_test_verbose;

#define TEST(name)                                                                  \
  static void test_##name(void);                                                    \
  __attribute__((constructor)) static void register_##name(void)                    \
  {                                                                                 \
    cantus_test_register(#name, __FILE__, test_##name);                             \
  }                                                                                 \
  static void test_##name(void)

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
      cantus_test_fail();                                                           \
    }                                                                               \
  } while (0)

#define CHECK_MSG(cond, ...)                                                        \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
      printf(__VA_ARGS__);                                                          \
      printf("\n");                                                                 \
      cantus_test_fail();                                                           \
    }                                                                               \
  } while (0)

#define CHECK_EQ(got, want)                                                         \
  do {                                                                              \
    long long g_ = (long long)(got), w_ = (long long)(want);                        \
    if (g_ != w_) {                                                                 \
      printf("FAIL %s:%d: %s == %s (got %lld, want %lld)\n", __FILE__, __LINE__,    \
             #got, #want, g_, w_);                                                  \
      cantus_test_fail();                                                           \
    }                                                                               \
  } while (0)

#define CHECK_NEAR(got, want, tol)                                                  \
  do {                                                                              \
    double g_ = (double)(got), w_ = (double)(want);                                 \
    if (!(fabs(g_ - w_) <= (double)(tol))) {                                        \
      printf("FAIL %s:%d: %s ~ %s (got %.9g, want %.9g, tol %g)\n", __FILE__,       \
             __LINE__, #got, #want, g_, w_, (double)(tol));                         \
      cantus_test_fail();                                                           \
    }                                                                               \
  } while (0)

// Ends the case as skipped, with a printf-style reason (one line).
#define SKIP(...) cantus_test_skip(__VA_ARGS__)

// Paths for tests: the build directory (CANTUS_BUILD, default "build") and
// the shared corpus (CANTUS_CORPUS, default "../shared/corpus").
const char *cantus_test_build_dir(void);
const char *cantus_test_corpus_dir(void);

#endif
