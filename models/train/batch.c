// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's batches: an epoch's pieces (a seeded shuffle, a
// transposition each) or a split's pieces (longest first) laid end to end
// into B rows, cut into chunks of T steps with a cursor per row; and the
// --dump-chunks file a PyTorch replay reads (tests/ref/replay_train.py).
// Non-RT.
#include "train_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void train_plan_free(Plan *pl)
{
  if (pl->row) {
    for (int b = 0; b < pl->B; b++) {
      free(pl->row[b]);
    }
  }
  free(pl->row);
  free(pl->n_items);
  free(pl->len);
  free(pl->cur_item);
  free(pl->cur_off);
  memset(pl, 0, sizeof *pl);
}

// Lays `order` (piece indices with transpositions) into B rows: each piece
// goes to the currently shortest row (lowest index on ties).
bool train_plan_build(Plan *pl, const CantusCorpus *c, const Item *order, int n, int B, int T)
{
  memset(pl, 0, sizeof *pl);
  pl->B = B;
  pl->row = calloc((size_t)B, sizeof *pl->row);
  pl->n_items = calloc((size_t)B, sizeof *pl->n_items);
  pl->len = calloc((size_t)B, sizeof *pl->len);
  pl->cur_item = calloc((size_t)B, sizeof *pl->cur_item);
  pl->cur_off = calloc((size_t)B, sizeof *pl->cur_off);
  int *cap = calloc((size_t)B, sizeof *cap);
  if (!pl->row || !pl->n_items || !pl->len || !pl->cur_item || !pl->cur_off || !cap) {
    free(cap);
    train_plan_free(pl);
    return false;
  }
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int b = 1; b < B; b++) {
      best = pl->len[b] < pl->len[best] ? b : best;
    }
    if (pl->n_items[best] == cap[best]) {
      cap[best] = cap[best] ? 2 * cap[best] : 16;
      Item *nr = realloc(pl->row[best], (size_t)cap[best] * sizeof *nr);
      if (!nr) {
        free(cap);
        train_plan_free(pl);
        return false;
      }
      pl->row[best] = nr;
    }
    pl->row[best][pl->n_items[best]++] = order[i];
    pl->len[best] += c->pieces[order[i].piece].n_tok;
  }
  free(cap);
  for (int b = 0; b < B; b++) {
    pl->max_len = pl->len[b] > pl->max_len ? pl->len[b] : pl->max_len;
  }
  // The last input of a stream is its final END, which has no target.
  pl->n_chunks = pl->max_len > 1 ? (int)((pl->max_len - 1 + (uint64_t)T - 1) / (uint64_t)T) : 0;
  return true;
}

// Moves every row's cursor to the start of chunk k.
void train_plan_seek(Plan *pl, const CantusCorpus *c, int k, int T)
{
  for (int b = 0; b < pl->B; b++) {
    uint64_t skip = (uint64_t)k * (uint64_t)T;
    int it = 0;
    while (it < pl->n_items[b] && skip >= c->pieces[pl->row[b][it].piece].n_tok) {
      skip -= c->pieces[pl->row[b][it].piece].n_tok;
      it++;
    }
    pl->cur_item[b] = it;
    pl->cur_off[b] = it < pl->n_items[b] ? (uint32_t)skip : 0;
  }
}

// The token moved by d semitones (NOTE_ON/NOTE_OFF, or NOTE within its
// part; DUR, SHIFT and the rest unchanged).  The epoch order keeps every
// piece's notes in range; a note that would leave it stays put.
static int transpose_token(const CantusVocab *v, int tok, int d)
{
  if (d == 0) {
    return tok;
  }
  const int t = cantus_vocab_transpose(v, tok, d);
  return t >= 0 ? t : tok;
}

// A lookback input moved likewise; NONE (= V) stays NONE.
static uint16_t transpose_look(const CantusVocab *v, int look, int d)
{
  return look >= cantus_vocab_size(v) ? (uint16_t)look : (uint16_t)transpose_token(v, look, d);
}

