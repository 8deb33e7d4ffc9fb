/* The C API from C: everything a C user can reach through flexjit.h alone,
 * on the CPU (attention: its argument checks and the host reference), and
 * device block masks where there is a GPU.
 * Prints "N passed, M failed, K skipped"; exits non-zero on any failure.
 * Without a GPU the device part is skipped, saying why; with
 * FLEXJIT_REQUIRE_GPU=1 in the environment that is a failure instead. */
#define _POSIX_C_SOURCE 200809L /* pthreads, for the thread test */

#include "flexjit/flexjit.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed, skipped;

/* A part that needs a GPU could not run: skipped, or with
 * FLEXJIT_REQUIRE_GPU=1 failed. */
static void skipWithoutGpu(const char *what, const char *why) {
  const char *req = getenv("FLEXJIT_REQUIRE_GPU");
  if (req && strcmp(req, "1") == 0) {
    ++failed;
    fprintf(stderr, "FAILED: %s: FLEXJIT_REQUIRE_GPU=1, but no GPU here: %s\n", what, why);
  } else {
    ++skipped;
    fprintf(stderr, "skipped: %s: no GPU here: %s\n", what, why);
  }
}

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (cond) {                                                                    \
      ++passed;                                                                    \
    } else {                                                                       \
      ++failed;                                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n  last error: %s\n", __FILE__,     \
              __LINE__, #cond, flexjit_last_error());                              \
    }                                                                              \
  } while (0)

/* A call that must succeed. */
#define OK(call) CHECK((call) == FLEXJIT_OK)
/* A call that must fail with `status` and say something containing `text`. */
#define FAILS(call, status, text)                                                  \
  do {                                                                             \
    flexjit_status s_ = (call);                                                    \
    CHECK(s_ == (status));                                                         \
    if (s_ != (status))                                                            \
      fprintf(stderr, "  got %s\n", flexjit_status_name(s_));                      \
    CHECK(strstr(flexjit_last_error(), (text)) != NULL);                           \
  } while (0)

static const char *kSource =
    "param prefix_len: i32\n"
    "param scale: f32\n"
    "buffer doc_id: i32[N]\n"
    "buffer slopes: f32[H]\n"
    "mask causal(b, h, q, kv) = q >= kv\n"
    "mask prefix_lm(b, h, q, kv) = kv < prefix_len || q >= kv\n"
    "mask document(b, h, q, kv) = doc_id[q] == doc_id[kv]\n"
    "score alibi(s, b, h, q, kv) = s * scale + slopes[h] * float(kv - q)\n";

static int equalInts(const int32_t *a, const int32_t *b, size_t n) {
  return memcmp(a, b, n * sizeof(int32_t)) == 0;
}

static void testBasics(void) {
  const char *v = NULL;
  OK(flexjit_version(&v));
  CHECK(v && strlen(v) > 0);
  FAILS(flexjit_version(NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "NULL");
  int32_t api = 0;
  OK(flexjit_c_api_version(&api));
  CHECK(api == FLEXJIT_C_API_VERSION);
  FAILS(flexjit_c_api_version(NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "NULL");
  CHECK(strcmp(flexjit_status_name(FLEXJIT_ERROR_DEVICE), "FLEXJIT_ERROR_DEVICE") == 0);
  CHECK(strcmp(flexjit_status_name((flexjit_status)99), "unknown status") == 0);
  /* A success clears the thread's message. */
  OK(flexjit_version(&v));
  CHECK(strcmp(flexjit_last_error(), "") == 0);
  OK(flexjit_string_free(NULL));
}

static void testModules(flexjit_module *m) {
  size_t n = 0;
  OK(flexjit_module_mod_count(m, &n));
  CHECK(n == 4);
  const char *name = NULL;
  OK(flexjit_module_mod_name(m, 2, &name));
  CHECK(name && strcmp(name, "document") == 0);
  FAILS(flexjit_module_mod_name(m, 4, &name), FLEXJIT_ERROR_INVALID_ARGUMENT, "out of range");
  flexjit_mod_kind kind;
  OK(flexjit_module_mod_kind(m, "alibi", &kind));
  CHECK(kind == FLEXJIT_SCORE);
  OK(flexjit_module_mod_kind(m, "causal", &kind));
  CHECK(kind == FLEXJIT_MASK);
  FAILS(flexjit_module_mod_kind(m, "casual", &kind), FLEXJIT_ERROR_NOT_FOUND,
        "did you mean 'causal'");
  FAILS(flexjit_module_mod_kind(NULL, "causal", &kind), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "module is NULL");

  /* Fingerprints: 32 hex digits, equal for an equivalent spelling. */
  const char *fp = NULL, *fp2 = NULL;
  OK(flexjit_module_fingerprint(m, "causal", &fp));
  CHECK(fp && strlen(fp) == 32 && strspn(fp, "0123456789abcdef") == 32);
  flexjit_module *other = NULL;
  OK(flexjit_module_from_source("other.flex", "# same mask, other names\n"
                                              "mask lower(x, y, i, j) = i >= j\n",
                                &other));
  OK(flexjit_module_fingerprint(other, "lower", &fp2));
  CHECK(fp && fp2 && strcmp(fp, fp2) == 0);
  OK(flexjit_module_fingerprint(m, "prefix_lm", &fp2));
  CHECK(strcmp(fp, fp2) != 0);
  OK(flexjit_module_release(other));
  OK(flexjit_module_release(NULL));

  /* Interfaces, in ABI order. */
  size_t count = 9;
  OK(flexjit_module_param_count(m, "causal", &count));
  CHECK(count == 0);
  OK(flexjit_module_param_count(m, "alibi", &count));
  CHECK(count == 1);
  flexjit_type type;
  OK(flexjit_module_param(m, "prefix_lm", 0, &name, &type));
  CHECK(strcmp(name, "prefix_len") == 0 && type == FLEXJIT_I32);
  FAILS(flexjit_module_param(m, "prefix_lm", 1, &name, &type), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "out of range");
  OK(flexjit_module_buffer_count(m, "document", &count));
  CHECK(count == 1);
  int32_t rank = 0;
  OK(flexjit_module_buffer(m, "alibi", 0, &name, &type, &rank));
  CHECK(strcmp(name, "slopes") == 0 && type == FLEXJIT_F32 && rank == 1);
}

static void testCompileErrors(void) {
  flexjit_module *m = (flexjit_module *)0x1;
  FAILS(flexjit_module_from_source("bad.flex", "mask m(b, h, q, kv) = q >= kvv\n", &m),
        FLEXJIT_ERROR_COMPILE, "bad.flex:1:28: error: unknown name 'kvv'");
  CHECK(m == (flexjit_module *)0x1); /* untouched on failure */
  FAILS(flexjit_module_from_source("x.flex", NULL, &m), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "text is NULL");
  FAILS(flexjit_module_from_source("x.flex", "mask m(b, h, q, kv) = true\n", NULL),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  FAILS(flexjit_module_from_file("/nonexistent/dir/x.flex", &m), FLEXJIT_ERROR_NOT_FOUND,
        "cannot read");
#ifdef FLEXJIT_EXAMPLES
  flexjit_module *ex = NULL;
  OK(flexjit_module_from_file(FLEXJIT_EXAMPLES "/mods.flex", &ex));
  size_t n = 0;
  OK(flexjit_module_mod_count(ex, &n));
  CHECK(n > 10);
  OK(flexjit_module_release(ex));
#endif
}

static void testEval(flexjit_module *m) {
  int32_t allowed = -1;
  OK(flexjit_mask_eval(m, "causal", NULL, 0, NULL, 0, 0, 0, 5, 3, &allowed));
  CHECK(allowed == 1);
  OK(flexjit_mask_eval(m, "causal", NULL, 0, NULL, 0, 0, 0, 3, 5, &allowed));
  CHECK(allowed == 0);

  flexjit_param prefix = {"prefix_len", FLEXJIT_I32, 8, 0.0};
  OK(flexjit_mask_eval(m, "prefix_lm", &prefix, 1, NULL, 0, 0, 0, 3, 5, &allowed));
  CHECK(allowed == 1);
  prefix.int_value = 4;
  OK(flexjit_mask_eval(m, "prefix_lm", &prefix, 1, NULL, 0, 0, 0, 3, 5, &allowed));
  CHECK(allowed == 0);

  /* Parameter mistakes. */
  FAILS(flexjit_mask_eval(m, "prefix_lm", NULL, 0, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "missing param 'prefix_len'");
  flexjit_param wrongType = {"prefix_len", FLEXJIT_F32, 0, 8.0};
  FAILS(flexjit_mask_eval(m, "prefix_lm", &wrongType, 1, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "param 'prefix_len' is i32");
  flexjit_param unknown[2] = {{"prefix_len", FLEXJIT_I32, 8, 0.0},
                              {"prefix", FLEXJIT_I32, 8, 0.0}};
  FAILS(flexjit_mask_eval(m, "prefix_lm", unknown, 2, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "unknown param 'prefix'");
  flexjit_param twice[2] = {{"prefix_len", FLEXJIT_I32, 8, 0.0},
                            {"prefix_len", FLEXJIT_I32, 9, 0.0}};
  FAILS(flexjit_mask_eval(m, "prefix_lm", twice, 2, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "given twice");
  flexjit_param big = {"prefix_len", FLEXJIT_I32, (int64_t)1 << 40, 0.0};
  FAILS(flexjit_mask_eval(m, "prefix_lm", &big, 1, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "out of the range of i32");
  FAILS(flexjit_mask_eval(m, "prefix_lm", NULL, 1, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "params is NULL");
  FAILS(flexjit_mask_eval(m, "alibi", NULL, 0, NULL, 0, 0, 0, 3, 5, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "is a score mod");
  FAILS(flexjit_mask_eval(m, "causal", NULL, 0, NULL, 0, 0, 0, 3, 5, NULL),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "allowed is NULL");

  /* Buffers. */
  int32_t docs[6] = {0, 0, 1, 1, 1, 2};
  int64_t n = 6;
  flexjit_buffer doc = {"doc_id", FLEXJIT_I32, 1, &n, docs, sizeof docs};
  OK(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed));
  CHECK(allowed == 1);
  OK(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 1, 2, &allowed));
  CHECK(allowed == 0);
  /* An index past the end reads 0 and is reported. */
  allowed = -1;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 7, 0, &allowed),
        FLEXJIT_ERROR_OUT_OF_BOUNDS, "read buffer 'doc_id' out of bounds: index 7");
  CHECK(allowed == 1); /* doc_id[7] read 0 == doc_id[0] */
  doc.size_bytes = 5 * sizeof(int32_t);
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "size_bytes is 20 but its dims hold 24 bytes");
  doc.size_bytes = sizeof docs;
  doc.element_type = FLEXJIT_I64;
  doc.size_bytes = 6 * 8;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "buffer 'doc_id' holds i32");
  doc.element_type = FLEXJIT_I32;
  doc.size_bytes = sizeof docs;
  doc.data = NULL;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "data is NULL");
  doc.data = docs;
  doc.rank = 2;
  int64_t dims2[2] = {2, 3};
  doc.dims = dims2;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "has 1 dimension(s)");
  doc.rank = 1;
  doc.dims = &n;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, NULL, 0, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "missing buffer 'doc_id'");
  /* Device memory (API version 8): attention calls only; evaluation reads
   * host memory. on_device is 0 or 1. */
  CHECK(FLEXJIT_C_API_VERSION >= 8);
  doc.on_device = 1;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT,
        "buffer 'doc_id' is given in device memory, but evaluation on the CPU reads");
  doc.on_device = 2;
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 2, 4, &allowed),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "on_device is 0 (host memory) or 1 (device memory), not 2");
  doc.on_device = 0;

  /* A score mod with a param and a buffer. */
  float slopes[2] = {0.5f, -0.25f};
  int64_t heads = 2;
  flexjit_buffer sl = {"slopes", FLEXJIT_F32, 1, &heads, slopes, sizeof slopes};
  flexjit_param scale = {"scale", FLEXJIT_F32, 0, 2.0};
  float out = 0;
  OK(flexjit_score_eval(m, "alibi", &scale, 1, &sl, 1, 1.5f, 0, 1, 10, 6, &out));
  CHECK(out == 1.5f * 2.0f + -0.25f * (6.0f - 10.0f));
  FAILS(flexjit_score_eval(m, "causal", NULL, 0, NULL, 0, 1.0f, 0, 0, 0, 0, &out),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "is a mask mod");
}

