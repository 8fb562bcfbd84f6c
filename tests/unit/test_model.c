// SPDX-License-Identifier: GPL-3.0-or-later
// The .cantus format against models/FORMAT.md: round trips (memory and
// file), the fp32/fp16 run-time options stepped against a reference written
// here from the parameters, and every refusal: truncation at every byte,
// every byte flipped, non-finite weights, newer versions, each cap, size
// mismatches, trailing bytes, bad names, missing files.  Byte offsets are
// written out here from FORMAT.md on purpose, so a change of the layout
// fails these tests until the spec, the version and tests/data/tiny.cantus
// are updated together.
#include "chord.h"
#include "fixtures.h"
#include "model.h"
#include "sample.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Header field offsets (FORMAT.md, "Header").
enum {
  H_VERSION = 8,
  H_HEADER_SIZE = 12,
  H_FILE_SIZE = 16,
  H_HEADER_CRC = 24,
  H_PAYLOAD_CRC = 28,
  H_N_LAYERS = 32,
  H_N_HIDDEN = 36,
  H_N_EMBED = 40,
  H_N_STYLE_DIM = 44,
  H_N_STYLES = 48,
  H_N_POS_TICK = 52,
  H_N_POS_BEAT = 56,
  H_N_VOCAB = 60,
  H_PITCH_LO = 64,
  H_PITCH_HI = 68,
  H_N_SHIFT = 72,
  H_N_VEL = 76,
  H_TPQ = 80,
  H_GATE_ORDER = 84,
  H_DTYPE = 88,
  H_N_TENSORS = 92,
  H_N_PARAMS = 96,
  H_NAMES_OFFSET = 104,
  H_META_OFFSET = 120,
  H_META_SIZE = 128,
  H_DIR_OFFSET = 136,
  H_DATA_OFFSET = 152,
  H_NAME = 168,
  H_RESERVED = 200, // version 1: reserved to 256
  // Version 2 fields (FORMAT.md, "Header", version 2).
  H_N_PARTS = 200,
  H_N_DUR = 204,
  H_LOOKBACK_LAGS = 208,
  H_N_PHRASE = 212,
  H_N_BARS_LEFT = 216,
  H_N_CHORD = 220,
  H_FORM_FLAGS = 224,
  H_RESERVED2 = 228,
  HEADER = 256,
  DIR_ENTRY = 64,
};

static const char *const PATH = "t.cantus";

// ---- helpers ------------------------------------------------------------------

static uint32_t rd32(const uint8_t *b)
{
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
  return rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static void wr32(uint8_t *b, uint32_t v)
{
  for (int i = 0; i < 4; i++) {
    b[i] = (uint8_t)(v >> (8 * i));
  }
}

static void wr64(uint8_t *b, uint64_t v)
{
  wr32(b, (uint32_t)v);
  wr32(b + 4, (uint32_t)(v >> 32));
}

// Recomputes both CRCs, so a test reaches the check behind them.
static void recrc(uint8_t *b, size_t n)
{
  const uint32_t hs = rd32(b + H_HEADER_SIZE);
  wr32(b + H_PAYLOAD_CRC, cantus_crc32(0, b + hs, n - hs));
  wr32(b + H_HEADER_CRC, 0);
  wr32(b + H_HEADER_CRC, cantus_crc32(0, b, hs));
}

static CantusDims micro_dims(void)
{
  const CantusVocab v = { .pitch_lo = 60, .pitch_hi = 63, .n_shift = 4, .n_vel = 2, .tpq = 1 };
  return (CantusDims){ .n_layers = 1,
                       .n_hidden = 16,
                       .n_embed = 2,
                       .n_style_dim = 1,
                       .n_styles = 1,
                       .n_pos_tick = 1,
                       .n_pos_beat = 2,
                       .vocab = v };
}

// The saved bytes of a fixture model (caller frees).
static uint8_t *fixture_bytes(const CantusDims *d, uint32_t seed, size_t *n)
{
  CantusModel *m = cantus_fixture_model(d, seed, CANTUS_WEIGHTS_F32);
  void *data = NULL;
  CantusError err;
  const CantusStatus st = cantus_model_save_mem(m, &data, n, &err);
  CHECK_MSG(st == CANTUS_OK, "%s", err.msg);
  cantus_model_free(m);
  if (!data) {
    abort();
  }
  return data;
}

static uint8_t *tiny_bytes(size_t *n)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  return fixture_bytes(&d, 1, n);
}

static CantusStatus load(const uint8_t *b, size_t n, CantusModel **m, CantusError *err)
{
  const CantusModelOptions opt = { .weights = CANTUS_WEIGHTS_F32, .extra_size = 0 };
  *m = (CantusModel *)(uintptr_t)1; // must be overwritten with NULL on failure
  err->msg[0] = '\0';
  return cantus_model_load_mem(b, n, PATH, &opt, m, err);
}

// A refused load: the status, no model, and one line naming the file that
// contains `want` (when non-NULL).  Returns true when all hold.
static bool refused(const uint8_t *b, size_t n, CantusStatus want_st, const char *want)
{
  CantusModel *m;
  CantusError err;
  const CantusStatus st = load(b, n, &m, &err);
  bool ok = st == want_st && m == NULL && strncmp(err.msg, PATH, strlen(PATH)) == 0 &&
            !strchr(err.msg, '\n') && (!want || strstr(err.msg, want));
  if (!ok) {
    printf("  got status %d (%s), want %d; message \"%s\", want \"%s\"\n",
           st,
           cantus_strerror(st),
           want_st,
           err.msg,
           want ? want : "");
  }
  if (st == CANTUS_OK && m) {
    cantus_model_free(m);
  }
  return ok;
}

// Patches a u32 header field of a copy of the tiny file, re-CRCs it, and
// expects a refusal.
static uint8_t *tiny2_bytes(size_t *n)
{
  const CantusDims d = cantus_fixture_dims_tiny2();
  return fixture_bytes(&d, 1, n);
}

// The same on the version 2 tiny file.
static bool refused_field2(size_t off, uint32_t value, CantusStatus want_st, const char *want)
{
  size_t n;
  uint8_t *b = tiny2_bytes(&n);
  wr32(b + off, value);
  recrc(b, n);
  const bool ok = refused(b, n, want_st, want);
  free(b);
  return ok;
}

static bool refused_field(size_t off, uint32_t value, CantusStatus want_st, const char *want)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  wr32(b + off, value);
  recrc(b, n);
  const bool ok = refused(b, n, want_st, want);
  free(b);
  return ok;
}

// File offset of tensor i (from the directory).
static uint64_t tensor_offset(const uint8_t *b, int i)
{
  return rd64(b + rd64(b + H_DIR_OFFSET) + (uint64_t)i * DIR_ENTRY + 48);
}

// Directory index of a tensor by name, or -1.
static int tensor_index(const uint8_t *b, const char *name)
{
  const uint32_t n = rd32(b + H_N_TENSORS);
  for (uint32_t i = 0; i < n; i++) {
    if (!strcmp((const char *)b + rd64(b + H_DIR_OFFSET) + (uint64_t)i * DIR_ENTRY, name)) {
      return (int)i;
    }
  }
  return -1;
}

static bool same_model(const CantusModel *a, const CantusModel *b)
{
  return a->n_params == b->n_params && !memcmp(&a->dims, &b->dims, sizeof a->dims) &&
         !memcmp(a->p.tok_emb, b->p.tok_emb, sizeof(float) * a->n_params) &&
         !strcmp(a->name, b->name) && !strcmp(a->meta, b->meta) &&
         !memcmp(a->style_names, b->style_names, CANTUS_STYLE_NAME_LEN * (size_t)a->dims.n_styles);
}

static char *tmp_path(const char *name)
{
  static char path[4][512];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, sizeof path[0], "%s/tmp-model", cantus_test_build_dir());
  mkdir(p, 0777);
  snprintf(p, sizeof path[0], "%s/tmp-model/%d-%s", cantus_test_build_dir(), (int)getpid(), name);
  return p;
}

// ---- basics -------------------------------------------------------------------

TEST(model_crc32_matches_zlib)
{
  CHECK_EQ(cantus_crc32(0, "123456789", 9), 0xCBF43926u);
  CHECK_EQ(cantus_crc32(0, "", 0), 0);
  CHECK_EQ(cantus_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
  // Continuing a CRC over a split buffer gives the CRC of the whole.
  const uint32_t a = cantus_crc32(0, "1234", 4);
  CHECK_EQ(cantus_crc32(a, "56789", 5), 0xCBF43926u);
}

TEST(model_layout_is_contiguous_in_file_order)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  const size_t V = 2 + 2 * 37 + 48, H = 32, G = 4 * H, I0 = 16 + 8 + 12 + 8;
  CHECK_EQ(cantus_vocab_size(&d.vocab), V);
  const size_t want = V * 16 + 3 * 8 + (G * I0 + G * H + G) + (G * H + G * H + G) + V * H + V;
  CHECK_EQ(cantus_model_param_count(&d), want);
  float *base = calloc(want, sizeof(float));
  CantusParams p;
  cantus_model_layout(&d, base, &p);
  CHECK(p.tok_emb == base);
  CHECK(p.style_emb == base + V * 16);
  CHECK(p.layer[0].w_ih == p.style_emb + 3 * 8);
  CHECK(p.layer[0].w_hh == p.layer[0].w_ih + G * I0);
  CHECK(p.layer[0].b == p.layer[0].w_hh + G * H);
  CHECK(p.layer[1].w_ih == p.layer[0].b + G);
  CHECK(p.layer[1].w_hh == p.layer[1].w_ih + G * H);
  CHECK(p.layer[1].b == p.layer[1].w_hh + G * H);
  CHECK(p.w_out == p.layer[1].b + G);
  CHECK(p.b_out == p.w_out + V * H);
  CHECK(p.b_out + V == base + want);
  CHECK(p.layer[2].w_ih == NULL && p.layer[3].b == NULL);
  free(base);
}

