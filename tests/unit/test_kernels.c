/* The linear kernels against a plain double-precision product: every path
 * (decode gemv for bf16 and q8_0, the 4-row dot tiles for f32/f16 and 2-3
 * tokens, the packed GEMM for 4+ tokens) with the norm prologue, bias,
 * residual, softcap, SwiGLU and GeGLU epilogues, on shapes with partial row blocks and
 * partial token tiles, split over several thread counts; and bf16 weights
 * with inputs rounded to bf16 (the AVX-512 BF16 kernels where this CPU has
 * them, the f32 kernels on rounded inputs elsewhere) against the same
 * double product of the rounded inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dtype.h"
/* Passes of 32 tokens over the weights on AMX, so that the cases of 40 and
 * 70 tokens take several (models use 1 MiB of inputs per pass). */
#define LM_AMX_PASS_BYTES 4096
#include "kernels/kernels.h"

/* Deterministic values in [-1, 1). */
static float rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* A [rows, K] weight in dtype dt with random values; q8_0 and q4_0 as GGUF
 * blocks, then interleaved by 16 rows as bound slots are. */
static void *make_weight(lm_dtype dt, int rows, int K, uint64_t *s)
{
    size_t n = (size_t)rows * (size_t)K;
    if (lm_dtype_is_quantized(dt)) {
        const size_t bb = lm_qrow_block_bytes(dt);
        uint8_t *blocks = malloc(n / 32 * bb);
        uint16_t ds = 0, dm = 0;
        for (size_t b = 0; b < n / 32; b++) {
            uint8_t *blk = blocks + b * bb;
            if (dt == LM_Q4_K8) { /* ds, dm per super-block of a row; sc, mn, nibbles per block */
                if (b % ((size_t)K / 32) % LM_Q4K8_SUPER == 0) {
                    ds = lm_f32_to_f16(0.0005f + 0.001f * fabsf(rnd(s)));
                    dm = lm_f32_to_f16(0.0002f + 0.001f * fabsf(rnd(s)));
                }
                memcpy(blk, &ds, 2);
                memcpy(blk + 2, &dm, 2);
                blk[4] = (uint8_t)(128.0f + 127.0f * rnd(s));
                blk[5] = (uint8_t)(128.0f + 127.0f * rnd(s));
                for (int i = 0; i < 16; i++)
                    blk[6 + i] = (uint8_t)((int)(8.0f + 7.99f * rnd(s)) | (int)(8.0f + 7.99f * rnd(s)) << 4);
                continue;
            }
            uint16_t d = lm_f32_to_f16(dt == LM_Q8_0 ? 0.001f + 0.01f * fabsf(rnd(s)) : 0.01f + 0.1f * fabsf(rnd(s)));
            memcpy(blk, &d, 2);
            if (dt == LM_Q8_0)
                for (int i = 0; i < 32; i++)
                    blk[2 + i] = (uint8_t)(int8_t)lrintf(127.0f * rnd(s));
            else
                for (int i = 0; i < 16; i++)
                    blk[2 + i] = (uint8_t)((int)(8.0f + 7.99f * rnd(s)) | (int)(8.0f + 7.99f * rnd(s)) << 4);
        }
        uint8_t *w = malloc(lm_qweight_bytes(dt, (size_t)rows, (size_t)K));
        const size_t row_bytes = (size_t)K / 32 * bb, group_bytes = lm_qgroup_bytes(dt, (size_t)K);
        for (int g = 0; g * LM_QROWS < rows; g++) {
            const uint8_t *ptrs[LM_QROWS];
            int nr = rows - g * LM_QROWS < LM_QROWS ? rows - g * LM_QROWS : LM_QROWS;
            for (int r = 0; r < nr; r++)
                ptrs[r] = blocks + (size_t)(g * LM_QROWS + r) * row_bytes;
            lm_qgroup_pack(w + (size_t)g * group_bytes, ptrs, nr, dt, (size_t)K);
        }
        free(blocks);
        return w;
    }
    if (dt == LM_F32) {
        float *w = malloc(n * sizeof *w);
        for (size_t i = 0; i < n; i++)
            w[i] = rnd(s);
        return w;
    }
    uint16_t *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = dt == LM_BF16 ? lm_f32_to_bf16(rnd(s)) : lm_f32_to_f16(rnd(s));
    return w;
}

