// SPDX-License-Identifier: GPL-3.0-or-later
// The trainer's checkpoints: a header that ties the file to the sizes,
// batch, BPTT, seed and corpus of its run, the original command line (for
// --resume without arguments), the loop state, parameters, Adam moments,
// best weights and the carried hidden state; resuming from one continues
// bit-exactly.  Non-RT.
#include "train_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char CKPT_MAGIC[8] = { 'C', 'A', 'N', 'T', 'C', 'K', 'P', '1' };

typedef struct {
  char magic[8];
  uint32_t n_params, state_floats;
  CantusDims dims;
  int32_t batch, bptt;
  uint64_t seed;
  uint32_t n_pieces, pad;
  uint64_t corpus_tokens;
} CkptHeader;

static uint64_t corpus_tokens(const CantusCorpus *c)
{
  uint64_t n = 0;
  for (int i = 0; i < c->n_pieces; i++) {
    n += c->pieces[i].n_tok;
  }
  return n;
}

static CantusStatus write_all(FILE *f, const void *p, size_t n, const char *path, CantusError *err)
{
  if (fwrite(p, 1, n, f) != n) {
    return cantus_error(err, CANTUS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  }
  return CANTUS_OK;
}

// The checkpoint: header, the original command line, loop state, params,
// Adam moments, best weights, carried hidden state.  Written to path.tmp and
// renamed, so a crash never leaves half a checkpoint.
CantusStatus train_checkpoint_save(const Trainer *tr, const char *path, CantusError *err)
{
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: cannot write checkpoint: %s", tmp, strerror(errno));
  }
  CkptHeader h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, CKPT_MAGIC, 8);
  h.n_params = (uint32_t)tr->n_params;
  h.state_floats = (uint32_t)cantus_lstm_train_state_floats(tr->net);
  h.dims = tr->d;
  h.batch = tr->cfg->batch;
  h.bptt = tr->cfg->bptt;
  h.seed = tr->cfg->seed;
  h.n_pieces = (uint32_t)tr->corpus.n_pieces;
  h.corpus_tokens = corpus_tokens(&tr->corpus);
  const char *cmd = tr->cfg->argv_packed ? tr->cfg->argv_packed : "";
  uint32_t cmd_len = (uint32_t)strlen(cmd);
  CantusStatus s = write_all(f, &h, sizeof h, tmp, err);
  if (!s)
    s = write_all(f, &cmd_len, 4, tmp, err);
  if (!s)
    s = write_all(f, cmd, cmd_len, tmp, err);
  if (!s)
    s = write_all(f, &tr->ls, sizeof tr->ls, tmp, err);
  size_t pb = tr->n_params * sizeof(float);
  if (!s)
    s = write_all(f, tr->params, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->m, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->v, pb, tmp, err);
  if (!s)
    s = write_all(f, tr->best, pb, tmp, err);
  if (!s)
    s = write_all(f, cantus_lstm_train_state(tr->net), h.state_floats * sizeof(float), tmp, err);
  if (fclose(f) != 0 && !s) {
    s = cantus_error(err, CANTUS_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  }
  if (!s && rename(tmp, path) != 0) {
    s = cantus_error(err, CANTUS_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
  }
  if (s) {
    remove(tmp);
  }
  return s;
}

CantusStatus train_checkpoint_load(Trainer *tr, const char *path, CantusError *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    return cantus_error(
      err, CANTUS_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
  }
  CkptHeader h;
  uint32_t cmd_len = 0;
  CantusStatus s = CANTUS_OK;
  if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CKPT_MAGIC, 8) != 0) {
    s = cantus_error(err, CANTUS_ERR_BAD_MAGIC, "%s: not a cantus-train checkpoint", path);
  } else if (h.n_params != tr->n_params || memcmp(&h.dims, &tr->d, sizeof h.dims) != 0 ||
             h.batch != tr->cfg->batch || h.bptt != tr->cfg->bptt || h.seed != tr->cfg->seed ||
             h.state_floats != cantus_lstm_train_state_floats(tr->net)) {
    s = cantus_error(err,
                     CANTUS_ERR_FORMAT,
                     "%s: checkpoint was made with other sizes, batch, BPTT or seed than this run",
                     path);
  } else if (h.n_pieces != (uint32_t)tr->corpus.n_pieces ||
             h.corpus_tokens != corpus_tokens(&tr->corpus)) {
    s = cantus_error(
      err,
      CANTUS_ERR_FORMAT,
      "%s: checkpoint was made on another corpus (%u pieces, %llu tokens; now %d, %llu)",
      path,
      h.n_pieces,
      (unsigned long long)h.corpus_tokens,
      tr->corpus.n_pieces,
      (unsigned long long)corpus_tokens(&tr->corpus));
  } else if (fread(&cmd_len, 4, 1, f) != 1 || fseek(f, cmd_len, SEEK_CUR) != 0) {
    s = cantus_error(err, CANTUS_ERR_TRUNCATED, "%s: truncated checkpoint", path);
  } else {
    size_t pb = tr->n_params * sizeof(float);
    bool ok = fread(&tr->ls, sizeof tr->ls, 1, f) == 1 && fread(tr->params, pb, 1, f) == 1 &&
              fread(tr->m, pb, 1, f) == 1 && fread(tr->v, pb, 1, f) == 1 &&
              fread(tr->best, pb, 1, f) == 1 &&
              fread(cantus_lstm_train_state(tr->net), h.state_floats * sizeof(float), 1, f) == 1;
    char extra;
    if (!ok || fread(&extra, 1, 1, f) != 0) {
      s = cantus_error(err, CANTUS_ERR_TRUNCATED, "%s: truncated or damaged checkpoint", path);
    } else if (tr->ls.n_log < 0 || tr->ls.n_log > MAX_EPOCH_LOG || tr->ls.epoch < 0 ||
               tr->ls.chunk < 0) {
      s = cantus_error(err, CANTUS_ERR_FORMAT, "%s: damaged checkpoint state", path);
    }
  }
  fclose(f);
  return s;
}

// The command line stored in a checkpoint (for `--resume` without the
// original arguments).  Returns a malloc'd string or NULL.
char *cantus_train_checkpoint_command(const char *path, CantusError *err)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    cantus_error(err, CANTUS_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    return NULL;
  }
  CkptHeader h;
  uint32_t n = 0;
  char *cmd = NULL;
  if (fread(&h, sizeof h, 1, f) == 1 && memcmp(h.magic, CKPT_MAGIC, 8) == 0 &&
      fread(&n, 4, 1, f) == 1 && n < (1u << 20) && (cmd = malloc(n + 1)) != NULL) {
    if (fread(cmd, 1, n, f) != n) {
      free(cmd);
      cmd = NULL;
    } else {
      cmd[n] = 0;
    }
  }
  fclose(f);
  if (!cmd) {
    cantus_error(err, CANTUS_ERR_FORMAT, "%s: not a cantus-train checkpoint", path);
  }
  return cmd;
}
