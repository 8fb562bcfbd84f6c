// SPDX-License-Identifier: GPL-3.0-or-later
// The offline trainer's internal interfaces (models/train/ only; nothing in
// dsp/ or the plugin sees them): corpus reading into tokens, the batched
// LSTM forward/backward over one BPTT chunk, AdamW, the n-gram baseline,
// the training loop, and the statistics cantus-eval compares.
//
// Allocation contract: every *_new/_load function allocates and returns an
// object its matching *_free releases; nothing keeps pointers into caller
// memory unless documented.  Thread class: all non-RT (this code links
// OpenBLAS and may print).  Only main.c and eval.c exit or print to
// stdout; library functions print progress and problems to the FILE *log
// they are given (NULL = silent).
#ifndef CANTUS_TRAIN_H
#define CANTUS_TRAIN_H

#include "chord.h"
#include "lookback.h"
#include "lstm.h"
#include "midifile.h"
#include "model.h"
#include "status.h"
#include "vocab.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// ---- corpus.c: MIDI folders -> token streams ----------------------------

enum { CANTUS_SPLIT_TRAIN = 0, CANTUS_SPLIT_VALID = 1, CANTUS_SPLIT_TEST = 2, CANTUS_N_SPLITS = 3 };

// The fewest validation pieces a loss is measured on: one piece alone says
// more about that piece than about the style, so with fewer the trainer
// turns validation off (train.c) and says so.  The file-name split lends
// training pieces to validation to reach it when at least
// CANTUS_MIN_TRAIN_PIECES training pieces are left.
enum { CANTUS_MIN_VALID_PIECES = 2, CANTUS_MIN_TRAIN_PIECES = 3 };

// One piece as tokens on the model grid, untransposed.  pos_tick/pos_beat
// hold the metric position of each token as the INPUT of a step: the grid
// tick at which that token occurs in the stream (for a SHIFT, the tick
// before the shift is applied; for START, tick 0).
typedef struct {
  char *path;               // corpus-relative path, for messages
  int style;                // index into CantusCorpus.styles
  int split;                // CANTUS_SPLIT_*
  bool split_given;         // split from split.tsv (else the file-name hash)
  uint32_t n_tok;           // tokens, START first, END last
  uint16_t *tok;            // (n_tok)
  uint8_t *pos_tick;        // (n_tok) 0..n_pos_tick-1
  uint8_t *pos_beat;        // (n_tok) 0..n_pos_beat-1
  int pitch_min, pitch_max; // sounding pitch extent (transposition limits)
  uint32_t n_notes;
  uint8_t ts_num, ts_den; // first time signature (4/4 when none)
  float meter_bars[8];    // bars under each metre slot (see CantusStyleStats.ts_count)
  // Version 2: the form inputs of every token as a step input
  // (cantus_lookback_batch with the piece's bar map and known end), NULL in v1.
  CantusLookbackFeatures *form; // (n_tok)
  // Version 2: the chord of every position (form[i].chord, issue 11): the
  // chord in force where token i+1 is emitted, read from the piece's own
  // chord part with the window rule of dsp/chord.h (cantus_form_file_chords);
  // chord_kind the CantusChordSpanKind it was read with, -1 for a piece
  // without a chord part (every chord 0).
  int chord_kind;
  uint32_t n_chorded; // positions with a chord
} CantusPiece;

typedef struct {
  char name[CANTUS_STYLE_NAME_LEN];
  int n_pieces[CANTUS_N_SPLITS];
  uint64_t n_tokens[CANTUS_N_SPLITS];
  int n_unreadable;       // files the MIDI reader refused
  int n_empty;            // files with no notes left after track/range filtering
  int n_too_long;         // files over the token cap
  int ts_count[8];        // votes for the most common metre, see ts_num/ts_den
  uint8_t ts_num, ts_den; // most common first time signature
  // Bars of the training pieces under each metre slot (4/4 3/4 2/4 6/8 9/8
  // 12/8 2/2 other), and the usual metre they give (the metadata's meter).
  double meter_bars[8];
  uint8_t meter_num, meter_den;
} CantusStyleStats;