/* Element (o, i) of a [*, K] weight. */
static double weight_at(const void *w, lm_dtype dt, int K, int o, int i)
{
    if (lm_dtype_is_quantized(dt))
        return lm_qweight_at(w, dt, (size_t)K, (size_t)o, (size_t)i);
    return lm_weight_at(w, dt, (size_t)o * K + i);
}

typedef struct linear_case {
    lm_dtype dt;
    int n, K, out0, out1;
    int norm, bias, residual;
    lm_linear_mode mode;
    int xbf16;
    float softcap;
} linear_case;

/* The reference of a gated mode's act(a) * b, in double. */
static double gated_ref(lm_linear_mode mode, double a, double b)
{
    if (mode == LM_LINEAR_GEGLU) /* 0.5 a (1 + tanh(t)) = a sigmoid(2t) */
        return a / (1.0 + exp(-1.5957691216057308 * (a + 0.044715 * a * a * a))) * b;
    return a / (1.0 + exp(-a)) * b;
}

static void run_case(const linear_case *c, int threads)
{
    uint64_t s = 42u + (uint64_t)c->n * 7u + (uint64_t)c->K;
    const int K = c->K, n = c->n;
    const int gated = c->mode != LM_LINEAR_PLAIN;
    const int nparts = gated || c->out1 ? 2 : 1;
    const int outs[2] = { c->out0, gated ? c->out0 : c->out1 };
    float *x = malloc(sizeof(float) * (size_t)n * K);
    for (int i = 0; i < n * K; i++)
        x[i] = rnd(&s);
    float *norm_w = malloc(sizeof(float) * (size_t)K);
    for (int i = 0; i < K; i++)
        norm_w[i] = 1.0f + 0.5f * rnd(&s);
    void *w[2] = { make_weight(c->dt, outs[0], K, &s), make_weight(c->dt, outs[1], K, &s) };
    float *bias[2] = { NULL, NULL }, *y[2] = { NULL, NULL };
    for (int p = 0; p < nparts; p++) {
        if (c->bias) {
            bias[p] = malloc(sizeof(float) * (size_t)outs[p]);
            for (int r = 0; r < outs[p]; r++)
                bias[p][r] = rnd(&s);
        }
        y[p] = calloc((size_t)n * outs[p], sizeof(float));
    }
    float *res = NULL;
    if (c->residual) {
        res = malloc(sizeof(float) * (size_t)n * outs[0]);
        for (int i = 0; i < n * outs[0]; i++)
            res[i] = rnd(&s);
    }
    size_t stride = (2 * (size_t)n + 32) * K + 2 * 32 * (size_t)K;
    float *scratch = malloc(sizeof(float) * stride * (size_t)threads);
    lm_linear_args a = { .x = x, .norm_w = c->norm ? norm_w : NULL, .w = { w[0], w[1] },
                         .bias = { bias[0], bias[1] }, .y = { y[0], y[1] }, .residual = res,
                         .scratch = scratch, .scratch_stride = stride, .softcap = c->softcap, .n = n };
    for (int tid = 0; tid < threads; tid++)
        lm_linear_task(&a, tid, threads, K, 1e-6f, nparts, outs, c->dt, c->mode, c->xbf16);

    /* The reference: double sums of the same f32 products. */
    double *xn = malloc(sizeof(double) * (size_t)K);
    float *xr = malloc(sizeof(float) * (size_t)K);
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * K;
        double ss = 0;
        for (int i = 0; i < K; i++)
            ss += (double)xt[i] * xt[i];
        float r = 1.0f / sqrtf((float)(ss / K) + 1e-6f);
        /* Rounded to bf16, an input one f32 ulp off may round to the
         * neighbouring bf16 value: those cases take the kernel's own norm,
         * so that only the rounding and the product are under test. */
        if (c->xbf16 && c->norm)
            lm_rmsnorm_row(xr, xt, norm_w, K, 1e-6f);
        for (int i = 0; i < K; i++) {
            float v = c->norm ? norm_w[i] * (xt[i] * r) : xt[i];
            xn[i] = c->xbf16 ? lm_bf16_to_f32(lm_f32_to_bf16(c->norm ? xr[i] : v)) : v;
        }
        for (int p = 0; p < (gated ? 1 : nparts); p++)
            for (int o = 0; o < outs[p]; o++) {
                /* qerr: how far the kernels' int8 inputs (quantized weights)
                 * may move each sum: half an input step per weight, the step
                 * being max|x| / 127 over the 32-block. */
                double d0 = 0, d1 = 0, mag = 0, qerr0 = 0, qerr1 = 0;
                for (int b0 = 0; b0 < K; b0 += 32) {
                    double amax = 0;
                    for (int i = b0; i < b0 + 32; i++)
                        amax = fmax(amax, fabs(xn[i]));
                    for (int i = b0; i < b0 + 32; i++) {
                        double w0 = weight_at(w[p], c->dt, K, o, i);
                        d0 += w0 * xn[i];
                        mag += fabs(w0 * xn[i]);
                        qerr0 += fabs(w0) * amax / 254.0;
                        if (gated) {
                            double w1 = weight_at(w[1], c->dt, K, o, i);
                            d1 += w1 * xn[i];
                            qerr1 += fabs(w1) * amax / 254.0;
                        }
                    }
                }
                if (!lm_dtype_is_quantized(c->dt))
                    qerr0 = qerr1 = 0;
                double want = d0;
                if (gated) {
                    want = gated_ref(c->mode, d0, d1);
                } else {
                    if (bias[p])
                        want += bias[p][o];
                    if (res)
                        want += res[(size_t)t * outs[0] + o];
                    if (c->softcap != 0.0f)
                        want = c->softcap * tanh(want / c->softcap); /* moves by at most the input's error */
                }
                double got = y[p][(size_t)t * outs[p] + o];
                /* f32 sums of K products: error grows with K and the terms'
                 * size; silu(a) * b and gelu_tanh(a) * b move by at most
                 * 1.13 |b| da + (|a| + 1) db. */
                double tol = 1e-5 * (mag + 1.0) * (gated ? 4.0 + fabs(d1) : 1.0) +
                             (gated ? 1.13 * fabs(d1) * qerr0 + (fabs(d0) + 1.0) * qerr1 : qerr0);
                if (fabs(got - want) > tol)
                    fail_msg("dtype %d n %d K %d part %d token %d row %d threads %d: got %.9g, want %.9g",
                             (int)c->dt, n, K, p, t, o, threads, got, want);
            }
    }
    free(xn);
    free(xr);
    free(scratch);
    free(res);
    for (int p = 0; p < 2; p++) {
        free(w[p]);
        free(bias[p]);
        free(y[p]);
    }
    free(norm_w);
    free(x);
}

