// SPDX-License-Identifier: GPL-3.0-or-later
// Build helper for the LV2 bundle: prints the Turtle of every control port
// (the engine controls of the control table, dsp/controls.h, and free_run)
// in index order, each block opening with "] , [", for ttl/cantus.ttl.in's
// @CONTROL_PORTS@ line.  The style ports' scale points and default are the
// given model's style names and default style, so cantus.ttl names the
// shipped default model's styles.
// Usage: lv2-ttl MODEL.cantus > control_ports.ttl
// Non-RT command-line program.
#include "controls.h"
#include "model.h"
#include "ports.h"

#include <math.h>
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

// A port value: whole numbers of whole-number ports as integers, reals
// with at least one decimal (0.0, 0.05, 120.0).
static void put_value(const CantusControlInfo *t, const char *pred, double v)
{
  if (t->kind != CANTUS_KIND_FLOAT) {
    printf(" ;\n\t\tlv2:%s %d", pred, (int)v);
  } else if (v == floor(v)) {
    printf(" ;\n\t\tlv2:%s %.1f", pred, v);
  } else {
    printf(" ;\n\t\tlv2:%s %g", pred, v);
  }
}

static void put_port(const CantusControlInfo *t, const CantusModel *m)
{
  printf("\t] , [\n\t\ta lv2:InputPort , lv2:ControlPort ;\n");
  printf("\t\tlv2:index %d ;\n\t\tlv2:symbol \"%s\" ;\n\t\tlv2:name \"", t->port, t->symbol);
  put_escaped(t->label);
  // The help line as a sentence.
  printf("\" ;\n\t\trdfs:comment \"%c",
         t->help[0] >= 'a' && t->help[0] <= 'z' ? t->help[0] - 'a' + 'A' : t->help[0]);
  put_escaped(t->help + 1);
  printf(".\"");
  switch (t->kind) {
  case CANTUS_KIND_FLOAT:
    break;
  case CANTUS_KIND_INT:
  case CANTUS_KIND_STYLE:
    printf(" ;\n\t\tlv2:portProperty lv2:integer");
    break;
  case CANTUS_KIND_ENUM:
    printf(" ;\n\t\tlv2:portProperty lv2:integer , lv2:enumeration");
    break;
  case CANTUS_KIND_TOGGLE:
    printf(" ;\n\t\tlv2:portProperty lv2:toggled");
    break;
  case CANTUS_KIND_TRIGGER:
    printf(" ;\n\t\tlv2:portProperty lv2:toggled , pprops:trigger");
    break;
  }
  if (t->unit) {
    printf(" ;\n\t\tunits:unit units:%s", t->unit);
  }
  double dflt = t->dflt;
  if (t->kind == CANTUS_KIND_STYLE) {
    for (uint32_t i = 0; i < m->dims.n_styles; i++) {
      printf("%s[ rdfs:label \"", i ? " ,\n\t\t\t" : " ;\n\t\tlv2:scalePoint ");
      put_escaped(m->style_names[i]);
      printf("\" ; rdf:value %u ]", i);
    }
    dflt = cantus_model_default_style(m);
  }
  for (int i = 0; i < t->n_points; i++) {
    printf("%s[ rdfs:label \"", i ? " ,\n\t\t\t" : " ;\n\t\tlv2:scalePoint ");
    put_escaped(t->points[i].label);
    printf("\" ; rdf:value %d ]", t->points[i].value);
  }
  put_value(t, "default", dflt);
  put_value(t, "minimum", t->min);
  put_value(t, "maximum", t->max);
  printf("\n");
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
    fprintf(stderr, "lv2-ttl: %s\n", err.msg);
    return 1;
  }
  for (uint32_t p = 0; p < CANTUS_N_PORTS; p++) {
    const CantusControlInfo *t = cantus_port_control(p);
    if (t) {
      put_port(t, m);
    }
  }
  cantus_model_free(m);
  return ferror(stdout) ? 1 : 0;
}