typedef struct {
  const char *tracks; // comma list: track names (case-insensitive) or chN
                      // (1-based MIDI channel) to keep; NULL or "" = all
  bool keep_drums;    // keep MIDI channel 10 (0-based 9)
  const char *styles; // comma list of style folders to use; NULL = all
  // With a version 2 vocabulary (vocab.n_dur > 0): the part list, a comma
  // list of track names (case-insensitive; part k = the k-th name; notes of
  // other tracks are left out).  NULL or "" = every track name that carries
  // notes in the folders, in order of first appearance (files in name
  // order, tracks in file order); vocab.n_parts is then set from it.
  const char *parts;
  CantusVocab vocab;   // grid and pitch range
  int n_pos_beat;      // quarter-within-bar classes
  uint32_t max_tokens; // per piece; longer files are skipped (0 = 1,000,000)
  bool quiet;          // no per-file messages (counts still kept)
} CantusCorpusOptions;

typedef struct {
  CantusVocab vocab; // as read (version 2: n_parts from the part list)
  int n_pos_beat;
  char part_names[CANTUS_MAX_PARTS][CANTUS_STYLE_NAME_LEN]; // version 2
  uint64_t n_no_part;    // version 2: notes of tracks outside the part list
  int n_chord_pieces[2]; // version 2: pieces with chords from an accompaniment / lower voices
  CantusPiece *pieces;
  int n_pieces;
  CantusStyleStats styles[CANTUS_MAX_STYLES];
  int n_styles;
  // Grid snapping and repairs, over all pieces read:
  uint64_t n_onsets, n_onsets_moved, n_offsets_moved;
  double onset_moved_sum, offset_moved_sum; // in grid ticks
  double onset_moved_max, offset_moved_max; // in grid ticks
  uint64_t n_out_of_range;                  // notes dropped: pitch outside the vocabulary
  uint64_t n_lengthened;                    // notes that snapped to zero length, given one tick
  uint64_t n_merged;                        // same-pitch notes merged or cut at a re-strike
  uint64_t n_drum_notes;                    // notes skipped on the drum channel
  uint64_t n_track_filtered;                // notes skipped by the track filter
  int n_files, n_unreadable, n_skipped;
  bool had_split_file;
} CantusCorpus;

CantusCorpusOptions cantus_corpus_options_default(void);

// Reads every directory in dirs: each sub-folder is a style named after
// it, and MIDI files (.mid, .midi, .smf) in the directory itself are one
// more style named after the directory (so a flat folder of .mid files is
// one style); styles with the same name merge; deeper folders are not
// read.  Splits come from split.tsv when present, else from a hash of the
// file name (80/10/10), every style keeping at least one training piece;
// when the hash leaves fewer than CANTUS_MIN_VALID_PIECES validation pieces
// and enough training pieces remain, training pieces are moved to
// validation (never validate on one piece; see CANTUS_MIN_VALID_PIECES).
// Unreadable or empty files are reported on log by name and reason and
// skipped.  Fails only when no style has a usable piece or a directory
// cannot be read.
CantusStatus cantus_corpus_load(CantusCorpus *c,
                                const char *const *dirs,
                                int n_dirs,
                                const CantusCorpusOptions *opt,
                                FILE *log,
                                CantusError *err);
void cantus_corpus_free(CantusCorpus *c);

// Prints the per-style table (pieces, tokens per split, skipped and why)
// and the snapping summary.
void cantus_corpus_print(const CantusCorpus *c, FILE *f);

// Tokenises one parsed MIDI file into *piece (allocating tok/pos arrays;
// path and style are left to the caller), updating c's snapping counters.
// Returns CANTUS_ERR_FORMAT with a reason in err when no note is left.
CantusStatus cantus_corpus_tokenize(CantusCorpus *c,
                                    const CantusMidiFile *mf,
                                    const CantusCorpusOptions *opt,
                                    CantusPiece *piece,
                                    CantusError *err);
