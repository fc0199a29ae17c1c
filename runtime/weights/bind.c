/* Binding checkpoint tensors to the compiled model's weight slots.
 *
 * Two passes: the first checks every slot and every tensor and collects all
 * problems into one message (a user fixing a checkpoint wants the whole
 * list, not one error per run); only when nothing is wrong does the second
 * pass bind data, in place when the dtype matches, converted otherwise. */
#include "bind.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/dtype.h"
#include "../core/pages.h"
#include "../core/qlayout.h"
#include "hugemap.h"
#include "weight_cache.h"

static const char *slot_dtype_name(lm_dtype t)
{
    switch (t) {
    case LM_F32: return "f32";
    case LM_BF16: return "bf16";
    case LM_F16: return "f16";
    case LM_Q8_0: return "q8_0";
    case LM_Q4_0: return "q4_0";
    case LM_Q4_K8: return "q4_k8";
    }
    return "?";
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t off = 0;
    off += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (off < size)
        snprintf(buf + off, size - off, "]");
}

/* The problems found so far; text past the budget is only counted, so the
 * final message fits lm_err with its prefix and advice. */
typedef struct problems {
    char text[1500];
    size_t len;
    int count;
    int omitted;
} problems;

static void add_problem(problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_problem(problems *p, const char *fmt, ...)
{
    char one[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    p->count++;
    size_t need = strlen(one) + (p->len ? 2 : 0);
    if (p->omitted || p->len + need >= sizeof p->text) {
        p->omitted++;
        return;
    }
    p->len += (size_t)snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s",
                               p->len ? "; " : "", one);
}

static int is_float_source(lm_st_dtype t)
{
    return t == LM_ST_F32 || t == LM_ST_BF16 || t == LM_ST_F16;
}

/* Whether a slot can use a tensor of this checkpoint dtype without conversion. */
static int same_storage(lm_dtype slot, lm_st_dtype src)
{
    return (slot == LM_F32 && src == LM_ST_F32) || (slot == LM_BF16 && src == LM_ST_BF16) ||
           (slot == LM_F16 && src == LM_ST_F16);
}

/* Elements in one row (every dimension but the first). */
static int64_t row_elems(const lm_weight_desc *w)
{
    int64_t n = 1;
    for (int k = 1; k < w->ndim; k++)
        n *= w->shape[k];
    return n;
}

/* Checks one slot against the checkpoint; marks the tensor it uses. */
static void check_slot(const lm_weight_desc *w, const lm_checkpoint *ck, unsigned char *used,
                       problems *p)
{
    char want[160], got[160];
    int dims_ok = w->ndim >= 1 && w->ndim <= LM_MAX_DIMS;
    for (int k = 0; dims_ok && k < w->ndim; k++)
        dims_ok = w->shape[k] >= 0;
    if (!dims_ok || w->row_begin < 0 || w->src_rows < w->row_begin + w->shape[0]) {
        add_problem(p, "slot for '%s' is malformed (ndim %d, rows %" PRId64 "..%" PRId64
                       " of %" PRId64 "; a compiler bug, please report)",
                    w->hf_name, w->ndim, w->row_begin, w->row_begin + w->shape[0], w->src_rows);
        return;
    }
    int64_t src_shape[LM_MAX_DIMS];
    memcpy(src_shape, w->shape, sizeof src_shape);
    src_shape[0] = w->src_rows;
    format_shape(want, sizeof want, w->ndim, src_shape);

    const lm_tensor *t = lm_checkpoint_find(ck, w->hf_name);
    if (!t) {
        add_problem(p, "missing tensor '%s' (expected %s, compiled as %s)", w->hf_name, want,
                    slot_dtype_name(w->dtype));
        return;
    }
    used[t - lm_checkpoint_tensor(ck, 0)] = 1; /* tensors are one array */

    int shape_ok = t->ndim == w->ndim && t->shape[0] == w->src_rows;
    for (int k = 1; shape_ok && k < w->ndim; k++)
        shape_ok = t->shape[k] == w->shape[k];
    if (!shape_ok) {
        format_shape(got, sizeof got, t->ndim, t->shape);
        add_problem(p, "tensor '%s' has shape %s, expected %s", w->hf_name, got, want);
    }
    if (!is_float_source(t->dtype))
        add_problem(p, "tensor '%s' has unsupported dtype %s (expected F32, BF16 or F16)",
                    w->hf_name, lm_st_dtype_name(t->dtype));
    if (lm_dtype_is_quantized(w->dtype) && w->shape[w->ndim - 1] % LM_Q8_BLOCK != 0)
        add_problem(p, "tensor '%s' cannot be quantized to %s: last dimension %" PRId64
                       " is not a multiple of %d",
                    w->hf_name, slot_dtype_name(w->dtype), w->shape[w->ndim - 1], LM_Q8_BLOCK);
}

/* Source elements [0, n) as f32, plus the slot's offset. Loads go through
 * memcpy because a converted source may be misaligned (that is one reason
 * it is not used in place). */
static void load_f32(float *dst, const unsigned char *src, lm_st_dtype t, size_t n, float offset)
{
    if (t == LM_ST_F32) {
        memcpy(dst, src, n * sizeof *dst);
    } else if (t == LM_ST_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = lm_bf16_to_f32(h);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = lm_f16_to_f32(h);
        }
    }
    /* f32 + f32 rounded once, as transformers' (1.0 + weight.float()) */
    if (offset != 0.0f)
        for (size_t i = 0; i < n; i++)
            dst[i] += offset;
}

