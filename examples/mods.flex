# The standard FlexAttention mods, written in flexjit's mod language.
#
# A mask mod `mask NAME(b, h, q, kv)` says whether query position q may
# attend to key position kv (batch b, head h); a score mod
# `score NAME(s, b, h, q, kv)` rewrites the scaled dot product s. Compile
# them with `flexc examples/mods.flex --emit=...`; see docs/language.md.

#----------------------------------------------------------------------------
# Compile-time constants: folded into the kernel (a new value recompiles).
#----------------------------------------------------------------------------
const WINDOW: i32 = 1024          # sliding-window width, in tokens
const DILATION: i32 = 4           # dilated window: attend to every 4th key
const GLOBAL_TOKENS: i32 = 16     # Longformer: the first 16 tokens are global
const SOFTCAP: f32 = 30.0         # tanh soft-capping of scores (Gemma 2, Grok)
const GRID: i32 = 64              # NATTEN: tokens form a GRID x GRID image
const RADIUS: i32 = 3             # NATTEN: a 7 x 7 neighbourhood
const LO: i32 = RADIUS            # NATTEN: the neighbourhood's centre is kept
const HI: i32 = GRID - 1 - RADIUS #   RADIUS cells away from the image's edges

#----------------------------------------------------------------------------
# Runtime inputs: changing their values never recompiles.
#----------------------------------------------------------------------------
param prefix_len: i32             # prefix LM: the length of the bidirectional prefix
buffer doc_id: i32[N]             # document masking: the document of each token
buffer slopes: f32[H]             # ALiBi: one slope per head
buffer bias: f32[H, N]            # a learned bias per head and key position

#----------------------------------------------------------------------------
# Mask mods
#----------------------------------------------------------------------------

# Causal: a token sees itself and the tokens before it.
mask causal(b, h, q, kv) = q >= kv

# Sliding window (causal): only the last WINDOW tokens.
mask sliding_window(b, h, q, kv) = q >= kv && q - kv <= WINDOW

# Prefix LM: the prefix is visible to every token, the rest is causal.
mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv

# Document masking: packed sequences, tokens only see their own document.
mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]

# Document + causal: calls the two mods above (they are inlined).
mask document_causal(b, h, q, kv) = document(b, h, q, kv) && causal(b, h, q, kv)

# Dilated sliding window: every DILATION-th key inside a window of
# WINDOW keys, causal.
mask dilated_sliding_window(b, h, q, kv) =
  let d = q - kv in
  d >= 0 && d <= WINDOW && d % DILATION == 0

# Global tokens (Longformer-like): the first GLOBAL_TOKENS tokens see
# everything and are seen by everything; the rest use a sliding window.
mask global_tokens(b, h, q, kv) =
  q < GLOBAL_TOKENS || kv < GLOBAL_TOKENS || abs(q - kv) <= WINDOW / 2

# NATTEN: tokens are cells of a GRID x GRID image (row-major); each cell
# attends to the (2 RADIUS + 1)^2 neighbourhood around it, the window moved
# inward near the edges so that it always has the same size.
mask natten(b, h, q, kv) =
  let qx = q % GRID, qy = q / GRID, kx = kv % GRID, ky = kv / GRID in
  abs(clamp(qx, LO, HI) - kx) <= RADIUS && abs(clamp(qy, LO, HI) - ky) <= RADIUS

#----------------------------------------------------------------------------
# Score mods
#----------------------------------------------------------------------------

# ALiBi: a linear penalty on distance, one slope per head.
score alibi(s, b, h, q, kv) = s + slopes[h] * float(kv - q)

# ALiBi restricted to the causal part (masked positions get -inf).
score alibi_causal(s, b, h, q, kv) = where(causal(b, h, q, kv), alibi(s, b, h, q, kv), -inf)

# Tanh soft-capping: scores squashed smoothly into (-SOFTCAP, SOFTCAP).
score softcap(s, b, h, q, kv) = SOFTCAP * tanh(s / SOFTCAP)

# Relative position: the score grows with the signed distance kv - q.
score relative_position(s, b, h, q, kv) = s + float(kv - q)

# A 2-D bias buffer: a learned bias per head and key position.
score bias_2d(s, b, h, q, kv) = s + bias[h, kv]

# Soft-capped ALiBi: one score mod applied to another's result.
score soft_alibi(s, b, h, q, kv) = softcap(alibi(s, b, h, q, kv), b, h, q, kv)

# Causal masking written as a score mod.
score causal_by_score(s, b, h, q, kv) = where(q >= kv, s, -inf)