static void run_all_x(lm_dtype dt, int xbf16)
{
    /* Token counts: decode (1), dot tiles (2, 3), GEMM with full and partial
     * 6-token tiles (4, 6, 13), several AMX passes of 32 tokens (40, 70),
     * and past LM_DPBF16_PACK_TOKENS, where bf16 inputs on vdpbf16ps pack
     * their weights (130).
     * Widths: a partial 32-row block (72), rows
     * not a multiple of the 8-row decode group (36), K with a 32-wide tail
     * past the 64-wide decode step (96) and a plain 64 multiple (128). */
    const int ns[] = { 1, 2, 3, 4, 6, 13, 40, 70, 130 };
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int threads = 1; threads <= 3; threads++) {
            const linear_case cases[] = {
                { dt, ns[i], 96, 72, 0, 0, 0, 0, LM_LINEAR_PLAIN, xbf16, 0.0f },
                { dt, ns[i], 128, 36, 40, 1, 1, 0, LM_LINEAR_PLAIN, xbf16, 0.0f },
                { dt, ns[i], 128, 64, 0, 0, 0, 1, LM_LINEAR_PLAIN, xbf16, 0.0f },
                { dt, ns[i], 96, 72, 0, 1, 0, 0, LM_LINEAR_SWIGLU, xbf16, 0.0f },
                { dt, ns[i], 96, 72, 0, 1, 0, 0, LM_LINEAR_GEGLU, xbf16, 0.0f },
                /* a cap near the outputs' size, so tanh bends them; with a bias */
                { dt, ns[i], 128, 40, 0, 1, 1, 0, LM_LINEAR_PLAIN, xbf16, 2.5f },
                { dt, ns[i], 320, 40, 0, 1, 0, 0, LM_LINEAR_PLAIN, xbf16, 0.0f },
            };
            for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
                run_case(&cases[k], threads);
        }
}

static void run_all(lm_dtype dt)
{
    run_all_x(dt, 0);
}

static void test_linear_f32(void **state)
{
    (void)state;
    run_all(LM_F32);
}

static void test_linear_bf16(void **state)
{
    (void)state;
    run_all(LM_BF16);
}

static void test_linear_bf16_inputs(void **state)
{
    (void)state;
    run_all_x(LM_BF16, 1);
}

static void test_linear_f16(void **state)
{
    (void)state;
    run_all(LM_F16);
}

