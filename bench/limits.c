/* lmcc-limits: this machine's limits, the yardsticks of `make bench`.
 *
 *   read_bandwidth_gbs  sustained memory read bandwidth, all threads (see
 *                       bandwidth() for why sustained). Decode reads every
 *                       weight once per token, so
 *                       decode tokens/s <= this / weight bytes per token.
 *   fma_gflops          peak f32 multiply-add throughput, all threads. Prefill
 *                       is compute bound, so
 *                       prefill tokens/s <= this / (2 x parameters per token).
 *   bf16_dot_gflops     the same for AVX-512 BF16 dot products (vdpbf16ps, 64
 *                       flops each), null where the CPU lacks them;
 *   int8_dot_gops       the same for AVX-512 VNNI int8 dot products
 *                       (vpdpbusd, 128 ops each: 64 multiply-adds), null
 *                       where the CPU lacks them; q8_0 and q4_0 models
 *                       multiply with these and are measured against it;
 *   amx_bf16_gflops     and for AMX tiles (tdpbf16ps, 16384 flops each), null
 *                       where the CPU or the kernel lacks them. A model built
 *                       with --matmul-input bf16 multiplies with one of these
 *                       and is measured against it;
 *   amx_int8_gops       and for AMX int8 tiles (tdpbssd, 32768 ops each:
 *                       16384 multiply-adds), null likewise; q8_0 and q4_0
 *                       batches on Intel multiply with these.
 *
 * Extra keys say how much the way of measuring matters on this machine:
 * one thread's bandwidth, the bandwidth on 4 KiB pages, one thread's FMA
 * peak, the fraction of the read buffer the kernel really put on huge pages,
 * and the 1-minute load average (the machines are shared; the bandwidth
 * moves with the host's load, which is why scripts/bench.sh measures it
 * again right before each run it compares with: `--quick`, which measures
 * the FMA peak too, since a busy host holds that down as well).
 *
 * Output: one JSON object on stdout. A failure is one line on stderr and
 * exit status 1, never a zero that would make every fraction infinite. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX512BF16__) || defined(__AVX512VNNI__) || defined(__AMXBF16__) || defined(__AMX_BF16__)
#include <immintrin.h>
#endif
#if defined(__AVX512BF16__)
#define HAVE_BF16_DOT 1
#endif
#if defined(__AVX512VNNI__)
#define HAVE_INT8_DOT 1
#endif
#if (defined(__AMXBF16__) || defined(__AMX_BF16__)) && defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#define HAVE_AMX 1
#if defined(__AMXINT8__) || defined(__AMX_INT8__)
#define HAVE_AMX_INT8 1
#endif
#endif

/* The widest vectors -march=native gives, and as many FMA accumulators as
 * the register file holds next to the two operands: FMA latency (4-5
 * cycles) x 2 FMA pipes needs 8-10 independent chains in flight, and more
 * than fit in registers would spill and measure the stack instead. */
#if defined(__AVX512F__)
#define VEC_BYTES 64
#define FMA_CHAINS 12 /* of 32 zmm registers */
#elif defined(__AVX__)
#define VEC_BYTES 32
#define FMA_CHAINS 12 /* of 16 ymm registers */
#else
#define VEC_BYTES 16
#define FMA_CHAINS 12 /* SSE: 16 xmm; NEON: 32 q registers */
#endif
#define LANES (VEC_BYTES / 4)
typedef float vec __attribute__((vector_size(VEC_BYTES)));

/* The read buffer: at least 1 GiB and, as STREAM requires, at least four
 * times the last-level cache, so the bytes come from DRAM and not from a
 * cache that kept part of the last pass (these machines have 480 MiB of
 * L3: a 1 GiB buffer read up to 42 GB/s in one pass, 4 GiB at most 38). */
#define BUF_MIN_BYTES ((size_t)1 << 30)

static size_t read_buffer_bytes(void)
{
    size_t bytes = BUF_MIN_BYTES;
    long llc = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (llc > 0 && (size_t)llc * 4 > bytes)
        bytes = ((size_t)llc * 4 + BUF_MIN_BYTES - 1) / BUF_MIN_BYTES * BUF_MIN_BYTES;
    return bytes;
}
#define READ_STEP (4 * VEC_BYTES)
#define BANDWIDTH_REPS 8
#define BANDWIDTH_MIN_S 0.6
#define FMA_REPS 3
#define FMA_ITERS 20000000L
#define MAX_THREADS 256

/* Where the sums go, so the compiler cannot drop the work that makes them. */
static volatile float keep_result;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *where, const char *what)
{
    fprintf(stderr, "lmcc-limits: error: %s: %s\n", where, what);
    return -1;
}