/* Quantizes n floats (n % 32 == 0) into Q8_0 blocks as core/model.h lays them out. */
static void quantize_q8_0(unsigned char *dst, const float *x, size_t n)
{
    for (size_t b = 0; b < n / LM_Q8_BLOCK; b++, x += LM_Q8_BLOCK, dst += LM_Q8_BLOCK_BYTES) {
        float amax = 0.0f;
        for (int i = 0; i < LM_Q8_BLOCK; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f;
        uint16_t dh = lm_f32_to_f16(d);
        memcpy(dst, &dh, 2); /* little endian on every target we build for */
        /* x / d, not x * (1 / d): the contract in core/model.h, bit for bit. Round
         * half away from zero written out (as roundf) so the loop vectorizes. */
        float inv = d != 0.0f ? d : 1.0f;
        int8_t q[LM_Q8_BLOCK];
        for (int i = 0; i < LM_Q8_BLOCK; i++) {
            float v = d != 0.0f ? x[i] / inv : 0.0f;
            float t = truncf(v);
            t += fabsf(v - t) >= 0.5f ? copysignf(1.0f, v) : 0.0f;
            q[i] = (int8_t)fminf(127.0f, fmaxf(-127.0f, t));
        }
        memcpy(dst + 2, q, LM_Q8_BLOCK);
    }
}

/* Quantizes n floats (n % 32 == 0) into Q4_0 blocks as core/model.h lays
 * them out (GGUF's reference rounding). */
static void quantize_q4_0(unsigned char *dst, const float *x, size_t n)
{
    for (size_t b = 0; b < n / LM_Q4_BLOCK; b++, x += LM_Q4_BLOCK, dst += LM_Q4_BLOCK_BYTES) {
        float amax = 0.0f, m = 0.0f;
        for (int i = 0; i < LM_Q4_BLOCK; i++)
            if (fabsf(x[i]) > amax) {
                amax = fabsf(x[i]);
                m = x[i];
            }
        /* The extreme value maps to q = 0 (-8 d) exactly; the other side
         * reaches +7 d, one step short, as in GGUF. */
        const float d = m / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = lm_f32_to_f16(d);
        memcpy(dst, &dh, 2);
        for (int j = 0; j < LM_Q4_BLOCK / 2; j++) {
            int q0 = (int)(x[j] * id + 8.5f), q1 = (int)(x[j + 16] * id + 8.5f);
            q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
            q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
            dst[2 + j] = (unsigned char)(q0 | q1 << 4);
        }
    }
}

/* q4_k8's fit of one 32-block: x ~ scale * q - minv for q in [0, 15], minv
 * >= 0 (the block's minimum, or 0 when every value is positive). Tries 9
 * steps around (max - min) / 15 (llama.cpp's k-quants search a similar
 * range), each time solving the least squares for scale and min given the
 * q it rounds to, and keeps the one of least squared error. */
static void fit_q4k8_block(const float *x, float *scale, float *minv)
{
    float lo = x[0], hi = x[0], sx = 0.0f, sxx = 0.0f;
    for (int i = 0; i < 32; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
        sx += x[i];
        sxx += x[i] * x[i];
    }
    lo = fminf(lo, 0.0f);
    *scale = (hi - lo) / 15.0f;
    *minv = -lo;
    if (!(hi > lo))
        return;
    float best = INFINITY;
    for (int step = 0; step <= 8; step++) {
        const float iscale = (14.0f + 0.25f * (float)step) / (hi - lo);
        /* The q, then their sums as 16 lane pairs and a tree: loops the
         * compiler vectorizes (one serial chain of 32 made the q4_k8 fit
         * 3 times q4_0's whole quantizing). */
        float q[32], s1[16], s2[16], s3[16];
        for (int i = 0; i < 32; i++)
            q[i] = fminf(15.0f, fmaxf(0.0f, rintf((x[i] - lo) * iscale)));
        for (int i = 0; i < 16; i++) {
            s1[i] = q[i] + q[i + 16];
            s2[i] = q[i] * q[i] + q[i + 16] * q[i + 16];
            s3[i] = q[i] * x[i] + q[i + 16] * x[i + 16];
        }
        for (int w = 8; w >= 1; w /= 2)
            for (int i = 0; i < w; i++) {
                s1[i] += s1[i + w];
                s2[i] += s2[i + w];
                s3[i] += s3[i + w];
            }
        const float sq = s1[0], sqq = s2[0], sqx = s3[0];
        const float den = 32.0f * sqq - sq * sq;
        if (den <= 0.0f)
            continue;
        float a = (32.0f * sqx - sq * sx) / den, c = (sx - a * sq) / 32.0f;
        if (c > 0.0f) { /* the min must not rise above 0 */
            c = 0.0f;
            a = sqx / sqq;
        }
        if (!(a > 0.0f))
            continue;
        /* sum (a q + c - x)^2, from the sums */
        const float err = a * a * sqq + 2.0f * a * c * sq - 2.0f * a * sqx + 32.0f * c * c - 2.0f * c * sx + sxx;
        if (err < best) {
            best = err;
            *scale = a;
            *minv = -c;
        }
    }
}

/* One row of n floats (n % 32 == 0) into q4_k8 row blocks as core/model.h
 * lays them out: per super-block of up to 8 blocks, each block's fit, the
 * scales and mins in 8-bit steps of the super-block's f16 ds and dm, then
 * q = round((x + dm * mn) / (ds * sc)) in [0, 15]. */
static void quantize_q4_k8(unsigned char *dst, const float *x, size_t n)
{
    const size_t nb = n / 32;
    for (size_t s0 = 0; s0 < nb; s0 += LM_Q4K8_SUPER) {
        const size_t count = nb - s0 < LM_Q4K8_SUPER ? nb - s0 : LM_Q4K8_SUPER;
        float scale[LM_Q4K8_SUPER], minv[LM_Q4K8_SUPER], smax = 0.0f, mmax = 0.0f;
        for (size_t b = 0; b < count; b++) {
            fit_q4k8_block(x + (s0 + b) * 32, &scale[b], &minv[b]);
            smax = fmaxf(smax, scale[b]);
            mmax = fmaxf(mmax, minv[b]);
        }
        const uint16_t dsh = lm_f32_to_f16(smax / 255.0f), dmh = lm_f32_to_f16(mmax / 255.0f);
        const float ds = lm_f16_to_f32(dsh), dm = lm_f16_to_f32(dmh);
        for (size_t b = 0; b < count; b++) {
            const float *xb = x + (s0 + b) * 32;
            unsigned char *o = dst + (s0 + b) * LM_Q4K8_BLOCK_BYTES;
            const float sc = ds > 0.0f ? fminf(255.0f, rintf(scale[b] / ds)) : 0.0f;
            const float mn = dm > 0.0f ? fminf(255.0f, rintf(minv[b] / dm)) : 0.0f;
            const float s_eff = ds * sc, m_eff = dm * mn;
            memcpy(o, &dsh, 2);
            memcpy(o + 2, &dmh, 2);
            o[4] = (unsigned char)sc;
            o[5] = (unsigned char)mn;
            int q[32];
            for (int i = 0; i < 32; i++) {
                const float v = s_eff > 0.0f ? rintf((xb[i] + m_eff) / s_eff) : 0.0f;
                q[i] = v < 0.0f ? 0 : v > 15.0f ? 15 : (int)v;
            }
            for (int j = 0; j < 16; j++)
                o[6 + j] = (unsigned char)(q[j] | q[j + 16] << 4);
        }
    }
}

/* Converts n source elements into dst as float slot dtype t, offset added. */
static void convert(void *dst, lm_dtype t, const unsigned char *src, lm_st_dtype st, size_t n, float offset)
{
    if (t == LM_F32) {
        load_f32(dst, src, st, n, offset);
        return;
    }
    if (same_storage(t, st) && offset == 0.0f) { /* only misalignment kept it from binding in place */
        memcpy(dst, src, n * 2);
        return;
    }
    /* Through an f32 chunk small enough to stay in L1. */
    enum { CHUNK = 2048 };
    float buf[CHUNK];
    size_t esz = lm_st_dtype_size(st);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        load_f32(buf, src + i * esz, st, m, offset);
        uint16_t *o = (uint16_t *)dst + i;
        for (size_t j = 0; j < m; j++)
            o[j] = t == LM_BF16 ? lm_f32_to_bf16(buf[j]) : lm_f32_to_f16(buf[j]);
    }
}

