// SPDX-License-Identifier: GPL-3.0-or-later
// Test runner: runs every registered case in a forked child (or in-process
// with --no-fork, for debuggers), optionally filtered by substring.
// Usage: cantus-tests [--list] [--no-fork] [-v] [SUBSTRING...]
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TESTS = 1024 };

typedef struct {
  const char *name;
  const char *file;
  CantusTestFn fn;
} Case;

static Case cases[MAX_TESTS];
static int n_cases;
static int failed_flag;
int cantus_test_verbose;

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

static int run_case(const Case *c, bool fork_it)
{
  if (!fork_it) {
    failed_flag = 0;
    c->fn();
    return failed_flag;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    failed_flag = 0;
    c->fn();
    fflush(stdout);
    _exit(failed_flag ? 1 : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) {
    printf("FAIL %s: cannot fork\n", c->name);
    return 1;
  }
  if (WIFSIGNALED(status)) {
    printf("FAIL %s: killed by signal %d\n", c->name, WTERMSIG(status));
    return 1;
  }
  return WEXITSTATUS(status) != 0;
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
  int passed = 0, failed = 0, matched = 0;
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
      printf("tests: 0 passed, 1 failed\n");
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
    const int bad = run_case(c, fork_it);
    printf("%s %s (%.2f s)\n", bad ? "FAIL" : "ok  ", c->name, now() - t0);
    bad ? failed++ : passed++;
  }
  if (!list) {
    printf("tests: %d passed, %d failed\n", passed, failed);
  }
  return failed ? 1 : 0;
}