/* A STREAM-like read: each thread sums its own slice with four independent
 * vector accumulators, so the adds never wait on each other and the loop
 * is limited by the loads alone. A sum, not a copy: decode only reads
 * weights, and a copy's write-allocate traffic would blur the figure. */
#define READ_SLICE(name, vtype, vbytes)                                          \
    static float name(const char *p, size_t n)                                  \
    {                                                                           \
        vtype a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };                       \
        for (size_t i = 0; i + 4 * (vbytes) <= n; i += 4 * (vbytes)) {          \
            vtype x, y, z, w;                                                   \
            memcpy(&x, p + i, (vbytes));                                        \
            memcpy(&y, p + i + (vbytes), (vbytes));                             \
            memcpy(&z, p + i + 2 * (vbytes), (vbytes));                         \
            memcpy(&w, p + i + 3 * (vbytes), (vbytes));                         \
            a += x;                                                             \
            b += y;                                                             \
            c += z;                                                             \
            d += w;                                                             \
        }                                                                       \
        vtype s = a + b + c + d;                                                \
        float r = 0;                                                            \
        for (size_t i = 0; i < (vbytes) / 4; i++)                               \
            r += s[i];                                                          \
        return r;                                                               \
    }
/* The read at the widest vectors, and at half of that: on Intel's AVX-512
 * parts a core streamed memory 15% faster with 256-bit loads than with
 * 512-bit ones (17.8 vs 15.5 GB/s), so the bandwidth is the better of the
 * two, the most this machine's memory gives. */
typedef float half_vec __attribute__((vector_size(VEC_BYTES / 2)));
READ_SLICE(read_slice, vec, VEC_BYTES)
READ_SLICE(read_slice_half, half_vec, VEC_BYTES / 2)

/* A register-only FMA loop: FMA_CHAINS independent chains of acc = acc*m+k,
 * no loads or stores inside, so it runs at the FMA units' peak. `acc * m + k`
 * is one expression and clang contracts it into one vfmadd (checked with
 * objdump: vfmadd213ps on zmm with -march=native on AVX-512). */
static float fma_loop(float seed)
{
    vec acc[FMA_CHAINS];
    vec m, k;
    for (int i = 0; i < LANES; i++) {
        m[i] = 0.999999f;
        k[i] = seed * 1e-7f;
    }
    for (int j = 0; j < FMA_CHAINS; j++)
        acc[j] = k * (float)(j + 1);
    for (long it = 0; it < FMA_ITERS; it++)
        for (int j = 0; j < FMA_CHAINS; j++)
            acc[j] = acc[j] * m + k;
    float r = 0;
    for (int j = 0; j < FMA_CHAINS; j++)
        for (int i = 0; i < LANES; i++)
            r += acc[j][i];
    return r;
}

#ifdef HAVE_BF16_DOT
/* The same for vdpbf16ps: each adds 32 products of bf16 pairs into 16 f32
 * lanes. (On Intel Sapphire Rapids it runs at a quarter of the FMA's
 * instruction rate, on AMD Zen 4 at the FMA's: the peak says which.) */
static float bf16_dot_loop(float seed)
{
    __m512 acc[FMA_CHAINS];
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f), b = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    for (int j = 0; j < FMA_CHAINS; j++)
        acc[j] = _mm512_set1_ps(seed * (float)(j + 1));
    for (long it = 0; it < FMA_ITERS; it++)
        for (int j = 0; j < FMA_CHAINS; j++)
            acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
    float r = 0;
    for (int j = 0; j < FMA_CHAINS; j++)
        r += _mm512_reduce_add_ps(acc[j]);
    return r;
}
#endif

#ifdef HAVE_INT8_DOT
/* The same for vpdpbusd: each adds 64 products of u8 x s8 pairs into 16
 * int32 lanes. */
static float int8_dot_loop(float seed)
{
    __m512i acc[FMA_CHAINS];
    const __m512i a = _mm512_set1_epi32(0x01010101), b = _mm512_set1_epi32(0x01ff01ff);
    for (int j = 0; j < FMA_CHAINS; j++)
        acc[j] = _mm512_set1_epi32((int)seed * (j + 1));
    for (long it = 0; it < FMA_ITERS; it++)
        for (int j = 0; j < FMA_CHAINS; j++)
            acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
    long r = 0;
    for (int j = 0; j < FMA_CHAINS; j++)
        r += _mm512_reduce_add_epi32(acc[j]);
    return (float)r;
}
#endif

