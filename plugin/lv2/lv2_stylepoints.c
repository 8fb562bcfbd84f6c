// SPDX-License-Identifier: GPL-3.0-or-later
// Build helper for the LV2 bundle: prints the style ports' lv2:scalePoint
// lines (Turtle) for a model's style names and their lv2:default (the
// model's default style), so cantus.ttl names the shipped default model's
// styles.  Usage: lv2-stylepoints MODEL.cantus > points.ttl
// Non-RT command-line program.
#include "model.h"

#include <stdio.h>

// Prints s as the body of a Turtle string: quote and backslash escaped,
// control characters dropped.
static void put_escaped(const char *s)
{
  for (; *s; s++) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c >= 0x20) {
      putchar(c);
    }
  }
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.cantus\n", argv[0]);
    return 2;
  }
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m = NULL;
  CantusError err = { { 0 } };
  if (cantus_model_load(argv[1], &opt, &m, &err) != CANTUS_OK) {
    fprintf(stderr, "lv2-stylepoints: %s\n", err.msg);
    return 1;
  }
  printf("\t\tlv2:scalePoint ");
  for (uint32_t i = 0; i < m->dims.n_styles; i++) {
    printf("%s[ rdfs:label \"", i ? " ,\n\t\t\t" : "");
    put_escaped(m->style_names[i]);
    printf("\" ; rdf:value %u ]", i);
  }
  printf(" ;\n\t\tlv2:default %d ;\n", cantus_model_default_style(m));
  cantus_model_free(m);
  return ferror(stdout) ? 1 : 0;
}