/* Groups [g0, g1) of 16 rows of a [rows, K] source, quantized to GGUF
 * blocks row by row (row: K floats, blocks: 16 rows of them) and
 * interleaved into dst as core/qlayout.h lays a quantized slot out. */
static void quantize_groups(uint8_t *dst, lm_dtype t, const unsigned char *src, lm_st_dtype st, float offset,
                            size_t rows, size_t K, size_t g0, size_t g1, float *row, uint8_t *blocks)
{
    const size_t row_bytes = K / 32 * lm_qrow_block_bytes(t);
    const size_t group_bytes = lm_qgroup_bytes(t, K);
    const size_t esz = lm_st_dtype_size(st);
    for (size_t g = g0; g < g1; g++) {
        const uint8_t *ptrs[LM_QROWS];
        int nr = 0;
        for (size_t r = g * LM_QROWS; r < rows && nr < LM_QROWS; r++, nr++) {
            uint8_t *b = blocks + (size_t)nr * row_bytes;
            load_f32(row, src + r * K * esz, st, K, offset);
            if (t == LM_Q4_K8)
                quantize_q4_k8(b, row, K);
            else if (t == LM_Q4_0)
                quantize_q4_0(b, row, K);
            else
                quantize_q8_0(b, row, K);
            ptrs[nr] = b;
        }
        lm_qgroup_pack(dst + g * group_bytes, ptrs, nr, t, K);
    }
}