TEST(model_check_dims_caps)
{
  CantusError err;
  const CantusDims ok = cantus_fixture_dims_tiny();
  CHECK_EQ(cantus_model_check_dims(&ok, &err), CANTUS_OK);
  CantusDims d;
#define EXPECT(edit, status, text)                                                  \
  do {                                                                              \
    d = ok;                                                                         \
    edit;                                                                           \
    err.msg[0] = '\0';                                                              \
    CHECK_EQ(cantus_model_check_dims(&d, &err), status);                            \
    CHECK_MSG(strstr(err.msg, text) != NULL, "\"%s\" lacks \"%s\"", err.msg, text); \
  } while (0)
  EXPECT(d.n_layers = 0, CANTUS_ERR_FORMAT, "layer count 0 under the minimum 1");
  EXPECT(d.n_layers = 5, CANTUS_ERR_TOO_LARGE, "layer count 5 over the limit 4");
  EXPECT(d.n_hidden = 2048, CANTUS_ERR_TOO_LARGE, "hidden size 2048 over the limit 1024");
  EXPECT(d.n_hidden = 8, CANTUS_ERR_FORMAT, "hidden size 8 under the minimum 16");
  EXPECT(d.n_hidden = 40, CANTUS_ERR_FORMAT, "hidden size 40 is not a multiple of 16");
  EXPECT(d.n_embed = 0, CANTUS_ERR_FORMAT, "embedding width 0");
  EXPECT(d.n_embed = 257, CANTUS_ERR_TOO_LARGE, "embedding width 257 over the limit 256");
  EXPECT(d.n_style_dim = 0, CANTUS_ERR_FORMAT, "style vector width 0");
  EXPECT(d.n_style_dim = 300, CANTUS_ERR_TOO_LARGE, "style vector width 300 over");
  EXPECT(d.n_styles = 0, CANTUS_ERR_FORMAT, "style count 0");
  EXPECT(d.n_styles = 65, CANTUS_ERR_TOO_LARGE, "style count 65 over the limit 64");
  EXPECT(d.vocab.pitch_lo = 90, CANTUS_ERR_FORMAT, "pitch range 90..84");
  EXPECT(d.vocab.pitch_hi = 128, CANTUS_ERR_FORMAT, "pitch range 48..128");
  EXPECT(d.vocab.tpq = 0, CANTUS_ERR_FORMAT, "ticks per quarter 0");
  EXPECT(d.vocab.n_shift = 49, CANTUS_ERR_FORMAT, "shift count 49 outside 1..48");
  EXPECT(d.vocab.n_shift = 0, CANTUS_ERR_FORMAT, "shift count 0");
  EXPECT(d.vocab.n_vel = 33, CANTUS_ERR_TOO_LARGE, "velocity bins 33 over the limit 32");
  EXPECT(d.n_pos_tick = 11, CANTUS_ERR_FORMAT, "tick positions 11 differ");
  EXPECT(d.n_pos_beat = 0, CANTUS_ERR_FORMAT, "beat positions 0");
  EXPECT((d.vocab.tpq = 90, d.n_pos_tick = 90, d.n_pos_beat = 7),
         CANTUS_ERR_TOO_LARGE,
         "position classes 97 over the limit 96");
#undef EXPECT
  // The largest model the caps allow is accepted.
  d = (CantusDims){ .n_layers = 4,
                    .n_hidden = 1024,
                    .n_embed = 256,
                    .n_style_dim = 256,
                    .n_styles = 64,
                    .n_pos_tick = 48,
                    .n_pos_beat = 48,
                    .vocab = {
                      .pitch_lo = 0, .pitch_hi = 127, .n_shift = 192, .n_vel = 32, .tpq = 48 } };
  CHECK_EQ(cantus_model_check_dims(&d, &err), CANTUS_OK);
  CHECK(cantus_model_param_count(&d) < ((size_t)48 << 20));
}

TEST(model_create_refuses_bad_dims_and_options)
{
  CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = (CantusModel *)(uintptr_t)1;
  CantusError err;
  d.n_hidden = 2048;
  CHECK_EQ(cantus_model_create(&d, NULL, &m, &err), CANTUS_ERR_TOO_LARGE);
  CHECK(m == NULL);
  CHECK(strstr(err.msg, "hidden size 2048") != NULL);
  d = cantus_fixture_dims_tiny();
  CantusModelOptions opt = { .weights = (CantusWeightType)7, .extra_size = 0 };
  m = (CantusModel *)(uintptr_t)1;
  CHECK_EQ(cantus_model_create(&d, &opt, &m, &err), CANTUS_ERR_ARGUMENT);
  CHECK(m == NULL);
  opt = (CantusModelOptions){ .weights = CANTUS_WEIGHTS_F32, .extra_size = (size_t)1 << 40 };
  CHECK_EQ(cantus_model_create(&d, &opt, &m, &err), CANTUS_ERR_ARGUMENT);
  CHECK(m == NULL);
}

// ---- the default style -----------------------------------------------------------

TEST(model_default_style_from_metadata)
{
  const CantusDims d = cantus_fixture_dims_tiny(); // 3 styles
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  cantus_model_set_style_name(m, 2, "reel");
  static const struct {
    const char *meta;
    int want;
  } t[] = {
    { "", 0 },
    { "corpus: x\ndefault_style: reel\nepochs: 3\n", 2 },
    { "default_style:REEL", 2 },         // case-insensitive, last line, no newline
    { "default_style: \treel \r\n", 2 }, // spaces and CR trimmed
    { "default_style: 2\n", 1 },         // a number counted from 1: the second
    { "default_style: 0\n", 0 },         // not a style number
    { "default_style: jig\n", 0 },       // not one of its styles
    { "default_style: 9\n", 0 },         // out of range
    { "default_style:\n", 0 },
    { "x default_style: reel\n", 0 }, // only at the start of a line
    { "my_default_style: reel\n", 0 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    CHECK_EQ(cantus_model_set_meta(m, t[i].meta, NULL), CANTUS_OK);
    CHECK_MSG(cantus_model_default_style(m) == t[i].want,
              "meta '%s': %d, want %d",
              t[i].meta,
              cantus_model_default_style(m),
              t[i].want);
  }
  CHECK_EQ(cantus_model_default_style(NULL), 0);
  // The one "key: value" reader every tool uses.
  char v[16];
  CHECK_EQ(
    cantus_model_set_meta(m, "metre.jig: 6/8\r\nmetre: x\nlong: 0123456789abcdefXYZ\n", NULL),
    CANTUS_OK);
  CHECK(cantus_model_meta_get(m, "metre.jig", v, sizeof v) && !strcmp(v, "6/8"));
  CHECK(cantus_model_meta_get(m, "metre", v, sizeof v) && !strcmp(v, "x"));
  CHECK(cantus_model_meta_get(m, "long", v, sizeof v) && !strcmp(v, "0123456789abcde"));
  CHECK(!cantus_model_meta_get(m, "metre.reel", v, sizeof v));
  CHECK(!cantus_model_meta_get(m, "etre", v, sizeof v));
  cantus_model_free(m);
}

// ---- round trips ---------------------------------------------------------------

TEST(model_round_trip_memory)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *a = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  CHECK_EQ(cantus_model_set_meta(a, "corpus: test\nloss: alpha 1.5\n\xc3\xa9t\xc3\xa9\n", NULL),
           CANTUS_OK);
  void *data;
  size_t n;
  CantusError err;
  CHECK_EQ(cantus_model_save_mem(a, &data, &n, &err), CANTUS_OK);
  CHECK(memcmp(data, CANTUS_MODEL_MAGIC, 8) == 0);
  CHECK_EQ(rd64((uint8_t *)data + H_FILE_SIZE), n);
  CHECK_EQ(n % 4, 0);
  CantusModel *b;
  CHECK_EQ(load(data, n, &b, &err), CANTUS_OK);
  CHECK(b != NULL);
  if (b) {
    CHECK(same_model(a, b));
    CHECK(!strcmp(b->style_names[0], "alpha") && !strcmp(b->style_names[2], "gamma"));
    CHECK(!strcmp(b->name, "tiny"));
    CHECK(strstr(b->meta, "\xc3\xa9t\xc3\xa9") != NULL);
    CHECK_EQ(b->version, 1); // a version 1 vocabulary saves as version 1
    CHECK_EQ(b->crc, rd32((uint8_t *)data + H_PAYLOAD_CRC));
    CHECK(b->crc != 0);
    // The format is canonical: saving what was loaded gives the same bytes.
    void *again;
    size_t n2;
    CHECK_EQ(cantus_model_save_mem(b, &again, &n2, &err), CANTUS_OK);
    CHECK(n2 == n && memcmp(again, data, n) == 0);
    free(again);
    cantus_model_free(b);
  }
  free(data);
  cantus_model_free(a);
}

TEST(model_round_trip_file_atomic)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *a = cantus_fixture_model(&d, 3, CANTUS_WEIGHTS_F16);
  const char *path = tmp_path("rt.cantus");
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CantusError err;
  CHECK_EQ(cantus_model_save(a, path, &err), CANTUS_OK);
  CHECK(access(tmp, F_OK) != 0); // the temporary was renamed
  CantusModel *b = NULL;
  CHECK_EQ(cantus_model_load(path, NULL, &b, &err), CANTUS_OK);
  CHECK(b && same_model(a, b));
  CHECK(b && b->net.wtype == CANTUS_WEIGHTS_F16); // the default run-time storage
  // Overwriting an existing file works the same way.
  CHECK_EQ(cantus_model_save(b, path, &err), CANTUS_OK);
  cantus_model_free(b);
  // A directory that does not exist: an I/O error naming the file.
  CHECK_EQ(cantus_model_save(a, "/nonexistent-dir/x.cantus", &err), CANTUS_ERR_IO);
  CHECK(strstr(err.msg, "/nonexistent-dir/x.cantus.tmp: cannot create: No such file") != NULL);
  unlink(path);
  cantus_model_free(a);
}

// One LSTM step computed here from the fp32 parameters; form (version 2)
// fills the layer-0 columns FORMAT.md lists after the beat one-hot.
static void ref_step_form(const CantusModel *m,
                          const float *style,
                          float *h,
                          float *c,
                          int token,
                          int pt,
                          int pb,
                          const CantusLookbackFeatures *form,
                          float *logits);

static void ref_step(const CantusModel *m,
                     const float *style,
                     float *h,
                     float *c,
                     int token,
                     int pt,
                     int pb,
                     float *logits)
{
  ref_step_form(m, style, h, c, token, pt, pb, NULL, logits);
}