static void test_linear_q8_0(void **state)
{
    (void)state;
    run_all(LM_Q8_0);
}

/* q4_0 the same way (nibbles low half first within a GGUF block). */
static void test_linear_q4_0(void **state)
{
    (void)state;
    run_all(LM_Q4_0);
}

/* q4_k8: scales and mins per block in super-blocks of 8 (K = 320: one
 * whole and one partial; the others partial only). */
static void test_linear_q4_k8(void **state)
{
    (void)state;
    run_all(LM_Q4_K8);
}

/* The 16-row interleaving (core/qlayout.h) against blocks written by hand:
 * q4_0's nibble order within a block and q8_0's offset quants, for every
 * row of a group and a padded last group. */
static void test_qlayout(void **state)
{
    (void)state;
    enum { ROWS = 20, K = 64 };
    for (int q8 = 0; q8 <= 1; q8++) {
        const lm_dtype dt = q8 ? LM_Q8_0 : LM_Q4_0;
        const size_t bb = q8 ? LM_Q8_BLOCK_BYTES : LM_Q4_BLOCK_BYTES;
        uint8_t blocks[ROWS][K / 32][LM_Q8_BLOCK_BYTES];
        for (int r = 0; r < ROWS; r++)
            for (int b = 0; b < K / 32; b++) {
                uint16_t d = lm_f32_to_f16(0.5f * (float)(r + 1) + (float)b);
                memcpy(blocks[r][b], &d, 2);
                for (int j = 0; j < (q8 ? 32 : 16); j++)
                    blocks[r][b][2 + j] = q8 ? (uint8_t)(int8_t)(j - 16 + r) : (uint8_t)(j | (15 - j) << 4);
            }
        uint8_t packed[2 * (K / 32) * LM_Q8_GROUP_BLOCK_BYTES];
        assert_int_equal(lm_qweight_bytes(dt, ROWS, K), 2 * (K / 32) * lm_qgroup_block_bytes(dt));
        for (int g = 0; g < 2; g++) {
            uint8_t rowbuf[LM_QROWS][K / 32 * LM_Q8_BLOCK_BYTES];
            const uint8_t *ptrs[LM_QROWS];
            const int nr = g == 0 ? LM_QROWS : ROWS - LM_QROWS;
            for (int r = 0; r < nr; r++) {
                for (int b = 0; b < K / 32; b++)
                    memcpy(rowbuf[r] + b * bb, blocks[g * LM_QROWS + r][b], bb);
                ptrs[r] = rowbuf[r];
            }
            lm_qgroup_pack(packed + (size_t)g * (K / 32) * lm_qgroup_block_bytes(dt), ptrs, nr, dt, K);
        }
        for (int r = 0; r < 2 * LM_QROWS; r++)
            for (int k = 0; k < K; k++) {
                float want = 0.0f;
                if (r < ROWS) {
                    const float d = 0.5f * (float)(r + 1) + (float)(k / 32);
                    const int j = k % 32;
                    want = q8 ? d * (float)(j - 16 + r) : d * (float)(j < 16 ? j - 8 : 7 - (j - 16));
                }
                if (lm_qweight_at(packed, dt, K, (size_t)r, (size_t)k) != want)
                    fail_msg("%s row %d col %d: got %g, want %g", q8 ? "q8_0" : "q4_0", r, k,
                             lm_qweight_at(packed, dt, K, (size_t)r, (size_t)k), want);
            }
    }
}

/* q4_k8's interleaving against blocks written by hand: 10 blocks a row
 * (a whole super-block of 8 and a partial one), 17 rows (a padded group):
 * weight = ds * sc * q - dm * mn with each super-block's own ds and dm. */