/* One thread's piece of a conversion: units [begin, end) of slot data,
 * elements for float slots, groups of 16 rows for quantized ones (with
 * their row buffers). */
typedef struct convert_job {
    void *dst;
    lm_dtype t;
    const unsigned char *src;
    lm_st_dtype st;
    float offset;
    size_t rows, K, begin, end;
    float *row;
    uint8_t *blocks;
} convert_job;

static void *convert_job_run(void *arg)
{
    const convert_job *j = arg;
    const size_t esz = lm_st_dtype_size(j->st);
    if (lm_dtype_is_quantized(j->t)) {
        const size_t r0 = j->begin * LM_QROWS, r1 = j->end * LM_QROWS < j->rows ? j->end * LM_QROWS : j->rows;
        lm_pages_populate_read(j->src + r0 * j->K * esz, (r1 - r0) * j->K * esz);
        quantize_groups(j->dst, j->t, j->src, j->st, j->offset, j->rows, j->K, j->begin, j->end, j->row, j->blocks);
        return NULL;
    }
    const size_t n = j->end - j->begin;
    lm_pages_populate_read(j->src + j->begin * esz, n * esz);
    convert((char *)j->dst + j->begin * (j->t == LM_F32 ? 4 : 2), j->t, j->src + j->begin * esz, j->st, n,
            j->offset);
    return NULL;
}

