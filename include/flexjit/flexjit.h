/* flexjit's C API: compile mods from text, make or fetch block masks through
 * the process-wide cache, run attention with the mods compiled in (on the
 * GPU, or the CPU reference), read cache statistics, clear it, bound it.
 *
 * Conventions
 * - Every function returns a flexjit_status; FLEXJIT_OK (0) is success.
 *   On failure flexjit_last_error() holds a message for the calling thread
 *   (until its next flexjit call); outputs are left untouched.
 * - Bad arguments (NULL where a pointer is needed, wrong sizes, unknown
 *   names, values of the wrong type) are errors, never crashes. No C++
 *   exception crosses this boundary.
 * - Handles are opaque and released with their *_release function (NULL is
 *   accepted and ignored). A block mask keeps alive what it points into,
 *   even after the cache evicts or clears its entry.
 * - Strings returned as `const char **` live as long as the handle they come
 *   from; strings returned as `char **` are the caller's, freed with
 *   flexjit_string_free().
 * - All functions are safe to call from several threads.
 *
 *   flexjit_module *m;
 *   flexjit_module_from_source("mods.flex",
 *       "param prefix_len: i32\n"
 *       "mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv\n", &m);
 *   flexjit_param p = {"prefix_len", FLEXJIT_I32, 512, 0.0};
 *   flexjit_blockmask_desc d;
 *   flexjit_blockmask_desc_init(&d);
 *   d.mod = "prefix_lm"; d.q_len = d.kv_len = 4096;
 *   d.params = &p; d.num_params = 1;
 *   flexjit_blockmask *bm;
 *   if (flexjit_blockmask_get(m, &d, &bm) != FLEXJIT_OK)
 *     fprintf(stderr, "%s\n", flexjit_last_error());
 *   flexjit_array kv;
 *   flexjit_blockmask_array(bm, FLEXJIT_KV_INDICES, &kv);   // int32 [B,H,nQ,nKV]
 *   flexjit_blockmask_release(bm);
 *   flexjit_module_release(m);
 *
 * Link with the library `flexjit` (and MLIR/LLVM, see docs/api.md). */
#ifndef FLEXJIT_FLEXJIT_H
#define FLEXJIT_FLEXJIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised when a function is added or a struct changes. */
#define FLEXJIT_C_API_VERSION 8

typedef enum flexjit_status {
  FLEXJIT_OK = 0,
  FLEXJIT_ERROR_INVALID_ARGUMENT = 1, /* NULL, bad size or value, unknown/missing name */
  FLEXJIT_ERROR_COMPILE = 2,          /* the .flex text has errors; JIT failure */
  FLEXJIT_ERROR_NOT_FOUND = 3,        /* no mod of that name; unreadable file */
  FLEXJIT_ERROR_OUT_OF_BOUNDS = 4,    /* a mod read a buffer out of bounds */
  FLEXJIT_ERROR_DEVICE = 5,           /* CUDA: no driver, no GPU, or not available */
  FLEXJIT_ERROR_CACHE = 6,            /* a value larger than the cache's byte bound */
  FLEXJIT_ERROR_OUT_OF_MEMORY = 7,
  FLEXJIT_ERROR_INTERNAL = 8
} flexjit_status;

/* The calling thread's message for its last failed call ("" when none). */
const char *flexjit_last_error(void);
/* "FLEXJIT_OK", "FLEXJIT_ERROR_INVALID_ARGUMENT", ...; "unknown status". */
const char *flexjit_status_name(flexjit_status status);
/* flexjit's version ("0.1.0"). */
flexjit_status flexjit_version(const char **version);
/* The library's FLEXJIT_C_API_VERSION (API version 8): a caller that
 * declares the structs itself (Python's ctypes) checks it equals its own. */
flexjit_status flexjit_c_api_version(int32_t *version);

/* Frees a string returned through `char **`. NULL is accepted. */
flexjit_status flexjit_string_free(char *s);

/*===------------------------------------------------------------------===*
 * Modules: checked .flex files
 *===------------------------------------------------------------------===*/

typedef enum flexjit_type {
  FLEXJIT_BOOL = 0, /* buffers: one byte per element, 0 or 1 */
  FLEXJIT_I32 = 1,
  FLEXJIT_I64 = 2,
  FLEXJIT_F32 = 3
} flexjit_type;