static flexjit_blockmask *getMask(flexjit_module *m, flexjit_blockmask_desc *d) {
  flexjit_blockmask *bm = NULL;
  flexjit_status s = flexjit_blockmask_get(m, d, &bm);
  if (s != FLEXJIT_OK)
    fprintf(stderr, "flexjit_blockmask_get(%s): %s\n", d->mod, flexjit_last_error());
  return bm;
}

static void testCausalMask(flexjit_module *m) {
  OK(flexjit_cache_clear());
  OK(flexjit_cache_reset_counters());
  flexjit_blockmask_desc d;
  OK(flexjit_blockmask_desc_init(&d));
  CHECK(d.batch == 1 && d.heads == 1 && d.q_block == 128 && d.kv_block == 128 &&
        d.device == FLEXJIT_DEVICE_CPU);
  d.mod = "causal";
  d.q_len = d.kv_len = 256;
  flexjit_blockmask *bm = getMask(m, &d);
  CHECK(bm != NULL);
  if (!bm)
    return;

  flexjit_blockmask_info info;
  OK(flexjit_blockmask_get_info(bm, &info));
  CHECK(info.num_q_blocks == 2 && info.num_kv_blocks == 2);
  CHECK(info.bytes == 1 * 1 * (16 * 2 * 2 + 8 * (2 + 2)));
  CHECK(fabs(info.sparsity - 25.0) < 1e-9);
  CHECK(info.created == 1 && info.blocks == 4);
  CHECK(info.elementwise_blocks == 0); /* the interval analysis decides causal */
  CHECK(info.device == FLEXJIT_DEVICE_CPU);

  /* The eight arrays, full rows, in PyTorch's layout. */
  static const int32_t expect[8][4] = {
      {1, 1},       {0, 1, 1, 0}, /* kv_num_blocks, kv_indices */
      {0, 1},       {0, 1, 0, 1}, /* full_kv_* */
      {1, 1},       {0, 1, 1, 0}, /* q_num_blocks, q_indices */
      {1, 0},       {1, 0, 0, 1}, /* full_q_* */
  };
  for (int f = 0; f < FLEXJIT_BLOCKMASK_NUM_FIELDS; ++f) {
    flexjit_array a;
    OK(flexjit_blockmask_array(bm, (flexjit_blockmask_field)f, &a));
    int indices = f % 2;
    CHECK(a.rank == (indices ? 4 : 3));
    CHECK(a.shape[0] == 1 && a.shape[1] == 1 && a.shape[2] == 2);
    CHECK(a.count == (size_t)(indices ? 4 : 2));
    CHECK(a.data != NULL && a.device_ptr == 0);
    if (a.data)
      CHECK(equalInts(a.data, expect[f], a.count));
  }
  const char *fname = NULL;
  OK(flexjit_blockmask_field_name(FLEXJIT_FULL_Q_INDICES, &fname));
  CHECK(fname && strcmp(fname, "full_q_indices") == 0);
  flexjit_array a;
  FAILS(flexjit_blockmask_array(bm, (flexjit_blockmask_field)8, &a),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "unknown field 8");
  FAILS(flexjit_blockmask_array(NULL, FLEXJIT_KV_INDICES, &a), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "mask is NULL");

  char *text = NULL;
  OK(flexjit_blockmask_to_string(bm, 20, 20, 4, &text));
  /* PyTorch's picture: a cell is computed (partial or full) or not. */
  CHECK(text && strcmp(text, "(0, 0)\n██  \n████\n") == 0);
  OK(flexjit_string_free(text));
  char *json = NULL;
  OK(flexjit_blockmask_to_json(bm, &json));
  CHECK(json && strstr(json, "{\"kv_num_blocks\":[[[1,1]]],"
                             "\"kv_indices\":[[[[0,1],[1,0]]]],") == json);
  CHECK(json && strstr(json, "\"block_size\":[128,128],\"seq_lengths\":[256,256],"
                             "\"bytes\":96,\"sparsity\":25.0,"
                             "\"elementwise_blocks\":0}") != NULL);
  OK(flexjit_string_free(json));

  /* The same request again: a cache hit. */
  flexjit_blockmask *again = getMask(m, &d);
  CHECK(again != NULL);
  if (again) {
    OK(flexjit_blockmask_get_info(again, &info));
    CHECK(info.created == 0 && info.elementwise_blocks == 0);
    flexjit_array x, y;
    OK(flexjit_blockmask_array(bm, FLEXJIT_KV_INDICES, &x));
    OK(flexjit_blockmask_array(again, FLEXJIT_KV_INDICES, &y));
    CHECK(x.data == y.data); /* one shared entry */
    OK(flexjit_blockmask_release(again));
  }
  flexjit_cache_stats st;
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.hits == 1 && st.misses == 1 && st.entries == 1 && st.bytes == 96 &&
        st.peak_bytes == 96);
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_KERNEL, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 2 && st.bytes == 0); /* the JIT'd mask and its classifier */

  /* Clearing leaves held handles valid. */
  OK(flexjit_cache_clear());
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 0 && st.bytes == 0);
  OK(flexjit_blockmask_array(bm, FLEXJIT_FULL_KV_INDICES, &a));
  CHECK(a.data && equalInts(a.data, expect[3], 4));
  OK(flexjit_blockmask_release(bm));
  OK(flexjit_blockmask_release(NULL));
}