void cantus_corpus_piece_free(CantusPiece *p);

// Style index by name, -1 when absent.
int cantus_corpus_find_style(const CantusCorpus *c, const char *name);

// Metric position of grid tick t under a file's time-signature map (already
// converted to grid ticks): tick within the bar.
uint32_t cantus_corpus_tick_in_bar(const uint32_t *ts_tick,
                                   const uint32_t *ts_bar_len,
                                   int n_ts,
                                   uint32_t t);

// ---- lstm_train.c: batched forward/backward over one BPTT chunk ---------

// One chunk of B parallel streams over T steps, row r = t*B + b.
typedef struct {
  int32_t *tok;      // (T*B) input token; START resets that row's state
  int32_t *tgt;      // (T*B) target token, -1 = not scored
  int16_t *style;    // (T*B) style of the piece the input belongs to
  uint8_t *pos_tick; // (T*B)
  uint8_t *pos_beat; // (T*B)
  // Version 2 form inputs (unused in version 1):
  uint16_t *look;     // (T*B*4) lookback token per lag index 0..3, V = NONE
  uint8_t *phrase;    // (T*B) 0..15
  uint8_t *bars_left; // (T*B) 0..17
  uint16_t *chord;    // (T*B) pitch-class set (CantusChord.pcs), 0 = no chord; read with n_chord
} CantusChunk;

typedef struct CantusLstmTrainImpl CantusLstmTrain;

enum {
  CANTUS_GRAD_LSTM = 1,  // embeddings, every LSTM layer
  CANTUS_GRAD_STYLE = 2, // style_emb only
  CANTUS_GRAD_OUT = 4,   // w_out, b_out
  CANTUS_GRAD_ALL = 7
};

CantusStatus cantus_lstm_train_new(const CantusDims *d,
                                   int batch,
                                   int bptt,
                                   CantusLstmTrain **out,
                                   CantusError *err);
void cantus_lstm_train_free(CantusLstmTrain *n);
CantusChunk *cantus_lstm_train_chunk(CantusLstmTrain *n); // the input buffers to fill

// Zeroes the carried hidden and cell state of every row.
void cantus_lstm_train_reset(CantusLstmTrain *n);
// The carried state: 2*L*B*H floats, per layer h (B,H) then c (B,H).
float *cantus_lstm_train_state(CantusLstmTrain *n);
size_t cantus_lstm_train_state_floats(const CantusLstmTrain *n);

// Forward over the chunk in cantus_lstm_train_chunk(): hoisted input GEMM
// per layer, per-step recurrent sgemm plus cantus_lstm_gates, dropout
// between layers and before the output layer when dropout > 0 (masks from
// drop_seed), softmax cross-entropy.  Carries the state to the next chunk.
// nll_row (T*B, may be NULL) receives each scored row's -log p (0 when not
// scored).  Returns the summed nll; *n_scored the number of scored rows.
double cantus_lstm_train_forward(CantusLstmTrain *n,
                                 const CantusParams *p,
                                 float dropout,
                                 uint64_t drop_seed,
                                 double *nll_row,
                                 int *n_scored);
// Logits of the last forward (T*B, V), before softmax.  Valid until the
// next backward (which overwrites them with gradients).
const float *cantus_lstm_train_logits(const CantusLstmTrain *n);
float *cantus_lstm_train_probs(CantusLstmTrain *n); // softmax of the last forward (T*B, V)
// Backward through time of the last forward: adds d(mean nll)/d(param) into
// g (same layout as p) for the parameter groups in `what`.
void cantus_lstm_train_backward(CantusLstmTrain *n,
                                const CantusParams *p,
                                CantusParams *g,
                                int what);

// ---- panel.c: the per-step product with weights packed once per chunk ----