typedef enum flexjit_mod_kind { FLEXJIT_MASK = 0, FLEXJIT_SCORE = 1 } flexjit_mod_kind;

typedef struct flexjit_module flexjit_module;

/* Parses and checks `text` (`name` is the file name in messages). Errors
 * (FLEXJIT_ERROR_COMPILE) come rendered as in docs/language.md. */
flexjit_status flexjit_module_from_source(const char *name, const char *text,
                                          flexjit_module **out);
/* Reads a .flex file, then as above (FLEXJIT_ERROR_NOT_FOUND if unreadable). */
flexjit_status flexjit_module_from_file(const char *path, flexjit_module **out);
flexjit_status flexjit_module_release(flexjit_module *module);

/* The mods of the module, in source order. */
flexjit_status flexjit_module_mod_count(const flexjit_module *module, size_t *count);
flexjit_status flexjit_module_mod_name(const flexjit_module *module, size_t index,
                                       const char **name);
flexjit_status flexjit_module_mod_kind(const flexjit_module *module, const char *mod,
                                       flexjit_mod_kind *kind);
/* The mod's canonical fingerprint: 32 hex digits, equal for equivalent
 * spellings (the cache's identity of the mod). */
flexjit_status flexjit_module_fingerprint(const flexjit_module *module, const char *mod,
                                          const char **fingerprint);

/* What a mod reads at run time, in its ABI order (each list sorted by name). */
flexjit_status flexjit_module_param_count(const flexjit_module *module, const char *mod,
                                          size_t *count);
flexjit_status flexjit_module_param(const flexjit_module *module, const char *mod,
                                    size_t index, const char **name, flexjit_type *type);
flexjit_status flexjit_module_buffer_count(const flexjit_module *module, const char *mod,
                                           size_t *count);
flexjit_status flexjit_module_buffer(const flexjit_module *module, const char *mod,
                                     size_t index, const char **name,
                                     flexjit_type *element_type, int32_t *rank);

/*===------------------------------------------------------------------===*
 * Runtime inputs
 *===------------------------------------------------------------------===*/

/* A param's value. `type` must be the declared type (FLEXJIT_I32 may be given
 * for an i64 param). bool, i32, i64 read `int_value` (a bool must be 0 or 1,
 * an i32 in range); f32 reads `float_value` (rounded to float). */
typedef struct flexjit_param {
  const char *name;
  flexjit_type type;
  int64_t int_value;
  double float_value;
} flexjit_param;

/* A buffer's contents: row-major, contiguous, `element_type` and `rank` as
 * declared, dims >= 0, and `size_bytes` exactly the product of the dims times
 * the element size (bool 1, i32 4, i64 8, f32 4). Host memory (on_device 0):
 * read during the call only; block-mask cache keys cover a hash of the
 * contents.
 * Device memory (on_device 1; API version 8): `data` is a device address on
 * the attention call's GPU, which must lie inside one allocation of that
 * GPU (checked at each call); the kernels read it in place when they run,
 * so a warm call uploads and waits for nothing and may be captured in a
 * CUDA graph whose replays read the memory's contents of the moment.
 * Attention and its backward only: evaluation, block masks and the CPU
 * reference refuse it (docs/attention.md, "Buffers in device memory"). */
typedef struct flexjit_buffer {
  const char *name;
  flexjit_type element_type;
  int32_t rank;
  const int64_t *dims;
  const void *data;
  size_t size_bytes;
  /* 0: host memory; 1: device memory of the call's GPU. A struct set field
   * by field must set it too: any other value is an error. */
  int32_t on_device;
} flexjit_buffer;

/* Every param and buffer the mod reads must be given, and nothing else. */

/* Evaluates a mask mod at one point with the CPU JIT (compiled once, cached):
 * *allowed = 0 or 1. A buffer read out of bounds reads 0 and returns
 * FLEXJIT_ERROR_OUT_OF_BOUNDS (with *allowed written) naming the read. */
flexjit_status flexjit_mask_eval(const flexjit_module *module, const char *mod,
                                 const flexjit_param *params, size_t num_params,
                                 const flexjit_buffer *buffers, size_t num_buffers, int32_t b,
                                 int32_t h, int32_t q, int32_t kv, int32_t *allowed);
