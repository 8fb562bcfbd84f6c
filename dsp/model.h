// SPDX-License-Identifier: GPL-3.0-or-later
// The .cantus model: the only code that knows its bytes (models/FORMAT.md).
//
// Allocation contract: a CantusModel is ONE allocation (cantus_model_free
// releases it) holding the header fields, style names, metadata, the fp32
// parameters exactly as stored in the file, the run-time weight layout the
// LSTM kernels read (cantus_lstm_prepare), one LSTM state, scratch, and
// `extra_size` zeroed bytes for the caller (the engine keeps its timeline
// there).  Swapping one pointer therefore swaps weights and state together.
// Thread class: everything here is non-RT (it allocates and does file I/O);
// a loaded model is read-only to the audio thread apart from its state,
// scratch and extra region.
#ifndef CANTUS_MODEL_H
#define CANTUS_MODEL_H

#include "lstm.h"
#include "rt.h"
#include "status.h"
#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CANTUS_FORMAT_VERSION 2       // the newest version this build reads and writes
#define CANTUS_META_MAX (64 * 1024)   // bytes of free-text metadata
#define CANTUS_MODEL_MAGIC "CANTUSMD" // the file's first 8 bytes (no NUL)

typedef struct {
  CantusDims dims;                            // network sizes and vocabulary (lstm.h)
  uint32_t n_params;                          // total fp32 parameters
  char name[32];                              // short model name, NUL-terminated
  char (*style_names)[CANTUS_STYLE_NAME_LEN]; // [n_styles], NUL-terminated
  char (*part_names)[CANTUS_STYLE_NAME_LEN];  // [dims.vocab.n_parts] (version 2), NUL-terminated
  char *meta;            // free-text metadata ("key: value" lines), NUL-terminated
  CantusParams p;        // fp32 parameters
  CantusLstmNet net;     // run-time layout (fp32, fp16 or int8 weights), from p
  CantusLstmState state; // h, c of every layer; zero after load
  float *logits;         // (V) scratch for the step
  void *extra;           // extra_size zeroed bytes, 64-byte aligned, or NULL
  size_t extra_size;
  size_t alloc_size; // bytes of the whole allocation
  uint32_t version;  // format version of the file it was loaded from (when
                     // created: 2 for a version 2 vocabulary, else 1)
  uint32_t crc;      // payload CRC-32 stored in that file (0 when created)
  // Each style's usual metre (numerator, denominator) as the metadata names
  // it, {0, 0} when it does not (cantus_model_style_meter() reads it).
  // Derived from meta and style_names whenever either is set.
  uint8_t style_meter[CANTUS_MAX_STYLES][2];
} CantusModel;

typedef struct {
  CantusWeightType weights; // run-time weight storage (CANTUS_WEIGHTS_I8 default)
  size_t extra_size;        // bytes reserved for the caller in `extra`
} CantusModelOptions;

// Default options: the process's default run-time weights, no extra region.
// That default is int8, unless cantus_model_set_default_weights() chose
// another, or else the environment variable CANTUS_WEIGHTS names one
// ("fp32", "fp16", "int8"; how a plugin host picks it).  Non-RT.
CantusModelOptions cantus_model_options_default(void);
// Sets the process's default run-time weights (cantus-gen and cantus-jack
// --weights); call before loading models.  Non-RT.
void cantus_model_set_default_weights(CantusWeightType wt);

// A model is version 2 exactly when its vocabulary is (cantus_dims_is_v2):
// then it also records parts and part names and may have form inputs
// (lookback, phrase bar, bars left; models/FORMAT.md).  The saver writes
// version 1 for a version 1 vocabulary, byte for byte as before.
// Checks dims against the hard caps (layers 1..4, hidden 16..1024 and a
// multiple of 16, vocab <= 1024, styles 1..64, embed/style 1..256, positions
// <= CANTUS_MAX_POS) and the vocabulary; fills err on failure.
CantusStatus cantus_model_check_dims(const CantusDims *dims, CantusError *err);

// Number of fp32 parameters of a network of these sizes.
size_t cantus_model_param_count(const CantusDims *dims);

// The only offset calculator: fills `p` with pointers into `base`, a buffer
// of cantus_model_param_count() floats, in file order (tok_emb, style_emb,
// then per layer w_ih, w_hh, b, then w_out, b_out).  The trainer uses it for
// its flat parameter, gradient and Adam buffers.
void cantus_model_layout(const CantusDims *dims, float *base, CantusParams *p);

