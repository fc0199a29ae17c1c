/* The hub cache's names and rules, as huggingface_hub has them: repository
 * ids (utils/_validators.py), the cache directory from the environment
 * (constants.py), models--ORG--NAME folders, refs, offline resolution of a
 * snapshot, -m ORG/NAME[@REV] parsing; and the registry's reverse lookup
 * from a repository to its model type, size and variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/files.h"
#include "hub/hub_cache.h"
#include "registry.h"

static lm_err err;

static void test_repo_ids(void **state)
{
    (void)state;
    const char *good[] = { "Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B", "gpt2", "a_b/c.d-e", "123/456" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (lm_hub_check_repo_id(good[i], &err) != 0)
            fail_msg("%s: %s", good[i], err.msg);
    const char *bad[] = { "", "a/b/c", "a//b", "/a", "a/", "org/-x", "org/x.", "a--b/c", "a/b..c",
                          "a b/c", "a/b?c", ".org/x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lm_hub_check_repo_id(bad[i], &err) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    char long_name[120];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name, "o/", 2);
    long_name[99] = '\0'; /* a 97-character name */
    assert_int_equal(lm_hub_check_repo_id(long_name, &err), -1);
    long_name[98] = '\0';
    assert_int_equal(lm_hub_check_repo_id(long_name, &err), 0);
}