static void ref_step_form(const CantusModel *m,
                          const float *style,
                          float *h,
                          float *c,
                          int token,
                          int pt,
                          int pb,
                          const CantusLookbackFeatures *form,
                          float *logits)
{
  const CantusDims *d = &m->dims;
  const int H = (int)d->n_hidden, G = 4 * H, E = (int)d->n_embed, S = (int)d->n_style_dim;
  const int V = cantus_vocab_size(&d->vocab);
  float x[1024], pre[4096];
  for (uint32_t k = 0; k < d->n_layers; k++) {
    const int I = (int)cantus_dims_input(d, k);
    if (k == 0) {
      memset(x, 0, sizeof(float) * (size_t)I);
      memcpy(x, m->p.tok_emb + token * E, sizeof(float) * (size_t)E);
      memcpy(x + E, style, sizeof(float) * (size_t)S);
      x[E + S + pt] = 1.0f;
      x[E + S + (int)d->n_pos_tick + pb] = 1.0f;
      if (form) {
        // [lb_emb(look[i]) per lag | onehot phrase (16) | onehot bars left (18)]
        int col = E + S + (int)d->n_pos_tick + (int)d->n_pos_beat;
        for (int l = 0; l < 4; l++) {
          if ((d->lookback_lags >> l) & 1u) {
            memcpy(x + col, m->p.lb_emb + form->look[l] * E, sizeof(float) * (size_t)E);
            col += E;
          }
        }
        if (d->n_phrase) {
          x[col + form->phrase_bar] = 1.0f;
          col += 16;
        }
        if (d->n_bars_left) {
          x[col + form->bars_left] = 1.0f;
          col += 18;
        }
        if (d->n_chord) {
          const CantusChord ch = { (uint16_t)(form->chord & 0xfffu), -1, -1 };
          cantus_chord_input(ch, x + col);
        }
      } else if (d->n_chord) {
        x[cantus_dims_col_chord(d) + CANTUS_CHORD_NONE_COL] = 1.0f; // NULL form: no chord
      }
    } else {
      memcpy(x, h + (k - 1) * H, sizeof(float) * (size_t)H);
    }
    for (int r = 0; r < G; r++) {
      double s = m->p.layer[k].b[r];
      for (int j = 0; j < I; j++) {
        s += (double)m->p.layer[k].w_ih[r * I + j] * (double)x[j];
      }
      for (int j = 0; j < H; j++) {
        s += (double)m->p.layer[k].w_hh[r * H + j] * (double)h[k * H + j];
      }
      pre[r] = (float)s;
    }
    for (int j = 0; j < H; j++) {
      const double i = 1 / (1 + exp(-(double)pre[j])), f = 1 / (1 + exp(-(double)pre[H + j]));
      const double g = tanh((double)pre[2 * H + j]), o = 1 / (1 + exp(-(double)pre[3 * H + j]));
      const double cc = f * (double)c[k * H + j] + i * g;
      c[k * H + j] = (float)cc;
      h[k * H + j] = (float)(o * tanh(cc));
    }
  }
  const float *top = h + (d->n_layers - 1) * H;
  for (int v = 0; v < V; v++) {
    double s = m->p.b_out[v];
    for (int j = 0; j < H; j++) {
      s += (double)m->p.w_out[v * H + j] * (double)top[j];
    }
    logits[v] = (float)s;
  }
}

// The loaded model's run-time net is built from its parameters: stepping it
// matches a reference computed from m->p, closely for fp32 and within fp16
// rounding for fp16; the extra region is where the options say.
static void check_runtime(CantusWeightType wt, double tol)
{
  size_t n;
  uint8_t *bytes = tiny_bytes(&n);
  const CantusModelOptions opt = { .weights = wt, .extra_size = 1000 };
  CantusModel *m = NULL;
  CantusError err;
  CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &m, &err), CANTUS_OK);
  free(bytes);
  if (!m) {
    return;
  }
  CHECK_EQ(m->net.wtype, wt);
  const uint8_t *lo = (const uint8_t *)m, *hi = lo + m->alloc_size;
  CHECK(m->extra && (uintptr_t)m->extra % 64 == 0 && m->extra_size == 1000);
  CHECK((const uint8_t *)m->extra >= lo && (const uint8_t *)m->extra + 1000 <= hi);
  CHECK((const uint8_t *)m->logits >= lo && (const uint8_t *)(m->logits + 124) <= hi);
  CHECK((const uint8_t *)m->state.hc >= lo && (const uint8_t *)m->state.hc < hi);
  CHECK((const uint8_t *)m->p.b_out >= lo && (const uint8_t *)(m->p.b_out + 124) <= hi);
  bool zero = true;
  for (size_t i = 0; i < 1000; i++) {
    zero = zero && ((const uint8_t *)m->extra)[i] == 0;
  }
  CHECK(zero);
  const CantusDims *d = &m->dims;
  const int V = cantus_vocab_size(&d->vocab);
  float h[2 * 32] = { 0 }, c[2 * 32] = { 0 }, want[124];
  const float *style = m->p.style_emb + 1 * d->n_style_dim;
  cantus_lstm_set_style(&m->net, &m->state, style);
  const int tokens[4][3] = { { 0, 0, 0 },
                             { cantus_vocab_note_on(&d->vocab, 60), 0, 1 },
                             { cantus_vocab_shift(&d->vocab, 6), 6, 1 },
                             { cantus_vocab_note_off(&d->vocab, 60), 0, 2 } };
  double worst = 0;
  for (int s = 0; s < 4; s++) {
    cantus_lstm_step(&m->net, &m->state, tokens[s][0], tokens[s][1], tokens[s][2], m->logits);
    ref_step(m, style, h, c, tokens[s][0], tokens[s][1], tokens[s][2], want);
    for (int v = 0; v < V; v++) {
      worst = fmax(worst, fabs((double)m->logits[v] - (double)want[v]));
    }
  }
  CHECK_MSG(worst <= tol, "max logit error %g over %g", worst, tol);
  CHECK(worst > 0 || wt == CANTUS_WEIGHTS_F32); // fp16 storage really is rounded
  cantus_model_free(m);
}

TEST(model_runtime_fp32)
{
  check_runtime(CANTUS_WEIGHTS_F32, 1e-4);
}
TEST(model_runtime_fp16)
{
  check_runtime(CANTUS_WEIGHTS_F16, 2e-2);
}

// The version 2 step: the lookback, phrase, bars-left (and chord) tables
// built by prepare give what the full layer-0 product gives.
static void check_runtime_v2(CantusWeightType wt, double tol, bool chords)
{
  size_t n;
  const CantusDims dc = cantus_fixture_dims_tinyc();
  uint8_t *bytes = chords ? fixture_bytes(&dc, 1, &n) : tiny2_bytes(&n);
  const CantusModelOptions opt = { .weights = wt, .extra_size = 0 };
  CantusModel *m = NULL;
  CantusError err;
  CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &m, &err), CANTUS_OK);
  uint8_t *bytes2 = bytes;
  if (!m) {
    free(bytes2);
    return;
  }
  const CantusDims *d = &m->dims;
  CHECK_EQ(d->n_chord, chords ? 13 : 0);
  CHECK_EQ(cantus_dims_col_chord(d), 44 + 4 * 16 + 16 + 18);
  CHECK_EQ(cantus_dims_input(d, 0), 142 + (chords ? 13 : 0));
  const CantusVocab *v = &d->vocab;
  const int V = cantus_vocab_size(v);
  CHECK_EQ(V, 2 + 2 * 37 + 38 + 48);
  float h[2 * 32] = { 0 }, c[2 * 32] = { 0 }, want[256];
  const float *style = m->p.style_emb + 2 * d->n_style_dim;
  cantus_lstm_set_style(&m->net, &m->state, style);
  const int n1 = cantus_vocab_note(v, 1, 60), d1 = cantus_vocab_dur(v, 11);
  const int tokens[5][3] = { { 0, 0, 0 },
                             { n1, 0, 1 },
                             { d1, 0, 1 },
                             { cantus_vocab_shift(v, 6), 6, 1 },
                             { cantus_vocab_note(v, 0, 72), 0, 2 } };
  // Chords (read only by the chord network): D major, none, G7, G7 again,
  // a set with bits above 11 (ignored: C E G).
  const CantusLookbackFeatures form[5] = {
    { { (uint16_t)V, (uint16_t)V, (uint16_t)V, (uint16_t)V }, 15, 17, 0x244 },
    { { (uint16_t)n1, (uint16_t)V, 3, (uint16_t)d1 }, 0, 16, 0 },
    { { (uint16_t)d1, (uint16_t)n1, (uint16_t)V, 7 }, 3, 5, 0xaa0 },
    { { 4, 5, 6, (uint16_t)V }, 7, 0, 0xaa0 },
    { { 1, 1, (uint16_t)V - 1, 0 }, 12, 17, 0xf091 },
  };
  double worst = 0, moved = 0;
  for (int s = 0; s < 5; s++) {
    cantus_lstm_step_form(
      &m->net, &m->state, tokens[s][0], tokens[s][1], tokens[s][2], &form[s], m->logits);
    ref_step_form(m, style, h, c, tokens[s][0], tokens[s][1], tokens[s][2], &form[s], want);
    for (int k = 0; k < V; k++) {
      worst = fmax(worst, fabs((double)m->logits[k] - (double)want[k]));
    }
  }
  // Same state, other form inputs: a different next distribution.
  float a[256], b[256];
  float hc[2 * 2 * 32];
  memcpy(hc, m->state.hc, sizeof hc);
  cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &form[1], a);
  memcpy(m->state.hc, hc, sizeof hc);
  cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &form[2], b);
  for (int k = 0; k < V; k++) {
    moved = fmax(moved, fabs((double)a[k] - (double)b[k]));
  }
  // NULL form = every lookback NONE, phrase bar 0, bars left unknown, no chord.
  const CantusLookbackFeatures none = {
    { (uint16_t)V, (uint16_t)V, (uint16_t)V, (uint16_t)V }, 0, 17, 0
  };
  memcpy(m->state.hc, hc, sizeof hc);
  cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, NULL, a);
  memcpy(m->state.hc, hc, sizeof hc);
  cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &none, b);
  CHECK(!memcmp(a, b, sizeof(float) * (size_t)V));
  CHECK_MSG(worst <= tol, "max logit error %g over %g", worst, tol);
  CHECK_MSG(moved > 1e-3, "form inputs move the logits by only %g", moved);
  if (chords) {
    // The chord alone moves the logits; the cached chord vector never
    // depends on the chords before: a step with chord X gives the same
    // floats whether X was cached, or another chord, or none.
    CantusLookbackFeatures fx = form[2], fy = form[2];
    fy.chord = 0x091; // C E G
    float ref[256], c1[256], c2[256];
    memcpy(m->state.hc, hc, sizeof hc);
    cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &fx, ref); // G7, cached
    memcpy(m->state.hc, hc, sizeof hc);
    cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &fy, b); // C, rebuilt
    double chord_moved = 0;
    for (int k = 0; k < V; k++) {
      chord_moved = fmax(chord_moved, fabs((double)ref[k] - (double)b[k]));
    }
    CHECK_MSG(chord_moved > 1e-3, "the chord moves the logits by only %g", chord_moved);
    memcpy(m->state.hc, hc, sizeof hc);
    cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &fx, c1); // G7 after C
    memcpy(m->state.hc, hc, sizeof hc);
    cantus_lstm_step_form(&m->net, &m->state, tokens[1][0], 0, 1, &fx, c2); // G7 cached
    CHECK(!memcmp(ref, c1, sizeof(float) * (size_t)V));
    CHECK(!memcmp(ref, c2, sizeof(float) * (size_t)V));
    // A fresh state (nothing cached) agrees too.
    CantusModel *m2 = NULL;
    CHECK_EQ(cantus_model_load_mem(bytes2, n, PATH, &opt, &m2, &err), CANTUS_OK);
    if (m2) {
      cantus_lstm_set_style(&m2->net, &m2->state, style);
      memcpy(m2->state.hc, hc, sizeof hc);
      cantus_lstm_step_form(&m2->net, &m2->state, tokens[1][0], 0, 1, &fx, c1);
      CHECK(!memcmp(ref, c1, sizeof(float) * (size_t)V));
      cantus_model_free(m2);
    }
  }
  free(bytes2);
  cantus_model_free(m);
}

