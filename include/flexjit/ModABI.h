/* How compiled mods read their runtime inputs: shared by the CPU JIT, the GPU
 * kernels, the evaluator's callers and the C API. Plain C so that every
 * language binding can fill it.
 *
 * A compiled mask mod is   int8_t mask(int32 b, int32 h, int32 q, int32 kv, const flexjit_mod_context *)
 *   returning 1 (allowed) or 0;
 * a compiled score mod is  float score(float s, int32 b, int32 h, int32 q, int32 kv, const flexjit_mod_context *).
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

#ifdef __cplusplus
}
#endif

#endif /* FLEXJIT_MODABI_H */