static void testInputsDecideMasks(flexjit_module *m) {
  flexjit_blockmask_desc d;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "prefix_lm";
  d.q_len = d.kv_len = 128;
  d.q_block = d.kv_block = 32; /* 4 x 4 blocks */
  flexjit_param p = {"prefix_len", FLEXJIT_I32, 64, 0.0};
  d.params = &p;
  d.num_params = 1;
  flexjit_blockmask *a = getMask(m, &d);
  p.int_value = 96;
  flexjit_blockmask *b = getMask(m, &d);
  CHECK(a && b);
  if (a && b) {
    flexjit_array fa, fb;
    OK(flexjit_blockmask_array(a, FLEXJIT_FULL_KV_NUM_BLOCKS, &fa));
    OK(flexjit_blockmask_array(b, FLEXJIT_FULL_KV_NUM_BLOCKS, &fb));
    /* Row 0 (q 0..31): prefix blocks full, its diagonal partial. */
    static const int32_t wantA[4] = {2, 2, 2, 3}, wantB[4] = {3, 3, 3, 3};
    CHECK(equalInts(fa.data, wantA, 4));
    CHECK(equalInts(fb.data, wantB, 4));
    flexjit_blockmask_info ia, ib;
    OK(flexjit_blockmask_get_info(a, &ia));
    OK(flexjit_blockmask_get_info(b, &ib));
    CHECK(ia.created == 1 && ib.created == 1);
    CHECK(ia.elementwise_blocks == 0 && ib.elementwise_blocks == 0);
  }
  OK(flexjit_blockmask_release(a));
  OK(flexjit_blockmask_release(b));

  /* Buffer contents are part of the key: new contents, a new mask. */
  int32_t docs[128];
  for (int i = 0; i < 128; ++i)
    docs[i] = i < 64 ? 0 : 1;
  int64_t n = 128;
  flexjit_buffer doc = {"doc_id", FLEXJIT_I32, 1, &n, docs, sizeof docs};
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "document";
  d.q_len = d.kv_len = 128;
  d.q_block = d.kv_block = 64;
  d.buffers = &doc;
  d.num_buffers = 1;
  flexjit_blockmask *two = getMask(m, &d);
  for (int i = 0; i < 128; ++i)
    docs[i] = 0;
  flexjit_blockmask *one = getMask(m, &d);
  CHECK(two && one);
  if (two && one) {
    flexjit_array x, y;
    OK(flexjit_blockmask_array(two, FLEXJIT_FULL_KV_NUM_BLOCKS, &x));
    OK(flexjit_blockmask_array(one, FLEXJIT_FULL_KV_NUM_BLOCKS, &y));
    static const int32_t wantTwo[2] = {1, 1}, wantOne[2] = {2, 2};
    CHECK(equalInts(x.data, wantTwo, 2));
    CHECK(equalInts(y.data, wantOne, 2));
  }
  OK(flexjit_blockmask_release(two));
  OK(flexjit_blockmask_release(one));

  /* A buffer too short for the sequence: the first bad read is an error. */
  n = 100;
  doc.size_bytes = 100 * sizeof(int32_t);
  flexjit_blockmask *bm = (flexjit_blockmask *)0x1;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_OUT_OF_BOUNDS,
        "mod 'document' read buffer 'doc_id' out of bounds");
  CHECK(bm == (flexjit_blockmask *)0x1);
}

/* threads caps CPU creation's workers (0: all cores); more than 1024 is an
 * error (100000 used to abort the process), on the CPU and on a device. */
static void testThreadLimit(flexjit_module *m) {
  static const uint32_t bad[] = {1025u, 100000u, 0x80000000u, 0xFFFFFFFFu};
  flexjit_blockmask_desc d;
  flexjit_blockmask *bm = NULL;
  char text[96];
  size_t i;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "causal";
  d.batch = 2;
  d.heads = 3;
  d.q_len = d.kv_len = 4096;
  for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    d.threads = bad[i];
    snprintf(text, sizeof text, "block mask: threads = %u is more than the limit of 1024",
             (unsigned)bad[i]);
    d.device = FLEXJIT_DEVICE_CPU;
    FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, text);
    d.device = 0;
    FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, text);
    CHECK(bm == NULL);
  }
  d.device = FLEXJIT_DEVICE_CPU;
  for (i = 0; i < 3; ++i) {
    flexjit_blockmask_info info;
    d.threads = i == 0 ? 1024u : i == 1 ? 3u : 1u;
    d.q_len = 4096 - 128 * (int64_t)i; /* a new mask each time, not a cache hit */
    OK(flexjit_blockmask_get(m, &d, &bm));
    if (bm) {
      OK(flexjit_blockmask_get_info(bm, &info));
      CHECK(info.num_q_blocks == 32 - (int64_t)i && info.created == 1);
      OK(flexjit_blockmask_release(bm));
      bm = NULL;
    }
  }
}

/* A CUDA device: made on the GPU where there is one (the same arrays as on
 * the CPU, in device memory), else FLEXJIT_ERROR_DEVICE; never the CPU. */
static void testDeviceMask(flexjit_module *m, flexjit_blockmask_desc *cpu) {
  flexjit_blockmask_desc d = *cpu;
  d.device = 0;
  flexjit_blockmask *gpu = NULL;
  flexjit_status s = flexjit_blockmask_get(m, &d, &gpu);
  if (s != FLEXJIT_OK) {
    /* The error without a GPU is checked; the device part is not run. */
    CHECK(s == FLEXJIT_ERROR_DEVICE);
    CHECK(strstr(flexjit_last_error(), "block mask on cuda:0: ") != NULL);
    skipWithoutGpu("device block masks", flexjit_last_error());
    return;
  }
  flexjit_blockmask *host = getMask(m, cpu);
  CHECK(host != NULL);
  flexjit_array a;
  OK(flexjit_blockmask_array(gpu, FLEXJIT_KV_INDICES, &a));
  CHECK(a.data == NULL && a.device_ptr != 0 && a.count == 4);
  flexjit_blockmask_info info;
  OK(flexjit_blockmask_get_info(gpu, &info));
  CHECK(info.device == 0 && info.bytes == 96);
  {
    flexjit_blockmask_info hostInfo;
    OK(flexjit_blockmask_get_info(host, &hostInfo));
    CHECK(info.sparsity == hostInfo.sparsity);
  }
  char *gj = NULL, *hj = NULL;
  OK(flexjit_blockmask_to_json(gpu, &gj));
  OK(flexjit_blockmask_to_json(host, &hj));
  /* Equal up to the element-wise count, which the two creators may differ in. */
  if (gj && hj) {
    char *ge = strstr(gj, "\"elementwise_blocks\""), *he = strstr(hj, "\"elementwise_blocks\"");
    if (ge)
      *ge = 0;
    if (he)
      *he = 0;
    CHECK(strcmp(gj, hj) == 0);
  }
  OK(flexjit_string_free(gj));
  OK(flexjit_string_free(hj));
  OK(flexjit_blockmask_release(gpu));
  OK(flexjit_blockmask_release(host));
}