#define CONVERT_MAX_THREADS 16
/* Tensors below this many elements are converted on the calling thread. */
#define CONVERT_PARALLEL_MIN ((size_t)1 << 20)

/* Converts a [rows, K] slot, a large one split over the online CPUs:
 * quantizing is paid at every load without the weight cache (Qwen3-0.6B
 * to q8_0: 1.2 s on one core). Pieces are whole 2048-element chunks or
 * whole row groups. A thread that cannot be started leaves its piece to
 * the calling thread. Fails only for want of memory for row buffers. */
static int convert_parallel(void *dst, lm_dtype t, const unsigned char *src, lm_st_dtype st, float offset,
                            size_t rows, size_t K)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cpus < 1 ? 1 : cpus > CONVERT_MAX_THREADS ? CONVERT_MAX_THREADS : (int)cpus;
    if (rows * K < CONVERT_PARALLEL_MIN)
        nt = 1;
    const int quant = lm_dtype_is_quantized(t);
    const size_t units = quant ? (rows + LM_QROWS - 1) / LM_QROWS : rows * K;
    const size_t grain = quant ? 1 : 2048;
    size_t per = (units / (size_t)nt + grain - 1) / grain * grain;
    if (per == 0)
        per = grain;
    convert_job jobs[CONVERT_MAX_THREADS];
    pthread_t th[CONVERT_MAX_THREADS];
    int started[CONVERT_MAX_THREADS] = { 0 };
    int njobs = 0, ok = 1;
    for (size_t b = 0; b < units && njobs < nt; b += per, njobs++) {
        jobs[njobs] = (convert_job){ dst, t, src, st, offset, rows, K, b, units - b < per ? units : b + per, NULL, NULL };
        if (quant) {
            jobs[njobs].row = malloc(K * sizeof(float));
            jobs[njobs].blocks = malloc(LM_QROWS * (K / 32) * lm_qrow_block_bytes(t));
            ok = ok && jobs[njobs].row && jobs[njobs].blocks;
        }
    }
    if (ok) {
        for (int k = 1; k < njobs; k++)
            started[k] = pthread_create(&th[k], NULL, convert_job_run, &jobs[k]) == 0;
        for (int k = 0; k < njobs; k++)
            if (k == 0 || !started[k])
                convert_job_run(&jobs[k]);
        for (int k = 1; k < njobs; k++)
            if (started[k])
                pthread_join(th[k], NULL);
    }
    for (int k = 0; k < njobs; k++) {
        free(jobs[k].row);
        free(jobs[k].blocks);
    }
    return ok ? 0 : -1;
}

/* Bytes of slot w's data, bound as w's dtype lays it out. */
static size_t slot_bytes(const lm_weight_desc *w)
{
    const size_t rows = (size_t)w->shape[0], K = (size_t)row_elems(w);
    switch (w->dtype) {
    case LM_F32: return rows * K * 4;
    case LM_BF16:
    case LM_F16: return rows * K * 2;
    case LM_Q8_0:
    case LM_Q4_0:
    case LM_Q4_K8: return lm_qweight_bytes(w->dtype, rows, K);
    }
    return 0;
}

/* An earlier slot converted from the same rows into the same dtype with
 * the same offset (tied embeddings): its memory can be shared instead of
 * converted twice. */
