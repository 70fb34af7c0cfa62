// A thin N-API binding of OpenBLAS's cblas_sgemm for the CPU backend (runtime/backends/native-blas.ts).
// Operands are Float32Arrays (any offset, plain or shared buffers); sizes and leading dimensions are
// checked here against the arrays' lengths, so a bad call throws a RangeError instead of reading
// out of bounds. Built at install by native/build.mjs; the WASM gemm is the fallback without it.
#include <node_api.h>
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CHECK(call)                                          \
  if ((call) != napi_ok) {                                   \
    napi_throw_error(env, NULL, "lily_blas: N-API failure"); \
    return NULL;                                             \
  }

static bool f32_view(napi_env env, napi_value v, float** data, size_t* length) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void* p;
  if (napi_get_typedarray_info(env, v, &type, length, &p, &ab, &off) != napi_ok) return false;
  if (type != napi_float32_array) return false;
  *data = (float*)p;
  return true;
}

// matrix stored with `rows` rows of leading dimension ld (row-major): needs (rows-1)·ld + cols elements
static bool fits(size_t length, int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return true;
  return ld >= cols && (uint64_t)((rows - 1) * ld + cols) <= length;
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C = alpha·op(A)·op(B) + beta·C, row-major
static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc != 13) {
    napi_throw_type_error(env, NULL, "sgemm: expects 13 arguments");
    return NULL;
  }
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  double alpha, beta;
  if (napi_get_value_bool(env, a[0], &ta) != napi_ok || napi_get_value_bool(env, a[1], &tb) != napi_ok ||
      napi_get_value_int64(env, a[2], &M) != napi_ok || napi_get_value_int64(env, a[3], &N) != napi_ok ||
      napi_get_value_int64(env, a[4], &K) != napi_ok || napi_get_value_double(env, a[5], &alpha) != napi_ok ||
      napi_get_value_int64(env, a[7], &lda) != napi_ok || napi_get_value_int64(env, a[9], &ldb) != napi_ok ||
      napi_get_value_double(env, a[10], &beta) != napi_ok || napi_get_value_int64(env, a[12], &ldc) != napi_ok) {
    napi_throw_type_error(env, NULL, "sgemm: (bool, bool, int M, int N, int K, number alpha, A, int lda, B, int ldb, number beta, C, int ldc)");
    return NULL;
  }
  float *A, *B, *C;
  size_t nA, nB, nC;
  if (!f32_view(env, a[6], &A, &nA) || !f32_view(env, a[8], &B, &nB) || !f32_view(env, a[11], &C, &nC)) {
    napi_throw_type_error(env, NULL, "sgemm: A, B and C must be Float32Arrays");
    return NULL;
  }
  if (M < 0 || N < 0 || K < 0 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
    napi_throw_range_error(env, NULL, "sgemm: M, N, K must be non-negative 32-bit integers");
    return NULL;
  }
  // op(A) is M×K: stored K×M when transposed; op(B) is K×N: stored N×K when transposed
  if (!fits(nA, ta ? K : M, ta ? M : K, lda) || !fits(nB, tb ? N : K, tb ? K : N, ldb) || !fits(nC, M, N, ldc)) {
    napi_throw_range_error(env, NULL, "sgemm: an operand is shorter than its sizes and leading dimension need");
    return NULL;
  }
  if (M == 0 || N == 0) return NULL;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
              (blasint)K, (float)alpha, A, (blasint)lda, B, (blasint)ldb, (float)beta, C, (blasint)ldc);
  return NULL;
}

// ---- a batch of products: small ones split over this thread and one helper, one BLAS thread each ----
// OpenBLAS gives a product two threads above M·N·K = 262144, so each of attention's 192 per-head
// 65×65×64 products woke the second thread and waited for it: more time in the hand-over than in the
// arithmetic. Small products instead run whole on one thread each, the batch shared by the caller and a
// helper thread through an atomic counter: the caller never waits for a helper that the scheduler has
// not started yet (it just takes every product itself), only for the one product the helper is in.