static void testBadRequests(flexjit_module *m) {
  flexjit_blockmask_desc d;
  flexjit_blockmask *bm = NULL;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "causal";
  d.q_len = d.kv_len = 256;
  d.q_block = 100;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "100");
  d.q_block = 128;
  d.batch = 0;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "B");
  d.batch = 1;
  d.mod = "alibi";
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "score mod");
  d.mod = "nope";
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_NOT_FOUND, "no mod named 'nope'");
  d.mod = NULL;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc->mod");
  d.mod = "prefix_lm";
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "missing param 'prefix_len': mod 'prefix_lm' reads param prefix_len: i32");
  d.mod = "causal";
  d.device = -2;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "invalid device");
  d.device = -1;
  d.q_len = d.kv_len = 256;
  testDeviceMask(m, &d);
  d.device = 0;
  FAILS(flexjit_blockmask_get(NULL, &d, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "module");
  FAILS(flexjit_blockmask_get(m, NULL, &bm), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc");
  FAILS(flexjit_blockmask_get_info(NULL, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "NULL");
  FAILS(flexjit_blockmask_desc_init(NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc is NULL");
}

/* The status codes are part of the ABI: their numbers never change. */
_Static_assert(FLEXJIT_OK == 0 && FLEXJIT_ERROR_INVALID_ARGUMENT == 1 &&
                   FLEXJIT_ERROR_COMPILE == 2 && FLEXJIT_ERROR_NOT_FOUND == 3 &&
                   FLEXJIT_ERROR_OUT_OF_BOUNDS == 4 && FLEXJIT_ERROR_DEVICE == 5 &&
                   FLEXJIT_ERROR_CACHE == 6 && FLEXJIT_ERROR_OUT_OF_MEMORY == 7 &&
                   FLEXJIT_ERROR_INTERNAL == 8,
               "flexjit_status values are stable");

/* Every kind of failure a caller can provoke, each with its own status (the
 * library sets a kind on every error, and the status comes from the kind,
 * never from the message). Out of memory and internal errors are not
 * provoked on purpose. */
static void testEveryKind(flexjit_module *m) {
  flexjit_module *bad = NULL;
  FAILS(flexjit_module_from_source("k.flex", "mask m(b, h, q, kv) = q >=\n", &bad),
        FLEXJIT_ERROR_COMPILE, "k.flex:");
  int32_t allowed = 0;
  FAILS(flexjit_mask_eval(m, "causal", NULL, 0, NULL, 0, 0, 0, 1, 0, NULL),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "allowed is NULL");
  FAILS(flexjit_mask_eval(m, "nope", NULL, 0, NULL, 0, 0, 0, 1, 0, &allowed),
        FLEXJIT_ERROR_NOT_FOUND, "no mod named 'nope'");
  int32_t docs[2] = {0, 0};
  int64_t dims[1] = {2};
  flexjit_buffer doc = {"doc_id", FLEXJIT_I32, 1, dims, docs, sizeof docs};
  FAILS(flexjit_mask_eval(m, "document", NULL, 0, &doc, 1, 0, 0, 5, 0, &allowed),
        FLEXJIT_ERROR_OUT_OF_BOUNDS, "mod 'document' read buffer 'doc_id' out of bounds");
  flexjit_blockmask_desc d;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "causal";
  d.q_len = d.kv_len = 256;
  d.device = 1000; /* no such device, with or without a GPU */
  flexjit_blockmask *bm = NULL;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_DEVICE, "block mask on cuda:1000: ");
  uint64_t maxBytes = 0, maxEntries = 0;
  OK(flexjit_cache_get_limits(&maxBytes, &maxEntries));
  OK(flexjit_cache_set_limits(64, maxEntries));
  d.device = FLEXJIT_DEVICE_CPU;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_CACHE, "byte bound");
  OK(flexjit_cache_set_limits(maxBytes, maxEntries));
  CHECK(bm == NULL);
}

static void testCacheControl(flexjit_module *m) {
  uint64_t maxBytes = 0, maxEntries = 0;
  OK(flexjit_cache_get_limits(&maxBytes, &maxEntries));
  CHECK(maxBytes > 0 && maxEntries > 0);
  OK(flexjit_cache_clear());
  OK(flexjit_cache_reset_counters());

  flexjit_blockmask_desc d;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "causal";
  d.q_len = d.kv_len = 1024; /* 8 x 8 blocks: 16*64 + 8*16 = 1152 bytes */
  OK(flexjit_cache_set_limits(1000, 100));
  flexjit_blockmask *bm = NULL;
  /* Refused from its shape before anything is made (no miss, no failure
   * counted), on the CPU and for a device alike. */
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_CACHE, "byte bound");
  d.device = 0;
  FAILS(flexjit_blockmask_get(m, &d, &bm), FLEXJIT_ERROR_CACHE, "byte bound");
  d.device = FLEXJIT_DEVICE_CPU;
  {
    flexjit_cache_stats t;
    OK(flexjit_cache_get_totals(&t));
    CHECK(t.misses == 0 && t.failures == 0);
  }
  /* 16 GiB of mask (2^19 tokens, 16-token blocks) against the default 1 GiB:
   * refused at once, not built (it used to be, then refused). */
  OK(flexjit_cache_set_limits(maxBytes, maxEntries));
  d.q_len = d.kv_len = (int64_t)1 << 19;
  d.q_block = d.kv_block = 16;
  FAILS(flexjit_blockmask_get(m, &d, &bm),
        FLEXJIT_ERROR_CACHE, "entry of 17180393472 bytes exceeds the cache's byte bound");
  d.q_block = d.kv_block = 128;
  OK(flexjit_cache_set_limits(1000, 100));
  /* Two masks of 96 bytes and a bound of 150: the first is evicted. */
  d.q_len = d.kv_len = 256;
  flexjit_blockmask *a = getMask(m, &d);
  d.kv_len = 255;
  flexjit_blockmask *b = getMask(m, &d);
  CHECK(a && b);
  OK(flexjit_cache_set_limits(150, 100));
  flexjit_cache_stats st;
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 1 && st.bytes == 96 && st.evictions == 1 && st.peak_bytes == 192);
  OK(flexjit_cache_get_totals(&st));
  CHECK(st.bytes == 96);

  size_t rows = 0;
  OK(flexjit_cache_get_stats_rows(NULL, 0, &rows));
  /* Kernels and block masks on the CPU; with a GPU, the device masks and
   * kernels made earlier add rows of their own. */
  CHECK(rows >= 2 && rows <= 8);
  flexjit_cache_stats_row r[8];
  OK(flexjit_cache_get_stats_rows(r, 8, &rows));
  int cpuKernels = 0, cpuMasks = 0;
  for (size_t i = 0; i < rows && i < 8; ++i) {
    if (r[i].device != FLEXJIT_DEVICE_CPU)
      continue;
    cpuKernels += r[i].kind == FLEXJIT_CACHE_KERNEL;
    cpuMasks += r[i].kind == FLEXJIT_CACHE_BLOCK_MASK && r[i].stats.entries == 1;
  }
  CHECK(cpuKernels == 1 && cpuMasks == 1);
  FAILS(flexjit_cache_get_stats_rows(NULL, 3, &rows), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "rows is NULL");
  /* Mod contexts (attention's, in device memory) are a kind of their own. */
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_MOD_CONTEXT, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 0 && st.misses == 0);
  FAILS(flexjit_cache_get_stats((flexjit_cache_kind)5, -1, &st),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "unknown cache kind");

  /* Clearing another device leaves the CPU's entries. */
  OK(flexjit_cache_clear_device(0));
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 1);
  OK(flexjit_cache_clear_device(FLEXJIT_DEVICE_CPU));
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 0);
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_KERNEL, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 0);
  FAILS(flexjit_cache_clear_device(-3), FLEXJIT_ERROR_INVALID_ARGUMENT, "invalid device");

  OK(flexjit_cache_reset_counters());
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.hits == 0 && st.misses == 0 && st.evictions == 0);
  OK(flexjit_cache_set_limits(maxBytes, maxEntries));
  uint64_t nb = 0, ne = 0;
  OK(flexjit_cache_get_limits(&nb, &ne));
  CHECK(nb == maxBytes && ne == maxEntries);
  OK(flexjit_blockmask_release(a));
  OK(flexjit_blockmask_release(b));
}