#ifdef HAVE_AMX
#define AMX_ITERS 5000000L
/* AMX: four independent 16 x 16 sums (tiles 0-3) from two 16 x 32 bf16
 * tiles by two 32 x 16 ones, as the runtime's kernel blocks them. Linux
 * grants the tile state on request (arch_prctl); amx_allowed asks once. */
static int amx_allowed(void)
{
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

static float amx_loop(float seed, int int8)
{
    struct {
        unsigned char palette, start_row, reserved[14];
        unsigned short colsb[16];
        unsigned char rows[16];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
    static _Thread_local unsigned short src[16 * 32];
    for (int i = 0; i < 16 * 32; i++)
        src[i] = 0x3c00;
    float out[16 * 16];
    for (int i = 0; i < 16 * 16; i++)
        out[i] = seed;
    _tile_loadd(0, out, 64);
    _tile_loadd(1, out, 64);
    _tile_loadd(2, out, 64);
    _tile_loadd(3, out, 64);
    _tile_loadd(4, src, 64);
    _tile_loadd(5, src, 64);
    _tile_loadd(6, src, 64);
    _tile_loadd(7, src, 64);
    if (!int8) {
        for (long it = 0; it < AMX_ITERS; it++) {
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
#ifdef HAVE_AMX_INT8
    /* The same blocking with int8 operands (the bit patterns above read
     * as int8 pairs; the int32 sums wrap, which costs nothing). */
    else
        for (long it = 0; it < AMX_ITERS; it++) {
            _tile_dpbssd(0, 4, 6);
            _tile_dpbssd(1, 4, 7);
            _tile_dpbssd(2, 5, 6);
            _tile_dpbssd(3, 5, 7);
        }
#endif
    _tile_stored(3, out, 64);
    _tile_release();
    return out[0];
}
#endif

typedef enum { MEASURE_READ, MEASURE_READ_HALF, MEASURE_FMA, MEASURE_BF16_DOT, MEASURE_INT8_DOT, MEASURE_AMX, MEASURE_AMX_INT8 } measure_kind;

typedef struct job {
    measure_kind kind;
    const char *slice; /* MEASURE_READ: this thread's part of the buffer */
    size_t slice_bytes;
    float seed;   /* MEASURE_FMA: differs per thread so no two compute the same */
    float result; /* kept so the compiler cannot drop the work */
    pthread_barrier_t *start;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    switch (j->kind) {
    case MEASURE_READ: j->result = read_slice(j->slice, j->slice_bytes); break;
    case MEASURE_READ_HALF: j->result = read_slice_half(j->slice, j->slice_bytes); break;
    case MEASURE_FMA: j->result = fma_loop(j->seed); break;
#ifdef HAVE_BF16_DOT
    case MEASURE_BF16_DOT: j->result = bf16_dot_loop(j->seed); break;
#endif
#ifdef HAVE_INT8_DOT
    case MEASURE_INT8_DOT: j->result = int8_dot_loop(j->seed); break;
#endif
#ifdef HAVE_AMX
    case MEASURE_AMX: j->result = amx_loop(j->seed, 0); break;
    case MEASURE_AMX_INT8: j->result = amx_loop(j->seed, 1); break;
#endif
    default: break;
    }
    return NULL;
}

/* Runs the measurement on n threads released together by a barrier; sets
 * *seconds to the wall time from release to the last thread's end. */
static int run_threads(int n, measure_kind kind, const char *buf, size_t slice, float *sink,
                       double *seconds)
{
    pthread_t th[MAX_THREADS];
    job jobs[MAX_THREADS];
    pthread_barrier_t start;
    int rc = pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    if (rc != 0)
        return fail("pthread_barrier_init", strerror(rc));
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){ .kind = kind,
                         .slice = buf ? buf + (size_t)i * slice : NULL,
                         .slice_bytes = slice,
                         .seed = (float)(i + 1),
                         .start = &start };
        rc = pthread_create(&th[i], NULL, worker, &jobs[i]);
        if (rc != 0) {
            /* The started threads wait at the barrier for n + 1 arrivals; a
             * tool that measures and exits can leave them there. */
            return fail("pthread_create", strerror(rc));
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        *sink += jobs[i].result;
    }
    *seconds = now() - t0;
    pthread_barrier_destroy(&start);
    return 0;
}

/* The fraction of the process's anonymous memory on transparent huge pages,
 * from /proc/self/smaps_rollup; -1 when the kernel does not say. */
static double huge_fraction(size_t bytes)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib < 0 ? -1 : (double)kib * 1024.0 / (double)bytes;
}

/* Reads of the buffer (read_buffer_bytes), in GB/s: the sustained rate (all bytes read
 * over all the time, at least BANDWIDTH_REPS passes and BANDWIDTH_MIN_S
 * seconds) and the best single pass. On these shared machines single
 * passes of ~25 ms vary from 22 to 44 GB/s within a second, so the best
 * pass (STREAM's convention) is a burst no second-long decode can hold;
 * the sustained rate is the yardstick, the best pass is reported beside
 * it. With huge pages on (madvise(MADV_HUGEPAGE), as the runtime maps
 * what it can), because with 4 KiB pages the TLB misses cut one core's
 * bandwidth about in half; the 4 KiB figure is measured too, to show it.
 * The buffer is touched first so the page faults (and the kernel's
 * zeroing) are not timed. */
static int bandwidth(int threads, int huge, float *sink, double *sustained, double *best_pass,
                     double *huge_frac)
{
    const size_t buf_bytes = read_buffer_bytes();
    char *buf = mmap(NULL, buf_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return fail("mmap of the read buffer", strerror(errno));
    /* Advice only: a kernel without THP still gives a valid, slower figure. */
    (void)madvise(buf, buf_bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    for (size_t i = 0; i < buf_bytes; i += 4096)
        buf[i] = (char)(i >> 12);
    if (huge_frac)
        *huge_frac = huge_fraction(buf_bytes);
    size_t slice = buf_bytes / (size_t)threads / READ_STEP * READ_STEP;
    double best = 0, best_sustained = 0;
    for (int kind = MEASURE_READ; kind <= MEASURE_READ_HALF; kind++) {
        double total_s = 0, total_bytes = 0;
        for (int r = 0; r < BANDWIDTH_REPS || total_s < BANDWIDTH_MIN_S; r++) {
            double t;
            if (run_threads(threads, (measure_kind)kind, buf, slice, sink, &t) != 0) {
                munmap(buf, buf_bytes);
                return -1;
            }
            double bytes = (double)(slice * (size_t)threads);
            total_s += t;
            total_bytes += bytes;
            if (bytes / t / 1e9 > best)
                best = bytes / t / 1e9;
        }
        if (total_bytes / total_s / 1e9 > best_sustained)
            best_sustained = total_bytes / total_s / 1e9;
    }
    munmap(buf, buf_bytes);
    *sustained = best_sustained;
    if (best_pass)
        *best_pass = best;
    return 0;
}

/* Best of several runs of a compute loop, in GFLOP/s (a multiply-add
 * counts as two flops); flops: per thread and run. */
static int peak_gflops(int threads, measure_kind kind, double flops, float *sink, double *gflops)
{
    double best = 0;
    for (int r = 0; r < FMA_REPS; r++) {
        double t;
        if (run_threads(threads, kind, NULL, 0, sink, &t) != 0)
            return -1;
        double g = flops * threads / t / 1e9;
        if (g > best)
            best = g;
    }
    *gflops = best;
    return 0;
}

static int fma_gflops(int threads, float *sink, double *gflops)
{
    return peak_gflops(threads, MEASURE_FMA, (double)FMA_ITERS * FMA_CHAINS * LANES * 2, sink, gflops);
}

/* The bf16 peaks as JSON values: a number, or null where not available. */
static int dot_peaks(int threads, float *sink, char *dot, char *int8, char *amx, char *amx8, size_t cap)
{
    snprintf(dot, cap, "null");
    snprintf(int8, cap, "null");
    snprintf(amx, cap, "null");
    snprintf(amx8, cap, "null");
#ifdef HAVE_INT8_DOT
    double i8;
    if (peak_gflops(threads, MEASURE_INT8_DOT, (double)FMA_ITERS * FMA_CHAINS * 128, sink, &i8) != 0)
        return -1;
    snprintf(int8, cap, "%.1f", i8);
#endif
#ifdef HAVE_BF16_DOT
    double g;
    if (peak_gflops(threads, MEASURE_BF16_DOT, (double)FMA_ITERS * FMA_CHAINS * 64, sink, &g) != 0)
        return -1;
    snprintf(dot, cap, "%.1f", g);
#endif
#ifdef HAVE_AMX
    if (amx_allowed()) {
        double a;
        if (peak_gflops(threads, MEASURE_AMX, (double)AMX_ITERS * 4 * 16 * 16 * 32 * 2, sink, &a) != 0)
            return -1;
        snprintf(amx, cap, "%.1f", a);
#ifdef HAVE_AMX_INT8
        if (peak_gflops(threads, MEASURE_AMX_INT8, (double)AMX_ITERS * 4 * 16 * 16 * 64 * 2, sink, &a) != 0)
            return -1;
        snprintf(amx8, cap, "%.1f", a);
#endif
    }
#endif
    (void)threads;
    (void)sink;
    return 0;
}

/* The CPU's name as /proc/cpuinfo gives it (x86 "model name"; else
 * "unknown"), with JSON's special characters left out. */
static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        char *v = strchr(line, ':');
        if (v) {
            v += 1 + (v[1] == ' ');
            size_t n = 0;
            for (; *v && *v != '\n' && n + 1 < cap; v++)
                if (*v != '"' && *v != '\\' && (unsigned char)*v >= 0x20)
                    out[n++] = *v;
            out[n] = '\0';
        }
        break;
    }
    fclose(f);
}

static double load_average(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int usage(void)
{
    fprintf(stderr, "usage: lmcc-limits [-t THREADS] [--bandwidth-only | --quick]\n"
                    "  prints this machine's memory read bandwidth and f32 FMA peak as JSON\n"
                    "  -t THREADS        threads to measure with (default: every online CPU)\n"
                    "  --bandwidth-only  measure only the all-thread read bandwidth (a few seconds)\n"
                    "  --quick           the all-thread bandwidth and FMA peak only: the figures that\n"
                    "                    move with the host's load, measured again before each run\n");
    return 2;
}

int main(int argc, char **argv)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = online >= 1 && online <= MAX_THREADS ? (int)online : 1;
    int only_bandwidth = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bandwidth-only") == 0) {
            only_bandwidth = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > MAX_THREADS) {
                fprintf(stderr, "lmcc-limits: error: -t %s: not a thread count; give 1 to %d\n",
                        argv[i], MAX_THREADS);
                return 2;
            }
            threads = (int)t;
        } else {
            return usage();
        }
    }
    float sink = 0;
    double bw, bw_best, huge_frac = -1;
    if (bandwidth(threads, 1, &sink, &bw, &bw_best, &huge_frac) != 0)
        return 1;
    if (only_bandwidth) {
        printf("{\"read_bandwidth_gbs\": %.2f, \"read_bandwidth_best_pass_gbs\": %.2f, "
               "\"load_average_1min\": %.2f}\n",
               bw, bw_best, load_average());
    } else if (quick) {
        double fma;
        char dot[32], int8[32], amx[32], amx8[32];
        if (fma_gflops(threads, &sink, &fma) != 0 || dot_peaks(threads, &sink, dot, int8, amx, amx8, sizeof dot) != 0)
            return 1;
        printf("{\"read_bandwidth_gbs\": %.2f, \"read_bandwidth_best_pass_gbs\": %.2f, "
               "\"fma_gflops\": %.1f, \"bf16_dot_gflops\": %s, \"int8_dot_gops\": %s, \"amx_bf16_gflops\": %s, "
               "\"amx_int8_gops\": %s, \"load_average_1min\": %.2f}\n",
               bw, bw_best, fma, dot, int8, amx, amx8, load_average());
    } else {
        char cpu[256];
        cpu_model(cpu, sizeof cpu);
        double bw1, bw4k, fma, fma1;
        char dot[32], int8[32], amx[32], amx8[32];
        if (bandwidth(1, 1, &sink, &bw1, NULL, NULL) != 0 || bandwidth(threads, 0, &sink, &bw4k, NULL, NULL) != 0 ||
            fma_gflops(threads, &sink, &fma) != 0 || fma_gflops(1, &sink, &fma1) != 0 ||
            dot_peaks(threads, &sink, dot, int8, amx, amx8, sizeof dot) != 0)
            return 1;
        printf("{\"cpu\": \"%s\", \"threads\": %d, \"read_bandwidth_gbs\": %.2f, \"fma_gflops\": %.1f, "
               "\"bf16_dot_gflops\": %s, \"int8_dot_gops\": %s, \"amx_bf16_gflops\": %s, \"amx_int8_gops\": %s, "
               "\"read_bandwidth_best_pass_gbs\": %.2f, "
               "\"read_bandwidth_1thread_gbs\": %.2f, \"read_bandwidth_4k_pages_gbs\": %.2f, "
               "\"fma_gflops_1thread\": %.1f, \"vector_bits\": %d, \"read_buffer_huge_fraction\": %.2f, "
               "\"read_buffer_bytes\": %zu, \"load_average_1min\": %.2f}\n",
               cpu, threads, bw, fma, dot, int8, amx, amx8, bw_best, bw1, bw4k, fma1, VEC_BYTES * 8, huge_frac, read_buffer_bytes(),
               load_average());
    }
    keep_result = sink;
    return 0;
}
