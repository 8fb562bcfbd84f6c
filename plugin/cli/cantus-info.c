// SPDX-License-Identifier: GPL-3.0-or-later
// cantus-info: prints what a .cantus model file holds (format, sizes,
// vocabulary layout, parameter count and memory, styles, metadata, CRC), as
// text or as JSON for scripts.  Every file goes through the same loader as
// the plugin, so a file this prints is a file the plugin loads.  A refused
// file prints the loader's one line on stderr; exit status 1 if any file was
// refused, 2 on a usage error.  Non-RT command-line tool.
#include "args.h"
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
  "usage: cantus-info [--json] FILE...\n"
  "Prints the header, sizes, vocabulary, parameters, styles, metadata and CRC\n"
  "of each .cantus model file.\n"
  "  --json      print JSON instead (one object; an array for several files)\n"
  "  --help      print this help\n"
  "  --version   print the version\n"
  "Styles are numbered from 1, as every Cantus tool counts them (1:NAME); the\n"
  "LV2 style port's value is the number less one (JSON: \"index\").\n"
  "Exit status: 0 all files loaded, 1 a file was refused, 2 usage error.\n";

typedef struct {
  const char *path;
  long long file_size;
  size_t net_f16; // run-time weight bytes with fp16 storage
} Info;

static void print_text(const CantusModel *m, const Info *in)
{
  const CantusDims *d = &m->dims;
  const CantusVocab *v = &d->vocab;
  printf("%s\n", in->path);
  printf("  format      %s version %u, %lld bytes, payload CRC-32 0x%08x\n",
         CANTUS_MODEL_MAGIC,
         (unsigned)m->version,
         in->file_size,
         (unsigned)m->crc);
  printf("  name        %s\n", m->name[0] ? m->name : "(none)");
  printf("  network     %u layers x %u hidden units (LSTM, gates i,f,g,o), token embedding %u,"
         " style vector %u\n",
         (unsigned)d->n_layers,
         (unsigned)d->n_hidden,
         (unsigned)d->n_embed,
         (unsigned)d->n_style_dim);
  printf("  vocabulary  %d tokens: pitches %u..%u (%d), shifts 1..%u ticks, ",
         cantus_vocab_size(v),
         (unsigned)v->pitch_lo,
         (unsigned)v->pitch_hi,
         cantus_vocab_n_pitch(v),
         (unsigned)v->n_shift);
  if (v->n_vel) {
    printf("%u velocity bins, ", (unsigned)v->n_vel);
  } else {
    printf("no velocity, ");
  }
  printf("%u ticks per quarter\n", (unsigned)v->tpq);
  printf("  positions   %u tick classes, %u beat classes\n",
         (unsigned)d->n_pos_tick,
         (unsigned)d->n_pos_beat);
  if (cantus_dims_is_v2(d)) {
    // Format 2: notes with part and duration, and the form inputs.
    printf("  parts       %u:", (unsigned)v->n_parts);
    for (int k = 0; k < v->n_parts; k++) {
      printf("%s %d=%s", k ? "," : "", k, m->part_names[k]);
    }
    printf("; %u duration bins\n", (unsigned)v->n_dur);
    printf("  form        lookback at");
    for (int i = 0, n = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
      if ((d->lookback_lags >> i) & 1u) {
        printf("%s %d", n++ ? "," : "", cantus_lookback_lag(i));
      }
    }
    printf("%s bars; phrase bar %u classes; bars left %u classes\n",
           d->lookback_lags ? "" : " no",
           (unsigned)d->n_phrase,
           (unsigned)d->n_bars_left);
    if (d->n_chord) {
      printf("  chords      %u inputs (12 pitch classes + no chord)\n", (unsigned)d->n_chord);
    }
  }
  printf("  parameters  %u (%zu bytes fp32 in the file; run-time weights %zu bytes fp16,"
         " whole model %zu bytes)\n",
         (unsigned)m->n_params,
         (size_t)m->n_params * 4,
         in->net_f16,
         m->alloc_size);
  printf("  styles      %u\n", (unsigned)d->n_styles);
  for (uint32_t i = 0; i < d->n_styles; i++) {
    printf("    %2u:%s\n", (unsigned)i + 1, m->style_names[i]); // counted from 1
  }
  printf("  metadata%s\n", m->meta[0] ? "" : "    (none)");
  const char *line = m->meta;
  while (*line) {
    const char *end = strchr(line, '\n');
    const int len = end ? (int)(end - line) : (int)strlen(line);
    printf("    %.*s\n", len, line);
    line += len + (end ? 1 : 0);
  }
}