/* The same for a score mod: *result = score(s, b, h, q, kv). */
flexjit_status flexjit_score_eval(const flexjit_module *module, const char *mod,
                                  const flexjit_param *params, size_t num_params,
                                  const flexjit_buffer *buffers, size_t num_buffers, float s,
                                  int32_t b, int32_t h, int32_t q, int32_t kv, float *result);

/*===------------------------------------------------------------------===*
 * Block masks (PyTorch's BlockMask layout; docs/runtime.md)
 *===------------------------------------------------------------------===*/

/* Host memory; CUDA devices are ordinals 0, 1, ... */
#define FLEXJIT_DEVICE_CPU (-1)

typedef struct flexjit_blockmask_desc {
  const char *mod;   /* a mask mod of the module */
  int64_t batch;     /* B (1 broadcasts) */
  int64_t heads;     /* H (1 broadcasts) */
  int64_t q_len;
  int64_t kv_len;
  int32_t q_block;   /* powers of two, 16..256 */
  int32_t kv_block;
  const flexjit_param *params;
  size_t num_params;
  const flexjit_buffer *buffers;
  size_t num_buffers;
  int32_t device;    /* FLEXJIT_DEVICE_CPU or a CUDA ordinal */
  uint32_t threads;  /* CPU creation: worker threads, 0 = all cores */
} flexjit_blockmask_desc;

/* Defaults: B = H = 1, blocks 128 x 128, CPU, all cores, no inputs; mod NULL
 * and lengths 0 (both must be set). */
flexjit_status flexjit_blockmask_desc_init(flexjit_blockmask_desc *desc);

typedef struct flexjit_blockmask flexjit_blockmask;

/* The block mask the description asks for: from the cache when the same
 * mod (by fingerprint), shape, param values, buffer contents and device are
 * there, else made (on the CPU with the JIT-compiled mask and its interval
 * block classifier) and cached. A CUDA device needs GPU block-mask creation:
 * without a driver or while the runtime lacks it, FLEXJIT_ERROR_DEVICE. */
flexjit_status flexjit_blockmask_get(const flexjit_module *module,
                                     const flexjit_blockmask_desc *desc,
                                     flexjit_blockmask **out);
flexjit_status flexjit_blockmask_release(flexjit_blockmask *mask);

typedef struct flexjit_blockmask_info {
  int64_t batch, heads, q_len, kv_len;
  int32_t q_block, kv_block;
  int64_t num_q_blocks, num_kv_blocks; /* ceil(len / block) */
  size_t bytes;                        /* B*H*(16*nQ*nKV + 8*(nQ+nKV)) */
  double sparsity;                     /* PyTorch's sparsity(), percent */
  int32_t device;
  int32_t created;                     /* 1: this call made it; 0: from the cache */
  int64_t blocks;                      /* B*H*nQ*nKV (when created, else 0) */
  int64_t elementwise_blocks;          /* evaluated element by element (when created) */
} flexjit_blockmask_info;

flexjit_status flexjit_blockmask_get_info(const flexjit_blockmask *mask,
                                          flexjit_blockmask_info *info);

/* The eight int32 arrays, in PyTorch's order. */
typedef enum flexjit_blockmask_field {
  FLEXJIT_KV_NUM_BLOCKS = 0,      /* [B,H,nQ] */
  FLEXJIT_KV_INDICES = 1,         /* [B,H,nQ,nKV] */
  FLEXJIT_FULL_KV_NUM_BLOCKS = 2, /* [B,H,nQ] */
  FLEXJIT_FULL_KV_INDICES = 3,    /* [B,H,nQ,nKV] */
  FLEXJIT_Q_NUM_BLOCKS = 4,       /* [B,H,nKV] */
  FLEXJIT_Q_INDICES = 5,          /* [B,H,nKV,nQ] */
  FLEXJIT_FULL_Q_NUM_BLOCKS = 6,  /* [B,H,nKV] */
  FLEXJIT_FULL_Q_INDICES = 7      /* [B,H,nKV,nQ] */
} flexjit_blockmask_field;
#define FLEXJIT_BLOCKMASK_NUM_FIELDS 8

/* "kv_num_blocks", "kv_indices", ... */
flexjit_status flexjit_blockmask_field_name(flexjit_blockmask_field field, const char **name);