static int shared_conversion(const lm_model_desc *d, const lm_weights *out, int i)
{
    const lm_weight_desc *w = &d->weights[i];
    for (int j = 0; j < i; j++) {
        const lm_weight_desc *v = &d->weights[j];
        if (out->owned[j] && v->dtype == w->dtype && v->ndim == w->ndim && v->offset == w->offset &&
            v->row_begin == w->row_begin && memcmp(v->shape, w->shape, sizeof v->shape) == 0 &&
            strcmp(v->hf_name, w->hf_name) == 0)
            return j;
    }
    return -1;
}

/* Where slot i's data starts in the checkpoint's mapping. */
static const unsigned char *slot_source(const lm_weight_desc *w, const lm_tensor *t)
{
    size_t per_row = (size_t)row_elems(w);
    return (const unsigned char *)t->data + (size_t)w->row_begin * per_row * lm_st_dtype_size(t->dtype);
}

/* In the mapping as it is: the compiled dtype, aligned, and no offset to
 * add (an f32 norm of an f32 checkpoint with one is copied). */
static int binds_in_place(const lm_weight_desc *w, const lm_tensor *t)
{
    return same_storage(w->dtype, t->dtype) && w->offset == 0.0f &&
           (uintptr_t)slot_source(w, t) % lm_st_dtype_size(t->dtype) == 0;
}

/* Converted slots start on 128-byte boundaries: the decode kernels stream
 * rows in 128-byte steps (kernels/linear_gemv.h). */
#define SLOT_ALIGN ((size_t)128)

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* One anonymous mapping for every slot to be converted, on transparent
 * huge pages: decode reads these weights every token, and on 4 KiB pages
 * the TLB misses cost a quarter of the bandwidth (q8_0 slots allocated one
 * by one left all but the largest on 4 KiB pages). Sized for every slot
 * not bound in place; slots that share a conversion leave their share
 * untouched, which costs address space only. */
static int reserve_arena(const lm_model_desc *d, const lm_checkpoint *ck, lm_weights *out, lm_err *e)
{
    size_t total = 0;
    for (int i = 0; i < d->n_weights; i++) {
        const lm_weight_desc *w = &d->weights[i];
        const lm_tensor *t = lm_checkpoint_find(ck, w->hf_name);
        if (!binds_in_place(w, t))
            total += round_up(slot_bytes(w), SLOT_ALIGN);
    }
    if (total == 0)
        return 0;
    /* Over-allocated by a huge page so the arena can start on one. */
    size_t len = total + LM_HUGE_BYTES;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return lm_fail(e, "%s: out of memory reserving %zu bytes for converted weights; use a "
                          "checkpoint stored in the compiled dtype or free memory",
                       lm_checkpoint_dir(ck), total);
    out->arena = map;
    out->arena_bytes = len;
    uintptr_t start = round_up((uintptr_t)map, LM_HUGE_BYTES);
    out->arena_used = (size_t)(start - (uintptr_t)map);
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)start, total, MADV_HUGEPAGE); /* a hint; fine if refused */
#endif
    return 0;
}

/* Binds slot i: in place, shared with an earlier conversion, or at the next
 * place in the arena, converted there unless convert is 0 (the bytes come
 * from the weight cache). */
static int bind_slot(const lm_model_desc *d, const lm_checkpoint *ck, lm_weights *out, int i, int convert,
                     lm_err *e)
{
    const lm_weight_desc *w = &d->weights[i];
    const lm_tensor *t = lm_checkpoint_find(ck, w->hf_name);
    const unsigned char *src = slot_source(w, t);
    if (binds_in_place(w, t)) {
        out->ptr[i] = src;
        return 0;
    }
    int j = shared_conversion(d, out, i);
    if (j >= 0) {
        out->ptr[i] = out->ptr[j];
        return 0;
    }
    size_t bytes = slot_bytes(w);
    size_t need = round_up(bytes, SLOT_ALIGN);
    if (!out->arena || out->arena_bytes - out->arena_used < need)
        return lm_fail(e, "%s: converting tensor '%s' to %s: the weight arena is %zu bytes short "
                          "(a runtime bug, please report)",
                       lm_checkpoint_dir(ck), w->hf_name, slot_dtype_name(w->dtype), need);
    void *mem = (char *)out->arena + out->arena_used;
    out->arena_used += need;
    if (convert &&
        convert_parallel(mem, w->dtype, src, t->dtype, w->offset, (size_t)w->shape[0], (size_t)row_elems(w)) != 0)
        return lm_fail(e, "%s: out of memory converting tensor '%s' to %s", lm_checkpoint_dir(ck), w->hf_name,
                       slot_dtype_name(w->dtype));
    out->owned[i] = mem;
    out->ptr[i] = mem;
    return 0;
}