static void test_qlayout_q4_k8(void **state)
{
    (void)state;
    enum { ROWS = 17, K = 320, NB = K / 32 };
    static uint8_t rows[ROWS][NB * LM_Q4K8_BLOCK_BYTES];
    for (int r = 0; r < ROWS; r++)
        for (int b = 0; b < NB; b++) {
            uint8_t *blk = rows[r] + b * LM_Q4K8_BLOCK_BYTES;
            const uint16_t ds = lm_f32_to_f16(0.25f * (float)(r + 1 + b / LM_Q4K8_SUPER));
            const uint16_t dm = lm_f32_to_f16(0.5f * (float)(b / LM_Q4K8_SUPER + 1));
            memcpy(blk, &ds, 2);
            memcpy(blk + 2, &dm, 2);
            blk[4] = (uint8_t)(b + 1);
            blk[5] = (uint8_t)(2 * r);
            for (int j = 0; j < 16; j++)
                blk[6 + j] = (uint8_t)(j | (15 - j) << 4);
        }
    uint8_t *packed = malloc(lm_qweight_bytes(LM_Q4_K8, ROWS, K));
    assert_int_equal(lm_qweight_bytes(LM_Q4_K8, ROWS, K), 2 * (2 * 64 + NB * 288));
    for (int g = 0; g < 2; g++) {
        const uint8_t *ptrs[LM_QROWS];
        const int nr = g == 0 ? LM_QROWS : ROWS - LM_QROWS;
        for (int r = 0; r < nr; r++)
            ptrs[r] = rows[g * LM_QROWS + r];
        lm_qgroup_pack(packed + (size_t)g * lm_qgroup_bytes(LM_Q4_K8, K), ptrs, nr, LM_Q4_K8, K);
    }
    for (int r = 0; r < 2 * LM_QROWS; r++)
        for (int k = 0; k < K; k++) {
            const int b = k / 32, j = k % 32, q = j < 16 ? j : 15 - (j - 16);
            const float want = r >= ROWS ? 0.0f
                                         : 0.25f * (float)(r + 1 + b / LM_Q4K8_SUPER) * (float)(b + 1) * (float)q -
                                               0.5f * (float)(b / LM_Q4K8_SUPER + 1) * (float)(2 * r);
            const float got = lm_qweight_at(packed, LM_Q4_K8, K, (size_t)r, (size_t)k);
            if (got != want)
                fail_msg("q4_k8 row %d col %d: got %g, want %g", r, k, got, want);
        }
    free(packed);
}

/* On AMX int8 tiles a quantized batch must give the VNNI kernel's sums
 * bit for bit (the same integer dots, scaled and added in the same
 * order): every type, plain and swiglu, partial row groups and token
 * tiles. Skipped where the CPU or Linux has no AMX int8. */
static void test_quant_amx_matches_vnni(void **state)
{
    (void)state;
#if LM_AMX_INT8
    if (!lm_amx_ready())
        skip();
    const lm_dtype dts[] = { LM_Q8_0, LM_Q4_0, LM_Q4_K8 };
    const int ns[] = { 4, 17, 40 }, Ks[] = { 96, 320 };
    for (size_t d = 0; d < 3; d++)
        for (size_t i = 0; i < 3; i++)
            for (size_t k = 0; k < 2; k++)
                for (int swiglu = 0; swiglu <= 1; swiglu++) {
                    const int n = ns[i], K = Ks[k], out = 40, outs[2] = { out, out };
                    const lm_linear_mode mode = swiglu ? LM_LINEAR_SWIGLU : LM_LINEAR_PLAIN;
                    uint64_t s = 7u + (uint64_t)(n * K);
                    float *x = malloc(sizeof(float) * (size_t)n * K);
                    for (int j = 0; j < n * K; j++)
                        x[j] = rnd(&s);
                    void *w[2] = { make_weight(dts[d], out, K, &s), make_weight(dts[d], out, K, &s) };
                    float *y[2][2];
                    uint8_t *scratch = malloc(LM_QAMX_SCRATCH_BYTES(n, K));
                    for (int path = 0; path < 2; path++) {
                        y[path][0] = calloc((size_t)n * out, sizeof(float));
                        y[path][1] = calloc((size_t)n * out, sizeof(float));
                        lm_linear_args a = { .x = x, .w = { w[0], w[1] }, .y = { y[path][0], y[path][1] }, .n = n };
                        if (path)
                            lm_linear_quant_amx_task(&a, x, (float *)scratch, 0, 1, K, 2, outs, dts[d], mode, 0);
                        else
                            lm_linear_quant_task(&a, x, (float *)scratch, 0, 1, K, 2, outs, dts[d], mode, 0);
                    }
                    for (int p = 0; p < (swiglu ? 1 : 2); p++)
                        if (memcmp(y[0][p], y[1][p], sizeof(float) * (size_t)n * out) != 0)
                            fail_msg("dtype %d n %d K %d swiglu %d part %d: AMX and VNNI sums differ", (int)dts[d], n,
                                     K, swiglu, p);
                    for (int path = 0; path < 2; path++) {
                        free(y[path][0]);
                        free(y[path][1]);
                    }
                    free(scratch);
                    free(w[0]);
                    free(w[1]);
                    free(x);
                }
#else
    skip();
#endif
}