TEST(model_v1_step_form_is_the_v1_step)
{
  // A version 1 network ignores the form inputs: cantus_lstm_step_form gives
  // cantus_lstm_step's floats bit for bit, so an engine may call it always.
  size_t n;
  uint8_t *bytes = tiny_bytes(&n);
  CantusModel *a = NULL, *b = NULL;
  const CantusModelOptions opt = cantus_model_options_default(); // fp16 kernels
  CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &a, NULL), CANTUS_OK);
  CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &b, NULL), CANTUS_OK);
  free(bytes);
  if (!a || !b) {
    return;
  }
  const CantusLookbackFeatures form = { { 3, 4, 5, 6 }, 7, 8, 0x91 };
  float la[124], lb[124];
  bool same = true;
  for (int t = 0; t < 20; t++) {
    const int tok = (t * 37) % 124;
    cantus_lstm_step(&a->net, &a->state, tok, t % 12, t % 8, la);
    cantus_lstm_step_form(&b->net, &b->state, tok, t % 12, t % 8, t % 2 ? &form : NULL, lb);
    same = same && !memcmp(la, lb, sizeof la);
  }
  CHECK(same);
  cantus_model_free(a);
  cantus_model_free(b);
}

TEST(model_v2_runtime_fp32)
{
  check_runtime_v2(CANTUS_WEIGHTS_F32, 1e-4, false);
}
TEST(model_v2_runtime_fp16)
{
  check_runtime_v2(CANTUS_WEIGHTS_F16, 2e-2, false);
}
TEST(model_chord_runtime_fp32)
{
  check_runtime_v2(CANTUS_WEIGHTS_F32, 1e-4, true);
}
TEST(model_chord_runtime_fp16)
{
  check_runtime_v2(CANTUS_WEIGHTS_F16, 2e-2, true);
}

// The chord network steps the same floats on the AVX2 and AVX-512 kernels
// while the chord changes (the chord vector is plain C, shared by every
// family), and chord changes are all it takes to move the output.
TEST(model_chord_step_same_on_every_isa)
{
  const CantusIsa best = cantus_lstm_force_isa(CANTUS_ISA_AVX512);
  if (best != CANTUS_ISA_AVX512) {
    cantus_lstm_force_isa(best);
    SKIP("this CPU lacks AVX-512");
  }
  const CantusDims d = cantus_fixture_dims_tinyc();
  size_t n;
  uint8_t *bytes = fixture_bytes(&d, 1, &n);
  static const uint16_t chords[] = { 0, 0x091, 0x091, 0x884, 0, 0xaa0, 0x091 };
  for (int wt = 0; wt < 2; wt++) {
    const CantusModelOptions opt = { .weights = (CantusWeightType)wt, .extra_size = 0 };
    CantusModel *a = NULL, *b = NULL;
    CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &a, NULL), CANTUS_OK);
    CHECK_EQ(cantus_model_load_mem(bytes, n, PATH, &opt, &b, NULL), CANTUS_OK);
    if (!a || !b) {
      cantus_model_free(a);
      cantus_model_free(b);
      break;
    }
    const int V = cantus_vocab_size(&d.vocab);
    float la[256], lb[256];
    bool same = true;
    for (int t = 0; t < 40; t++) {
      CantusLookbackFeatures f = { { (uint16_t)(t % V), (uint16_t)V, 3, (uint16_t)V },
                                   (uint8_t)(t % 16),
                                   (uint8_t)(t % 18),
                                   chords[(t / 3) % 7] };
      const int tok = (t * 37) % V;
      cantus_lstm_force_isa(CANTUS_ISA_AVX2);
      cantus_lstm_step_form(&a->net, &a->state, tok, t % 12, t % 8, &f, la);
      cantus_lstm_force_isa(CANTUS_ISA_AVX512);
      cantus_lstm_step_form(&b->net, &b->state, tok, t % 12, t % 8, &f, lb);
      same = same && !memcmp(la, lb, sizeof(float) * (size_t)V) &&
             !memcmp(a->state.hc, b->state.hc, sizeof(float) * 2 * 2 * 32);
    }
    CHECK_MSG(same, "%s weights", wt ? "fp16" : "fp32");
    cantus_model_free(a);
    cantus_model_free(b);
  }
  cantus_lstm_force_isa(best);
  free(bytes);
}

TEST(model_fp16_allocation_is_smaller)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  CantusModel *m32 = NULL, *m16 = NULL;
  CantusModelOptions opt = { .weights = CANTUS_WEIGHTS_F32, .extra_size = 0 };
  CHECK_EQ(cantus_model_load_mem(b, n, PATH, &opt, &m32, NULL), CANTUS_OK);
  opt.weights = CANTUS_WEIGHTS_F16;
  CHECK_EQ(cantus_model_load_mem(b, n, PATH, &opt, &m16, NULL), CANTUS_OK);
  CHECK(m32 && m16 && m16->alloc_size < m32->alloc_size);
  CHECK(m32 && m32->extra == NULL && m32->extra_size == 0);
  cantus_model_free(m32);
  cantus_model_free(m16);
  free(b);
}

TEST(model_header_extension_is_skipped)
{
  // A writer may grow the header (header_size 320): a reader skips the
  // fields it does not know, as long as the sections follow the header.
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  uint8_t *x = calloc(1, n + 64);
  memcpy(x, b, HEADER);
  memset(x + HEADER, 0xab, 64);
  memcpy(x + HEADER + 64, b + HEADER, n - HEADER);
  wr32(x + H_HEADER_SIZE, HEADER + 64);
  wr64(x + H_FILE_SIZE, n + 64);
  for (int f = H_NAMES_OFFSET; f <= H_DATA_OFFSET; f += 16) {
    wr64(x + f, rd64(x + f) + 64);
  }
  for (uint32_t i = 0; i < rd32(x + H_N_TENSORS); i++) {
    uint8_t *e = x + rd64(x + H_DIR_OFFSET) + i * DIR_ENTRY + 48;
    wr64(e, rd64(e) + 64);
  }
  recrc(x, n + 64);
  CantusModel *m = NULL, *ref = NULL;
  CantusError err;
  CHECK_EQ(load(x, n + 64, &m, &err), CANTUS_OK);
  CHECK_EQ(load(b, n, &ref, &err), CANTUS_OK);
  CHECK(m && ref && same_model(m, ref));
  cantus_model_free(m);
  cantus_model_free(ref);
  // Header sizes that are not a multiple of 64 or under 256 are refused.
  wr32(x + H_HEADER_SIZE, HEADER + 32);
  recrc(x, n + 64);
  CHECK(refused(x, n + 64, CANTUS_ERR_FORMAT, "header size 288 invalid"));
  memcpy(x, b, n);
  wr32(x + H_HEADER_SIZE, 192);
  CHECK(refused(x, n, CANTUS_ERR_FORMAT, "header size 192 invalid"));
  wr32(x + H_HEADER_SIZE, 8192);
  CHECK(refused(x, n, CANTUS_ERR_TOO_LARGE, "header size 8192 over the limit 4096"));
  free(x);
  free(b);
}

// ---- damaged files ---------------------------------------------------------------

TEST(model_refuses_truncation_at_every_offset)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  int bad = 0;
  for (size_t len = 0; len < n && bad < 5; len++) {
    if (!refused(b, len, CANTUS_ERR_TRUNCATED, "truncated")) {
      printf("  at length %zu of %zu\n", len, n);
      bad++;
    }
  }
  CHECK_EQ(bad, 0);
  CHECK(refused(b, n - 1, CANTUS_ERR_TRUNCATED, "truncated: 98351 of 98352 bytes"));
  CHECK(refused(b, 100, CANTUS_ERR_TRUNCATED, "truncated: 100 of 98352 bytes"));
  CHECK(refused(b, 0, CANTUS_ERR_TRUNCATED, "truncated: 0 bytes"));
  free(b);
}

// Flips one bit of every byte in [from, to) with stride `step`, expecting a
// refusal each time: bad magic in the first 8 bytes, a checksum error in the
// payload, some refusal in the rest of the header.
static int flip_range(uint8_t *b, size_t n, size_t from, size_t to, size_t step)
{
  int bad = 0;
  for (size_t i = from; i < to && bad < 5; i += step) {
    const uint8_t mask = (uint8_t)(1u << (i % 8));
    b[i] ^= mask;
    CantusModel *m;
    CantusError err;
    const CantusStatus st = load(b, n, &m, &err);
    bool ok = st != CANTUS_OK && m == NULL && !strncmp(err.msg, PATH, strlen(PATH));
    if (i < 8) {
      ok = ok && st == CANTUS_ERR_BAD_MAGIC;
    } else if (i >= HEADER) {
      ok = ok && st == CANTUS_ERR_CHECKSUM && strstr(err.msg, "CRC-32 mismatch (file damaged)");
    } else if (i < H_HEADER_SIZE || i >= H_HEADER_SIZE + 4) {
      ok = ok && st == CANTUS_ERR_CHECKSUM && strstr(err.msg, "header CRC-32 mismatch");
    }
    if (!ok) {
      printf("  byte %zu: status %d, \"%s\"\n", i, st, err.msg);
      bad++;
      if (st == CANTUS_OK && m) {
        cantus_model_free(m);
      }
    }
    b[i] ^= mask;
  }
  return bad;
}

TEST(model_refuses_every_flipped_byte_micro)
{
  const CantusDims d = micro_dims();
  size_t n;
  uint8_t *b = fixture_bytes(&d, 5, &n);
  CHECK(n < 16384); // keeps the n^2 loop fast
  CantusModel *m;
  CantusError err;
  CHECK_EQ(load(b, n, &m, &err), CANTUS_OK); // the unflipped file loads
  cantus_model_free(m);
  CHECK_EQ(flip_range(b, n, 0, n, 1), 0);
  free(b);
}