typedef struct flexjit_array {
  const int32_t *data;  /* host memory (CPU masks), else NULL */
  uint64_t device_ptr;  /* a CUdeviceptr (device masks), else 0 */
  int32_t rank;         /* 3 or 4 */
  int64_t shape[4];
  size_t count;         /* elements: the product of the shape */
} flexjit_array;

flexjit_status flexjit_blockmask_array(const flexjit_blockmask *mask,
                                       flexjit_blockmask_field field, flexjit_array *out);

/* PyTorch's to_string(grid_size=(rows, cols), limit) picture (20, 20, 4 are
 * PyTorch's defaults; rows or cols <= 0: uncompressed). Free with
 * flexjit_string_free. */
flexjit_status flexjit_blockmask_to_string(const flexjit_blockmask *mask, int32_t grid_rows,
                                           int32_t grid_cols, int32_t limit, char **out);
/* One line of compact JSON: an object with the eight arrays (nested
 * [B][H][...], full rows), "block_size", "seq_lengths", "bytes", "sparsity"
 * and, for a mask this call made, "elementwise_blocks". Free with
 * flexjit_string_free. */
flexjit_status flexjit_blockmask_to_json(const flexjit_blockmask *mask, char **out);

/*===------------------------------------------------------------------===*
 * Attention (FlexAttention's forward pass; docs/attention.md)
 *===------------------------------------------------------------------===*/

typedef enum flexjit_dtype {
  FLEXJIT_DTYPE_BF16 = 0,
  FLEXJIT_DTYPE_F16 = 1,
  FLEXJIT_DTYPE_F32 = 2, /* the reference only */
  FLEXJIT_DTYPE_F64 = 3  /* the reference only */
} flexjit_dtype;

/* A 4-D tensor seen as [B, H, S, D], strides in elements. The memory is the
 * caller's (flexjit never allocates or frees it). */
typedef struct flexjit_tensor {
  uint64_t data;       /* a CUdeviceptr, or a host address (device FLEXJIT_DEVICE_CPU) */
  flexjit_dtype dtype;
  int64_t sizes[4];    /* B, H, S, D */
  int64_t strides[4];  /* in elements, same order */
  int32_t device;      /* a CUDA ordinal, or FLEXJIT_DEVICE_CPU */
} flexjit_tensor;

/* q [B, Hq, Q_LEN, D], k [B, Hkv, KV_LEN, D], v [B, Hkv, KV_LEN, Dv],
 * out [B, Hq, Q_LEN, Dv]; Hq a multiple of Hkv. On the GPU: one dtype, bf16
 * or f16; D and Dv 64 or 128; one CUDA device; the last dimension
 * contiguous, data 16-byte aligned, the other strides multiples of 8
 * elements. */
typedef struct flexjit_attention_desc {
  flexjit_tensor q, k, v, out;
  const char *score_mod;  /* a score mod of the module, or NULL / "" for none */
  const flexjit_param *score_params;
  size_t num_score_params;
  const flexjit_buffer *score_buffers;
  size_t num_score_buffers;
  const char *mask_mod;   /* a mask mod, or NULL / "" for none (all allowed) */
  const flexjit_param *mask_params;
  size_t num_mask_params;
  const flexjit_buffer *mask_buffers;
  size_t num_mask_buffers;
  /* A block mask of mask_mod on the tensors' device (flexjit_blockmask_get);
   * NULL: made, or found in the cache, for these lengths (128 x 128 blocks). */
  const flexjit_blockmask *block_mask;
  double scale;           /* multiplies q . k; 0: 1/sqrt(D) */
  uint64_t lse;           /* 0, or log-sum-exp out: [B, Hq, Q_LEN] contiguous,
                             f32 on the GPU, out's dtype in the reference */
  void *stream;           /* a CUstream; NULL: the legacy default stream */
  int32_t block_m, block_n, stages, rows_per_warp; /* kernel choice; 0: flexjit's */
  /* The template: 0 flexjit's choice (on compute capability 9.0 the sm_90a
   * one wherever it takes the call, else the mma.sync one), 80 the
   * mma.sync one, 90 the sm_90a one (FLEXJIT_ERROR_INVALID_ARGUMENT saying
   * why where it does not take the call); docs/attention-hopper.md. */
  int32_t kernel;
  /* The sm_90a template's techniques switched off, to measure what each
   * brings (0: all on): FLEXJIT_SM90_OFF_* ORed. */
  int32_t sm90_off;
  /* Debugging: 1 waits for this call's kernel and returns its out-of-bounds
   * buffer reads as this call's FLEXJIT_ERROR_OUT_OF_BOUNDS (the behaviour
   * before such reads were reported later); 0 (default): reported by a
   * later call or flexjit_check_mod_errors. */
  int32_t check_mod_errors_each_call;
} flexjit_attention_desc;