/* Once the last slot naming a tensor is bound, a tensor that no slot uses
 * in place is not read again: drop its pages from this process (they stay
 * in the page cache) so peak RSS counts converted weights once, not twice.
 * Only whole pages inside the tensor, so a neighbour bound in place keeps
 * its pages. */
static void drop_if_converted(const lm_model_desc *d, const lm_checkpoint *ck,
                              const lm_weights *out, int i)
{
#ifdef MADV_DONTNEED
    const char *name = d->weights[i].hf_name;
    for (int j = i + 1; j < d->n_weights; j++)
        if (strcmp(d->weights[j].hf_name, name) == 0)
            return; /* a later slot still reads it */
    const lm_tensor *t = lm_checkpoint_find(ck, name);
    const char *lo_b = t->data, *hi_b = (const char *)t->data + t->nbytes;
    for (int j = 0; j <= i; j++) {
        const char *p = out->ptr[j];
        if (strcmp(d->weights[j].hf_name, name) == 0 && p >= lo_b && p < hi_b)
            return; /* bound in place */
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)lo_b + page - 1) & ~(page - 1);
    uintptr_t hi = (uintptr_t)hi_b & ~(page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)d;
    (void)ck;
    (void)out;
    (void)i;
#endif
}

/* Files read in place every token go on huge pages (hugemap.h), each once;
 * a file only converted from is read once, and its pages are dropped
 * after. An optimization only: without memory for the list, none. */
static void prefer_huge_pages(const lm_model_desc *d, const lm_checkpoint *ck)
{
    const char **files = calloc(d->n_weights ? (size_t)d->n_weights : 1, sizeof *files);
    if (!files)
        return;
    int n = 0;
    for (int i = 0; i < d->n_weights; i++) {
        const lm_tensor *t = lm_checkpoint_find(ck, d->weights[i].hf_name);
        if (!binds_in_place(&d->weights[i], t))
            continue;
        int k = 0;
        while (k < n && strcmp(files[k], t->file) != 0)
            k++;
        if (k == n) {
            files[n++] = t->file;
            lm_checkpoint_prefer_huge(ck, t->file);
        }
    }
    free(files);
}

/* Whether binding quantizes a slot: what the weight cache is for. */
static int quantizes(const lm_model_desc *d, const lm_checkpoint *ck)
{
    for (int i = 0; i < d->n_weights; i++) {
        const lm_weight_desc *w = &d->weights[i];
        if (lm_dtype_is_quantized(w->dtype) && !binds_in_place(w, lm_checkpoint_find(ck, w->hf_name)))
            return 1;
    }
    return 0;
}

void lm_weights_free(lm_weights *w)
{
    if (!w)
        return;
    if (w->arena)
        munmap(w->arena, w->arena_bytes);
    free(w->owned);
    free((void *)w->ptr);
    memset(w, 0, sizeof *w);
}

/* Whether name lies under a prefix the model declares it does not read. */
static int skipped_prefix(const lm_model_desc *d, const char *name)
{
    for (int i = 0; i < d->n_skipped_prefixes; i++)
        if (strncmp(name, d->skipped_prefixes[i], strlen(d->skipped_prefixes[i])) == 0)
            return 1;
    return 0;
}

