/* Weight files on 2 MiB pages: whatever the kernel can do, the mapped bytes
 * never change; a file put on huge pages is found there the next time; the
 * environment switch and small files leave the page cache alone. Which of
 * the outcomes a machine gets depends on its kernel and file system, so
 * the test checks each outcome's promise rather than one outcome. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "weights/hugemap.h"

#define MIB ((size_t)1 << 20)

/* A file of size bytes in the working directory (a disk file system under
 * ctest, where large folios exist; tmpfs would not tell anything). */
static char *make_file(const char *name, size_t size)
{
    char *path = strdup(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < size; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        assert_int_equal(fwrite(&x, 4, 1, f), 1);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void *map_file(const char *path, size_t size)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    (void)madvise(m, size, MADV_HUGEPAGE);
    return m;
}

static void test_bytes_kept_and_result_sticks(void **state)
{
    (void)state;
    unsetenv("LMCC_HUGE_PAGES");
    const size_t size = 9 * MIB;
    char *path = make_file("hugemap-test.bin", size);
    unsigned char *m = map_file(path, size);
    uint64_t before = checksum(m, size);
    lm_huge_result r = lm_map_prefer_huge(m, size, path);
    assert_true(r == LM_HUGE_OFF || r == LM_HUGE_ALREADY || r == LM_HUGE_REREAD || r == LM_HUGE_UNSUPPORTED);
    assert_true(checksum(m, size) == before);
    if (r == LM_HUGE_REREAD || r == LM_HUGE_ALREADY)
        assert_true(lm_map_huge_bytes((const void *[]){ m }, 1) >= 2 * MIB);
    munmap(m, size);

    /* A file put on huge pages stays there for the next mapping. */
    m = map_file(path, size);
    lm_huge_result again = lm_map_prefer_huge(m, size, path);
    if (r == LM_HUGE_REREAD || r == LM_HUGE_ALREADY)
        assert_int_equal(again, LM_HUGE_ALREADY);
    assert_true(checksum(m, size) == before);
    munmap(m, size);
    unlink(path);
    free(path);
}

static void test_switch_and_small_files(void **state)
{
    (void)state;
    const size_t size = 9 * MIB;
    char *path = make_file("hugemap-off.bin", size);
    unsigned char *m = map_file(path, size);
    setenv("LMCC_HUGE_PAGES", "0", 1);
    assert_int_equal(lm_map_prefer_huge(m, size, path), LM_HUGE_OFF);
    unsetenv("LMCC_HUGE_PAGES");
    munmap(m, size);
    unlink(path);
    free(path);

    path = make_file("hugemap-small.bin", MIB);
    m = map_file(path, MIB);
    lm_huge_result r = lm_map_prefer_huge(m, MIB, path);
    assert_true(r == LM_HUGE_TOO_SMALL || r == LM_HUGE_OFF);
    munmap(m, MIB);
    unlink(path);
    free(path);
}

static void test_unmapped_address_has_no_huge_bytes(void **state)
{
    (void)state;
    static char not_a_mapping_start[64];
    assert_int_equal(lm_map_huge_bytes((const void *[]){ not_a_mapping_start + 1 }, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_kept_and_result_sticks),
        cmocka_unit_test(test_switch_and_small_files),
        cmocka_unit_test(test_unmapped_address_has_no_huge_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
