// SPDX-License-Identifier: GPL-3.0-or-later
// Command-line parsing shared by cantus-gen, cantus-info, cantus-jack,
// cantus-train and cantus-eval: numbers with a range, --version, the data
// folder (the shipped models) the program really uses, and one
// message form for every usage error, one line: "PROG: option --x: 5 is
// outside 0..2 (see PROG --help)", "PROG: unknown option '--x' (see PROG
// --help)"; and the engine-control options of the control table
// (dsp/controls.h): --NAME VALUE, --NAME=VALUE, --TOGGLE, --no-TOGGLE and
// their --help lines.
// Allocation contract: none.  Thread class: non-RT (prints to stderr).
#ifndef CANTUS_ARGS_H
#define CANTUS_ARGS_H

#include "controls.h"

#include <stdbool.h>
#include <stdio.h>

// Prints "PROG: MESSAGE (see PROG --help)\n" to stderr and returns 2, the
// usage-error exit status.
__attribute__((format(printf, 2, 3))) int cantus_args_usage(const char *prog, const char *fmt, ...);

// The usage error of an option no tool knows: "PROG: unknown option 'OPT'
// (see PROG --help)".  Returns 2.
int cantus_args_unknown(const char *prog, const char *opt);

// The usage error of an option given without its value: "PROG: option OPT
// needs a value (see PROG --help)".  Returns 2.
int cantus_args_missing(const char *prog, const char *opt);

// The one version of Cantus (CANTUS_VERSION, set once in the Makefile).
const char *cantus_args_version_string(void);

// Prints "PROG VERSION\n" (e.g. "cantus-gen 0.2.1") to stdout: --version.
void cantus_args_version(const char *prog);

// The data folder, where the shipped models are (DIR/models/*.cantus), found
// at run time: PREFIX/share/cantus beside the running program
// (PREFIX/bin/PROG: wherever `make install` put it, and $(B)/share/cantus in
// the build tree, whose models/ is a link to the source tree's), else the
// folder compiled in (DATADIR, PREFIX/share/cantus of the build).  The
// string is static; --help prints it.
const char *cantus_args_datadir(void);

// The last line of --help: "Data folder (the shipped models): DIR".
void cantus_args_datadir_help(FILE *f);

// A shipped data file, REL relative to the data folder ("models/
// default.cantus"): ./REL when it is a file (the source tree's models/, when
// run there), else DATADIR/REL written into buf.  NULL when neither is a
// file.
const char *cantus_args_data_file(const char *rel, char *buf, size_t n);

// Parses s as a whole number in lo..hi into *out.  On failure prints the
// usage error "option OPT: S is outside LO..HI" (or "'S' is not a whole
// number (LO..HI)") and returns false.
bool cantus_args_long(const char *prog,
                      const char *opt,
                      const char *s,
                      long lo,
                      long hi,
                      long *out);
bool cantus_args_int(const char *prog, const char *opt, const char *s, int lo, int hi, int *out);

// The same for a real number (finite, lo..hi): "... S is outside LO..HI",
// "'S' is not a number (LO..HI)".
bool cantus_args_double(const char *prog,
                        const char *opt,
                        const char *s,
                        double lo,
                        double hi,
                        double *out);

// An engine-control option.  opt is the option without its value ("--seed",
// "--no-listen"); has_value tells whether the value is given with '='.
// Returns the control, or -1 when opt names none (or a trigger, which has
// no option).  A toggle given bare sets *implied to "on" (or "off" for
// --no-NAME); it is NULL when the option takes the next word as its value.
int cantus_args_control(const char *opt, bool has_value, const char **implied);

// Prints the --help lines of the control options (every control but the
// triggers and those for which skip(id) is true; skip may be NULL):
// "  --NAME VALUE   help (range, default)".
void cantus_args_control_help(FILE *f, bool (*skip)(int id));

#endif