int lm_bind_weights(const lm_model_desc *d, const lm_checkpoint *ck, lm_weights *out, lm_err *e)
{
    memset(out, 0, sizeof *out);
    size_t n_tensors = lm_checkpoint_count(ck);
    unsigned char *used = calloc(n_tensors ? n_tensors : 1, 1);
    problems *p = calloc(1, sizeof *p);
    if (!used || !p) {
        free(used);
        free(p);
        return lm_fail(e, "%s: out of memory binding weights", lm_checkpoint_dir(ck));
    }
    for (int i = 0; i < d->n_weights; i++)
        check_slot(&d->weights[i], ck, used, p);
    for (size_t k = 0; k < n_tensors; k++)
        if (!used[k]) {
            const lm_tensor *t = lm_checkpoint_tensor(ck, k);
            if (skipped_prefix(d, t->name)) {
                out->skipped++;
                out->skipped_bytes += t->nbytes;
                continue;
            }
            char got[160];
            format_shape(got, sizeof got, t->ndim, t->shape);
            add_problem(p, "unexpected tensor '%s' (%s %s in %s)", t->name,
                        lm_st_dtype_name(t->dtype), got, t->file);
        }
    free(used);
    if (p->count) {
        char more[64] = "";
        if (p->omitted)
            snprintf(more, sizeof more, "; and %d more", p->omitted);
        lm_fail(e, "%s: %d problem%s binding weights: %s%s; check that the checkpoint matches "
                   "the compiled model %s",
                lm_checkpoint_dir(ck), p->count, p->count == 1 ? "" : "s", p->text, more,
                d->name ? d->name : "");
        free(p);
        return -1;
    }
    free(p);

    out->n = d->n_weights;
    out->ptr = calloc(d->n_weights ? (size_t)d->n_weights : 1, sizeof *out->ptr);
    out->owned = calloc(d->n_weights ? (size_t)d->n_weights : 1, sizeof *out->owned);
    if (!out->ptr || !out->owned) {
        lm_weights_free(out);
        return lm_fail(e, "%s: out of memory binding weights", lm_checkpoint_dir(ck));
    }
    if (reserve_arena(d, ck, out, e) != 0) {
        lm_weights_free(out);
        return -1;
    }
    prefer_huge_pages(d, ck);
    /* Quantized slots come from the weight cache when it holds them: a dry
     * pass lays the arena out, then one read fills it. */
    lm_weight_cache cache = { 0 };
    const size_t start = out->arena_used;
    if (quantizes(d, ck))
        lm_weight_cache_open(&cache, d, ck);
    if (cache.path[0]) {
        for (int i = 0; i < d->n_weights; i++)
            if (bind_slot(d, ck, out, i, 0, e) != 0) {
                lm_weight_cache_close(&cache);
                lm_weights_free(out);
                return -1;
            }
        int got = lm_weight_cache_load(&cache, (char *)out->arena + start, out->arena_used - start);
        if (got == LM_CACHE_BROKEN) {
            lm_weight_cache_close(&cache);
            lm_weights_free(out);
            return lm_fail(e, "%s: out of memory mapping the converted weights again after the weight "
                              "cache's file could not be kept",
                           lm_checkpoint_dir(ck));
        }
        if (got != LM_CACHE_MISS) {
            out->from_cache = got;
            if (got == LM_CACHE_MAPPED)
                out->cache_map = (char *)out->arena + start;
            lm_weight_cache_close(&cache);
            return 0;
        }
        out->arena_used = start;
        memset(out->owned, 0, (size_t)d->n_weights * sizeof *out->owned);
        memset((void *)out->ptr, 0, (size_t)d->n_weights * sizeof *out->ptr);
    }
    for (int i = 0; i < d->n_weights; i++) {
        if (bind_slot(d, ck, out, i, 1, e) != 0) {
            lm_weight_cache_close(&cache);
            lm_weights_free(out);
            return -1;
        }
        drop_if_converted(d, ck, out, i);
    }
    if (cache.path[0] && out->arena)
        lm_weight_cache_write(&cache, (char *)out->arena + start, out->arena_used - start);
    lm_weight_cache_close(&cache);
    return 0;
}