enum {
  FLEXJIT_SM90_OFF_WARP_SPECIALIZATION = 1, /* no producer warpgroup */
  FLEXJIT_SM90_OFF_PING_PONG = 2,           /* consumers issue without taking turns */
  FLEXJIT_SM90_OFF_INTRA_OVERLAP = 4,       /* one kv tile at a time in a consumer */
  FLEXJIT_SM90_OFF_PERSISTENT = 8,          /* one CTA per work tile */
  FLEXJIT_SM90_OFF_READS_PROOF = 16,        /* every buffer read bounds-checked, also those
                                               proved in bounds (both templates) */
  FLEXJIT_SM90_OFF_EARLY_READS = 32,        /* a mod's reads that need no score wait for S */
  FLEXJIT_SM90_OFF_LAZY_RESCALE = 64,       /* every tile moves the row maximum and rescales O */
  FLEXJIT_SM90_OFF_PINNED_WAIT = 128,       /* the wait for P.V free for ptxas to move up */
  FLEXJIT_SM90_OFF_SCALE_IN_QUERY = 256,    /* each score scaled, not Q in shared memory */
  FLEXJIT_SM90_OFF_KV_TERM = 512,           /* a score mod's kv term added per score, not by
                                               the Q.K^T wgmma */
  FLEXJIT_SM90_OFF_UNSWITCH_REPORTS = 1024, /* checked reads: no kv-loop copy without the
                                               reports no thread can make */
  FLEXJIT_SM90_OFF_SEPARATE_VERDICTS = 2048 /* checked reads: a mask's verdicts share their
                                               columns and compares with the score mod */
};

/* Zeroes the description: no mods, no inputs, no block mask, default scale,
 * no LSE, the default stream, flexjit's kernel choice. */
flexjit_status flexjit_attention_desc_init(flexjit_attention_desc *desc);

typedef struct flexjit_attention_info {
  int32_t kernel_compiled; /* 1: this call loaded the kernel (from the disk cache
                              or the compiler); 0: it came from the cache */
  int32_t mask_created;    /* 1: this call made the block mask */
  int32_t block_m, block_n, stages, rows_per_warp; /* the kernel that ran */
  double host_ms;          /* host time of the call */
  char entry[96];          /* the kernel's PTX entry, NUL-terminated */
  int32_t kernel;          /* the template that ran: 80 or 90 */
  int32_t uploaded;        /* 1: this call copied host data to the device (a mod
                              context new to the cache, a block mask it made) */
  int32_t synchronized;    /* 1: this call waited for the device (the same
                              cases, check_mod_errors_each_call); 0 on a warm call */
} flexjit_attention_info;

/* Attention on the GPU with the mods compiled into the kernel (through the
 * cache and the disk cache of PTX). Launched on desc->stream and not waited
 * for; the mods' params and buffer contents stay on the device across calls
 * (cached by their values), so a warm call uploads nothing and can be
 * captured in a CUDA graph. A kernel's read out of a buffer's bounds is
 * FLEXJIT_ERROR_OUT_OF_BOUNDS naming it, returned by the first later
 * attention call that finds it landed (that call does not run) or by
 * flexjit_check_mod_errors, once (docs/attention.md, "When an out-of-bounds
 * read is reported"). `info` may be NULL. Without a driver or GPU:
 * FLEXJIT_ERROR_DEVICE (after every other check). */
flexjit_status flexjit_attention(const flexjit_module *module,
                                 const flexjit_attention_desc *desc,
                                 flexjit_attention_info *info);

/* Waits for the attention launches whose mods read buffers (and, for those
 * captured in CUDA graphs, for the device) and returns the oldest
 * out-of-bounds read not reported yet as FLEXJIT_ERROR_OUT_OF_BOUNDS, else
 * FLEXJIT_OK. Each read is reported once. */