// Floats of a panel of W (K, N): N rounded up to 16 columns.
size_t cantus_panel_floats(int K, int N);
// Packs W (K, N) into panels of 16 columns (zero-padded).  W(k, n) is
// W[n*ldw + k] when w_is_nk (a row of W per output), else W[k*ldw + n].
// panel: cantus_panel_floats(K, N) floats, 64-byte aligned.
void cantus_panel_pack(float *panel, const float *W, int ldw, int K, int N, bool w_is_nk);
// C (M, N) = [C +] A (M, K) W (K, N), W packed.  K <= 4 * CANTUS_MAX_HIDDEN.
void cantus_panel_gemm(int M,
                       int N,
                       int K,
                       const float *A,
                       int lda,
                       const float *panel,
                       float *C,
                       int ldc,
                       bool accumulate);
// True when cantus_panel_gemm has its fast kernel on this CPU (AVX-512);
// elsewhere the trainer keeps OpenBLAS for the per-step products.
bool cantus_panel_fast(void);

// ---- adamw.c --------------------------------------------------------------

typedef struct {
  float lr, beta1, beta2, eps, weight_decay;
} CantusAdamW;

// One tensor range of the flat buffers.
typedef struct {
  size_t offset, len; // floats
  bool decay;         // apply weight decay (matrices; not biases/embeddings)
  bool train;         // updated at all
} CantusTensorSpan;

// Spans of every tensor of a model, in layout order; returns the count
// (at most 3 + 3*CANTUS_MAX_LAYERS + 2).  `what` selects trainable groups.
int cantus_adamw_spans(const CantusDims *d, int what, CantusTensorSpan *spans);
// Global L2 norm of the trainable gradient, summed in double in fixed order.
double cantus_adamw_grad_norm(const float *g, const CantusTensorSpan *s, int n_spans);
// Decoupled-weight-decay Adam update of the trainable spans; step counts
// from 1; grad_scale multiplies g first (clipping).
void cantus_adamw_step(const CantusAdamW *opt,
                       float lr,
                       long step,
                       float grad_scale,
                       float *p,
                       const float *g,
                       float *m,
                       float *v,
                       const CantusTensorSpan *s,
                       int n_spans);

// ---- ngram.c: interpolated Kneser-Ney baseline ----------------------------

typedef struct CantusNgramImpl CantusNgram;

// Builds counts up to max_order (1..12) over the sequences (each starts
// with START, which is context only).
CantusStatus cantus_ngram_new(int max_order, int vocab_size, CantusNgram **out, CantusError *err);
void cantus_ngram_add(CantusNgram *ng, const uint16_t *tok, uint32_t n);
void cantus_ngram_finish(CantusNgram *ng); // computes discounts, after the last add
void cantus_ngram_free(CantusNgram *ng);
// -log p(tok[i] | tok[i-order+1 .. i-1]) summed over i = 1..n-1 using at
// most `order` tokens (order <= max_order); returns the sum, *n_scored the
// count.
double cantus_ngram_nll(const CantusNgram *ng,
                        int order,
                        const uint16_t *tok,
                        uint32_t n,
                        uint64_t *n_scored);

// ---- train.c: the training loop ---------------------------------------------

// --chords: auto (format 2 with chord parts in the corpus: n_chord = 13), off.
enum { CANTUS_TRAIN_CHORDS_AUTO = 0, CANTUS_TRAIN_CHORDS_OFF = 1 };