typedef struct {
  bool ta, tb;
  blasint m, n, k;
  float alpha;
  blasint lda, ldb;
  float beta;
  blasint ldc;
  const float *A, *B;
  float* C;
  const int32_t* offs;
  int count;
} Batch;

/** per-product M·N·K at or below which a batch runs one product per thread (OpenBLAS's own cut is 262144) */
#define SMALL_MNK (1 << 20)

static void product(const Batch* j, int i) {
  const int32_t* o = j->offs + 3 * i;
  cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, j->m, j->n, j->k, j->alpha, j->A + o[0],
              j->lda, j->B + o[1], j->ldb, j->beta, j->C + o[2], j->ldc);
}

static struct {
  pthread_mutex_t lock;  // guards the fields below
  pthread_cond_t wake, left;
  const Batch* job;
  atomic_int next;  // the next product to take
  unsigned gen;     // bumped per shared batch
  bool open;        // the helper may still join the current batch
  bool inside;      // the helper is taking products
  int started;      // 0 not yet, 1 running, -1 could not start
} helper = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .left = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t sharing = PTHREAD_MUTEX_INITIALIZER;  // one shared batch at a time (several Node threads)

static void take_products(const Batch* j) {
  for (int i; (i = atomic_fetch_add(&helper.next, 1)) < j->count;) product(j, i);
}

static void* helper_main(void* unused) {
  (void)unused;
  unsigned seen = 0;
  pthread_mutex_lock(&helper.lock);
  for (;;) {
    while (helper.gen == seen) pthread_cond_wait(&helper.wake, &helper.lock);
    seen = helper.gen;
    if (!helper.open) continue;  // the caller already finished this batch alone
    helper.inside = true;
    const Batch* j = helper.job;
    pthread_mutex_unlock(&helper.lock);
    take_products(j);
    pthread_mutex_lock(&helper.lock);
    helper.inside = false;
    pthread_cond_signal(&helper.left);
  }
  return NULL;
}

static bool helper_ready(void) {
  if (helper.started == 0) {
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    helper.started = pthread_create(&t, &at, helper_main, NULL) == 0 ? 1 : -1;
    pthread_attr_destroy(&at);
  }
  return helper.started == 1;
}

static void run_batch(const Batch* j) {
  const int threads = openblas_get_num_threads();
  const bool small = (double)j->m * j->n * j->k <= SMALL_MNK;
  if (!small || j->count < 2 || threads < 2) {
    for (int i = 0; i < j->count; i++) product(j, i);
    return;
  }
  openblas_set_num_threads(1);
  if (pthread_mutex_trylock(&sharing) != 0) {  // another thread is sharing a batch: run this one alone
    for (int i = 0; i < j->count; i++) product(j, i);
    openblas_set_num_threads(threads);
    return;
  }
  pthread_mutex_lock(&helper.lock);
  const bool shared = helper_ready();
  atomic_store(&helper.next, 0);
  helper.job = j;
  helper.open = shared;
  helper.gen++;
  if (shared) pthread_cond_signal(&helper.wake);
  pthread_mutex_unlock(&helper.lock);
  take_products(j);
  pthread_mutex_lock(&helper.lock);
  helper.open = false;
  while (helper.inside) pthread_cond_wait(&helper.left, &helper.lock);
  pthread_mutex_unlock(&helper.lock);
  pthread_mutex_unlock(&sharing);
  openblas_set_num_threads(threads);
}

// ---- the prefill: C = t0 + t1 + … before a product with beta = 1 (an additive epilogue done here) ----

typedef struct {
  int count;
  const float* t[4];
  int64_t offset[4], row[4], col[4];
} Prefill;

