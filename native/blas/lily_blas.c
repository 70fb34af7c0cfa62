// A thin N-API binding of OpenBLAS's cblas_sgemm for the CPU backend (runtime/backends/native-blas.ts).
// Operands are Float32Arrays (any offset, plain or shared buffers); sizes and leading dimensions are
// checked here against the arrays' lengths, so a bad call throws a RangeError instead of reading
// out of bounds. Built at install by native/build.mjs; the WASM gemm is the fallback without it.
#include <node_api.h>
#include <cblas.h>
#include <stdbool.h>
#include <stdint.h>

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
      {"info", NULL, info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
