// SPDX-License-Identifier: GPL-3.0-or-later
// Test runner: runs every registered case in a forked child (or in-process
// with --no-fork, for debuggers), optionally filtered by substring.  A child
// that calls SKIP() leaves its reason in a shared page and exits with
// SKIP_EXIT; the skipped cases are listed, with their reasons, before the
// closing "tests: N passed, N failed, N skipped".
// Usage: cantus-tests [--list] [--no-fork] [-v] [SUBSTRING...]
#include "test.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TESTS = 1024, SKIP_EXIT = 77, REASON_MAX = 512 };
typedef enum { CASE_PASSED, CASE_FAILED, CASE_SKIPPED } Result;

typedef struct {
  const char *name;
  const char *file;
  CantusTestFn fn;
} Case;

static Case cases[MAX_TESTS];
static int n_cases;
static int failed_flag;
int cantus_test_verbose;
// The running case's skip reason: a page shared with the forked children.
static char *skip_reason;
static bool in_child;
static jmp_buf skip_jump; // --no-fork: back to run_case()

void cantus_test_register(const char *name, const char *file, CantusTestFn fn)
{
  if (n_cases < MAX_TESTS) {
    cases[n_cases++] = (Case){ name, file, fn };
  }
}

void cantus_test_fail(void)
{
  failed_flag = 1;
}

void cantus_test_skip(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(skip_reason, REASON_MAX, fmt, ap);
  va_end(ap);
  if (!skip_reason[0]) {
    snprintf(skip_reason, REASON_MAX, "(no reason given)");
  }
  for (char *p = skip_reason; *p; p++) {
    if (*p == '\n') {
      *p = ' ';
    }
  }
  fflush(stdout);
  if (in_child) {
    // A check that failed before the skip still fails the case.
    _exit(failed_flag ? 1 : SKIP_EXIT);
  }
  longjmp(skip_jump, 1);
}

const char *cantus_test_build_dir(void)
{
  const char *b = getenv("CANTUS_BUILD");
  return b && *b ? b : "build";
}

const char *cantus_test_corpus_dir(void)
{
  const char *c = getenv("CANTUS_CORPUS");
  return c && *c ? c : "../shared/corpus";
}

static bool selected(const Case *c, int argc, char **argv, int first)
{
  if (first >= argc) {
    return true;
  }
  for (int i = first; i < argc; i++) {
    if (strstr(c->name, argv[i]) || strstr(c->file, argv[i])) {
      return true;
    }
  }
  return false;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static Result run_case(const Case *c, bool fork_it)
{
  skip_reason[0] = '\0';
  if (!fork_it) {
    failed_flag = 0;
    if (setjmp(skip_jump) == 0) {
      c->fn();
      return failed_flag ? CASE_FAILED : CASE_PASSED;
    }
    return failed_flag ? CASE_FAILED : CASE_SKIPPED;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    in_child = true;
    failed_flag = 0;
    c->fn();
    fflush(stdout);
    _exit(failed_flag ? 1 : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) {
    printf("FAIL %s: cannot fork\n", c->name);
    return CASE_FAILED;
  }
  if (WIFSIGNALED(status)) {
    printf("FAIL %s: killed by signal %d\n", c->name, WTERMSIG(status));
    return CASE_FAILED;
  }
  if (WEXITSTATUS(status) == SKIP_EXIT && skip_reason[0]) {
    return CASE_SKIPPED;
  }
  return WEXITSTATUS(status) != 0 ? CASE_FAILED : CASE_PASSED;
}

int main(int argc, char **argv)
{
  bool fork_it = true, list = false;
  int first = 1;
  for (; first < argc && argv[first][0] == '-'; first++) {
    if (!strcmp(argv[first], "--no-fork")) {
      fork_it = false;
    } else if (!strcmp(argv[first], "--list")) {
      list = true;
    } else if (!strcmp(argv[first], "-v")) {
      cantus_test_verbose = 1;
    } else {
      fprintf(stderr, "usage: %s [--list] [--no-fork] [-v] [SUBSTRING...]\n", argv[0]);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  skip_reason = mmap(NULL, REASON_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (skip_reason == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  static const char *skipped_reason[MAX_TESTS];
  int passed = 0, failed = 0, skipped = 0, matched = 0;
  for (int i = 0; i < n_cases; i++) {
    matched += selected(&cases[i], argc, argv, first);
  }
  if (matched == 0) {
    // A filter that selects nothing is a typo, not a pass.
    fprintf(stderr, "%s: no test case matches", argv[0]);
    for (int i = first; i < argc; i++) {
      fprintf(stderr, " '%s'", argv[i]);
    }
    fprintf(stderr, "\n");
    if (!list) {
      printf("tests: 0 passed, 1 failed, 0 skipped\n");
    }
    return 1;
  }
  for (int i = 0; i < n_cases; i++) {
    const Case *c = &cases[i];
    if (!selected(c, argc, argv, first)) {
      continue;
    }
    if (list) {
      printf("%s (%s)\n", c->name, c->file);
      continue;
    }
    const double t0 = now();
    const Result r = run_case(c, fork_it);
    static const char *const word[] = { "ok  ", "FAIL", "skip" };
    printf("%s %s (%.2f s)\n", word[r], c->name, now() - t0);
    if (r == CASE_SKIPPED) {
      skipped_reason[i] = strdup(skip_reason);
      skipped++;
    } else {
      r == CASE_FAILED ? failed++ : passed++;
    }
  }
  if (!list) {
    for (int i = 0; i < n_cases; i++) {
      if (skipped_reason[i]) {
        printf("SKIP %s: %s\n", cases[i].name, skipped_reason[i]);
      }
    }
    printf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  }
  return failed ? 1 : 0;
}