/** read (prefill, t0…t3): prefill = Float64Array [count, (offset, rowStride, colStride) per term]; checks bounds */
static bool prefill_args(napi_env env, napi_value* a, size_t argc, Prefill* pre, int64_t m, int64_t n, size_t batches) {
  napi_valuetype vt;
  if (napi_typeof(env, a[0], &vt) != napi_ok) return false;
  if (vt == napi_undefined) return true;
  bool is_ta = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t np, off;
  void* pp;
  if (napi_is_typedarray(env, a[0], &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, a[0], &type, &np, &pp, &ab, &off) != napi_ok ||
      type != napi_float64_array || np < 1) {
    napi_throw_type_error(env, NULL, "sgemmBatch: prefill must be a Float64Array [count, (offset, rowStride, colStride)…]");
    return false;
  }
  const double* p = (const double*)pp;
  const double count = p[0];
  if (!(count >= 1 && count <= 4 && count == (int)count) || np < 1 + 3 * (size_t)count || argc < 1 + (size_t)count || batches != 1) {
    napi_throw_range_error(env, NULL, "sgemmBatch: a prefill has 1 to 4 terms, their arrays, and one batch");
    return false;
  }
  pre->count = (int)count;
  for (int i = 0; i < pre->count; i++) {
    float* t;
    size_t len;
    if (!f32_view(env, a[1 + i], &t, &len)) {
      napi_throw_type_error(env, NULL, "sgemmBatch: prefill terms must be Float32Arrays");
      return false;
    }
    const double o = p[1 + 3 * i], r = p[2 + 3 * i], c = p[3 + 3 * i];
    if (!(o >= 0 && r >= 0 && c >= 0 && o == (double)(int64_t)o && r == (double)(int64_t)r && c == (double)(int64_t)c &&
          o + (double)(m > 0 ? m - 1 : 0) * r + (double)(n > 0 ? n - 1 : 0) * c < (double)len)) {
      napi_throw_range_error(env, NULL, "sgemmBatch: a prefill term reads past its array");
      return false;
    }
    pre->t[i] = t;
    pre->offset[i] = (int64_t)o, pre->row[i] = (int64_t)r, pre->col[i] = (int64_t)c;
  }
  return true;
}

static void prefill(const Prefill* pre, float* C, int64_t m, int64_t n, int64_t ldc) {
  for (int64_t r = 0; r < m; r++) {
    float* restrict c = C + r * ldc;
    for (int i = 0; i < pre->count; i++) {
      const float* restrict s = pre->t[i] + pre->offset[i] + r * pre->row[i];
      const int64_t cs = pre->col[i];
      if (i == 0) {
        if (cs == 1) memcpy(c, s, (size_t)n * sizeof(float));
        else for (int64_t q = 0; q < n; q++) c[q] = s[q * cs];
      } else if (cs == 1) {
        for (int64_t q = 0; q < n; q++) c[q] += s[q];
      } else {
        for (int64_t q = 0; q < n; q++) c[q] += s[q * cs];
      }
    }
  }
}

