// SPDX-License-Identifier: GPL-3.0-or-later
// jack_mkmodel: writes a test model for the cantus-jack suites, the tiny
// fixture (tests/unit/fixtures.h) drawn with another seed, so a hot swap can
// change to a model with different weights (tiny.cantus is seed 1).  An
// optional third argument is the model's metadata text ("\n" in it is a
// line break), e.g. "meter: beta=3/4".
// Usage: jack_mkmodel SEED FILE.cantus [METADATA]
#include "fixtures.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: jack_mkmodel SEED FILE.cantus [METADATA]\n");
    return 2;
  }
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m =
    cantus_fixture_model(&d, (uint32_t)strtoul(argv[1], NULL, 10), CANTUS_WEIGHTS_F32);
  CantusError err = { { 0 } };
  CantusStatus st = CANTUS_OK;
  if (argc == 4) {
    char meta[4096];
    size_t n = 0;
    for (const char *c = argv[3]; *c && n + 1 < sizeof meta; c++) {
      const bool nl = c[0] == '\\' && c[1] == 'n';
      meta[n++] = nl ? '\n' : *c;
      c += nl;
    }
    meta[n] = 0;
    st = cantus_model_set_meta(m, meta, &err);
  }
  st = st == CANTUS_OK ? cantus_model_save(m, argv[2], &err) : st;
  cantus_model_free(m);
  if (st != CANTUS_OK) {
    fprintf(stderr, "jack_mkmodel: %s\n", err.msg);
    return 1;
  }
  return 0;
}
