/* The model registry: the shipped configs/registry.yaml resolves every
 * model type, size and variant to a config file that exists; lookups are
 * case-insensitive; unknown names are errors that list what exists; and a
 * malformed registry file is an error naming its line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "registry.h"

static lm_err err;

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("expected '%s' in: %s", part, text);
}

static void test_shipped_registry_resolves(void **state)
{
    (void)state;
    registry r;
    if (registry_load(&r, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_non_null(registry_find_model(&r, "qwen1"));
    assert_non_null(registry_find_model(&r, "qwen3"));
    int entries = 0;
    for (int i = 0; i < r.n_models; i++) {
        const registry_model *m = &r.models[i];
        for (int s = 0; s < m->n_sizes; s++) {
            for (int v = 0; v < m->n_variants; v++) {
                registry_entry ent;
                if (registry_lookup(&r, m->name, m->sizes[s], m->variants[v].name, &ent, &err) != 0)
                    fail_msg("%s %s %s: %s", m->name, m->sizes[s], m->variants[v].name, err.msg);
                if (!fs_exists(ent.config_path))
                    fail_msg("%s %s: config %s does not exist", m->name, m->sizes[s], ent.config_path);
                assert_true(ent.has_variant);
                assert_null(strstr(ent.repo, "{size}"));
                assert_true(ent.n_eos >= 1);
                entries++;
            }
        }
    }
    assert_true(entries >= 4 * 2 + 6 * 3);
    registry_free(&r);
}

static void test_resolve_fields(void **state)
{
    (void)state;
    registry_entry ent;
    /* Sizes match case-insensitively, and come back as listed. */
    if (registry_resolve("qwen3", "0.6b", "reasoning", &ent, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(ent.model, "qwen3");
    assert_string_equal(ent.arch, "qwen3");
    assert_string_equal(ent.size, "0.6B");
    assert_string_equal(ent.repo, "Qwen/Qwen3-0.6B");
    assert_string_equal(ent.chat, "qwen3");
    assert_true(ent.thinking);
    assert_contains(ent.config_path, "/configs/qwen3/qwen3-0.6b.yaml");
    assert_int_equal(ent.n_eos, 2);
    assert_string_equal(ent.eos[0], "<|im_end|>");

    if (registry_resolve("QWEN3", "8B", "base", &ent, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(ent.repo, "Qwen/Qwen3-8B-Base");
    assert_string_equal(ent.chat, "none");
    assert_false(ent.thinking);

    /* Without a variant: the config only. */
    if (registry_resolve("qwen1", "7b", NULL, &ent, &err) != 0)
        fail_msg("%s", err.msg);
    assert_false(ent.has_variant);
    assert_string_equal(ent.repo, "");
    assert_contains(ent.config_path, "/configs/qwen1/qwen1-7b.yaml");

    if (registry_resolve("qwen1", "14B", "chat", &ent, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(ent.repo, "Qwen/Qwen-14B-Chat");
    assert_string_equal(ent.chat, "chatml");
}

static void test_unknown_names_list_what_exists(void **state)
{
    (void)state;
    registry_entry ent;
    assert_int_equal(registry_resolve("qwen9", "7B", NULL, &ent, &err), -1);
    assert_contains(err.msg, "unknown model type 'qwen9'");
    assert_contains(err.msg, "llama, qwen1, qwen2, qwen3");
    assert_null(strchr(err.msg, '\n'));

    assert_int_equal(registry_resolve("qwen3", "7B", NULL, &ent, &err), -1);
    assert_contains(err.msg, "unknown size '7B'");
    assert_contains(err.msg, "0.6B, 1.7B, 4B, 8B, 14B, 32B");

    assert_int_equal(registry_resolve("qwen3", NULL, NULL, &ent, &err), -1);
    assert_contains(err.msg, "a size is needed");

    assert_int_equal(registry_resolve("qwen3", "8B", "chat", &ent, &err), -1);
    assert_contains(err.msg, "unknown variant 'chat'");
    assert_contains(err.msg, "base, instruct, reasoning");

    assert_int_equal(registry_resolve("qwen1", "7B", "instruct", &ent, &err), -1);
    assert_contains(err.msg, "base, chat");
}

/* Writes text to a temporary registry file; returns its path (static). */
static const char *write_registry(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/lmcc-test-registry-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_custom_registry(void **state)
{
    (void)state;
    const char *path = write_registry("models:\n"
                                      "  zeta:\n"
                                      "    arch: qwen1\n"
                                      "    config: configs/zeta/zeta-{size}.yaml\n"
                                      "    sizes: [1.8B, 7B]\n"
                                      "    repo_size: {1.8B: 1_8B}\n"
                                      "    variants:\n"
                                      "      chat: {repo: \"Org/Zeta-{size}-Chat\", eos: [\"<|im_end|>\"], chat: chatml}\n"
                                      "      base: {repo: \"Org/Zeta-{size}\", eos: [\"<|endoftext|>\"]}\n"
                                      "  alpha:\n"
                                      "    arch: qwen3\n"
                                      "    config: /abs/alpha-{size}.yaml\n"
                                      "    sizes: [1B]\n"
                                      "    variants:\n"
                                      "      base: {repo: \"Org/Alpha-{size}\", eos: [x], thinking: true}\n");
    registry r;
    int rc = registry_load(&r, path, &err);
    unlink(path);
    if (rc != 0)
        fail_msg("%s", err.msg);
    /* Model types sorted by name, variants in file order. */
    assert_int_equal(r.n_models, 2);
    assert_string_equal(r.models[0].name, "alpha");
    assert_string_equal(r.models[1].name, "zeta");
    assert_string_equal(r.models[1].variants[0].name, "chat");
    assert_string_equal(r.models[1].variants[1].name, "base");
    assert_string_equal(r.models[1].variants[1].chats[0], "none");

    registry_entry ent;
    assert_int_equal(registry_lookup(&r, "zeta", "1.8b", "chat", &ent, &err), 0);
    assert_string_equal(ent.repo, "Org/Zeta-1_8B-Chat");
    assert_contains(ent.config_path, "/configs/zeta/zeta-1.8b.yaml");
    assert_int_equal(registry_lookup(&r, "zeta", "7B", "base", &ent, &err), 0);
    assert_string_equal(ent.repo, "Org/Zeta-7B");
    assert_int_equal(registry_lookup(&r, "alpha", "1b", "base", &ent, &err), 0);
    assert_string_equal(ent.config_path, "/abs/alpha-1b.yaml");
    assert_true(ent.thinking);
    registry_free(&r);
}

/* Each malformed registry fails with "<file>:<line>:<col>: key '<key>'". */
static void test_bad_registries(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "models: [a]\n", "key 'models': expected a mapping" },
        { "model:\n  a: {}\n", "key 'model': unknown key" },
        { "models:\n  a:\n    arch: qwen3\n", "key 'models.a.config': missing" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: 7B\n",
          "key 'models.a.sizes': expected a non-empty list" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B, 7b]\n",
          "size '7b' is listed twice" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants: {}\n",
          "at least one variant" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n      base: {eos: [x]}\n",
          "key 'models.a.variants.base.repo': missing" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n"
          "      base: {repo: r, eos: [x], thinking: yes}\n",
          "expected true or false" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    repo_size: {8B: 8b}\n"
          "    variants:\n      base: {repo: r, eos: [x]}\n",
          "'8B' is not one of the sizes" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n"
          "      base: {repo: r, eos: [x], extra: 1}\n",
          "key 'models.a.variants.base.extra': unknown key" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n"
          "      base: {repo: r, eos: [x], chat: jinja}\n",
          "'jinja' is not a chat format" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B, 8B]\n    variants:\n"
          "      base: {repo: r, eos: [x], chat: {7B: llama3.1}}\n",
          "key 'models.a.variants.base.chat.8B': the chat mapping must name every size" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n"
          "      base: {repo: r, eos: [x], chat: {7B: llama3.1, 9B: qwen3}}\n",
          "'9B' is not one of the sizes" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B, 8B]\n    variants:\n"
          "      base: {repo: {7B: r7}, eos: [x]}\n",
          "key 'models.a.variants.base.repo.8B': the repo mapping must name every size" },
        { "models:\n  a:\n    arch: qwen3\n    config: c\n    sizes: [7B]\n    variants:\n"
          "      base: {eos: [x]}\n",
          "key 'models.a.variants.base.repo': missing; it is required" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_registry(cases[i].text);
        registry r;
        int rc = registry_load(&r, path, &err);
        unlink(path);
        if (rc == 0)
            fail_msg("case %zu loaded; expected '%s'", i, cases[i].want);
        assert_contains(err.msg, path);
        assert_contains(err.msg, cases[i].want);
        assert_null(r.models);
    }
    registry r;
    assert_int_equal(registry_load(&r, "/nonexistent/registry.yaml", &err), -1);
    assert_contains(err.msg, "/nonexistent/registry.yaml");
}

/* Llama: per-size chat formats and {repo_size} in the config pattern. */
static void test_sizes_with_their_own_chat_and_config(void **state)
{
    (void)state;
    registry_entry ent;
    assert_int_equal(registry_resolve("llama", "1b", "instruct", &ent, &err), 0);
    assert_string_equal(ent.repo, "meta-llama/Llama-3.2-1B-Instruct");
    assert_string_equal(ent.chat, "llama3.2");
    assert_contains(ent.config_path, "/configs/llama/llama3.2-1b.yaml");
    assert_int_equal(registry_resolve("llama", "70B", "instruct", &ent, &err), 0);
    assert_string_equal(ent.repo, "meta-llama/Llama-3.1-70B-Instruct");
    assert_string_equal(ent.chat, "llama3.1");
    assert_contains(ent.config_path, "/configs/llama/llama3.1-70b.yaml");
    assert_string_equal(ent.eos[0], "<|eot_id|>");
    assert_int_equal(registry_resolve("llama", "8B", "base", &ent, &err), 0);
    assert_string_equal(ent.chat, "none");
    /* A repository per size: Gemma 3's bases are named two ways. */
    assert_int_equal(registry_resolve("gemma3", "270m", "base", &ent, &err), 0);
    assert_string_equal(ent.repo, "google/gemma-3-270m");
    assert_int_equal(registry_resolve("gemma3", "1B", "base", &ent, &err), 0);
    assert_string_equal(ent.repo, "google/gemma-3-1b-pt");
    assert_int_equal(registry_resolve("gemma3", "1B", "instruct", &ent, &err), 0);
    assert_string_equal(ent.repo, "google/gemma-3-1b-it");
    assert_string_equal(ent.chat, "gemma3");
    assert_contains(ent.config_path, "/configs/gemma3/gemma-3-1b.yaml");
    registry r;
    assert_int_equal(registry_load(&r, NULL, &err), 0);
    assert_int_equal(registry_find_repo(&r, "google/gemma-3-270m", &ent, &err), 1);
    assert_string_equal(ent.variant, "base");
    assert_string_equal(ent.size, "270M");
    registry_free(&r);
}

static void test_substitute(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(registry_substitute("a-{size}-{size}", "7B", 1, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "a-7b-7b");
    assert_int_equal(registry_substitute("{size}", "0.6B", 0, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "0.6B");
    assert_int_equal(registry_substitute("abcdefghij{size}", "123456", 0, buf, sizeof buf, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_registry_resolves),
        cmocka_unit_test(test_resolve_fields),
        cmocka_unit_test(test_unknown_names_list_what_exists),
        cmocka_unit_test(test_custom_registry),
        cmocka_unit_test(test_bad_registries),
        cmocka_unit_test(test_substitute),
        cmocka_unit_test(test_sizes_with_their_own_chat_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