TEST(model_refuses_flipped_bytes_tiny)
{
  // Every byte of the header, names, metadata and directory; every 61st
  // byte of the tensor data (all of it would take n^2 CRC work).
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  const size_t data = (size_t)rd64(b + H_DATA_OFFSET);
  CHECK_EQ(flip_range(b, n, 0, data, 1), 0);
  CHECK_EQ(flip_range(b, n, data, n, 61), 0);
  CHECK_EQ(flip_range(b, n, n - 1, n, 1), 0);
  free(b);
}

TEST(model_refuses_nan_and_inf)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  const int k = tensor_index(b, "l1.w_hh");
  CHECK(k >= 0);
  const uint64_t at = tensor_offset(b, k) + 17 * 4;
  const uint32_t values[3] = { 0x7fc00000u, 0x7f800000u, 0xff800000u };
  const char *const text[3] = { "tensor l1.w_hh holds NaN at element 17",
                                "tensor l1.w_hh holds +Inf at element 17",
                                "tensor l1.w_hh holds -Inf at element 17" };
  for (int i = 0; i < 3; i++) {
    uint8_t *x = malloc(n);
    memcpy(x, b, n);
    wr32(x + at, values[i]);
    recrc(x, n);
    CHECK(refused(x, n, CANTUS_ERR_NOT_FINITE, text[i]));
    free(x);
  }
  // A NaN in the last element of the last tensor too (out.b).
  uint8_t *x = malloc(n);
  memcpy(x, b, n);
  wr32(x + n - 4, 0xffffffffu);
  recrc(x, n);
  CHECK(refused(x, n, CANTUS_ERR_NOT_FINITE, "tensor out.b holds NaN at element 123"));
  free(x);
  free(b);
  // The saver refuses to write what the loader would refuse.
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  m->p.layer[1].w_hh[17] = NAN;
  void *data = (void *)1;
  size_t size = 1;
  CantusError err;
  CHECK_EQ(cantus_model_save_mem(m, &data, &size, &err), CANTUS_ERR_NOT_FINITE);
  CHECK(data == NULL && size == 0);
  CHECK(strstr(err.msg, "tensor l1.w_hh holds NaN at element 17") != NULL);
  cantus_model_free(m);
}

TEST(model_refuses_newer_and_zero_version)
{
  CHECK(refused_field(H_VERSION,
                      3,
                      CANTUS_ERR_VERSION,
                      "t.cantus: format version 3 is newer than this build reads (2)"));
  CHECK(refused_field(H_VERSION, 4, CANTUS_ERR_VERSION, "format version 4 is newer"));
  // A version 1 file relabelled 2 lacks the version 2 fields.
  CHECK(refused_field(H_VERSION, 2, CANTUS_ERR_FORMAT, "part count 0 under the minimum 1"));
  CHECK(refused_field(H_VERSION, 0, CANTUS_ERR_FORMAT, "format version 0 is invalid"));
}

// ---- version 2 --------------------------------------------------------------

TEST(model_v2_layout_and_round_trip)
{
  const CantusDims d = cantus_fixture_dims_tiny2();
  const size_t V = 2 + 2 * 37 + 38 + 48, H = 32, G = 4 * H, E = 16;
  const size_t I0 = 16 + 8 + 12 + 8 + 4 * E + 16 + 18;
  CHECK_EQ(cantus_vocab_size(&d.vocab), V);
  CHECK_EQ(cantus_dims_input(&d, 0), I0);
  CHECK_EQ(cantus_dims_col_lookback(&d), 44);
  CHECK_EQ(cantus_dims_col_phrase(&d), 44 + 4 * E);
  CHECK_EQ(cantus_dims_col_bars_left(&d), 44 + 4 * E + 16);
  const size_t want =
    V * E + 3 * 8 + (V + 1) * E + (G * I0 + G * H + G) + (G * H + G * H + G) + V * H + V;
  CHECK_EQ(cantus_model_param_count(&d), want);
  float *base = calloc(want, sizeof(float));
  CantusParams p;
  cantus_model_layout(&d, base, &p);
  CHECK(p.lb_emb == p.style_emb + 3 * 8);
  CHECK(p.layer[0].w_ih == p.lb_emb + (V + 1) * E);
  CHECK(p.b_out + V == base + want);
  free(base);
  // Version 1 dims have no lb_emb.
  const CantusDims d1 = cantus_fixture_dims_tiny();
  float probe[1];
  cantus_model_layout(&d1, probe, &p);
  CHECK(p.lb_emb == NULL);

  size_t n;
  uint8_t *b = tiny2_bytes(&n);
  CHECK_EQ(rd32(b + H_VERSION), 2);
  CHECK_EQ(rd32(b + H_N_PARTS), 2);
  CHECK_EQ(rd32(b + H_N_DUR), 38);
  CHECK_EQ(rd32(b + H_LOOKBACK_LAGS), 0xf);
  CHECK_EQ(rd32(b + H_N_PHRASE), 16);
  CHECK_EQ(rd32(b + H_N_BARS_LEFT), 18);
  CHECK_EQ(rd32(b + H_N_CHORD), 0);
  CHECK_EQ(rd32(b + H_FORM_FLAGS), 0);
  CHECK_EQ(rd32(b + H_N_VOCAB), V);
  CHECK_EQ(rd32(b + H_N_TENSORS), 3 * 2 + 5);
  // Names: 3 styles then 2 parts, 32 bytes each.
  const uint64_t names = rd64(b + H_NAMES_OFFSET);
  CHECK_EQ(rd64(b + H_NAMES_OFFSET + 8), 5 * 32);
  CHECK(!strcmp((const char *)b + names + 2 * 32, "gamma"));
  CHECK(!strcmp((const char *)b + names + 3 * 32, "melody"));
  CHECK(!strcmp((const char *)b + names + 4 * 32, "bass"));
  // lb_emb is the third tensor, (V+1, E).
  const int lb = tensor_index(b, "lb_emb");
  CHECK_EQ(lb, 2);
  const uint8_t *e = b + rd64(b + H_DIR_OFFSET) + 2 * DIR_ENTRY;
  CHECK_EQ(rd32(e + 28), 2);
  CHECK_EQ(rd32(e + 32), V + 1);
  CHECK_EQ(rd32(e + 36), E);
  const uint8_t *w0 = b + rd64(b + H_DIR_OFFSET) + 3 * DIR_ENTRY;
  CHECK(!strcmp((const char *)w0, "l0.w_ih"));
  CHECK_EQ(rd32(w0 + 36), I0);
  CantusModel *m;
  CantusError err;
  CHECK_EQ(load(b, n, &m, &err), CANTUS_OK);
  if (m) {
    CantusModel *fx = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
    CHECK(same_model(m, fx));
    CHECK_EQ(m->version, 2);
    CHECK(!strcmp(m->part_names[0], "melody") && !strcmp(m->part_names[1], "bass"));
    CHECK_EQ(cantus_model_find_part(m, "BASS"), 1);
    CHECK_EQ(cantus_model_find_part(m, "alto"), -1);
    void *again;
    size_t n2;
    CHECK_EQ(cantus_model_save_mem(m, &again, &n2, &err), CANTUS_OK);
    CHECK(n2 == n && !memcmp(again, b, n));
    free(again);
    // An invalid part name is refused by the saver, as a style name is.
    m->part_names[1][0] = '\0';
    CHECK_EQ(cantus_model_save_mem(m, &again, &n2, &err), CANTUS_ERR_FORMAT);
    CHECK(strstr(err.msg, "part 1 name is empty") != NULL);
    cantus_model_free(fx);
    cantus_model_free(m);
  }
  free(b);
}

TEST(model_v2_check_dims)
{
  CantusError err;
  const CantusDims ok = cantus_fixture_dims_tiny2();
  CHECK_EQ(cantus_model_check_dims(&ok, &err), CANTUS_OK);
  CantusDims d;
#define EXPECT(edit, status, text)                                                  \
  do {                                                                              \
    d = ok;                                                                         \
    edit;                                                                           \
    err.msg[0] = '\0';                                                              \
    CHECK_EQ(cantus_model_check_dims(&d, &err), status);                            \
    CHECK_MSG(strstr(err.msg, text) != NULL, "\"%s\" lacks \"%s\"", err.msg, text); \
  } while (0)
  EXPECT(d.vocab.n_parts = 5, CANTUS_ERR_TOO_LARGE, "part count 5 over the limit 4");
  EXPECT(d.vocab.n_parts = 0, CANTUS_ERR_FORMAT, "part count 0 under the minimum 1");
  EXPECT(d.vocab.n_dur = 39, CANTUS_ERR_FORMAT, "duration bins 39 outside 1..38");
  EXPECT(d.lookback_lags = 0x10, CANTUS_ERR_FORMAT, "lookback lags 0x10 invalid");
  EXPECT(d.n_phrase = 8, CANTUS_ERR_FORMAT, "phrase classes 8 invalid");
  EXPECT(d.n_bars_left = 17, CANTUS_ERR_FORMAT, "bars-left classes 17 invalid");
  EXPECT(d.n_chord = 12, CANTUS_ERR_FORMAT, "chord inputs 12 unsupported (0 or 13)");
  EXPECT(d.n_chord = 14, CANTUS_ERR_FORMAT, "chord inputs 14 unsupported");
  // Form inputs only with a version 2 vocabulary.
  EXPECT((d.vocab.n_parts = 0, d.vocab.n_dur = 0),
         CANTUS_ERR_FORMAT,
         "form inputs need a version 2 vocabulary");
#undef EXPECT
  // Any subset of the form inputs is a valid version 2 network.
  d = ok;
  d.lookback_lags = 0x5;
  d.n_phrase = 0;
  CHECK_EQ(cantus_model_check_dims(&d, &err), CANTUS_OK);
  CHECK_EQ(cantus_dims_n_lags(&d), 2);
  d.lookback_lags = 0;
  d.n_bars_left = 0;
  CHECK_EQ(cantus_model_check_dims(&d, &err), CANTUS_OK);
  CHECK_EQ(cantus_dims_lb_rows(&d), 0);
  CHECK_EQ(cantus_dims_input(&d, 0), 44);
}