flexjit_status flexjit_check_mod_errors(void);

/* Waits until the attention kernels being compiled in the background are
 * ready (tiered compilation: when flexjit chooses the kernel and its best
 * instantiation is neither cached nor on disk, a call runs a quicker-to-
 * compile one with bitwise the same results and compiles the best one in
 * the background; docs/attention.md). Benchmarks call it before timing. */
flexjit_status flexjit_attention_wait_compiles(void);

/* The same on the CPU (the reference the kernel is tested against): q, k, v
 * host tensors of any dtype, out a host tensor of f32 or f64 (which chooses
 * the precision), desc->lse NULL or a host [B, Hq, Q_LEN] array of out's
 * dtype; the mask mod at every position (block_mask must be NULL), no
 * stream. Synchronous; an out-of-bounds read is FLEXJIT_ERROR_OUT_OF_BOUNDS. */
flexjit_status flexjit_attention_reference(const flexjit_module *module,
                                           const flexjit_attention_desc *desc);

/*===------------------------------------------------------------------===*
 * The cache (one LRU for compiled kernels, block masks and mod contexts)
 *===------------------------------------------------------------------===*/

typedef enum flexjit_cache_kind {
  FLEXJIT_CACHE_KERNEL = 0, /* compiled code (CPU JIT code counts no bytes) */
  FLEXJIT_CACHE_BLOCK_MASK = 1,
  FLEXJIT_CACHE_MOD_CONTEXT = 2 /* a mod's params in device memory, for attention */
} flexjit_cache_kind;

typedef struct flexjit_cache_stats {
  uint64_t hits;
  uint64_t misses;     /* lookups that built (or failed to build) the value */
  uint64_t evictions;  /* dropped for room (clears are not evictions) */
  uint64_t entries;
  uint64_t bytes;
  uint64_t peak_bytes;
  uint64_t failures;   /* builds that failed */
} flexjit_cache_stats;

/* One kind on one device (FLEXJIT_DEVICE_CPU or an ordinal). */
flexjit_status flexjit_cache_get_stats(flexjit_cache_kind kind, int32_t device,
                                       flexjit_cache_stats *stats);
/* All kinds and devices (peak_bytes: the peak of the total). */
flexjit_status flexjit_cache_get_totals(flexjit_cache_stats *stats);

typedef struct flexjit_cache_stats_row {
  flexjit_cache_kind kind;
  int32_t device;
  flexjit_cache_stats stats;
} flexjit_cache_stats_row;
/* Every (kind, device) seen, by kind then device: *count is how many there
 * are; at most `capacity` go to `rows` (rows may be NULL when capacity is 0). */
flexjit_status flexjit_cache_get_stats_rows(flexjit_cache_stats_row *rows, size_t capacity,
                                            size_t *count);

/* Drops every entry / the entries of one device. Handles still held stay
 * valid; their memory goes when they are released. */
flexjit_status flexjit_cache_clear(void);
flexjit_status flexjit_cache_clear_device(int32_t device);
/* New bounds (bytes, entries); evicts at once to meet them. */
flexjit_status flexjit_cache_set_limits(uint64_t max_bytes, uint64_t max_entries);
flexjit_status flexjit_cache_get_limits(uint64_t *max_bytes, uint64_t *max_entries);
/* Zeroes hits, misses, evictions and failures; peaks restart at bytes now. */
flexjit_status flexjit_cache_reset_counters(void);

/*===------------------------------------------------------------------===*
 * Stages of a mod's compilation as text (API version 4)
 *===------------------------------------------------------------------===*/

typedef enum flexjit_stage {
  FLEXJIT_STAGE_TOKENS = 0,     /* every token of the file with its line:col */
  FLEXJIT_STAGE_AST = 1,        /* the checked tree of the whole file */
  FLEXJIT_STAGE_FLEX = 2,       /* flex-dialect MLIR of the mod */
  FLEXJIT_STAGE_LOWERED = 3,    /* MLIR lowered to func/arith/math/scf/llvm */
  FLEXJIT_STAGE_LLVM = 4,       /* LLVM IR of the mod's dense mask kernel */
  FLEXJIT_STAGE_PTX = 5,        /* PTX of the mod's dense mask kernel */
  FLEXJIT_STAGE_FINGERPRINT = 6, /* the canonical form ('#' line), then the fingerprint */
  /* A score mod's derivative (docs/backward.md); a mask mod:
   * FLEXJIT_ERROR_INVALID_ARGUMENT. */
  FLEXJIT_STAGE_GRAD_FLEX = 7,    /* the derivative in the flex dialect */
  FLEXJIT_STAGE_GRAD_LOWERED = 8, /* the score mod and its derivative, lowered */
  FLEXJIT_STAGE_GRAD_PTX = 9      /* PTX of the score mod's dense derivative kernel */
} flexjit_stage;