#if LM_AMX_ATTENTION || LM_DPBF16_ATTENTION
/* The cases: D 64, 128, 256, groups 2 and 4, a prompt from position 0 and
 * a chunk after 70 cached positions, tiles cut short at the call's end,
 * blocks of 64 keys crossed by the causal edge. kernel 1: AMX tiles, 2:
 * vdpbf16ps, against the f32 tiles with the same bf16 roundings (abf16):
 * they differ where a probability's rounding flips (max 1.3e-4, mean
 * 3e-7 measured); a wrong transpose, pair order or mask is off by tenths. */
static void attention_bf16_paths_match_f32(int kernel)
{
    const int Ds[] = { 64, 128, 256 }, groups[] = { 2, 4 }, poss[] = { 0, 70 };
    for (int di = 0; di < 3; di++)
        for (int gi = 0; gi < 2; gi++)
            for (int pi = 0; pi < 2; pi++) {
                const int D = Ds[di], KVH = 2, H = KVH * groups[gi], pos = poss[pi], n = 61, CTX = 256;
                uint64_t s = 11u + (uint64_t)(D * 7 + H * 3 + pos);
                float *q = malloc(sizeof(float) * (size_t)n * H * D);
                for (int i = 0; i < n * H * D; i++)
                    q[i] = rnd(&s);
                uint16_t *cache = calloc((size_t)2 * KVH * CTX * D, sizeof(uint16_t));
                for (int h = 0; h < 2 * KVH; h++)
                    for (int j = 0; j < pos + n; j++)
                        for (int d = 0; d < D; d++)
                            cache[((size_t)h * CTX + j) * D + d] = lm_f32_to_bf16(2.0f * rnd(&s));
                float inv[LM_MAX_ROT / 2];
                const lm_rope_scaling none = { 0 };
                lm_rope_table(inv, D, 10000.0f, &none);
                float *out[2], *scratch = malloc(sizeof(float) * LM_ATTN_TILE_SCRATCH(D));
                const int T = LM_ATTN_LANES / groups[gi];
                for (int path = 0; path < 2; path++) {
                    out[path] = calloc((size_t)n * H * D, sizeof(float));
                    lm_attn_args a = { .q = q, .cache = (float *)cache, .out = out[path], .n = n, .pos = pos };
#if LM_AMX_ATTENTION
                    if (kernel == 1)
                        lm_amx_begin();
#endif
                    for (int t0 = 0; t0 < n; t0 += T)
                        for (int kvh = 0; kvh < KVH; kvh++) {
                            lm_rope_cs cs[LM_ATTN_LANES];
                            for (int i = 0; i < LM_ATTN_LANES; i++)
                                cs[i].pos = -1;
                            const int tn = n - t0 < T ? n - t0 : T;
                            const float scale = 1.0f / sqrtf((float)D);
#if LM_AMX_ATTENTION
                            if (path && kernel == 1)
                                lm_attn_query_tile_amx(&a, scratch, t0, tn, kvh, H, KVH, D, CTX, 1e-6f, D, scale, 0,
                                                       cs, inv);
#endif
#if LM_DPBF16_ATTENTION
                            if (path && kernel == 2)
                                lm_attn_query_tile_dp(&a, scratch, t0, tn, kvh, H, KVH, D, CTX, 0, 1e-6f, D, scale, 0,
                                                      cs, inv);
#endif
                            if (!path)
                                lm_attn_query_tile(&a, scratch, t0, tn, kvh, H, KVH, D, CTX, 0, 1e-6f, D, scale, 0, cs,
                                                   inv, 1, 1);
                        }
#if LM_AMX_ATTENTION
                    if (kernel == 1)
                        _tile_release();
#endif
                }
                double worst = 0, sum = 0;
                for (int i = 0; i < n * H * D; i++) {
                    const double e = fabs((double)out[1][i] - (double)out[0][i]);
                    worst = e > worst ? e : worst;
                    sum += e;
                }
                if (worst > 1e-3 || sum / (n * H * D) > 1e-5)
                    fail_msg("kernel %d, D %d, group %d, pos %d: max error %g, mean %g", kernel, D, groups[gi], pos,
                             worst, sum / (n * H * D));
                free(out[0]);
                free(out[1]);
                free(scratch);
                free(cache);
                free(q);
            }
}
#endif


/* A batch's attention on AMX tiles (bf16 queries and probabilities)
 * against the f32 lane-wise tiles on the same bf16 cache. */
