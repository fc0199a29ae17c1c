/* Replays a corpus through a fuzz target without libFuzzer, so the normal
 * build (gcc or clang, ASan/UBSan) runs every committed input:
 *   fuzz_safetensors_replay [-mutations=N] tests/fuzz/corpus/safetensors [more]
 * Each file is one call of LLVMFuzzerTestOneInput; a crash or sanitizer
 * report fails the run, as it would under libFuzzer. -mutations=N also runs
 * N new inputs made from each file (bytes flipped, inserted, erased,
 * repeated, the input cut short), the same ones every run: a short, fixed
 * exploration past the corpus that CI can afford. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int mutations;

/* xorshift64: the mutants depend only on the file and their number. */
static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* One mutant of in[0..n) into out (room for cap >= n bytes); its length. */
static size_t mutate(const uint8_t *in, size_t n, uint8_t *out, size_t cap, uint64_t *rng)
{
    memcpy(out, in, n);
    int edits = 1 + (int)(next_random(rng) % 4);
    for (int k = 0; k < edits; k++) {
        size_t at = n ? next_random(rng) % n : 0, len = 1 + next_random(rng) % 8;
        switch (next_random(rng) % 5) {
        case 0: /* flip a byte to something else */
            if (n)
                out[at] ^= (uint8_t)(1 + next_random(rng) % 255);
            break;
        case 1: /* insert an interesting byte */
            if (n + 1 <= cap) {
                static const uint8_t interesting[] = {0, 0xff, '"', '\\', '{', '[', ':', '\n', '*', '&', 0x80};
                memmove(out + at + 1, out + at, n - at);
                out[at] = interesting[next_random(rng) % sizeof interesting];
                n++;
            }
            break;
        case 2: /* erase a run */
            if (at + len <= n) {
                memmove(out + at, out + at + len, n - at - len);
                n -= len;
            }
            break;
        case 3: /* repeat a run once */
            if (at + len <= n && n + len <= cap) {
                memmove(out + at + len, out + at, n - at);
                n += len;
            }
            break;
        case 4: /* cut the input short */
            n = at;
            break;
        }
    }
    return n;
}

static void run_mutants(const uint8_t *buf, size_t n, uint64_t seed)
{
    size_t cap = n + 64;
    uint8_t *m = malloc(cap);
    if (!m)
        abort();
    uint64_t rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < mutations; i++) {
        size_t len = mutate(buf, n, m, cap, &rng);
        /* A copy of exactly len bytes, so ASan sees reads past the input. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact)
            abort();
        memcpy(exact, m, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    free(m);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: %s: cannot open\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz replay: %s: cannot read\n", path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    uint64_t seed = 1469598103934665603ULL; /* FNV-1a of the name: mutants per file */
    for (const char *c = strrchr(path, '/') ? strrchr(path, '/') + 1 : path; *c; c++)
        seed = (seed ^ (unsigned char)*c) * 1099511628211ULL;
    run_mutants(buf, (size_t)n, seed);
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order (a stable replay). */
static int run_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz replay: %s: cannot open the directory\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path);
            ++*count;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int count = 0, first = 1;
    if (strncmp(argv[1], "-mutations=", 11) == 0) {
        mutations = atoi(argv[1] + 11);
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz replay: %s: no such file or directory\n", argv[i]);
            return 1;
        }
        int rc = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : (count++, run_file(argv[i]));
        if (rc != 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "fuzz replay: no inputs in the corpus\n");
        return 1;
    }
    printf("%s: %d inputs replayed, %d mutants of each\n", argv[0], count, mutations);
    return 0;
}