/* What `flexc --emit=STAGE --mod MOD` prints (docs/flexc.md): `mod` is a mod
 * of the module (ignored by the tokens and ast stages, which show the whole
 * file; it may be NULL there); `arch` is one of sm_80, sm_86, sm_89, sm_90,
 * sm_90a, or NULL / "" for sm_90a (flexc's default). Free *out with
 * flexjit_string_free. An unknown stage or arch: FLEXJIT_ERROR_INVALID_ARGUMENT;
 * an unknown mod: FLEXJIT_ERROR_NOT_FOUND; a compiler failure:
 * FLEXJIT_ERROR_COMPILE. */
flexjit_status flexjit_module_emit(const flexjit_module *module, const char *mod,
                                   flexjit_stage stage, const char *arch, char **out);

/*===------------------------------------------------------------------===*
 * Block masks made elsewhere (PyTorch's BlockMask; API version 4)
 *===------------------------------------------------------------------===*/

/* The four kv arrays of a block mask someone else made: int32, contiguous,
 * row-major; kv_num_blocks and full_kv_num_blocks [B,H,nQ], kv_indices and
 * full_kv_indices [B,H,nQ,nKV] with nQ = ceil(q_len / q_block), nKV =
 * ceil(kv_len / kv_block); full_kv_num_blocks and full_kv_indices both 0 for
 * no full blocks. Host addresses when source_device is FLEXJIT_DEVICE_CPU,
 * else CUdeviceptrs, read on `stream` (after the work queued there; NULL: the
 * legacy default stream). */
typedef struct flexjit_blockmask_arrays {
  int64_t batch, heads, q_len, kv_len;
  int32_t q_block, kv_block;
  int32_t source_device;
  uint64_t kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices;
  void *stream;
  int32_t device; /* where the mask goes: FLEXJIT_DEVICE_CPU or a CUDA ordinal */
} flexjit_blockmask_arrays;

/* Defaults: B = H = 1, blocks 128 x 128, source and device the CPU, no
 * arrays, lengths 0 (the lengths and the two kv arrays must be set). */
flexjit_status flexjit_blockmask_arrays_init(flexjit_blockmask_arrays *desc);

/* A block mask from the given arrays, checked first as PyTorch's
 * from_kv_blocks requires (counts in 0..nKV, each row's first count indices
 * distinct, ascending and in range, no block both partial and full, no tail
 * block full; FLEXJIT_ERROR_INVALID_ARGUMENT naming the array and entry
 * otherwise), its q lists derived, and copied into flexjit's memory on
 * desc->device: the handle never points into the caller's arrays and is
 * used like flexjit_blockmask_get's (flexjit_attention's block_mask, the
 * arrays, pictures). Not cached: each call reads and checks the arrays. */
flexjit_status flexjit_blockmask_from_arrays(const flexjit_blockmask_arrays *desc,
                                             flexjit_blockmask **out);

/*===------------------------------------------------------------------===*
 * Attention's backward pass (API version 5; docs/backward.md)
 *===------------------------------------------------------------------===*/

/* Where the gradient of one f32 buffer of the score mod goes: f32 device
 * memory on the tensors' device with the buffer's shape (rank, dims as the
 * forward's flexjit_buffer), row-major; overwritten. */
typedef struct flexjit_grad_buffer {
  const char *name;
  int32_t rank;
  const int64_t *dims;
  uint64_t data; /* a CUdeviceptr, 4-byte aligned */
} flexjit_grad_buffer;