static void test_attention_amx_matches_f32(void **state)
{
    (void)state;
#if LM_AMX_ATTENTION
    if (!lm_amx_ready())
        skip();
    attention_bf16_paths_match_f32(1);
#else
    skip();
#endif
}

/* The same cases on vdpbf16ps (attention_dpbf16.h, the path of a bf16
 * cache on Zen 4). */
static void test_attention_dpbf16_matches_f32(void **state)
{
    (void)state;
#if LM_DPBF16_ATTENTION
    attention_bf16_paths_match_f32(2);
#else
    skip();
#endif
}

/* The softmax's vector exponential against libm over [-100, 0]: within
 * 4e-7 relative (about 3 ulp) where expf is normal, and 0 below -87. */
static void test_exp16_nonpos(void **state)
{
    (void)state;
    for (int i = 0; i <= 100000; i += 16) {
        float in[16], out[16];
        for (int l = 0; l < 16; l++)
            in[l] = -100.0f * (float)(i + l) / 100000.0f;
        lm_v16 y = lm_exp16_nonpos(lm_load16(in));
        lm_store16(out, y);
        for (int l = 0; l < 16; l++) {
            const float want = expf(in[l]);
            if (in[l] < -87.0f) {
                if (out[l] != 0.0f)
                    fail_msg("exp(%.9g) = %.9g, want 0 below -87", in[l], out[l]);
            } else if (fabsf(out[l] - want) > 4e-7f * want) {
                fail_msg("exp(%.9g) = %.9g, want %.9g", in[l], out[l], want);
            }
        }
    }
    float zero[16] = { 0 }, one[16];
    lm_store16(one, lm_exp16_nonpos(lm_load16(zero)));
    assert_true(one[0] == 1.0f);
}

/* The router: probabilities of a softmax over all experts, the largest k
 * first with ties to the lower index, renormalized only when asked. */
static void test_router_topk(void **state)
{
    (void)state;
    /* Experts 1, 2 and 4 tie for the largest score, 0 and 3 for the next. */
    const float scores[6] = { 0.5f, 2.0f, 2.0f, 0.5f, 2.0f, -1.0f };
    double z = 0;
    for (int e = 0; e < 6; e++)
        z += exp((double)scores[e]);
    for (int renorm = 0; renorm <= 1; renorm++) {
        float route[8];
        lm_router_row(route, scores, 6, 4, renorm);
        const int want_ids[4] = { 1, 2, 4, 0 };
        double chosen = 0;
        for (int j = 0; j < 4; j++)
            chosen += exp((double)scores[want_ids[j]]) / z;
        for (int j = 0; j < 4; j++) {
            assert_int_equal((int)route[j], want_ids[j]);
            double p = exp((double)scores[want_ids[j]]) / z;
            double want = renorm ? p / chosen : p;
            if (fabs(route[4 + j] - want) > 1e-6)
                fail_msg("renorm %d: weight %d = %.9g, want %.9g", renorm, j, route[4 + j], want);
        }
    }
}

/* The experts node's plumbing (grouping by expert, gather with the norm,
 * the residual, the weighted scatter of the down projection) against the
 * same experts run token by token through the single-token linear path,
 * for every dtype, random and skewed routes (every token on the same two
 * experts), token counts that take the decode, tile and GEMM paths, and
 * the tasks split over 1-3 threads. */