// Allocates a model with zeroed parameters (the trainer fills them), style
// names "style0".., empty metadata.  cantus_model_finish() must run after
// the parameters are set, before the model is stepped.
CantusStatus cantus_model_create(const CantusDims *dims,
                                 const CantusModelOptions *opt,
                                 CantusModel **out,
                                 CantusError *err);

// Rebuilds the run-time layout (net) from the fp32 parameters and zeroes
// the state.  Call after changing parameters.
void cantus_model_finish(CantusModel *m);

// Sets style i's name (truncated to 31 bytes) / the metadata text (copied;
// CANTUS_ERR_TOO_LARGE over CANTUS_META_MAX).  Both are stored as UTF-8:
// invalid bytes (and, in names, control characters) become '?', and an
// empty style name becomes "styleN".  The metadata storage is part
// of the allocation, sized CANTUS_META_MAX.
void cantus_model_set_style_name(CantusModel *m, int i, const char *name);
CantusStatus cantus_model_set_meta(CantusModel *m, const char *text, CantusError *err);
// Sets part i's name (version 2), as cantus_model_set_style_name; an empty
// name becomes "partN".  Created models have "part0"...
void cantus_model_set_part_name(CantusModel *m, int i, const char *name);
// Part index by name (case-insensitive); -1 if none.
int cantus_model_find_part(const CantusModel *m, const char *name);

// Reads and checks a .cantus file.  Refuses, with one line in err naming the
// file and the problem, any of: missing or unreadable file, bad magic, newer
// version, header too small, truncation, trailing bytes, a size over a cap,
// inconsistent sizes, CRC-32 mismatch, NaN or Inf parameter, unterminated
// names.  Never returns a partial model: *out is NULL on failure.
CantusStatus cantus_model_load(const char *path,
                               const CantusModelOptions *opt,
                               CantusModel **out,
                               CantusError *err);

// The same from bytes in memory (path is used in messages only).
CantusStatus cantus_model_load_mem(const void *data,
                                   size_t size,
                                   const char *path,
                                   const CantusModelOptions *opt,
                                   CantusModel **out,
                                   CantusError *err);

// Writes the model (fp32 parameters, names, metadata) atomically: to
// path.tmp, then rename.
CantusStatus cantus_model_save(const CantusModel *m, const char *path, CantusError *err);

// Serialises into a malloc'd buffer (caller frees).
CantusStatus cantus_model_save_mem(const CantusModel *m,
                                   void **data,
                                   size_t *size,
                                   CantusError *err);

// The 0-based index of a style given by name (case-insensitive) or by its
// number counted from 1 ("1" is the first style, as every tool lists them);
// -1 if none.
int cantus_model_find_style(const CantusModel *m, const char *name_or_index);

// The value of the metadata line "KEY: value" (blanks around it and a CR
// trimmed) into buf (n bytes, truncated); false when no line has that key.
// Non-RT.
bool cantus_model_meta_get(const CantusModel *m, const char *key, char *buf, size_t n);

// The style a player hears first: the metadata line "default_style: NAME"
// (cantus-train --default-style) when it names one of the model's styles,
// else 0.  Used by cantus-gen, cantus-jack and the LV2 bundle's style port
// default.  Non-RT.
int cantus_model_default_style(const CantusModel *m);

// The usual metre of style s: *num / *den from the metadata, whose two
// spellings are a list line "meter: NAME=N/D,NAME=N/D,..." (style names as
// in the model, case-insensitive; blanks around items allowed) and per-style
// lines "metre.NAME: N/D" (what cantus-train writes); the list (every
// "meter:" line, in order) wins where both name a style.  N is 1..32, D 1, 2, 4, 8 or 16; a
// malformed entry, an unknown name or a repeated name (after its first entry) is ignored. Returns
// true when the metadata names the style's metre, else false with 4/4 (also for a NULL model or an
// index out of range).  Reads a table filled when the metadata or a style name is set or loaded, so
// it is bounded and allocation-free: [RT].
CANTUS_RT bool cantus_model_style_meter(const CantusModel *m, int s, int *num, int *den);

// Frees the one allocation.  NULL is allowed.
void cantus_model_free(CantusModel *m);

// CRC-32 (IEEE 802.3, as zlib's crc32) of a buffer, continuing from crc
// (start with 0).
uint32_t cantus_crc32(uint32_t crc, const void *data, size_t size);

#endif