/* Threads share the cache and the compiler; each has its own last error. */
typedef struct {
  flexjit_module *m;
  int index;
  int ok;
} threadArg;

static void *threadMain(void *p) {
  threadArg *a = (threadArg *)p;
  a->ok = 1;
  for (int i = 0; i < 20; ++i) {
    flexjit_blockmask_desc d;
    flexjit_blockmask_desc_init(&d);
    d.mod = "causal";
    d.q_len = d.kv_len = 128 * (1 + (i + a->index) % 4);
    flexjit_blockmask *bm = NULL;
    if (flexjit_blockmask_get(a->m, &d, &bm) != FLEXJIT_OK) {
      a->ok = 0;
      continue;
    }
    flexjit_blockmask_info info;
    if (flexjit_blockmask_get_info(bm, &info) != FLEXJIT_OK ||
        info.num_q_blocks != 1 + (i + a->index) % 4)
      a->ok = 0;
    flexjit_blockmask_release(bm);
    /* A failure naming this thread's own mod: the message must be ours. */
    char name[32];
    snprintf(name, sizeof name, "nope_%d", a->index);
    d.mod = name;
    if (flexjit_blockmask_get(a->m, &d, &bm) != FLEXJIT_ERROR_NOT_FOUND ||
        strstr(flexjit_last_error(), name) == NULL)
      a->ok = 0;
  }
  return NULL;
}

static void testThreads(flexjit_module *m) {
  OK(flexjit_cache_clear());
  OK(flexjit_cache_reset_counters());
  pthread_t threads[4];
  threadArg args[4];
  for (int i = 0; i < 4; ++i) {
    args[i].m = m;
    args[i].index = i;
    args[i].ok = 0;
    CHECK(pthread_create(&threads[i], NULL, threadMain, &args[i]) == 0);
  }
  for (int i = 0; i < 4; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(args[i].ok);
  }
  /* Four shapes, each created once; the other 76 requests were hits. */
  flexjit_cache_stats st;
  OK(flexjit_cache_get_stats(FLEXJIT_CACHE_BLOCK_MASK, FLEXJIT_DEVICE_CPU, &st));
  CHECK(st.entries == 4 && st.misses == 4 && st.hits == 76);
}

/* A flexjit_tensor over host or device memory, contiguous [B, H, S, D]. */
static flexjit_tensor tensor(uint64_t data, flexjit_dtype dtype, int64_t B, int64_t H, int64_t S,
                             int64_t D, int32_t device) {
  flexjit_tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.sizes[0] = B;
  t.sizes[1] = H;
  t.sizes[2] = S;
  t.sizes[3] = D;
  t.strides[3] = 1;
  t.strides[2] = D;
  t.strides[1] = S * D;
  t.strides[0] = H * S * D;
  t.device = device;
  return t;
}

/* 1 when a CUDA device can be used (a device block mask can be made). */
static int haveGpu(flexjit_module *m) {
  flexjit_blockmask_desc d;
  flexjit_blockmask *bm = NULL;
  flexjit_blockmask_desc_init(&d);
  d.mod = "causal";
  d.q_len = d.kv_len = 128;
  d.device = 0;
  if (flexjit_blockmask_get(m, &d, &bm) != FLEXJIT_OK)
    return 0;
  flexjit_blockmask_release(bm);
  return 1;
}

static void testAttentionArguments(flexjit_module *m) {
  flexjit_attention_desc d;
  flexjit_attention_info info;
  FAILS(flexjit_attention_desc_init(NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc is NULL");
  memset(&d, 0xAB, sizeof d);
  OK(flexjit_attention_desc_init(&d));
  CHECK(d.q.data == 0 && d.score_mod == NULL && d.mask_mod == NULL && d.block_mask == NULL &&
        d.scale == 0.0 && d.lse == 0 && d.stream == NULL && d.block_m == 0 && d.stages == 0 &&
        d.kernel == 0 && d.check_mod_errors_each_call == 0);
  FAILS(flexjit_attention(NULL, &d, &info), FLEXJIT_ERROR_INVALID_ARGUMENT, "module is NULL");
  FAILS(flexjit_attention(m, NULL, &info), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc is NULL");
  FAILS(flexjit_attention_reference(NULL, &d), FLEXJIT_ERROR_INVALID_ARGUMENT, "module is NULL");
  FAILS(flexjit_attention_reference(m, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "desc is NULL");
  /* An all-zero description is an error, not a crash. */
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "q has no data");

  /* Made-up, aligned device addresses: B 1, Hq 2, Hkv 1, Q 200, KV 150, D 64. */
  d.q = tensor(0x100000, FLEXJIT_DTYPE_BF16, 1, 2, 200, 64, 0);
  d.k = tensor(0x200000, FLEXJIT_DTYPE_BF16, 1, 1, 150, 64, 0);
  d.v = tensor(0x300000, FLEXJIT_DTYPE_BF16, 1, 1, 150, 64, 0);
  d.out = tensor(0x400000, FLEXJIT_DTYPE_BF16, 1, 2, 200, 64, 0);
  d.q.dtype = (flexjit_dtype)7;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "desc->q.dtype: unknown dtype 7");
  d.q.dtype = FLEXJIT_DTYPE_BF16;
  d.k.dtype = FLEXJIT_DTYPE_F16;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "k is f16 but q is bf16");
  d.k.dtype = FLEXJIT_DTYPE_BF16;
  d.v.strides[2] = 60;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "not a multiple of 8");
  d.v.strides[2] = 64;
  /* out written twice in one place, out on top of q: refused before the GPU. */
  d.out.strides[1] = 0;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "out's stride of H (dimension 1) is 0: its size is 2, so out's elements overlap");
  d.out.strides[1] = 200 * 64;
  d.out.data = d.q.data + 128;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "out and q overlap in memory");
  d.out.data = 0x400000;
  d.out.device = FLEXJIT_DEVICE_CPU;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "the GPU kernel needs CUDA tensors");
  d.out.device = 0;
  d.mask_mod = "casual";
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_NOT_FOUND, "did you mean 'causal'");
  d.mask_mod = "alibi";
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "maskMod 'alibi' is a score mod");
  d.mask_mod = "prefix_lm";
  d.num_mask_params = 2; /* mask_params NULL */
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "mask inputs: params is NULL but num_params is 2");
  d.num_mask_params = 0;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "missing param 'prefix_len'");
  d.mask_mod = "";
  d.block_m = 96;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "attention blockM 96 is not supported");
  d.block_m = 0;
  d.kernel = 70;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "kernel 70 is not a template (0: flexjit's choice, 80, 90)");
  d.kernel = 0;
  d.sm90_off = 4096;
  FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "sm90_off 4096 has bits that are no technique");
  d.sm90_off = 0;
  /* A host block mask is refused (the kernel needs one on the device). */
  {
    flexjit_blockmask_desc bd;
    flexjit_blockmask *bm = NULL;
    OK(flexjit_blockmask_desc_init(&bd));
    bd.mod = "causal";
    bd.q_len = 200;
    bd.kv_len = 150;
    OK(flexjit_blockmask_get(m, &bd, &bm));
    d.block_mask = bm;
    FAILS(flexjit_attention(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
          "the block mask is in host memory");
    d.block_mask = NULL;
    OK(flexjit_blockmask_release(bm));
  }
  /* Well-formed: only the device is left to check. */
  if (!haveGpu(m)) {
    memset(&info, 0x5A, sizeof info);
    flexjit_attention_info before = info;
    FAILS(flexjit_attention(m, &d, &info), FLEXJIT_ERROR_DEVICE, "attention on cuda:0: ");
    CHECK(memcmp(&info, &before, sizeof info) == 0); /* outputs untouched on failure */
    d.check_mod_errors_each_call = 1; /* the same checks first */
    FAILS(flexjit_attention(m, &d, &info), FLEXJIT_ERROR_DEVICE, "attention on cuda:0: ");
    d.check_mod_errors_each_call = 0;
  }
  /* Nothing launched here read out of bounds: nothing to report, with or
   * without a GPU (API version 7). */
  CHECK(FLEXJIT_C_API_VERSION >= 7);
  OK(flexjit_check_mod_errors());
}