// A JSON string literal; the loader guarantees valid UTF-8, so only quotes,
// backslashes and control characters need escapes.
static void json_string(const char *s)
{
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    switch (*c) {
    case '"':
      fputs("\\\"", stdout);
      break;
    case '\\':
      fputs("\\\\", stdout);
      break;
    case '\n':
      fputs("\\n", stdout);
      break;
    case '\r':
      fputs("\\r", stdout);
      break;
    case '\t':
      fputs("\\t", stdout);
      break;
    default:
      if (*c < 0x20 || *c == 0x7f) {
        printf("\\u%04x", (unsigned)*c);
      } else {
        putchar(*c);
      }
    }
  }
  putchar('"');
}

static void print_json(const CantusModel *m, const Info *in, const char *indent)
{
  const CantusDims *d = &m->dims;
  const CantusVocab *v = &d->vocab;
  printf("%s{\n%s  \"file\": ", indent, indent);
  json_string(in->path);
  printf(",\n%s  \"magic\": \"%s\",\n", indent, CANTUS_MODEL_MAGIC);
  printf("%s  \"version\": %u,\n", indent, (unsigned)m->version);
  printf("%s  \"name\": ", indent);
  json_string(m->name);
  printf(",\n%s  \"file_size\": %lld,\n", indent, in->file_size);
  printf("%s  \"crc32\": \"0x%08x\",\n", indent, (unsigned)m->crc);
  printf("%s  \"layers\": %u,\n%s  \"hidden\": %u,\n%s  \"embed\": %u,\n"
         "%s  \"style_dim\": %u,\n%s  \"gate_order\": \"ifgo\",\n",
         indent,
         (unsigned)d->n_layers,
         indent,
         (unsigned)d->n_hidden,
         indent,
         (unsigned)d->n_embed,
         indent,
         (unsigned)d->n_style_dim,
         indent);
  printf("%s  \"vocab\": {\"size\": %d, \"pitch_lo\": %u, \"pitch_hi\": %u, \"n_shift\": %u, "
         "\"n_vel\": %u, \"tpq\": %u},\n",
         indent,
         cantus_vocab_size(v),
         (unsigned)v->pitch_lo,
         (unsigned)v->pitch_hi,
         (unsigned)v->n_shift,
         (unsigned)v->n_vel,
         (unsigned)v->tpq);
  printf("%s  \"positions\": {\"tick\": %u, \"beat\": %u},\n",
         indent,
         (unsigned)d->n_pos_tick,
         (unsigned)d->n_pos_beat);
  printf("%s  \"params\": %u,\n%s  \"param_bytes_fp32\": %zu,\n%s  \"runtime_weight_bytes_fp16\": "
         "%zu,\n%s  \"model_bytes\": %zu,\n",
         indent,
         (unsigned)m->n_params,
         indent,
         (size_t)m->n_params * 4,
         indent,
         in->net_f16,
         indent,
         m->alloc_size);
  printf("%s  \"styles\": [", indent);
  for (uint32_t i = 0; i < d->n_styles; i++) {
    // number: as the tools count (from 1); index: the LV2 port value.
    printf(
      "%s{\"number\": %u, \"index\": %u, \"name\": ", i ? ", " : "", (unsigned)i + 1, (unsigned)i);
    json_string(m->style_names[i]);
    putchar('}');
  }
  printf("],\n%s  \"metadata\": ", indent);
  json_string(m->meta);
  printf("\n%s}", indent);
}

int main(int argc, char **argv)
{
  int json = 0, first = 1;
  for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
    if (!strcmp(argv[first], "--")) {
      first++;
      break;
    }
    if (!strcmp(argv[first], "--json")) {
      json = 1;
    } else if (!strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(argv[first], "--version")) {
      cantus_args_version("cantus-info");
      return 0;
    } else {
      return cantus_args_unknown("cantus-info", argv[first]);
    }
  }
  const int n_files = argc - first;
  if (n_files < 1) {
    fputs(usage, stderr);
    return 2;
  }
  const int array = json && n_files > 1;
  int refused = 0, printed = 0;
  if (array) {
    printf("[\n");
  }
  for (int i = first; i < argc; i++) {
    const CantusModelOptions opt = cantus_model_options_default(); // fp16, as the plugin
    CantusModel *m = NULL;
    CantusError err;
    if (cantus_model_load(argv[i], &opt, &m, &err) != CANTUS_OK) {
      fflush(stdout);
      fprintf(stderr, "%s\n", err.msg);
      refused = 1;
      continue;
    }
    struct stat sb;
    Info in = { .path = argv[i],
                .file_size = stat(argv[i], &sb) == 0 ? (long long)sb.st_size : -1,
                .net_f16 = cantus_lstm_net_size(&m->dims, CANTUS_WEIGHTS_F16) };
    if (json) {
      printf("%s", printed && array ? ",\n" : "");
      print_json(m, &in, array ? "  " : "");
      if (!array) {
        putchar('\n');
      }
    } else {
      printf("%s", printed ? "\n" : "");
      print_text(m, &in);
    }
    printed++;
    cantus_model_free(m);
  }
  if (array) {
    printf("\n]\n");
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "cantus-info: cannot write the output: %s\n", strerror(errno));
    return 1;
  }
  return refused;
}