TEST(model_v2_refuses_each_field)
{
  CHECK(
    refused_field2(H_N_PARTS, 5, CANTUS_ERR_TOO_LARGE, "t.cantus: part count 5 over the limit 4"));
  CHECK(refused_field2(H_N_PARTS, 0, CANTUS_ERR_FORMAT, "part count 0 under the minimum 1"));
  CHECK(refused_field2(H_N_PARTS, 1, CANTUS_ERR_FORMAT, "vocabulary size 162 does not match"));
  CHECK(refused_field2(H_N_DUR, 0, CANTUS_ERR_FORMAT, "duration bins 0 outside 1..38"));
  CHECK(refused_field2(H_N_DUR, 39, CANTUS_ERR_FORMAT, "duration bins 39 outside 1..38"));
  CHECK(refused_field2(H_N_DUR, 37, CANTUS_ERR_FORMAT, "vocabulary size 162 does not match"));
  CHECK(refused_field2(H_LOOKBACK_LAGS, 0x1f, CANTUS_ERR_FORMAT, "lookback lags 0x1f invalid"));
  CHECK(refused_field2(H_LOOKBACK_LAGS, 0x7, CANTUS_ERR_FORMAT, "parameter count"));
  CHECK(refused_field2(H_N_PHRASE, 15, CANTUS_ERR_FORMAT, "phrase classes 15 invalid (0 or 16)"));
  CHECK(refused_field2(H_N_PHRASE, 0, CANTUS_ERR_FORMAT, "parameter count"));
  CHECK(refused_field2(H_N_BARS_LEFT, 17, CANTUS_ERR_FORMAT, "bars-left classes 17 invalid"));
  CHECK(refused_field2(H_N_CHORD, 1, CANTUS_ERR_FORMAT, "chord inputs 1 unsupported (0 or 13)"));
  CHECK(refused_field2(H_N_CHORD, 26, CANTUS_ERR_FORMAT, "chord inputs 26 unsupported"));
  // 13 is valid, but the file's layer-0 width is then 13 columns short.
  CHECK(refused_field2(H_N_CHORD, 13, CANTUS_ERR_FORMAT, "parameter count"));
  CHECK(refused_field2(H_FORM_FLAGS, 1, CANTUS_ERR_FORMAT, "form flags 0x1 unsupported"));
  CHECK(refused_field2(H_RESERVED2, 1, CANTUS_ERR_FORMAT, "reserved header byte 228"));
  CHECK(refused_field2(H_RESERVED2 + 24, 1u << 24, CANTUS_ERR_FORMAT, "reserved header byte 255"));
  // A version 2 file relabelled 1: its version 2 fields are reserved bytes there.
  CHECK(refused_field2(H_VERSION, 1, CANTUS_ERR_FORMAT, "reserved header byte 200"));
  CHECK(refused_field2(H_VERSION, 3, CANTUS_ERR_VERSION, "format version 3 is newer"));
  CHECK(refused_field2(H_N_TENSORS, 10, CANTUS_ERR_FORMAT, "10 tensors where 2 layers need 11"));
  CHECK(refused_field2(H_NAMES_OFFSET + 8, 96, CANTUS_ERR_FORMAT, "style name section"));
  // The directory: lb_emb's shape follows V.
  size_t n;
  uint8_t *b = tiny2_bytes(&n);
  const uint64_t dir = rd64(b + H_DIR_OFFSET);
  wr32(b + dir + 2 * DIR_ENTRY + 32, 162);
  recrc(b, n);
  CHECK(refused(b, n, CANTUS_ERR_FORMAT, "tensor directory entry 2 (\"lb_emb\") does not match"));
  free(b);
  // Part names: empty, unterminated, invalid UTF-8.
  b = tiny2_bytes(&n);
  const uint64_t part1 = rd64(b + H_NAMES_OFFSET) + 4 * 32;
  uint8_t save[32];
  memcpy(save, b + part1, 32);
  memset(b + part1, 0, 32);
  recrc(b, n);
  CHECK(refused(b, n, CANTUS_ERR_FORMAT, "part 1 name is empty, unterminated or not UTF-8"));
  memset(b + part1, 'a', 32);
  recrc(b, n);
  CHECK(refused(b, n, CANTUS_ERR_FORMAT, "part 1 name is empty"));
  memcpy(b + part1, save, 32);
  b[part1 + 1] = 0xff;
  recrc(b, n);
  CHECK(refused(b, n, CANTUS_ERR_FORMAT, "part 1 name"));
  memcpy(b + part1, save, 32);
  recrc(b, n);
  CantusModel *m;
  CantusError err;
  CHECK_EQ(load(b, n, &m, &err), CANTUS_OK); // restored, it loads again
  cantus_model_free(m);
  // A NaN in lb_emb.
  const uint64_t lbo = tensor_offset(b, 2);
  wr32(b + lbo + 4 * 5, 0x7fc00000u);
  recrc(b, n);
  CHECK(refused(b, n, CANTUS_ERR_NOT_FINITE, "tensor lb_emb holds NaN at element 5"));
  free(b);
}

TEST(model_v2_refuses_truncation_and_flipped_bytes)
{
  size_t n;
  uint8_t *b = tiny2_bytes(&n);
  const size_t data = (size_t)rd64(b + H_DATA_OFFSET);
  CHECK_EQ(flip_range(b, n, 0, data, 1), 0);
  CHECK_EQ(flip_range(b, n, data, n, 97), 0);
  int bad = 0;
  for (size_t cut = 0; cut < n && bad < 5; cut += cut < 1024 ? 1 : 4093) {
    CantusModel *m;
    CantusError err;
    const CantusStatus st = load(b, cut, &m, &err);
    if (st != CANTUS_ERR_TRUNCATED || m) {
      printf("  cut %zu: status %d, \"%s\"\n", cut, st, err.msg);
      bad++;
    }
  }
  CHECK_EQ(bad, 0);
  free(b);
}

TEST(model_refuses_each_cap_in_the_file)
{
  CHECK(refused_field(H_N_LAYERS, 5, CANTUS_ERR_TOO_LARGE, "layer count 5 over the limit 4"));
  CHECK(refused_field(H_N_LAYERS, 0, CANTUS_ERR_FORMAT, "layer count 0"));
  CHECK(refused_field(
    H_N_HIDDEN, 2048, CANTUS_ERR_TOO_LARGE, "t.cantus: hidden size 2048 over the limit 1024"));
  CHECK(refused_field(H_N_HIDDEN, 0xffffffffu, CANTUS_ERR_TOO_LARGE, "hidden size 4294967295"));
  CHECK(refused_field(H_N_HIDDEN, 40, CANTUS_ERR_FORMAT, "not a multiple of 16"));
  CHECK(refused_field(H_N_EMBED, 4096, CANTUS_ERR_TOO_LARGE, "embedding width 4096"));
  CHECK(refused_field(H_N_STYLE_DIM, 0, CANTUS_ERR_FORMAT, "style vector width 0"));
  CHECK(refused_field(H_N_STYLES, 65, CANTUS_ERR_TOO_LARGE, "style count 65 over the limit 64"));
  CHECK(refused_field(H_N_STYLES, 0, CANTUS_ERR_FORMAT, "style count 0"));
  CHECK(refused_field(H_PITCH_HI, 300, CANTUS_ERR_FORMAT, "pitch range 48..300"));
  CHECK(refused_field(H_PITCH_LO, 85, CANTUS_ERR_FORMAT, "pitch range 85..84"));
  CHECK(refused_field(H_TPQ, 0, CANTUS_ERR_FORMAT, "ticks per quarter 0"));
  CHECK(refused_field(H_TPQ, 65536 + 12, CANTUS_ERR_FORMAT, "ticks per quarter 65548"));
  CHECK(refused_field(H_N_SHIFT, 49, CANTUS_ERR_FORMAT, "shift count 49 outside 1..48"));
  CHECK(refused_field(H_N_VEL, 33, CANTUS_ERR_TOO_LARGE, "velocity bins 33 over the limit 32"));
  CHECK(refused_field(H_N_POS_TICK, 24, CANTUS_ERR_FORMAT, "tick positions 24 differ"));
  CHECK(refused_field(H_N_POS_BEAT, 0, CANTUS_ERR_FORMAT, "beat positions 0"));
  CHECK(
    refused_field(H_N_POS_BEAT, 85, CANTUS_ERR_TOO_LARGE, "position classes 97 over the limit 96"));
  CHECK(refused_field(H_GATE_ORDER, 1, CANTUS_ERR_FORMAT, "gate order 1 unsupported"));
  CHECK(refused_field(H_DTYPE, 1, CANTUS_ERR_FORMAT, "weight type 1 unsupported"));
  CHECK(refused_field(H_N_VOCAB, 125, CANTUS_ERR_FORMAT, "vocabulary size 125 does not match"));
  CHECK(refused_field(H_N_PARAMS, 5, CANTUS_ERR_FORMAT, "parameter count 5 does not match"));
  CHECK(refused_field(H_N_TENSORS, 9, CANTUS_ERR_FORMAT, "9 tensors where 2 layers need 10"));
  CHECK(refused_field(H_META_SIZE,
                      CANTUS_META_MAX + 1,
                      CANTUS_ERR_TOO_LARGE,
                      "metadata of 65537 bytes over the limit 65536"));
  CHECK(refused_field(H_META_SIZE, 3, CANTUS_ERR_FORMAT, "tensor directory section at byte"));
  CHECK(refused_field(H_DIR_OFFSET, 64, CANTUS_ERR_FORMAT, "tensor directory section at byte 64"));
  CHECK(refused_field(H_DATA_OFFSET + 8, 8, CANTUS_ERR_FORMAT, "tensor data section"));
  CHECK(refused_field(H_NAMES_OFFSET, 0, CANTUS_ERR_FORMAT, "style name section at byte 0"));
  // Sizes that fit the caps but describe a different network than the
  // tensors: the directory is checked against the dims.
  CHECK(refused_field(H_N_HIDDEN, 48, CANTUS_ERR_FORMAT, "does not match"));
  CHECK(refused_field(H_RESERVED + 10, 1, CANTUS_ERR_FORMAT, "reserved header byte 210"));
}

TEST(model_refuses_size_mismatch_and_trailing_bytes)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  uint8_t *x = calloc(1, n + 64);
  memcpy(x, b, n);
  CHECK(refused(x,
                n + 1,
                CANTUS_ERR_FORMAT,
                "98353 bytes where the header declares 98352 "
                "(trailing bytes)"));
  CHECK(refused(x, n + 64, CANTUS_ERR_FORMAT, "trailing bytes"));
  // A declared size larger than the file is truncation; smaller, trailing.
  wr64(x + H_FILE_SIZE, n + 4);
  recrc(x, n);
  CHECK(refused(x, n, CANTUS_ERR_TRUNCATED, "truncated: 98352 of 98356 bytes"));
  wr64(x + H_FILE_SIZE, n - 4);
  recrc(x, n - 4);
  CHECK(refused(x, n, CANTUS_ERR_FORMAT, "trailing bytes"));
  CHECK(refused(x, n - 4, CANTUS_ERR_FORMAT, "file size 98348 does not match"));
  // An absurd declared size is refused as such, not allocated.
  memcpy(x, b, n);
  wr64(x + H_FILE_SIZE, (uint64_t)1 << 40);
  recrc(x, n);
  CHECK(refused(x, n, CANTUS_ERR_TOO_LARGE, "declared size 1099511627776 bytes over the limit"));
  free(x);
  free(b);
}

