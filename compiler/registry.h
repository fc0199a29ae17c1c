/* The model registry (configs/registry.yaml): which model types lmcc knows,
 * their architecture script, sizes, config path pattern, and the variants
 * published on the Hugging Face hub with their end-of-sequence tokens and
 * chat format.
 *
 * Loaded once into plain C structs, so callers need no Lua. Model types are
 * kept sorted by name; sizes and variants in the order the file lists them.
 * Names match case-insensitively ("0.6b" finds "0.6B"). */
#ifndef LMCC_REGISTRY_H
#define LMCC_REGISTRY_H

#include <stddef.h>

#include "../runtime/core/error.h"

#define REGISTRY_MAX_EOS 8

typedef struct registry_variant {
    char *name;              /* "base", "instruct", ... */
    char **repos;            /* per size of the model (as listed): the repository
                                pattern, {size} as listed: "Qwen/Qwen3-{size}-Base" */
    char **eos;              /* tokens that end generation */
    int n_eos;
    char **chats;            /* per size of the model (as listed): the chat format,
                                none or a name of text/chat_template.h (qwen3, ...) */
    int thinking;            /* Qwen3: thinking on by default */
} registry_variant;

typedef struct registry_model {
    char *name;              /* "qwen3" */
    char *arch;              /* architecture script: compiler/archs/<arch>.lua */
    char *config;            /* config path pattern, {size} lower-cased, relative to lmcc_home() */
    char **sizes;            /* as listed: "0.6B" */
    char **repo_sizes;       /* per size: its spelling in repository names (repo_size:
                                1.8B: 1_8B gives Qwen/Qwen-1_8B), else the size itself */
    int n_sizes;
    registry_variant *variants;
    int n_variants;
} registry_model;

typedef struct registry {
    registry_model *models;
    int n_models;
    char path[4096];         /* the file it was read from, for messages */
} registry;

/* One model type + size (+ variant), with everything a command needs copied
 * out, so it stays valid after the registry is freed. */
typedef struct registry_entry {
    char model[64];
    char arch[64];
    char size[32];           /* as listed in the registry */
    char config_path[4096];  /* absolute (under lmcc_home()) */
    int has_variant;         /* 0 when no variant was asked for: the fields below are empty */
    char variant[32];
    char repo[512];          /* {size} substituted */
    char eos[REGISTRY_MAX_EOS][64];
    int n_eos;
    char chat[32];
    int thinking;
} registry_entry;

/* lmcc_home()/configs/registry.yaml into buf. */
int registry_default_path(char *buf, size_t cap, lm_err *e);

/* Reads a registry file (path NULL: the default one). On error frees what
 * it read and names the file, line and key. */
int registry_load(registry *r, const char *path, lm_err *e);
void registry_free(registry *r);

const registry_model *registry_find_model(const registry *r, const char *name);
const registry_variant *registry_find_variant(const registry_model *m, const char *name);
/* The size as listed, or NULL. */
const char *registry_find_size(const registry_model *m, const char *size);

/* How size (as listed) is spelled in the model's repository names. */
const char *registry_repo_size(const registry_model *m, const char *size);

/* pattern with every {size} replaced by size (lower-cased when lower). */
int registry_substitute(const char *pattern, const char *size, int lower, char *buf, size_t cap,
                        lm_err *e);
/* The config path of model m at size (as listed), as the registry spells it:
 * {size} lower-cased, {repo_size} as repo_size spells it, lower-cased
 * (configs/llama/llama{repo_size}.yaml with repo_size 1B: 3.2-1B gives
 * configs/llama/llama3.2-1b.yaml). */
int registry_config_rel(const registry_model *m, const char *size, char *buf, size_t cap, lm_err *e);
/* The absolute config path of model m at size (as listed). */
int registry_config_path(const registry_model *m, const char *size, char *buf, size_t cap, lm_err *e);

/* Looks up model type, size and (unless NULL) variant. An unknown name is
 * an error that lists what exists. */
int registry_lookup(const registry *r, const char *model, const char *size, const char *variant,
                    registry_entry *out, lm_err *e);

/* The entry (model, size, variant) whose repository is repo, compared
 * case-insensitively as the hub does; the first variant listed wins when
 * two share a repository (Qwen3's instruct and reasoning). 1 when found,
 * 0 when no entry names repo. */
int registry_find_repo(const registry *r, const char *repo, registry_entry *out, lm_err *e);
/* The variant used when none is asked for: instruct where there is one,
 * else the first listed. */
const char *registry_default_variant(const registry_model *m);

/* registry_load (default file) + registry_lookup + registry_free. */
int registry_resolve(const char *model, const char *size, const char *variant, registry_entry *out,
                     lm_err *e);

#endif
