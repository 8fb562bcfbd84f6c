// SPDX-License-Identifier: GPL-3.0-or-later
// jack_mkmodel: writes a test model for the cantus-jack suites, the tiny
// fixture (tests/unit/fixtures.h) drawn with another seed, so a hot swap can
// change to a model with different weights.  tiny.cantus is seed 1.
// Usage: jack_mkmodel SEED FILE.cantus [NAME,NAME,NAME [DEFAULT_STYLE]]
// renames the three styles and sets the metadata line "default_style: ..";
// jack_mkmodel SEED FILE.cantus METADATA, where the third argument holds a
// ':', sets the metadata text instead ("\n" in it is a line break), e.g.
// "meter: beta=3/4".
#include "fixtures.h"
#include "model.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  if (argc < 3 || argc > 5) {
    fprintf(stderr,
            "usage: jack_mkmodel SEED FILE.cantus [NAME,NAME,NAME [DEFAULT_STYLE] | METADATA]\n");
    return 2;
  }
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m =
    cantus_fixture_model(&d, (uint32_t)strtoul(argv[1], NULL, 10), CANTUS_WEIGHTS_F32);
  CantusError err = { { 0 } };
  char meta[4096] = "";
  if (argc == 4 && strchr(argv[3], ':')) {
    size_t n = 0;
    for (const char *c = argv[3]; *c && n + 1 < sizeof meta; c++) {
      const bool nl = c[0] == '\\' && c[1] == 'n';
      meta[n++] = nl ? '\n' : *c;
      c += nl;
    }
    meta[n] = 0;
  } else if (argc > 3) {
    char names[256];
    snprintf(names, sizeof names, "%s", argv[3]);
    int i = 0;
    for (char *t = strtok(names, ","); t && i < (int)m->dims.n_styles; t = strtok(NULL, ",")) {
      cantus_model_set_style_name(m, i++, t);
    }
  }
  if (argc > 4) {
    snprintf(meta, sizeof meta, "default_style: %s\n", argv[4]);
  }
  CantusStatus st = meta[0] ? cantus_model_set_meta(m, meta, &err) : CANTUS_OK;
  st = st == CANTUS_OK ? cantus_model_save(m, argv[2], &err) : st;
  cantus_model_free(m);
  if (st != CANTUS_OK) {
    fprintf(stderr, "jack_mkmodel: %s\n", err.msg);
    return 1;
  }
  return 0;
}