// The chord input of position `off` of an item: the piece's chord moved
// with the notes (cantus_chord_transpose), or none under chord dropout.
static uint16_t item_chord(const Item *it, const CantusPiece *pc, uint32_t off, float span_drop)
{
  if (it->no_chord || !pc->form) {
    return 0;
  }
  const uint16_t pcs = pc->form[off].chord;
  if (!pcs) {
    return 0;
  }
  if (span_drop > 0.0f) {
    const uint64_t h =
      cantus_splitmix64_mix(((uint64_t)it->chord_seed << 32) ^ (off / CHORD_SPAN_TOKENS));
    if ((float)(h >> 40) * (1.0f / 16777216.0f) < span_drop) {
      return 0;
    }
  }
  const CantusChord c = { pcs, -1, -1 };
  return cantus_chord_transpose(c, it->transpose).pcs;
}

// Fills the next chunk from the cursors and advances them.  span_drop: the
// chance of a chord span without its chord (0 for validation).

void train_plan_fill(Plan *pl, const CantusCorpus *c, CantusChunk *ch, int T, float span_drop)
{
  const int B = pl->B;
  const int V = cantus_vocab_size(&c->vocab);
  for (int b = 0; b < B; b++) {
    int it = pl->cur_item[b];
    uint32_t off = pl->cur_off[b];
    for (int t = 0; t < T; t++) {
      size_t r = (size_t)t * (size_t)B + (size_t)b;
      if (it >= pl->n_items[b]) {
        ch->tok[r] = CANTUS_TOK_START; // padding: a reset row that scores nothing
        ch->tgt[r] = -1;
        ch->style[r] = 0;
        ch->pos_tick[r] = 0;
        ch->pos_beat[r] = 0;
        for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
          ch->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i] = (uint16_t)V;
        }
        ch->phrase[r] = 0;
        ch->bars_left[r] = CANTUS_BARS_LEFT_UNKNOWN;
        ch->chord[r] = 0;
        continue;
      }
      const CantusPiece *pc = &c->pieces[pl->row[b][it].piece];
      int d = pl->row[b][it].transpose;
      ch->tok[r] = transpose_token(&c->vocab, pc->tok[off], d);
      ch->tgt[r] = off + 1 < pc->n_tok ? transpose_token(&c->vocab, pc->tok[off + 1], d) : -1;
      ch->style[r] = (int16_t)pc->style;
      ch->pos_tick[r] = pc->pos_tick[off];
      ch->pos_beat[r] = pc->pos_beat[off];
      if (pc->form) {
        const CantusLookbackFeatures *f = &pc->form[off];
        for (int i = 0; i < CANTUS_LOOKBACK_N_LAGS; i++) {
          ch->look[r * CANTUS_LOOKBACK_N_LAGS + (size_t)i] =
            transpose_look(&c->vocab, f->look[i], d);
        }
        ch->phrase[r] = f->phrase_bar;
        ch->bars_left[r] = pl->row[b][it].no_end ? CANTUS_BARS_LEFT_UNKNOWN : f->bars_left;
      }
      ch->chord[r] = item_chord(&pl->row[b][it], pc, off, span_drop);
      if (++off >= pc->n_tok) {
        off = 0;
        it++;
      }
    }
    pl->cur_item[b] = it;
    pl->cur_off[b] = off;
  }
}