typedef struct {
  const char *const *corpus_dirs;
  int n_corpus_dirs;
  const char *out_path;    // model file; log CSV/SVG/checkpoint derive from it
  const char *resume_path; // checkpoint to continue from, or NULL
  const char *log_prefix;  // PREFIX.csv/.svg/.ckpt; NULL = out_path without .cantus
  const char *base_path;   // --base model for --add-style, or NULL
  const char *add_style;   // new style name (with base_path)
  bool add_style_output;   // also train w_out/b_out
  CantusCorpusOptions corpus;
  CantusDims dims; // sizes (vocab/pos filled from corpus options)
  int batch, bptt, epochs;
  float lr, lr_min_frac, dropout, weight_decay, clip;
  int warmup_steps;
  int schedule;                   // 0 cosine over epochs, 1 plateau halving, 2 constant
  int patience;                   // epochs without validation improvement before stopping
  int transpose_lo, transpose_hi; // augmentation range, semitones
  float end_dropout;              // version 2: share of pieces per epoch that see bars left
                                  // "unknown" throughout (default 0.3)
  int chords;                     // version 2 chord input (issue 11): CANTUS_TRAIN_CHORDS_*
  float chord_dropout;            // share of pieces per epoch that see no chord throughout;
                                  // the others lose chord spans at half this rate (0.3)
  int threads;                    // OpenBLAS threads (0 = all cores)
  uint64_t seed;
  double max_minutes;       // 0 = no limit
  long max_steps;           // 0 = no limit (tests)
  const char *command_line; // recorded in the metadata
  const char *argv_packed;  // the arguments joined by '\x1f', kept in checkpoints
  const char *model_name;
  const char *default_style; // --default-style: metadata "default_style: NAME", or NULL
  const char *dump_path;     // --dump-chunks: write init, chunks and losses for a replay
  bool progress_tty;         // draw a progress bar (else log lines)
  FILE *log;
} CantusTrainConfig;

typedef struct {
  int epochs_done;
  long steps;
  double best_valid;                     // mean nats/token over the validation split
  double style_valid[CANTUS_MAX_STYLES]; // per style, NaN when no validation data
  int n_styles;
  double train_loss; // last epoch
  double tokens_per_s;
  double seconds;
  bool interrupted; // stopped by the interrupt flag (checkpoint written)
  bool stopped_early;
  // The simple baseline on the same validation pieces: an interpolated
  // Kneser-Ney n-gram of the training pieces (order 1..8 chosen on them);
  // NaN when validation is off (fewer than CANTUS_MIN_VALID_PIECES).
  double ngram_valid;
  bool validation_off; // too few validation pieces: the training split stood in
} CantusTrainResult;

// Below this many training tokens a model trained from scratch gets the
// advice to use --add-style instead (measured: models/README.md, "How much
// music a model needs").
enum { CANTUS_TRAIN_ADVICE_TOKENS = 100000 };

CantusTrainConfig cantus_train_config_default(void);
// Set from a signal handler: the loop writes a checkpoint and returns.
extern volatile int cantus_train_interrupt;
CantusStatus cantus_train_run(const CantusTrainConfig *cfg,
                              CantusTrainResult *res,
                              CantusError *err);

// The packed arguments a checkpoint was made with (malloc'd), or NULL.
char *cantus_train_checkpoint_command(const char *path, CantusError *err);

// Fills a model's parameters with the initialisation used for training.
void cantus_train_init_params(const CantusDims *d, uint64_t seed, float *flat);

// Validation-style evaluation of flat parameters on pieces of one split:
// per-style summed nll, scored counts and correct argmax predictions.
CantusStatus cantus_train_evaluate(const CantusDims *d,
                                   const float *flat,
                                   const CantusCorpus *c,
                                   int split,
                                   int batch,
                                   int bptt,
                                   double *nll_style,
                                   uint64_t *n_style,
                                   uint64_t *correct_style,
                                   CantusError *err);

// Training speed on random tokens: `steps` optimizer steps (after two
// warm-up steps) of forward, backward, clipping and AdamW at these sizes.
// Returns tokens per second in *tok_s.
CantusStatus cantus_train_bench(const CantusDims *d,
                                int batch,
                                int bptt,
                                float dropout,
                                int steps,
                                int threads,
                                double *tok_s,
                                CantusError *err);

// The OpenBLAS core name and thread count in use, e.g. "Zen (2 threads)".
void cantus_train_blas_info(char *buf, size_t n);

#endif