static void test_revisions_and_commits(void **state)
{
    (void)state;
    assert_int_equal(lm_hub_check_revision("main", &err), 0);
    assert_int_equal(lm_hub_check_revision("refs/pr/1", &err), 0);
    assert_int_equal(lm_hub_check_revision("v1.0", &err), 0);
    assert_int_equal(lm_hub_check_revision("../x", &err), -1);
    assert_int_equal(lm_hub_check_revision("/abs", &err), -1);
    assert_int_equal(lm_hub_check_revision("a b", &err), -1);
    assert_int_equal(lm_hub_check_revision("", &err), -1);
    assert_true(lm_hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
    assert_false(lm_hub_is_commit("0123456789ABCDEF0123456789abcdef01234567"));
    assert_false(lm_hub_is_commit("0123456789abcdef"));
    assert_false(lm_hub_is_commit("main"));
}

static void expect_cache(const char *want)
{
    char buf[4096];
    if (lm_hub_cache_dir(buf, sizeof buf, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(buf, want);
}

static void test_cache_dir_from_environment(void **state)
{
    (void)state;
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    expect_cache("/home/u/.cache/huggingface/hub");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    expect_cache("/xdg/huggingface/hub");
    setenv("HF_HOME", "~/hf", 1);
    expect_cache("/home/u/hf/hub");
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    expect_cache("/legacy");
    setenv("HF_HUB_CACHE", "/hub", 1);
    expect_cache("/hub");
    char dir[4096];
    assert_int_equal(lm_hub_repo_dir("/hub", "Qwen/Qwen3-0.6B", dir, sizeof dir, &err), 0);
    assert_string_equal(dir, "/hub/models--Qwen--Qwen3-0.6B");
    assert_int_equal(lm_hub_locks_dir("/hub", "Qwen/Qwen3-0.6B", dir, sizeof dir, &err), 0);
    assert_string_equal(dir, "/hub/.locks/models--Qwen--Qwen3-0.6B");
    const char *truthy[] = { "1", "ON", "yes", "True" }, *falsy[] = { "0", "", "no", "off" };
    unsetenv("TRANSFORMERS_OFFLINE");
    for (int i = 0; i < 4; i++) {
        setenv("HF_HUB_OFFLINE", truthy[i], 1);
        assert_true(lm_hub_offline());
        setenv("HF_HUB_OFFLINE", falsy[i], 1);
        assert_false(lm_hub_offline());
    }
    unsetenv("HF_HUB_OFFLINE");
}

static void test_refs_and_offline_resolution(void **state)
{
    (void)state;
    char root[] = "/tmp/lmcc-hub-cache-XXXXXX";
    assert_non_null(mkdtemp(root));
    setenv("HF_HUB_CACHE", root, 1);
    char repo_dir[4096], snap[4096], path[4200], got[4096];
    const char *commit = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd";
    assert_int_equal(lm_hub_repo_dir(root, "org/m", repo_dir, sizeof repo_dir, &err), 0);
    /* Nothing cached: an error that says how to download it. */
    assert_int_equal(lm_hub_resolve_cached("org/m", "main", got, sizeof got, &err), -1);
    assert_non_null(strstr(err.msg, "lmcc pull org/m"));
    assert_int_equal(lm_hub_write_ref(repo_dir, "main", commit, &err), 0);
    char c[LM_HUB_COMMIT_LEN + 1];
    assert_int_equal(lm_hub_read_ref(repo_dir, "main", c, &err), 1);
    assert_string_equal(c, commit);
    assert_int_equal(lm_hub_read_ref(repo_dir, "v2", c, &err), 0);
    /* A ref but no snapshot with a config.json. */
    assert_int_equal(lm_hub_resolve_cached("org/m", "main", got, sizeof got, &err), -1);
    assert_non_null(strstr(err.msg, "no config.json"));
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, commit);
    assert_int_equal(lm_mkdirs(snap, &err), 0);
    snprintf(path, sizeof path, "%s/config.json", snap);
    assert_int_equal(lm_write_atomic(path, "{}", 2, &err), 0);
    assert_int_equal(lm_hub_resolve_cached("org/m", "main", got, sizeof got, &err), 0);
    assert_string_equal(got, snap);
    assert_int_equal(lm_hub_resolve_cached("org/m", commit, got, sizeof got, &err), 0);
    assert_string_equal(got, snap);
    /* A ref that is not a commit is refused, not followed. */
    snprintf(path, sizeof path, "%s/refs/bad", repo_dir);
    assert_int_equal(lm_write_atomic(path, "../../etc", 9, &err), 0);
    assert_int_equal(lm_hub_resolve_cached("org/m", "bad", got, sizeof got, &err), -1);
    assert_int_equal(lm_remove_tree(root, &err), 0);
    unsetenv("HF_HUB_CACHE");
}

static void test_model_refs(void **state)
{
    (void)state;
    char repo[256], rev[256];
    assert_int_equal(lm_hub_parse_model_ref("Qwen/Qwen3-0.6B", repo, sizeof repo, rev, sizeof rev), 1);
    assert_string_equal(repo, "Qwen/Qwen3-0.6B");
    assert_string_equal(rev, "main");
    assert_int_equal(lm_hub_parse_model_ref("Qwen/Qwen3-0.6B@v1", repo, sizeof repo, rev, sizeof rev), 1);
    assert_string_equal(rev, "v1");
    /* Paths stay paths. */
    assert_int_equal(lm_hub_parse_model_ref("./ckpt", repo, sizeof repo, rev, sizeof rev), 0);
    assert_int_equal(lm_hub_parse_model_ref("/tmp", repo, sizeof repo, rev, sizeof rev), 0);
    assert_int_equal(lm_hub_parse_model_ref("ckpt", repo, sizeof repo, rev, sizeof rev), 0);
    assert_int_equal(lm_hub_parse_model_ref("a/b/c", repo, sizeof repo, rev, sizeof rev), 0);
}

static void test_registry_repo_lookup(void **state)
{
    (void)state;
    registry r;
    if (registry_load(&r, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    registry_entry ent;
    assert_int_equal(registry_find_repo(&r, "qwen/qwen3-0.6b", &ent, &err), 1);
    assert_string_equal(ent.model, "qwen3");
    assert_string_equal(ent.size, "0.6B");
    assert_string_equal(ent.variant, "instruct"); /* listed before reasoning, same repo */
    assert_int_equal(registry_find_repo(&r, "Qwen/Qwen3-0.6B-Base", &ent, &err), 1);
    assert_string_equal(ent.variant, "base");
    assert_int_equal(registry_find_repo(&r, "meta-llama/Llama-3.2-1B-Instruct", &ent, &err), 1);
    assert_string_equal(ent.model, "llama");
    assert_string_equal(ent.size, "1B");
    assert_int_equal(registry_find_repo(&r, "someone/else", &ent, &err), 0);
    assert_string_equal(registry_default_variant(registry_find_model(&r, "qwen3")), "instruct");
    registry_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_ids),
        cmocka_unit_test(test_revisions_and_commits),
        cmocka_unit_test(test_cache_dir_from_environment),
        cmocka_unit_test(test_refs_and_offline_resolution),
        cmocka_unit_test(test_model_refs),
        cmocka_unit_test(test_registry_repo_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
