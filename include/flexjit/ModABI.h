/* How compiled mods read their runtime inputs: shared by the CPU JIT, the GPU
 * kernels, the evaluator's callers and the C API. Plain C so that every
 * language binding can fill it.
 *
 * A compiled mask mod is   int8_t mask(int32 b, int32 h, int32 q, int32 kv, const flexjit_mod_context *)
 *   returning 1 (allowed) or 0;
 * a compiled score mod is  float score(float s, int32 b, int32 h, int32 q, int32 kv, const flexjit_mod_context *).
 *
 * The derivative of a score mod (docs/backward.md) is
 *   float score__grad(float g, float s, int32 b, int32 h, int32 q, int32 kv,
 *                     const flexjit_mod_context *, const flexjit_mod_grad_context *)
 *   returning g * d score(s, ...) / ds, and adding g * d score / d buffer[i]
 *   into the gradient of every f32 buffer element i that score(s, ...) reads.
 *
 * Slots follow the mod's interface (flexjit::interfaceOf): the params and the
 * buffers the mod reads, each list sorted by name. */
#ifndef FLEXJIT_MODABI_H
#define FLEXJIT_MODABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct flexjit_mod_context {
  /* One 8-byte slot per param: i32/i64 sign-extended, bool 0/1, f32 as its bit
   * pattern in the low 32 bits. */
  const int64_t *params;
  /* Row-major contiguous data of each buffer. */
  const void *const *buffers;
  /* Every buffer's sizes, buffer after buffer (ranks are known at compile time). */
  const int64_t *buffer_dims;
  /* Out-of-bounds report, zeroed by the caller, written by the first faulty read:
   * [0] buffer slot + 1 (0: no error), [1] dimension, [2] index, [3] bound. */
  int64_t *error;
} flexjit_mod_context;

#define FLEXJIT_MOD_ERROR_SLOTS 4

/* A thread-private record (mods lowered with local errors, as attention
 * kernels inline them: convert-flex-to-func{local-errors}, docs/compiler.md)
 * holds a report in its slot [0] alone, packed into one word, so that a
 * read updates one value rather than four: buffer slot + 1 in bits 0..7
 * (0: no error), the dimension in bits 8..11, the index in bits 12..63
 * (shifted left: exact for |index| < 2^51). The bound is the buffer's size
 * in that dimension (buffer_dims). Slots [1..3] stay as they were. The
 * kernel unpacks it into the shared record's four slots. */
#define FLEXJIT_LOCAL_ERROR_DIM_SHIFT 8
#define FLEXJIT_LOCAL_ERROR_INDEX_SHIFT 12

static inline void flexjit_unpack_local_error(int64_t word, int64_t *slot_plus_1, int64_t *dim,
                                              int64_t *index) {
  *slot_plus_1 = word & 255;
  *dim = (word >> FLEXJIT_LOCAL_ERROR_DIM_SHIFT) & 15;
  *index = word >> FLEXJIT_LOCAL_ERROR_INDEX_SHIFT; /* arithmetic: the sign stays */
}

/* Where a score mod's derivative adds the gradients of the buffers it reads.
 * A null pointer in its place wants no buffer gradient at all. Like the
 * context, it and the pointer array must not change while code that calls
 * the derivative runs (the pointers are loaded once per call and may be kept
 * in registers); only the gradient arrays are written. */
typedef struct flexjit_mod_grad_context {
  /* One pointer per buffer slot (the mod's interface order): an f32 array
   * of the buffer's element count, row-major, that receives
   * g * d score / d element by atomic f32 adds (safe for concurrent calls;
   * the caller zeroes it first). Null: that buffer's gradient is not
   * wanted and nothing is written. Slots of non-f32 buffers are ignored. */
  float *const *buffer_grads;
} flexjit_mod_grad_context;

/* The compiled derivative of a score mod (Compiler::jitScoreGrad). */
typedef float (*flexjit_score_grad_fn)(float g, float s, int32_t b, int32_t h, int32_t q,
                                       int32_t kv, const flexjit_mod_context *ctx,
                                       const flexjit_mod_grad_context *gctx);

#ifdef __cplusplus
}
#endif

#endif /* FLEXJIT_MODABI_H */