static void experts_case(lm_dtype dt, int n, int skewed, int threads)
{
    enum { D = 64, F = 48, E = 6, TOPK = 2 };
    uint64_t s = 7u + (uint64_t)n * 131u + (uint64_t)skewed;
    float *x = malloc(sizeof(float) * (size_t)n * D), *res = malloc(sizeof(float) * (size_t)n * D);
    float *norm_w = malloc(sizeof(float) * D), *route = malloc(sizeof(float) * (size_t)n * 2 * TOPK);
    for (int i = 0; i < n * D; i++) {
        x[i] = rnd(&s);
        res[i] = rnd(&s);
    }
    for (int i = 0; i < D; i++)
        norm_w[i] = 1.0f + 0.5f * rnd(&s);
    for (int t = 0; t < n; t++) {
        float scores[E];
        for (int e = 0; e < E; e++)
            scores[e] = skewed ? (e == 3 ? 2.0f : e == 0 ? 1.0f : 0.0f) + 0.01f * rnd(&s) : 2.0f * rnd(&s);
        lm_router_row(route + (size_t)t * 2 * TOPK, scores, E, TOPK, 1);
    }
    const void *w[3 * E];
    for (int e = 0; e < E; e++) {
        w[3 * e] = make_weight(dt, F, D, &s);
        w[3 * e + 1] = make_weight(dt, F, D, &s);
        w[3 * e + 2] = make_weight(dt, D, F, &s);
    }
    const size_t stride = 4 * ((size_t)n + 64) * D + LM_MOE_GROUP_FLOATS(E, (size_t)n * TOPK);
    float *scratch = malloc(sizeof(float) * stride * (size_t)threads);
    float *y = malloc(sizeof(float) * (size_t)n * D);
    float *xs = malloc(sizeof(float) * (size_t)n * TOPK * D), *hs = malloc(sizeof(float) * (size_t)n * TOPK * F);
    const lm_experts_args a = { .x = x, .norm_w = norm_w, .route = route, .w = w, .residual = res, .y = y,
                                .xs = xs, .hs = hs, .scratch = scratch, .scratch_stride = stride, .n = n };
    for (int tid = 0; tid < threads; tid++)
        lm_experts_gather_task(&a, tid, threads, D, 1e-6f, E, TOPK);
    for (int tid = 0; tid < threads; tid++)
        lm_experts_up_task(&a, tid, threads, D, F, E, TOPK, dt, 0);
    for (int tid = 0; tid < threads; tid++)
        lm_experts_down_task(&a, tid, threads, D, F, E, TOPK, dt, 0);

    const int up_outs[2] = { F, F }, down_outs[1] = { D };
    for (int t = 0; t < n; t++) {
        float xn[D], h[F], o[D];
        double want[D];
        lm_rmsnorm_row(xn, x + (size_t)t * D, norm_w, D, 1e-6f);
        for (int i = 0; i < D; i++)
            want[i] = res[(size_t)t * D + i];
        for (int j = 0; j < TOPK; j++) {
            const int e = (int)route[(size_t)t * 2 * TOPK + j];
            const lm_linear_args up = { .x = xn, .w = { w[3 * e], w[3 * e + 1] }, .y = { h },
                                        .scratch = scratch, .scratch_stride = stride, .n = 1 };
            lm_linear_task(&up, 0, 1, D, 0.0f, 2, up_outs, dt, LM_LINEAR_SWIGLU, 0);
            const lm_linear_args down = { .x = h, .w = { w[3 * e + 2] }, .y = { o },
                                          .scratch = scratch, .scratch_stride = stride, .n = 1 };
            lm_linear_task(&down, 0, 1, F, 0.0f, 1, down_outs, dt, LM_LINEAR_PLAIN, 0);
            for (int i = 0; i < D; i++)
                want[i] += (double)route[(size_t)t * 2 * TOPK + TOPK + j] * o[i];
        }
        for (int i = 0; i < D; i++)
            if (fabs(y[(size_t)t * D + i] - want[i]) > 1e-4 * (1.0 + fabs(want[i])))
                fail_msg("dtype %d n %d skewed %d threads %d: token %d dim %d = %.9g, want %.9g", (int)dt, n,
                         skewed, threads, t, i, y[(size_t)t * D + i], want[i]);
    }
    for (int i = 0; i < 3 * E; i++)
        free((void *)w[i]);
    free(x);
    free(res);
    free(norm_w);
    free(route);
    free(scratch);
    free(y);
    free(xs);
    free(hs);
}

static void test_experts_match_per_token(void **state)
{
    (void)state;
    const lm_dtype dts[] = { LM_F32, LM_BF16, LM_Q8_0, LM_Q4_0 };
    const int ns[] = { 1, 3, 13, 40 };
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (int skewed = 0; skewed <= 1; skewed++)
                for (int threads = 1; threads <= 3; threads++)
                    experts_case(dts[d], ns[i], skewed, threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_f32),
        cmocka_unit_test(test_linear_bf16),
        cmocka_unit_test(test_linear_bf16_inputs),
        cmocka_unit_test(test_linear_f16),
        cmocka_unit_test(test_linear_q8_0),
        cmocka_unit_test(test_linear_q4_0),
        cmocka_unit_test(test_linear_q4_k8),
        cmocka_unit_test(test_qlayout),
        cmocka_unit_test(test_qlayout_q4_k8),
        cmocka_unit_test(test_quant_amx_matches_vnni),
        cmocka_unit_test(test_attention_amx_matches_f32),
        cmocka_unit_test(test_attention_dpbf16_matches_f32),
        cmocka_unit_test(test_exp16_nonpos),
        cmocka_unit_test(test_router_topk),
        cmocka_unit_test(test_experts_match_per_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
