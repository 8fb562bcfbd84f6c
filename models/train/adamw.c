// SPDX-License-Identifier: GPL-3.0-or-later
// AdamW (Loshchilov & Hutter) over the trainer's flat parameter, gradient
// and moment buffers, tensor by tensor as cantus_model_layout() lays them
// out, with global-norm gradient clipping.  Weight decay applies to the
// weight matrices, not to biases or embeddings.  Non-RT.
#include "train.h"

#include <math.h>

int cantus_adamw_spans(const CantusDims *d, int what, CantusTensorSpan *spans)
{
  // Offsets come from the one layout function: pointer differences from a
  // NULL-based layout would be undefined, so lay out a dummy base instead.
  static float base_probe;
  CantusParams p;
  float *base = &base_probe;
  cantus_model_layout(d, base, &p);
  const size_t V = (size_t)cantus_vocab_size(&d->vocab), H = d->n_hidden, G = 4 * H;
  int n = 0;
  bool lstm = (what & CANTUS_GRAD_LSTM) != 0;
  spans[n++] = (CantusTensorSpan){ (size_t)(p.tok_emb - base), V * d->n_embed, false, lstm };
  spans[n++] = (CantusTensorSpan){ (size_t)(p.style_emb - base),
                                   (size_t)d->n_styles * d->n_style_dim,
                                   false,
                                   lstm || (what & CANTUS_GRAD_STYLE) };
  if (d->lookback_lags) {
    spans[n++] = (CantusTensorSpan){
      (size_t)(p.lb_emb - base), (size_t)cantus_dims_lb_rows(d) * d->n_embed, false, lstm
    };
  }
  for (uint32_t k = 0; k < d->n_layers; k++) {
    size_t in = cantus_dims_input(d, k);
    spans[n++] = (CantusTensorSpan){ (size_t)(p.layer[k].w_ih - base), G * in, true, lstm };
    spans[n++] = (CantusTensorSpan){ (size_t)(p.layer[k].w_hh - base), G * H, true, lstm };
    spans[n++] = (CantusTensorSpan){ (size_t)(p.layer[k].b - base), G, false, lstm };
  }
  bool out = (what & CANTUS_GRAD_OUT) != 0;
  spans[n++] = (CantusTensorSpan){ (size_t)(p.w_out - base), V * H, true, out };
  spans[n++] = (CantusTensorSpan){ (size_t)(p.b_out - base), V, false, out };
  return n;
}

double cantus_adamw_grad_norm(const float *g, const CantusTensorSpan *s, int n_spans)
{
  double sum = 0.0;
  for (int i = 0; i < n_spans; i++) {
    if (!s[i].train) {
      continue;
    }
    const float *x = g + s[i].offset;
    for (size_t j = 0; j < s[i].len; j++) {
      sum += (double)x[j] * (double)x[j];
    }
  }
  return sqrt(sum);
}

void cantus_adamw_step(const CantusAdamW *opt,
                       float lr,
                       long step,
                       float grad_scale,
                       float *p,
                       const float *g,
                       float *m,
                       float *v,
                       const CantusTensorSpan *s,
                       int n_spans)
{
  const float b1 = opt->beta1, b2 = opt->beta2;
  // Bias corrections folded into the step size, in double for long runs.
  const double c1 = 1.0 - pow((double)b1, (double)step);
  const double c2 = 1.0 - pow((double)b2, (double)step);
  const float step_size = (float)((double)lr / c1);
  const float inv_sqrt_c2 = (float)(1.0 / sqrt(c2));
  for (int i = 0; i < n_spans; i++) {
    if (!s[i].train) {
      continue;
    }
    float *pp = p + s[i].offset, *mm = m + s[i].offset, *vv = v + s[i].offset;
    const float *gg = g + s[i].offset;
    const float decay = s[i].decay ? 1.0f - lr * opt->weight_decay : 1.0f;
    for (size_t j = 0; j < s[i].len; j++) {
      float gj = gg[j] * grad_scale;
      mm[j] = b1 * mm[j] + (1.0f - b1) * gj;
      vv[j] = b2 * vv[j] + (1.0f - b2) * gj * gj;
      float denom = sqrtf(vv[j]) * inv_sqrt_c2 + opt->eps;
      pp[j] = pp[j] * decay - step_size * mm[j] / denom;
    }
  }
}
