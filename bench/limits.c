/* lmcc-limits: this machine's limits, the yardsticks of `make bench`.
 *
 *   read_bandwidth_gbs  memory read bandwidth, all threads: decode reads every
 *                       weight once per token, so tokens/s <= this / bytes per token
 *   fma_gflops          peak f32 multiply-add throughput, all threads: prefill is
 *                       compute bound, tokens/s <= this / (2 x params per token)
 *
 * The bandwidth moves with the host's load, so the benchmark measures it in
 * the same run as the decode it is compared with. It is read the way the
 * runtime reads weights: over a buffer far larger than the caches (1 GiB),
 * on transparent huge pages (with 4 KiB pages one core reads much less), each
 * thread summing its own slice with several independent vector accumulators
 * so the loop is never the limit. The FMA loop keeps 12 independent
 * accumulators in registers, enough to cover FMA latency times throughput,
 * with the widest vectors -march=native gives. Each figure is the best of
 * several repetitions. Output: one JSON object on stdout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef float v16 __attribute__((vector_size(64)));

#define BUF_BYTES ((size_t)1 << 30)
#define REPS 5
#define FMA_ITERS 20000000L

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct job {
    const char *base;
    size_t bytes;
    int kind; /* 0: read, 1: fma */
    float result;
    pthread_barrier_t *start;
} job;

static float read_slice(const char *p, size_t n)
{
    v16 a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
    for (size_t i = 0; i + 256 <= n; i += 256) {
        v16 x, y, z, w;
        memcpy(&x, p + i, 64);
        memcpy(&y, p + i + 64, 64);
        memcpy(&z, p + i + 128, 64);
        memcpy(&w, p + i + 192, 64);
        a += x;
        b += y;
        c += z;
        d += w;
    }
    v16 s = a + b + c + d;
    float r = 0;
    for (int i = 0; i < 16; i++)
        r += s[i];
    return r;
}

static float fma_loop(float seed)
{
    v16 acc[12];
    v16 m = { 0 }, k = { 0 };
    for (int i = 0; i < 16; i++) {
        m[i] = 0.999999f;
        k[i] = seed * 1e-7f;
    }
    for (int j = 0; j < 12; j++)
        acc[j] = k * (float)(j + 1);
    for (long it = 0; it < FMA_ITERS; it++)
        for (int j = 0; j < 12; j++)
            acc[j] = acc[j] * m + k;
    float r = 0;
    for (int j = 0; j < 12; j++)
        for (int i = 0; i < 16; i++)
            r += acc[j][i];
    return r;
}

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->result = j->kind == 0 ? read_slice(j->base, j->bytes) : fma_loop((float)j->bytes);
    return NULL;
}

/* Runs the kind on n threads at once; returns the wall time. */
static double run(int n, int kind, const char *buf, size_t bytes, float *sink)
{
    pthread_t th[256];
    job jobs[256];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    size_t slice = bytes / (size_t)n / 256 * 256;
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){ .base = buf ? buf + (size_t)i * slice : NULL,
                         .bytes = kind == 0 ? slice : (size_t)(i + 1), .kind = kind, .start = &start };
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        *sink += jobs[i].result;
    }
    double t = now() - t0;
    pthread_barrier_destroy(&start);
    return t;
}

static double bandwidth(int threads, int huge, float *sink)
{
    char *buf = mmap(NULL, BUF_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return 0;
    madvise(buf, BUF_BYTES, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    for (size_t i = 0; i < BUF_BYTES; i += 4096)
        buf[i] = (char)i;
    double best = 0;
    for (int r = 0; r < REPS; r++) {
        double t = run(threads, 0, buf, BUF_BYTES, sink);
        double gbs = (double)(BUF_BYTES / (size_t)threads / 256 * 256 * (size_t)threads) / t / 1e9;
        if (gbs > best)
            best = gbs;
    }
    munmap(buf, BUF_BYTES);
    return best;
}

static double fma_gflops(int threads, float *sink)
{
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t = run(threads, 1, NULL, 0, sink);
        /* 12 accumulators x 16 lanes x 2 flops per iteration and thread */
        double g = (double)FMA_ITERS * 12 * 16 * 2 * threads / t / 1e9;
        if (g > best)
            best = g;
    }
    return best;
}

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(out, cap, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int only_bandwidth = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bandwidth-only") == 0)
            only_bandwidth = 1;
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: lmcc-limits [-t THREADS] [--bandwidth-only]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256)
        threads = 1;
    float sink = 0;
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    double bw = bandwidth(threads, 1, &sink);
    if (only_bandwidth) {
        printf("{\"read_bandwidth_gbs\": %.2f}\n", bw);
    } else {
        double bw1 = bandwidth(1, 1, &sink);
        double bw4k = bandwidth(threads, 0, &sink);
        double fma = fma_gflops(threads, &sink);
        double fma1 = fma_gflops(1, &sink);
        printf("{\"cpu\": \"%s\", \"threads\": %d, \"read_bandwidth_gbs\": %.2f, \"fma_gflops\": %.1f, "
               "\"read_bandwidth_1thread_gbs\": %.2f, \"read_bandwidth_4k_pages_gbs\": %.2f, "
               "\"fma_gflops_1thread\": %.1f}\n",
               cpu, threads, bw, fma, bw1, bw4k, fma1);
    }
    return sink == 12345.0f; /* keeps the sums alive */
}