TEST(model_refuses_bad_magic_names_padding_and_directory)
{
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  uint8_t *x = malloc(n);
  CHECK(refused((const uint8_t *)"MThd\0\0\0\6",
                8,
                CANTUS_ERR_BAD_MAGIC,
                "t.cantus: bad magic (not a .cantus model)"));
  CHECK(refused((const uint8_t *)"CANX", 4, CANTUS_ERR_BAD_MAGIC, "bad magic"));
  CHECK(refused((const uint8_t *)"CANT", 4, CANTUS_ERR_TRUNCATED, "truncated: 4 bytes"));
  const uint64_t names = rd64(b + H_NAMES_OFFSET), dir = rd64(b + H_DIR_OFFSET);
  const uint64_t meta = rd64(b + H_META_OFFSET), meta_size = rd64(b + H_META_SIZE);
#define MUTATE(stmt, status, text)      \
  do {                                  \
    memcpy(x, b, n);                    \
    stmt;                               \
    recrc(x, n);                        \
    CHECK(refused(x, n, status, text)); \
  } while (0)
  MUTATE(memset(x + names + 32, 0, 32), CANTUS_ERR_FORMAT, "style 1 name is empty");
  MUTATE(memset(x + names, 'a', 32), CANTUS_ERR_FORMAT, "style 0 name"); // no NUL
  MUTATE(x[names + 1] = 0xff, CANTUS_ERR_FORMAT, "style 0 name");        // not UTF-8
  MUTATE(x[names + 1] = '\t', CANTUS_ERR_FORMAT, "style 0 name");        // control char
  MUTATE(x[names + 30] = 'z', CANTUS_ERR_FORMAT, "style 0 name");        // junk after NUL
  MUTATE(memset(x + H_NAME, 'n', 32), CANTUS_ERR_FORMAT, "model name");
  MUTATE(x[meta + 3] = 0xc3, CANTUS_ERR_FORMAT, "metadata is not UTF-8 text (byte 3)");
  MUTATE(x[meta + 5] = 0, CANTUS_ERR_FORMAT, "metadata is not UTF-8 text (byte 5)");
  MUTATE(x[meta + meta_size] = 1, CANTUS_ERR_FORMAT, "padding byte");
  MUTATE(x[dir - 1] = 1, CANTUS_ERR_FORMAT, "padding byte");
  MUTATE(x[tensor_offset(b, 1) + 3 * 8 * 4] = 1, CANTUS_ERR_FORMAT, "padding byte"); // style_emb
  MUTATE(memcpy(x + dir + 2 * DIR_ENTRY, "l0.w_hh", 8),
         CANTUS_ERR_FORMAT,
         "tensor directory entry 2 (\"l0.w_hh\") does not match the sizes in the header: "
         "expected l0.w_ih (128x44)");
  MUTATE(wr32(x + dir + 3 * DIR_ENTRY + 32, 64), CANTUS_ERR_FORMAT, "entry 3"); // shape
  MUTATE(wr32(x + dir + 3 * DIR_ENTRY + 24, 1), CANTUS_ERR_FORMAT, "entry 3");  // dtype
  MUTATE(
    wr64(x + dir + 4 * DIR_ENTRY + 48, tensor_offset(b, 4) + 64), CANTUS_ERR_FORMAT, "entry 4");
  MUTATE(wr64(x + dir + 9 * DIR_ENTRY + 56, 4), CANTUS_ERR_FORMAT, "entry 9"); // byte size
#undef MUTATE
  free(x);
  free(b);
}

TEST(model_refuses_missing_file_and_directory)
{
  CantusModel *m = (CantusModel *)(uintptr_t)1;
  CantusError err;
  CHECK_EQ(cantus_model_load("no/such/model.cantus", NULL, &m, &err), CANTUS_ERR_IO);
  CHECK(m == NULL);
  CHECK(!strcmp(err.msg, "no/such/model.cantus: cannot open: No such file or directory"));
  m = (CantusModel *)(uintptr_t)1;
  CHECK_EQ(cantus_model_load("tests", NULL, &m, &err), CANTUS_ERR_IO);
  CHECK(m == NULL);
  CHECK(!strcmp(err.msg, "tests: cannot read: Is a directory"));
  // A file that is not a model at all.
  m = (CantusModel *)(uintptr_t)1;
  CHECK_EQ(cantus_model_load("tests/unit/test_model.c", NULL, &m, &err), CANTUS_ERR_BAD_MAGIC);
  CHECK(m == NULL);
  CHECK(!strcmp(err.msg, "tests/unit/test_model.c: bad magic (not a .cantus model)"));
  // An empty file.
  const char *path = tmp_path("empty.cantus");
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    fclose(f);
  }
  CHECK_EQ(cantus_model_load(path, NULL, &m, &err), CANTUS_ERR_TRUNCATED);
  CHECK(m == NULL && strstr(err.msg, "truncated: 0 bytes") != NULL);
  unlink(path);
}

// ---- names, metadata, styles ----------------------------------------------------

TEST(model_find_style)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  CHECK_EQ(cantus_model_find_style(m, "alpha"), 0);
  CHECK_EQ(cantus_model_find_style(m, "BETA"), 1);
  CHECK_EQ(cantus_model_find_style(m, "Gamma"), 2);
  // Numbers count from 1, as every tool lists the styles.
  CHECK_EQ(cantus_model_find_style(m, "1"), 0);
  CHECK_EQ(cantus_model_find_style(m, "3"), 2);
  CHECK_EQ(cantus_model_find_style(m, "03"), 2);
  CHECK_EQ(cantus_model_find_style(m, "0"), -1);
  CHECK_EQ(cantus_model_find_style(m, "4"), -1);
  CHECK_EQ(cantus_model_find_style(m, "-1"), -1);
  CHECK_EQ(cantus_model_find_style(m, "1x"), -1);
  CHECK_EQ(cantus_model_find_style(m, "99999999999999999999"), -1);
  CHECK_EQ(cantus_model_find_style(m, ""), -1);
  CHECK_EQ(cantus_model_find_style(m, "delta"), -1);
  CHECK_EQ(cantus_model_find_style(m, "alph"), -1);
  CHECK_EQ(cantus_model_find_style(m, NULL), -1);
  // A name wins over an index that spells the same.
  cantus_model_set_style_name(m, 2, "1");
  CHECK_EQ(cantus_model_find_style(m, "1"), 2);
  cantus_model_free(m);
}

TEST(model_names_and_metadata_are_clean_utf8)
{
  const CantusDims d = cantus_fixture_dims_tiny();
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  cantus_model_set_style_name(m, 0, "a\tb\xff");
  CHECK(!strcmp(m->style_names[0], "a?b?"));
  cantus_model_set_style_name(m, 1, "");
  CHECK(!strcmp(m->style_names[1], "style1"));
  // 30 ASCII bytes then a 2-byte character: cut before it, not inside it.
  cantus_model_set_style_name(m, 2, "abcdefghijklmnopqrstuvwxyz0123\xc3\xa9");
  CHECK_EQ(strlen(m->style_names[2]), 30);
  cantus_model_set_style_name(m, 2, "abcdefghijklmnopqrstuvwxyz01234567");
  CHECK_EQ(strlen(m->style_names[2]), 31);
  cantus_model_set_style_name(m, 0, m->style_names[0]); // its own name: unchanged
  CHECK(!strcmp(m->style_names[0], "a?b?"));
  cantus_model_set_style_name(m, 3, "ignored"); // out of range: no effect
  cantus_model_set_style_name(m, -1, "ignored");
  CantusError err;
  CHECK_EQ(cantus_model_set_meta(m, "ok \xe2\x82\xac\nbad \xed\xa0\x80 end\n", &err), CANTUS_OK);
  CHECK(!strcmp(m->meta, "ok \xe2\x82\xac\nbad ??? end\n"));
  CHECK_EQ(cantus_model_set_meta(m, m->meta, &err), CANTUS_OK); // its own text: unchanged
  CHECK(!strcmp(m->meta, "ok \xe2\x82\xac\nbad ??? end\n"));
  char *big = malloc(CANTUS_META_MAX + 2);
  memset(big, 'x', CANTUS_META_MAX + 1);
  big[CANTUS_META_MAX + 1] = '\0';
  CHECK_EQ(cantus_model_set_meta(m, big, &err), CANTUS_ERR_TOO_LARGE);
  CHECK(strstr(err.msg, "metadata of 65537 bytes over the limit 65536") != NULL);
  big[CANTUS_META_MAX] = '\0'; // exactly the limit fits, and round-trips
  CHECK_EQ(cantus_model_set_meta(m, big, &err), CANTUS_OK);
  void *data;
  size_t n;
  CHECK_EQ(cantus_model_save_mem(m, &data, &n, &err), CANTUS_OK);
  CantusModel *b = NULL;
  CHECK_EQ(load(data, n, &b, &err), CANTUS_OK);
  CHECK(b && same_model(m, b) && strlen(b->meta) == CANTUS_META_MAX);
  cantus_model_free(b);
  free(data);
  free(big);
  // A model name without a NUL cannot be saved.
  memset(m->name, 'n', sizeof m->name);
  CHECK_EQ(cantus_model_save_mem(m, &data, &n, &err), CANTUS_ERR_FORMAT);
  CHECK(strstr(err.msg, "model name") != NULL);
  cantus_model_free(m);
}

// ---- fixtures and the committed model -------------------------------------------