/* The forward's call (forward.q, k, v, out, mods, inputs, block_mask, scale,
 * stream as it ran; forward.lse its LSE, required; forward's kernel choice
 * ignored), the output's gradient d_out (out's shape and dtype), d_lse (0, or
 * the LSE's gradient, f32 [B, Hq, Q_LEN] contiguous), and the gradients
 * written: dq, dk, dv (the shapes of q, k, v, q's dtype; for GQA/MQA dk and
 * dv are summed over each kv head's query heads) and the buffers'. */
typedef struct flexjit_attention_backward_desc {
  flexjit_attention_desc forward;
  flexjit_tensor d_out;
  uint64_t d_lse;
  flexjit_tensor dq, dk, dv;
  const flexjit_grad_buffer *buffer_grads;
  size_t num_buffer_grads;
  /* 1: dQ by a kernel of its own (the same inputs give the same bits; the
   * buffers' gradients stay atomic sums); 0: f32 atomic adds. */
  int32_t deterministic;
  /* Kernel choice; 0: flexjit's (AttentionBackwardSpec, docs/backward.md). */
  int32_t block_n, block_m, warps, stages, dq_block_m, dq_block_n, dq_stages;
} flexjit_attention_backward_desc;

/* Zeroes the description (flexjit_attention_desc_init for `forward`). */
flexjit_status flexjit_attention_backward_desc_init(flexjit_attention_backward_desc *desc);

typedef struct flexjit_attention_backward_info {
  int32_t kernels_compiled; /* 1: this call loaded the kernels; 0: from the cache */
  int32_t mask_created;     /* 1: this call made the block mask */
  int32_t deterministic;
  int32_t block_n, block_m, warps, stages, dq_block_m, dq_block_n, dq_stages;
  double host_ms;
  char tag[96];             /* the instantiation (AttentionBackwardSpec::tag) */
} flexjit_attention_backward_info;

/* The backward on the GPU: dq, dk, dv and the requested buffer gradients,
 * launched on desc->forward.stream and not waited for unless a mod reads a
 * buffer (then the call waits for its kernels, and a read out of bounds is
 * its FLEXJIT_ERROR_OUT_OF_BOUNDS). An earlier forward's read that has
 * landed is returned first (flexjit_attention). `info` may be NULL. Every mistake in the
 * description is FLEXJIT_ERROR_INVALID_ARGUMENT (or NOT_FOUND for a mod)
 * before the device is looked at; without a driver or GPU:
 * FLEXJIT_ERROR_DEVICE. */
flexjit_status flexjit_attention_backward(const flexjit_module *module,
                                          const flexjit_attention_backward_desc *desc,
                                          flexjit_attention_backward_info *info);

/*===------------------------------------------------------------------===*
 * Precompiling attention kernels (API version 6; docs/python.md)
 *===------------------------------------------------------------------===*/

/* One attention kernel to compile before its first call: the mods of
 * `module` (NULL or "" for none), the dtype (bf16 or f16), head dims, and
 * the device it will run on. A CUDA ordinal: compiled (or read from the
 * disk cache), linked for the device and loaded into the cache.
 * FLEXJIT_DEVICE_CPU: only its PTX for `arch` (NULL: "sm_90a") is written
 * to the disk cache. */
typedef struct flexjit_precompile_variant {
  const flexjit_module *module;
  const char *score_mod;
  const char *mask_mod;
  flexjit_dtype dtype;
  int32_t head_dim;
  int32_t value_head_dim; /* 0: head_dim */
  int32_t device;
  const char *arch;
} flexjit_precompile_variant;

typedef struct flexjit_precompile_result {
  flexjit_status status; /* this variant's */
  int32_t compiled;      /* 1: this call compiled or loaded it; 0: already cached, or failed */
  double ms;             /* its wall time */
  char entry[96];        /* the kernel's PTX entry ("" if it failed early) */
} flexjit_precompile_result;

/* Compiles `count` variants in parallel (`threads` at once, 0: every core)
 * through the disk cache, so processes sharing it compile each kernel once.
 * `results` (count entries) may be NULL. Every variant is attempted; the
 * status is FLEXJIT_OK when all succeeded, else the first failure's, with
 * flexjit_last_error() holding every failure's message, one a line, each
 * naming its variant. */
flexjit_status flexjit_precompile(const flexjit_precompile_variant *variants, size_t count,
                                  uint32_t threads, flexjit_precompile_result *results);

#ifdef __cplusplus
}
#endif

#endif /* FLEXJIT_FLEXJIT_H */