// Training order of an epoch: a seeded shuffle with a transposition per piece.
Item *train_epoch_order(const CantusCorpus *c, const CantusTrainConfig *cfg, int epoch, int *n_out)
{
  int n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].split == CANTUS_SPLIT_TRAIN;
  }
  Item *o = malloc((size_t)(n ? n : 1) * sizeof *o);
  if (!o) {
    return NULL;
  }
  n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == CANTUS_SPLIT_TRAIN) {
      o[n++] = (Item){ i, 0, false, false, 0 };
    }
  }
  uint64_t s = cantus_splitmix64_mix(cfg->seed * 0x2545f4914f6cdd1dull + (uint64_t)epoch + 1);
  for (int i = n - 1; i > 0; i--) {
    int j = (int)train_rng_below(&s, (uint32_t)(i + 1));
    Item t = o[i];
    o[i] = o[j];
    o[j] = t;
  }
  for (int i = 0; i < n; i++) {
    const CantusPiece *pc = &c->pieces[o[i].piece];
    int lo = cfg->transpose_lo, hi = cfg->transpose_hi;
    lo = lo > c->vocab.pitch_lo - pc->pitch_min ? lo : c->vocab.pitch_lo - pc->pitch_min;
    hi = hi < c->vocab.pitch_hi - pc->pitch_max ? hi : c->vocab.pitch_hi - pc->pitch_max;
    o[i].transpose =
      (int8_t)(lo <= hi ? lo + (int)train_rng_below(&s, (uint32_t)(hi - lo + 1)) : 0);
  }
  // Version 2 end dropout: a seeded share of the pieces sees bars left
  // "unknown" throughout (its own stream, so the shuffle and the
  // transpositions are those of version 1).
  uint64_t s_end =
    cantus_splitmix64_mix(cfg->seed * 0x9e3779b97f4a7c15ull + 0xe7dull + (uint64_t)epoch);
  const uint32_t end_thresh = (uint32_t)(cfg->end_dropout * 65536.0f + 0.5f);
  for (int i = 0; i < n; i++) {
    o[i].no_end = train_rng_below(&s_end, 65536) < end_thresh;
  }
  // Chord dropout (issue 11), again its own stream: a seeded share of the
  // pieces sees no chord throughout; every piece gets the seed of its
  // dropped spans.
  uint64_t s_chord =
    cantus_splitmix64_mix(cfg->seed * 0xd1b54a32d192ed03ull + 0xc40dull + (uint64_t)epoch);
  const uint32_t chord_thresh = (uint32_t)(cfg->chord_dropout * 65536.0f + 0.5f);
  for (int i = 0; i < n; i++) {
    o[i].no_chord = train_rng_below(&s_chord, 65536) < chord_thresh;
    o[i].chord_seed = (uint32_t)(cantus_splitmix64_next(&s_chord) >> 32);
  }
  *n_out = n;
  return o;
}

// Pieces of one split, longest first (rows balance better).
Item *train_split_order(const CantusCorpus *c, int split, int *n_out)
{
  int n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].split == split;
  }
  Item *o = malloc((size_t)(n ? n : 1) * sizeof *o);
  if (!o) {
    return NULL;
  }
  n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    if (c->pieces[i].split == split) {
      o[n++] = (Item){ i, 0, false, false, 0 };
    }
  }
  // insertion sort by length, descending; stable, so ties keep corpus order
  for (int i = 1; i < n; i++) {
    Item x = o[i];
    int j = i - 1;
    while (j >= 0 && c->pieces[o[j].piece].n_tok < c->pieces[x.piece].n_tok) {
      o[j + 1] = o[j];
      j--;
    }
    o[j + 1] = x;
  }
  *n_out = n;
  return o;
}

// One chunk for --dump-chunks: tok, tgt, style, pos_tick, pos_beat as int32.
void train_dump_chunk(FILE *f, const CantusChunk *ch, size_t R)
{
  for (size_t r = 0; r < R; r++) {
    const int32_t v[5] = { ch->tok[r], ch->tgt[r], ch->style[r], ch->pos_tick[r], ch->pos_beat[r] };
    fwrite(v, sizeof v, 1, f);
  }
}

CantusStatus train_dump_open(const Trainer *tr, FILE **out, CantusError *err)
{
  const CantusTrainConfig *cfg = tr->cfg;
  FILE *dump = fopen(cfg->dump_path, "wb");
  *out = dump;
  if (!dump) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: cannot write: %s", cfg->dump_path, strerror(errno));
  }
  const CantusDims *d = &tr->d;
  const int32_t hdr[16] = { 0x48435443,
                            1,
                            (int32_t)d->n_layers,
                            (int32_t)d->n_hidden,
                            (int32_t)d->n_embed,
                            (int32_t)d->n_style_dim,
                            (int32_t)d->n_styles,
                            d->vocab.pitch_lo,
                            d->vocab.pitch_hi,
                            d->vocab.n_shift,
                            d->vocab.tpq,
                            (int32_t)d->n_pos_beat,
                            cfg->batch,
                            cfg->bptt,
                            (int32_t)tr->n_params,
                            0 };
  const float hyper[4] = { cfg->clip, cfg->weight_decay, 0.9f, 0.999f };
  fwrite(hdr, sizeof hdr, 1, dump);
  fwrite(hyper, sizeof hyper, 1, dump);
  fwrite(tr->params, sizeof(float), tr->n_params, dump);
  return CANTUS_OK;
}
