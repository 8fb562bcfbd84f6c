// SPDX-License-Identifier: GPL-3.0-or-later
// jack_mkmodel: writes a test model for the cantus-jack suites, the tiny
// fixture (tests/unit/fixtures.h) drawn with another seed, so a hot swap can
// change to a model with different weights.  tiny.cantus is seed 1.
// Usage: jack_mkmodel SEED FILE.cantus
#include "fixtures.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: jack_mkmodel SEED FILE.cantus\n");
    return 2;
  }
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m =
    cantus_fixture_model(&d, (uint32_t)strtoul(argv[1], NULL, 10), CANTUS_WEIGHTS_F32);
  CantusError err = { { 0 } };
  CantusStatus st = cantus_model_save(m, argv[2], &err);
  cantus_model_free(m);
  if (st != CANTUS_OK) {
    fprintf(stderr, "jack_mkmodel: %s\n", err.msg);
    return 1;
  }
  return 0;
}