TEST(model_fixture_is_deterministic_and_note_friendly)
{
  size_t n1, n2, n3;
  uint8_t *a = tiny_bytes(&n1), *b = tiny_bytes(&n2);
  const CantusDims d = cantus_fixture_dims_tiny();
  uint8_t *c = fixture_bytes(&d, 2, &n3);
  CHECK(n1 == n2 && !memcmp(a, b, n1));
  CHECK(n1 == n3 && memcmp(a, c, n1) != 0);
  free(a);
  free(b);
  free(c);
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  const CantusVocab *v = &d.vocab;
  const float *bo = m->p.b_out;
  CHECK(bo[cantus_vocab_shift(v, 3)] > bo[cantus_vocab_shift(v, 1)] + 2.0f);
  CHECK(bo[cantus_vocab_note_off(v, 60)] > bo[CANTUS_TOK_END] + 4.0f);
  CHECK(bo[cantus_vocab_note_on(v, 60)] > bo[CANTUS_TOK_START] + 3.0f);
  // Weights spread over [-1/sqrt(H), 1/sqrt(H)] (l0.w_hh has no added bias).
  const float scale = 1.0f / sqrtf(32.0f);
  float lo = 1, hi = -1;
  for (int i = 0; i < 128 * 32; i++) {
    lo = fminf(lo, m->p.layer[0].w_hh[i]);
    hi = fmaxf(hi, m->p.layer[0].w_hh[i]);
  }
  CHECK(lo >= -scale && hi <= scale);
  CHECK(lo < -0.95f * scale && hi > 0.95f * scale);
  cantus_model_free(m);
}

// The fuzzer's seeds: models small enough for its 64 KiB input limit.
static void write_fuzz_seeds(void)
{
  const char *dir = "tests/data/fuzz-seeds/fuzz_model";
  mkdir("tests/data/fuzz-seeds", 0777);
  mkdir(dir, 0777);
  const CantusDims micro = micro_dims();
  const CantusDims small = {
    .n_layers = 2,
    .n_hidden = 16,
    .n_embed = 4,
    .n_style_dim = 2,
    .n_styles = 2,
    .n_pos_tick = 2,
    .n_pos_beat = 4,
    .vocab = { .pitch_lo = 60, .pitch_hi = 67, .n_shift = 8, .n_vel = 0, .tpq = 2 }
  };
  // Version 2: two parts, four duration bins, lags 1 and 2 bars, phrase
  // and bars left.
  CantusDims micro2 = micro;
  micro2.vocab.n_parts = 2;
  micro2.vocab.n_dur = 4;
  micro2.lookback_lags = 0x3;
  micro2.n_phrase = 16;
  micro2.n_bars_left = 18;
  CantusDims micro2c = micro2; // with the chord input (issue 11)
  micro2c.n_chord = 13;
  struct {
    const char *name;
    const CantusDims *d;
    size_t cut;
  } seeds[] = { { "micro.cantus", &micro, 0 },
                { "small.cantus", &small, 0 },
                { "micro-cut.cantus", &micro, 300 },
                { "micro2.cantus", &micro2, 0 },
                { "micro2c.cantus", &micro2c, 0 } };
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    size_t n;
    uint8_t *b = fixture_bytes(seeds[i].d, 5, &n);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
      CHECK(n < 65536);
      CHECK_EQ(fwrite(b, 1, seeds[i].cut ? seeds[i].cut : n, f), seeds[i].cut ? seeds[i].cut : n);
      fclose(f);
    }
    free(b);
  }
}

// The committed file at path loads and equals, byte for byte, what this
// build's saver writes for the fixture of dims d (seed 1).
static void check_committed(const char *path, const CantusDims d, bool regen)
{
  CantusModel *fx = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  CantusError err;
  if (regen) {
    CHECK_EQ(cantus_model_save(fx, path, &err), CANTUS_OK);
  }
  CantusModel *m = NULL;
  const CantusModelOptions opt = { .weights = CANTUS_WEIGHTS_F32, .extra_size = 0 };
  CHECK_MSG(cantus_model_load(path, &opt, &m, &err) == CANTUS_OK, "%s", err.msg);
  CHECK(m && same_model(m, fx));
  void *data;
  size_t n;
  CHECK_EQ(cantus_model_save_mem(fx, &data, &n, &err), CANTUS_OK);
  FILE *f = fopen(path, "rb");
  uint8_t *file = malloc(n + 1);
  const size_t got = f ? fread(file, 1, n + 1, f) : 0;
  if (f) {
    fclose(f);
  }
  CHECK_EQ(got, n);
  CHECK(got == n && !memcmp(file, data, n));
  free(file);
  free(data);
  cantus_model_free(m);
  cantus_model_free(fx);
}

// The styles' metres (cantus_model_style_meter): both spellings, the list
// winning, malformed entries ignored, and random metadata never crashing or
// yielding a metre outside N 1..32, D 1/2/4/8/16.
TEST(model_style_meter_reader)
{
  const CantusDims d = cantus_fixture_dims_tiny(); // styles alpha, beta, gamma
  CantusModel *m = cantus_fixture_model(&d, 1, CANTUS_WEIGHTS_F32);
  int num = 0, den = 0;
  CHECK_EQ(cantus_model_set_meta(m, "", NULL), CANTUS_OK);
  CHECK(!cantus_model_style_meter(m, 0, &num, &den));
  CHECK(num == 4 && den == 4);
  CHECK(!cantus_model_style_meter(NULL, 0, &num, &den) && num == 4 && den == 4);
  CHECK(!cantus_model_style_meter(m, -1, &num, &den));
  CHECK(!cantus_model_style_meter(m, 3, &num, &den));
  static const struct {
    const char *meta;
    int want[3][2]; // {0, 0}: not named (4/4)
  } t[] = {
    { "meter: alpha=6/8,beta=3/4\n", { { 6, 8 }, { 3, 4 }, { 0, 0 } } },
    { "x: 1\nmeter:  ALPHA = 9/8 ,\tgamma=12/8\r\n", { { 9, 8 }, { 0, 0 }, { 12, 8 } } },
    { "metre.beta: 3/4\nmetre.gamma: 2/2\r\n", { { 0, 0 }, { 3, 4 }, { 2, 2 } } },
    // the list wins over metre.NAME; metre.NAME fills the rest
    { "metre.alpha: 2/4\nmeter: alpha=6/8\nmetre.beta: 5/4\n", { { 6, 8 }, { 5, 4 }, { 0, 0 } } },
    // malformed entries are ignored, the good ones kept
    { "meter: alpha=7/3,beta=0/4,gamma=33/4\n", { { 0, 0 }, { 0, 0 }, { 0, 0 } } },
    { "meter: alpha=3/4x,beta=3,gamma=/4\n", { { 0, 0 }, { 0, 0 }, { 0, 0 } } },
    { "meter: alpha 3/4,=3/4,delta=3/4,,beta=99999999999999999999/4,gamma=3/4\n",
      { { 0, 0 }, { 0, 0 }, { 3, 4 } } },
    // every list line counts; a style's first entry wins
    { "meter: alpha=3/4,alpha=6/8\nmeter: beta=6/8\n", { { 3, 4 }, { 6, 8 }, { 0, 0 } } },
    { "meter:alpha=3/4", { { 3, 4 }, { 0, 0 }, { 0, 0 } } },
    { "metre.alpha 3/4\nmetre.beta:\nmetre.: 3/4\nmetre.gamma: 3 / 4\n",
      { { 0, 0 }, { 0, 0 }, { 3, 4 } } },
    { "meters: alpha=3/4\n meter: beta=3/4\n", { { 0, 0 }, { 0, 0 }, { 0, 0 } } },
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    CHECK_EQ(cantus_model_set_meta(m, t[i].meta, NULL), CANTUS_OK);
    for (int s = 0; s < 3; s++) {
      const bool named = cantus_model_style_meter(m, s, &num, &den);
      const int wn = t[i].want[s][0] ? t[i].want[s][0] : 4,
                wd = t[i].want[s][1] ? t[i].want[s][1] : 4;
      CHECK_MSG(named == (t[i].want[s][0] != 0) && num == wn && den == wd,
                "meta %zu style %d: %s %d/%d, want %d/%d",
                i,
                s,
                named ? "named" : "not named",
                num,
                den,
                wn,
                wd);
    }
  }
  // A renamed style follows its name; the table survives a save and load.
  CHECK_EQ(cantus_model_set_meta(m, "meter: delta=3/4\n", NULL), CANTUS_OK);
  CHECK(!cantus_model_style_meter(m, 1, &num, &den));
  cantus_model_set_style_name(m, 1, "delta");
  CHECK(cantus_model_style_meter(m, 1, &num, &den) && num == 3 && den == 4);
  void *bytes = NULL;
  size_t size = 0;
  CHECK_EQ(cantus_model_save_mem(m, &bytes, &size, NULL), CANTUS_OK);
  CantusModelOptions opt = cantus_model_options_default();
  CantusModel *m2 = NULL;
  CHECK_EQ(cantus_model_load_mem(bytes, size, "mem", &opt, &m2, NULL), CANTUS_OK);
  CHECK(m2 && cantus_model_style_meter(m2, 1, &num, &den) && num == 3 && den == 4);
  cantus_model_free(m2);
  free(bytes);
  // Random metadata built from the characters that matter: never a crash,
  // never a metre out of range.
  CantusRng rng;
  cantus_rng_seed(&rng, 7);
  static const char alphabet[] = "meter:=,/0123456789 \t\r\nalphbgmd.x";
  char buf[256];
  for (int k = 0; k < 3000; k++) {
    const size_t len = (size_t)(cantus_rng_next(&rng) % (sizeof buf - 1));
    memcpy(buf, k % 2 ? "meter: " : "metre.", 6 + (k % 2));
    for (size_t j = 7; j < len; j++) {
      buf[j] = alphabet[cantus_rng_next(&rng) % (sizeof alphabet - 1)];
    }
    buf[len > 7 ? len : 7] = 0;
    CHECK_EQ(cantus_model_set_meta(m, buf, NULL), CANTUS_OK);
    for (int s = 0; s < 3; s++) {
      cantus_model_style_meter(m, s, &num, &den);
      CHECK(num >= 1 && num <= 32 && (den == 1 || den == 2 || den == 4 || den == 8 || den == 16));
    }
  }
  cantus_model_free(m);
}

TEST(model_committed_tiny_loads_and_matches_fixture)
{
  // CANTUS_REGEN_TINY=1 rewrites the files and the fuzzer's seeds (after a
  // deliberate format change).  tiny.cantus stays version 1: the v1 fixture.
  const bool regen = getenv("CANTUS_REGEN_TINY") != NULL;
  check_committed("tests/data/tiny.cantus", cantus_fixture_dims_tiny(), regen);
  check_committed("tests/data/tiny2.cantus", cantus_fixture_dims_tiny2(), regen);
  check_committed("tests/data/tinyc.cantus", cantus_fixture_dims_tinyc(), regen);
  if (regen) {
    write_fuzz_seeds();
  }
  size_t n;
  uint8_t *b = tiny_bytes(&n);
  CHECK_EQ(rd32(b + H_VERSION), 1);
  free(b);
}