/* flexjit_attention_backward's argument checks (API version 5), before any
 * device: made-up aligned addresses, B 1, H 2, S 256, D 64. */
static void testAttentionBackwardArguments(flexjit_module *m) {
  flexjit_attention_backward_desc d;
  flexjit_attention_backward_info info;
  float slopes[2] = {0.5f, 0.25f};
  int64_t dims[1] = {2};
  flexjit_buffer sb;
  flexjit_grad_buffer g;
  CHECK(FLEXJIT_C_API_VERSION >= 5);
  FAILS(flexjit_attention_backward_desc_init(NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "desc is NULL");
  memset(&d, 0xAB, sizeof d);
  OK(flexjit_attention_backward_desc_init(&d));
  CHECK(d.forward.q.data == 0 && d.d_lse == 0 && d.buffer_grads == NULL &&
        d.num_buffer_grads == 0 && d.deterministic == 0 && d.block_n == 0);
  FAILS(flexjit_attention_backward(NULL, &d, &info), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "module is NULL");
  FAILS(flexjit_attention_backward(m, NULL, &info), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "desc is NULL");
  d.forward.q = tensor(0x1000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.forward.k = tensor(0x2000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.forward.v = tensor(0x3000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.forward.out = tensor(0x4000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.d_out = tensor(0x5000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.dq = tensor(0x6000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.dk = tensor(0x7000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.dv = tensor(0x8000000, FLEXJIT_DTYPE_BF16, 1, 2, 256, 64, 0);
  d.forward.mask_mod = "causal";
  FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "attention backward: lse is not given");
  d.forward.lse = 0x9000000;
  d.dk.dtype = FLEXJIT_DTYPE_F16;
  FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "dk is f16 but q is bf16");
  d.dk.dtype = FLEXJIT_DTYPE_BF16;
  d.dq.sizes[2] = 128;
  FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT, "dq has sizes");
  d.dq.sizes[2] = 256;
  d.num_buffer_grads = 1;
  FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "desc->buffer_grads is NULL but num_buffer_grads is 1");
  g.name = "slopes";
  g.rank = 1;
  g.dims = dims;
  g.data = 0xA000000;
  d.buffer_grads = &g;
  FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "no scoreMod is given");
  d.forward.score_mod = "alibi";
  {
    flexjit_param ps = {"scale", FLEXJIT_F32, 0, 1.0};
    sb.name = "slopes";
    sb.element_type = FLEXJIT_F32;
    sb.rank = 1;
    sb.dims = dims;
    sb.data = slopes;
    sb.size_bytes = sizeof slopes;
    sb.on_device = 0; /* API version 8: the struct is set field by field here */
    d.forward.score_params = &ps;
    d.forward.num_score_params = 1;
    d.forward.score_buffers = &sb;
    d.forward.num_score_buffers = 1;
    dims[0] = 2;
    {
      int64_t wrong[1] = {3};
      g.dims = wrong;
      FAILS(flexjit_attention_backward(m, &d, NULL), FLEXJIT_ERROR_INVALID_ARGUMENT,
            "has shape [3] but buffer 'slopes' has [2]");
      g.dims = dims;
    }
    /* Well-formed: without a GPU the device is all that is left. */
    if (!haveGpu(m)) {
      memset(&info, 0x5A, sizeof info);
      FAILS(flexjit_attention_backward(m, &d, &info), FLEXJIT_ERROR_DEVICE,
            "attention backward on cuda:0: ");
    }
    /* With a GPU the made-up addresses must not reach the kernels: the
     * device path is tested by flexjit_grad_tests (AttentionBackwardGpu). */
    d.forward.score_params = NULL;
    d.forward.score_buffers = NULL;
  }
}

static void testAttentionReference(flexjit_module *m) {
  enum { B = 1, H = 2, Q = 6, KV = 7, D = 4 };
  static float q[B * H * Q * D], k[B * H * KV * D], v[B * H * KV * D];
  static double out[B * H * Q * D], lse[B * H * Q];
  int i, h, qi, kv, dd;
  for (i = 0; i < B * H * KV * D; ++i) {
    k[i] = (float)(i % 5) - 2.0f;
    v[i] = (float)((i / D) % KV) + (float)(i % D) / 4.0f;
  }
  for (i = 0; i < B * H * Q * D; ++i)
    q[i] = 0.0f; /* every score 0: out is the mean of v over the allowed positions */
  flexjit_attention_desc d;
  OK(flexjit_attention_desc_init(&d));
  d.q = tensor((uint64_t)(uintptr_t)q, FLEXJIT_DTYPE_F32, B, H, Q, D, FLEXJIT_DEVICE_CPU);
  d.k = tensor((uint64_t)(uintptr_t)k, FLEXJIT_DTYPE_F32, B, H, KV, D, FLEXJIT_DEVICE_CPU);
  d.v = tensor((uint64_t)(uintptr_t)v, FLEXJIT_DTYPE_F32, B, H, KV, D, FLEXJIT_DEVICE_CPU);
  d.out = tensor((uint64_t)(uintptr_t)out, FLEXJIT_DTYPE_F64, B, H, Q, D, FLEXJIT_DEVICE_CPU);
  d.lse = (uint64_t)(uintptr_t)lse;
  flexjit_param p[2] = {{"prefix_len", FLEXJIT_I32, 2, 0.0}, {"scale", FLEXJIT_F32, 0, 3.0}};
  float slopes[2] = {0.0f, 0.0f};
  int64_t dims[1] = {2};
  flexjit_buffer sb = {"slopes", FLEXJIT_F32, 1, dims, slopes, sizeof slopes};
  d.mask_mod = "prefix_lm";
  d.mask_params = &p[0];
  d.num_mask_params = 1;
  d.score_mod = "alibi"; /* s * scale + slopes[h] * (kv - q) = 0 here */
  d.score_params = &p[1];
  d.num_score_params = 1;
  d.score_buffers = &sb;
  d.num_score_buffers = 1;
  OK(flexjit_attention_reference(m, &d));
  {
    int bad = 0;
    for (h = 0; h < H; ++h)
      for (qi = 0; qi < Q; ++qi) {
        double sum = 0;
        int n = 0;
        for (kv = 0; kv < KV; ++kv)
          if (kv < 2 || qi >= kv) {
            sum += kv;
            ++n;
          }
        if (fabs(lse[h * Q + qi] - log((double)n)) > 1e-12)
          ++bad;
        for (dd = 0; dd < D; ++dd)
          if (fabs(out[(h * Q + qi) * D + dd] - (sum / n + dd / 4.0)) > 1e-9)
            ++bad;
      }
    CHECK(bad == 0);
  }
  /* One slope for two heads: the read of slopes[1] is reported. */
  dims[0] = 1;
  sb.size_bytes = sizeof(float);
  FAILS(flexjit_attention_reference(m, &d), FLEXJIT_ERROR_OUT_OF_BOUNDS,
        "mod 'alibi' read buffer 'slopes' out of bounds: index 1 of dimension 0, whose size is 1");
  dims[0] = 2;
  sb.size_bytes = sizeof slopes;
  d.out.dtype = FLEXJIT_DTYPE_BF16;
  FAILS(flexjit_attention_reference(m, &d), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "the reference writes out as f32 or f64");
  d.out.dtype = FLEXJIT_DTYPE_F64;
  d.score_mod = "causal";
  FAILS(flexjit_attention_reference(m, &d), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "scoreMod 'causal' is a mask mod");
  d.score_mod = NULL;
  FAILS(flexjit_attention_reference(m, &d), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "scoreInputs holds inputs but no scoreMod is given");
}

/* flexjit_module_emit: the stages flexc prints. */
static void testEmit(flexjit_module *m) {
  char *text = NULL;
  OK(flexjit_module_emit(m, "causal", FLEXJIT_STAGE_FINGERPRINT, NULL, &text));
  const char *fp = NULL;
  OK(flexjit_module_fingerprint(m, "causal", &fp));
  CHECK(text && fp && strstr(text, fp) != NULL && text[0] == '#');
  flexjit_string_free(text);
  text = NULL;
  OK(flexjit_module_emit(m, NULL, FLEXJIT_STAGE_TOKENS, NULL, &text));
  CHECK(text && strstr(text, "1:1 'param'") != NULL);
  flexjit_string_free(text);
  text = NULL;
  OK(flexjit_module_emit(m, "document", FLEXJIT_STAGE_FLEX, NULL, &text));
  CHECK(text && strstr(text, "flex.buffer @doc_id") != NULL && strstr(text, "flex.mask @document"));
  flexjit_string_free(text);
  text = NULL;
  OK(flexjit_module_emit(m, "causal", FLEXJIT_STAGE_PTX, "sm_80", &text));
  CHECK(text && strstr(text, ".target sm_80") != NULL);
  flexjit_string_free(text);
  text = NULL;
  FAILS(flexjit_module_emit(m, "casual", FLEXJIT_STAGE_FLEX, NULL, &text), FLEXJIT_ERROR_NOT_FOUND,
        "did you mean 'causal'?");
  FAILS(flexjit_module_emit(m, "causal", FLEXJIT_STAGE_PTX, "sm_70", &text),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "unknown arch 'sm_70'");
  /* A score mod's derivative (docs/backward.md); mask mods have none. */
  OK(flexjit_module_emit(m, "alibi", FLEXJIT_STAGE_GRAD_FLEX, NULL, &text));
  CHECK(text && strstr(text, "flex.score_grad @alibi__grad") != NULL);
  flexjit_string_free(text);
  text = NULL;
  OK(flexjit_module_emit(m, "alibi", FLEXJIT_STAGE_GRAD_PTX, "sm_80", &text));
  CHECK(text && strstr(text, ".entry flexjit_score_grad_alibi") != NULL);
  flexjit_string_free(text);
  text = NULL;
  FAILS(flexjit_module_emit(m, "causal", FLEXJIT_STAGE_GRAD_LOWERED, NULL, &text),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "only score mods have a derivative");
  FAILS(flexjit_module_emit(m, "causal", (flexjit_stage)10, NULL, &text),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "unknown stage 10");
  FAILS(flexjit_module_emit(m, "causal", FLEXJIT_STAGE_AST, NULL, NULL),
        FLEXJIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK(text == NULL); /* untouched on failure */
}

/* flexjit_precompile on the CPU: PTX for an arch into the disk cache (this
 * run's own, see main), once; the argument checks that fail the whole call;
 * per-variant failures beside good variants, every one in results and in
 * flexjit_last_error, one a line. */
static void testPrecompile(void) {
  static const char *source = "mask causal(b, h, q, kv) = q >= kv && 41.5 > 0.0\n"
                              "score softcap(s, b, h, q, kv) = 41.5 * tanh(s / 41.5)\n";
  flexjit_module *pm = NULL;
  flexjit_precompile_variant v[4];
  flexjit_precompile_result r[4];
  size_t i;
  CHECK(FLEXJIT_C_API_VERSION >= 6);
  OK(flexjit_module_from_source("precompile.flex", source, &pm));
  if (!pm)
    return;
  memset(v, 0, sizeof v);
  v[0].module = pm;
  v[0].score_mod = "softcap";
  v[0].mask_mod = "causal";
  v[0].dtype = FLEXJIT_DTYPE_BF16;
  v[0].head_dim = 128;
  v[0].device = FLEXJIT_DEVICE_CPU;
  v[0].arch = "sm_80";
  v[1].module = pm;
  v[1].mask_mod = "causal";
  v[1].dtype = FLEXJIT_DTYPE_F16;
  v[1].head_dim = 64;
  v[1].device = FLEXJIT_DEVICE_CPU; /* arch NULL: sm_90a */

  /* What fails the whole call, before anything compiles. */
  FAILS(flexjit_precompile(NULL, 2, 0, r), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "variants is NULL but count is 2");
  v[1].dtype = FLEXJIT_DTYPE_F32;
  FAILS(flexjit_precompile(v, 2, 0, r), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "variants[1].dtype: the attention kernel takes FLEXJIT_DTYPE_BF16 or FLEXJIT_DTYPE_F16, "
        "not 2");
  v[1].dtype = FLEXJIT_DTYPE_F16;
  v[0].device = -7;
  FAILS(flexjit_precompile(v, 2, 0, r), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "variants[0].device: -7 is neither FLEXJIT_DEVICE_CPU nor a CUDA ordinal");
  v[0].device = FLEXJIT_DEVICE_CPU;
  v[1].module = NULL;
  FAILS(flexjit_precompile(v, 2, 0, r), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "variants[1].module is NULL");
  v[1].module = pm;
  OK(flexjit_precompile(NULL, 0, 0, NULL));

  /* Both compile (none did above), then both are on disk. */
  memset(r, 0xAB, sizeof r);
  OK(flexjit_precompile(v, 2, 0, r));
  CHECK(strcmp(flexjit_last_error(), "") == 0);
  for (i = 0; i < 2; ++i)
    CHECK(r[i].status == FLEXJIT_OK && r[i].compiled == 1 && r[i].ms > 0.0);
  CHECK(strcmp(r[0].entry, "flexjit_attention_bf16_d128_dv128_m128_w16_n64_s2") == 0);
  CHECK(strcmp(r[1].entry, "flexjit_attention_sm90_f16_d64_dv64_n128_s2_nopers") == 0);
  memset(r, 0xAB, sizeof r);
  OK(flexjit_precompile(v, 2, 1, r));
  for (i = 0; i < 2; ++i)
    CHECK(r[i].status == FLEXJIT_OK && r[i].compiled == 0);
  CHECK(strcmp(r[1].entry, "flexjit_attention_sm90_f16_d64_dv64_n128_s2_nopers") == 0);
  OK(flexjit_precompile(v, 2, 0, NULL)); /* results may be NULL */

  /* Per-variant failures: the call's status is the first failure's, every
   * result is filled, and flexjit_last_error lists each failure on its own
   * line, naming its variant; the good variant is untouched by them. */
  v[1].mask_mod = "casual"; /* no such mod */
  v[2] = v[0];
  v[2].head_dim = 96;
  v[3] = v[0];
  v[3].arch = "sm_70";
  memset(r, 0xAB, sizeof r);
  FAILS(flexjit_precompile(v, 4, 0, r), FLEXJIT_ERROR_NOT_FOUND,
        "precompile: variant 1 (no score mod, mask casual, f16, head dim 64, cpu): ");
  CHECK(r[0].status == FLEXJIT_OK && r[0].compiled == 0);
  CHECK(r[1].status == FLEXJIT_ERROR_NOT_FOUND && r[1].compiled == 0 && r[1].entry[0] == 0);
  CHECK(r[2].status == FLEXJIT_ERROR_INVALID_ARGUMENT && r[2].compiled == 0 &&
        r[2].entry[0] == 0);
  CHECK(r[3].status == FLEXJIT_ERROR_INVALID_ARGUMENT && r[3].compiled == 0);
  {
    const char *e = flexjit_last_error();
    const char *one = strstr(e, "precompile: variant 1 ");
    const char *two = strstr(e, "\nprecompile: variant 2 (score softcap, mask causal, bf16, "
                                "head dim 96, cpu): ");
    const char *three = strstr(e, "\nprecompile: variant 3 ");
    CHECK(one == e && two != NULL && three != NULL && two < three);
    CHECK(strstr(e, "did you mean 'causal'?") != NULL);
    CHECK(strstr(e, "head dimension 96") != NULL);
    CHECK(strstr(e, "sm_70") != NULL);
    CHECK(strstr(e, "variant 0") == NULL);
  }
  OK(flexjit_module_release(pm));
}

/* flexjit_blockmask_from_arrays: a mask made elsewhere, checked and copied. */
static void testGivenBlockMask(flexjit_module *m) {
  flexjit_blockmask_desc d;
  OK(flexjit_blockmask_desc_init(&d));
  d.mod = "causal";
  d.q_len = d.kv_len = 300; /* 3 x 3 blocks, the last ones tails */
  flexjit_blockmask *made = getMask(m, &d);
  CHECK(made != NULL);
  if (!made)
    return;
  flexjit_array kv[4];
  for (int f = 0; f < 4; ++f)
    OK(flexjit_blockmask_array(made, (flexjit_blockmask_field)f, &kv[f]));
  flexjit_blockmask_arrays a;
  OK(flexjit_blockmask_arrays_init(&a));
  CHECK(a.batch == 1 && a.heads == 1 && a.q_block == 128 && a.kv_block == 128 &&
        a.source_device == FLEXJIT_DEVICE_CPU && a.device == FLEXJIT_DEVICE_CPU);
  a.q_len = a.kv_len = 300;
  int32_t num[3], idx[9], fnum[3], fidx[9];
  memcpy(num, kv[0].data, sizeof num);
  memcpy(idx, kv[1].data, sizeof idx);
  memcpy(fnum, kv[2].data, sizeof fnum);
  memcpy(fidx, kv[3].data, sizeof fidx);
  a.kv_num_blocks = (uint64_t)(uintptr_t)num;
  a.kv_indices = (uint64_t)(uintptr_t)idx;
  a.full_kv_num_blocks = (uint64_t)(uintptr_t)fnum;
  a.full_kv_indices = (uint64_t)(uintptr_t)fidx;
  flexjit_blockmask *given = NULL;
  OK(flexjit_blockmask_from_arrays(&a, &given));
  if (given) { /* all eight arrays equal the mask's, q lists derived */
    for (int f = 0; f < FLEXJIT_BLOCKMASK_NUM_FIELDS; ++f) {
      flexjit_array x, y;
      OK(flexjit_blockmask_array(made, (flexjit_blockmask_field)f, &x));
      OK(flexjit_blockmask_array(given, (flexjit_blockmask_field)f, &y));
      CHECK(x.count == y.count && equalInts(x.data, y.data, x.count));
    }
    flexjit_blockmask_info info;
    OK(flexjit_blockmask_get_info(given, &info));
    CHECK(info.created == 1 && info.num_q_blocks == 3 && info.device == FLEXJIT_DEVICE_CPU);
    OK(flexjit_blockmask_release(given));
  }
  /* The copy does not point into the caller's arrays. */
  num[0] = 0;
  given = NULL;
  OK(flexjit_blockmask_from_arrays(&a, &given));
  num[0] = 1;
  if (given) {
    flexjit_array x;
    OK(flexjit_blockmask_array(given, FLEXJIT_KV_NUM_BLOCKS, &x));
    CHECK(x.data[0] == 0);
    OK(flexjit_blockmask_release(given));
  }
  /* Without full blocks: every listed block partial. */
  a.full_kv_num_blocks = a.full_kv_indices = 0;
  given = NULL;
  OK(flexjit_blockmask_from_arrays(&a, &given));
  OK(flexjit_blockmask_release(given));
  a.full_kv_num_blocks = (uint64_t)(uintptr_t)fnum;
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "must both be given or both be absent");
  a.full_kv_indices = (uint64_t)(uintptr_t)fidx;

  /* Bad contents, each named. */
  flexjit_blockmask *untouched = (flexjit_blockmask *)0x1;
  given = untouched;
  num[1] = 4; /* more than nKV = 3 */
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "kv_num_blocks");
  CHECK(given == untouched);
  num[1] = 1;
  int32_t saved = idx[3];
  idx[3] = 7; /* out of range */
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT, "kv_indices");
  idx[3] = saved;
  fnum[1] = 2;
  fidx[3] = 0;
  fidx[4] = 1; /* block (1, 1) is listed partial and full */
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "partial and full");
  memcpy(fnum, kv[2].data, sizeof fnum);
  memcpy(fidx, kv[3].data, sizeof fidx);
  a.kv_indices = 0;
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "kv_indices is a null pointer");
  a.kv_indices = (uint64_t)(uintptr_t)idx + 2;
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "not 4-byte aligned");
  a.kv_indices = (uint64_t)(uintptr_t)idx;
  a.q_block = 100;
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "block sizes must be powers of two");
  a.q_block = 128;
  a.source_device = -2;
  FAILS(flexjit_blockmask_from_arrays(&a, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "invalid source_device -2");
  a.source_device = FLEXJIT_DEVICE_CPU;
  FAILS(flexjit_blockmask_from_arrays(NULL, &given), FLEXJIT_ERROR_INVALID_ARGUMENT,
        "desc is NULL");
  /* A CUDA device: made there, or FLEXJIT_ERROR_DEVICE without a GPU. */
  a.device = 0;
  given = NULL;
  flexjit_status s = flexjit_blockmask_from_arrays(&a, &given);
  CHECK(s == FLEXJIT_OK || s == FLEXJIT_ERROR_DEVICE);
  if (s == FLEXJIT_ERROR_DEVICE)
    skipWithoutGpu("flexjit_blockmask_from_arrays on device 0", flexjit_last_error());
  if (s == FLEXJIT_OK) {
    flexjit_array x;
    OK(flexjit_blockmask_array(given, FLEXJIT_KV_INDICES, &x));
    CHECK(x.data == NULL && x.device_ptr != 0);
    OK(flexjit_blockmask_release(given));
  }
  OK(flexjit_blockmask_release(made));
}