// sgemmBatch(p, A, B, C, offsets): for each batch i, C[c_i…] = alpha·op(A[a_i…])·op(B[b_i…]) + beta·C[c_i…],
// row-major, with p = Float64Array [transA, transB, M, N, K, alpha, lda, ldb, beta, ldc] and
// offsets = Int32Array [a_0, b_0, c_0, a_1, b_1, c_1, …] (elements). One call per kernel instead of
// one per batch, and no number crosses N-API as a JS value: a warm call allocates nothing on the JS
// heap (a double argument such as alpha = 0.125 is a fresh heap number at every call).
// sgemmBatch(p, A, B, C, offsets, prefill, t0, t1, t2, t3): one batch whose C is first set to the sum
// of up to four terms (see prefill_args), for beta = 1: an epilogue C + bias + residual done here.
static napi_value sgemm_batch(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value a[10];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "sgemmBatch: expects (p, A, B, C, offsets[, prefill, t0, t1, t2, t3])");
    return NULL;
  }
  bool is_ta = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t np, noffs, off;
  void *pp, *po;
  if (napi_is_typedarray(env, a[0], &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, a[0], &type, &np, &pp, &ab, &off) != napi_ok ||
      type != napi_float64_array || np < 10) {
    napi_throw_type_error(env, NULL, "sgemmBatch: p must be a Float64Array of 10 numbers");
    return NULL;
  }
  if (napi_is_typedarray(env, a[4], &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, a[4], &type, &noffs, &po, &ab, &off) != napi_ok ||
      type != napi_int32_array || noffs % 3 != 0) {
    napi_throw_type_error(env, NULL, "sgemmBatch: offsets must be an Int32Array of (a, b, c) triples");
    return NULL;
  }
  const double* p = (const double*)pp;
  const int32_t* offs = (const int32_t*)po;
  float *A, *B, *C;
  size_t nA, nB, nC;
  if (!f32_view(env, a[1], &A, &nA) || !f32_view(env, a[2], &B, &nB) || !f32_view(env, a[3], &C, &nC)) {
    napi_throw_type_error(env, NULL, "sgemmBatch: A, B and C must be Float32Arrays");
    return NULL;
  }
  const bool ta = p[0] != 0, tb = p[1] != 0;
  const double M = p[2], N = p[3], K = p[4], lda = p[6], ldb = p[7], ldc = p[9];
  const double dims[6] = {M, N, K, lda, ldb, ldc};
  for (int i = 0; i < 6; i++)
    if (!(dims[i] >= 0 && dims[i] <= INT32_MAX && dims[i] == (double)(int64_t)dims[i])) {
      napi_throw_range_error(env, NULL, "sgemmBatch: M, N, K and the leading dimensions must be non-negative 32-bit integers");
      return NULL;
    }
  const int64_t m = (int64_t)M, n = (int64_t)N, k = (int64_t)K;
  for (size_t b = 0; b < noffs; b += 3) {
    const int64_t oa = offs[b], ob = offs[b + 1], oc = offs[b + 2];
    if (oa < 0 || ob < 0 || oc < 0 || (size_t)oa > nA || (size_t)ob > nB || (size_t)oc > nC ||
        !fits(nA - oa, ta ? k : m, ta ? m : k, (int64_t)lda) || !fits(nB - ob, tb ? n : k, tb ? k : n, (int64_t)ldb) ||
        !fits(nC - oc, m, n, (int64_t)ldc)) {
      napi_throw_range_error(env, NULL, "sgemmBatch: an operand is shorter than its offset, sizes and leading dimension need");
      return NULL;
    }
  }
  Prefill pre = {0};
  if (argc > 5 && !prefill_args(env, a + 5, argc - 5, &pre, m, n, noffs / 3)) return NULL;
  if (m == 0 || n == 0) return NULL;
  if (pre.count > 0) prefill(&pre, C + offs[2], m, n, (int64_t)ldc);
  const Batch job = {ta, tb, (blasint)m, (blasint)n, (blasint)k, (float)p[5], (blasint)lda, (blasint)ldb, (float)p[8], (blasint)ldc, A, B, C, offs, (int)(noffs / 3)};
  run_batch(&job);
  return NULL;
}

// info(): { config, threads, cores }
static napi_value info(napi_env env, napi_callback_info cbinfo) {
  napi_value o, s, t, c;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &s));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &t));
  CHECK(napi_create_int32(env, openblas_get_num_procs(), &c));
  CHECK(napi_set_named_property(env, o, "config", s));
  CHECK(napi_set_named_property(env, o, "threads", t));
  CHECK(napi_set_named_property(env, o, "cores", c));
  return o;
}

// setThreads(n): OpenBLAS's thread count for later calls
static napi_value set_threads(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value a[1];
  int32_t n;
  CHECK(napi_get_cb_info(env, cbinfo, &argc, a, NULL, NULL));
  if (argc != 1 || napi_get_value_int32(env, a[0], &n) != napi_ok || n < 1) {
    napi_throw_range_error(env, NULL, "setThreads: expects a positive integer");
    return NULL;
  }
  openblas_set_num_threads(n);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgemmBatch", NULL, sgemm_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value abi;
  CHECK(napi_create_int32(env, 2, &abi));  // 2: leading dimensions, prefill, shared small batches
  CHECK(napi_set_named_property(env, exports, "abi", abi));
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
