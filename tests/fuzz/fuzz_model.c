// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target for the .cantus loader (cantus_model_load_mem).  Each
// input is tried twice: as it is, and with its two CRC-32s recomputed
// (models/FORMAT.md), so mutations of sizes, offsets, names and weights get
// past the checksums to the checks behind them.  A model that loads must
// hold up: it saves back to the same bytes (the format is canonical), loads
// again, and steps a few times without a sanitizer report.  Seeds:
// tests/data/fuzz-seeds/fuzz_model/ (small fixture models; see FORMAT.md).
#include "model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *b)
{
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(uint8_t *b, uint32_t v)
{
  for (int i = 0; i < 4; i++) {
    b[i] = (uint8_t)(v >> (8 * i));
  }
}

static void exercise(CantusModel *m, const uint8_t *data, size_t size)
{
  // Canonical: saving gives the input back (a larger header is not kept).
  void *out = NULL;
  size_t n = 0;
  CantusError err;
  if (cantus_model_save_mem(m, &out, &n, &err) != CANTUS_OK) {
    __builtin_trap(); // a loaded model must be savable
  }
  if (rd32(data + 12) == 256 && (n != size || memcmp(out, data, n) != 0)) {
    __builtin_trap();
  }
  CantusModel *again = NULL;
  if (cantus_model_load_mem(out, n, "again", NULL, &again, &err) != CANTUS_OK) {
    __builtin_trap();
  }
  cantus_model_free(again);
  free(out);
  // Every token, position and style is safe to step with.
  const CantusDims *d = &m->dims;
  const int V = cantus_vocab_size(&d->vocab);
  cantus_lstm_set_style(&m->net, &m->state, m->p.style_emb + (d->n_styles - 1) * d->n_style_dim);
  const int tokens[3] = { 0, V - 1, V / 2 };
  for (int i = 0; i < 3; i++) {
    cantus_lstm_step(
      &m->net, &m->state, tokens[i], (int)d->n_pos_tick - 1, (int)d->n_pos_beat - 1, m->logits);
  }
  if (cantus_model_find_style(m, m->style_names[0]) != 0) {
    __builtin_trap();
  }
  // Version 2: every form input, in range and out of it (clamped), and NULL;
  // chords (read by a chord network): a triad, every bit set, none.
  const CantusLookbackFeatures form[3] = {
    { { (uint16_t)V, 0, (uint16_t)(V - 1), (uint16_t)V }, 15, 17, 0x091 },
    { { 0xffff, 0xffff, 0xffff, 0xffff }, 255, 255, 0xffff },
    { { 1, 2, 3, 4 }, 0, 0, 0 },
  };
  for (int i = 0; i < 3; i++) {
    cantus_lstm_step_form(&m->net, &m->state, tokens[i], 0, 0, &form[i], m->logits);
  }
  cantus_lstm_step_form(&m->net, &m->state, 0, 0, 0, NULL, m->logits);
  if (d->vocab.n_parts && cantus_model_find_part(m, m->part_names[0]) != 0) {
    __builtin_trap();
  }
}

static void try_load(const uint8_t *data, size_t size, CantusWeightType wt)
{
  const CantusModelOptions opt = { .weights = wt, .extra_size = 100 };
  CantusModel *m = (CantusModel *)(uintptr_t)1;
  CantusError err;
  err.msg[0] = '\0';
  const CantusStatus st = cantus_model_load_mem(data, size, "fuzz", &opt, &m, &err);
  if (st != CANTUS_OK) {
    // Refused: no model, and one line naming the input.
    if (m != NULL || strncmp(err.msg, "fuzz: ", 6) != 0 || strchr(err.msg, '\n')) {
      __builtin_trap();
    }
    return;
  }
  if (!m || size < 256) {
    __builtin_trap();
  }
  exercise(m, data, size);
  cantus_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const CantusWeightType wt = (size & 1) ? CANTUS_WEIGHTS_F32 : CANTUS_WEIGHTS_F16;
  try_load(data, size, wt);
  if (size < 32) {
    return 0;
  }
  const uint32_t hs = rd32(data + 12);
  if (hs < 32 || hs > size) {
    return 0;
  }
  uint8_t *copy = malloc(size);
  if (!copy) {
    return 0;
  }
  memcpy(copy, data, size);
  wr32(copy + 28, cantus_crc32(0, copy + hs, size - hs));
  wr32(copy + 24, 0);
  wr32(copy + 24, cantus_crc32(0, copy, hs));
  if (memcmp(copy, data, size) != 0) {
    try_load(copy, size, wt);
  }
  free(copy);
  return 0;
}