/* The disk cache this run writes PTX to (flexjit_precompile): a fresh
 * folder, removed at the end, unless FLEXJIT_CACHE_DIR is set already. PTX
 * left by a build with other kernel code must not be read back. */
static char diskCacheDir[4096];

static void useFreshDiskCache(void) {
  const char *tmp = getenv("TMPDIR");
  if (getenv("FLEXJIT_CACHE_DIR"))
    return;
  snprintf(diskCacheDir, sizeof diskCacheDir, "%s/flexjit-capi-test-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(diskCacheDir)) {
    diskCacheDir[0] = 0;
    return;
  }
  setenv("FLEXJIT_CACHE_DIR", diskCacheDir, 1);
}

/* The folder holds files only (DiskCache: <hash>.ptx and their locks). */
static void removeDiskCache(void) {
  DIR *d;
  struct dirent *e;
  char path[8192];
  if (!diskCacheDir[0] || !(d = opendir(diskCacheDir)))
    return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", diskCacheDir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(diskCacheDir);
}

int main(void) {
  useFreshDiskCache();
  testBasics();
  testCompileErrors();
  flexjit_module *m = NULL;
  OK(flexjit_module_from_source("test.flex", kSource, &m));
  if (m) {
    testModules(m);
    testEval(m);
    testCausalMask(m);
    testInputsDecideMasks(m);
    testBadRequests(m);
    testEveryKind(m);
    testCacheControl(m);
    testThreads(m);
    testThreadLimit(m);
    testAttentionArguments(m);
    testAttentionBackwardArguments(m);
    testAttentionReference(m);
    testEmit(m);
    testGivenBlockMask(m);
    OK(flexjit_module_release(m));
  }
  testPrecompile();
  removeDiskCache();
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
