/* The Lua frontend, seen from C: one Lua state with the frontend modules
 * (the .lua files of compiler/frontend) on its path and the architecture scripts in
 * compiler/archs/. */
#ifndef LMCC_FRONTEND_H
#define LMCC_FRONTEND_H

#include <lua.h>

#include "../runtime/core/error.h"

typedef struct frontend {
    lua_State *L;
    char home[4096]; /* the lmcc tree: compiler/, templates/, runtime/, configs/ */
} frontend;

typedef struct frontend_opts {
    const char *name;   /* model name, e.g. "qwen3-0.6b" */
    const char *dtype;  /* --dtype override, or NULL */
    const char *matmul_input; /* --matmul-input: "f32", "bf16", or NULL (f32) */
    const char *kv_dtype;     /* --kv-dtype: "f32", "bf16", or NULL (f32) */
    int batch;          /* 0: default */
    int ctx;            /* 0: the model's context_length */
} frontend_opts;

/* The tree lmcc reads its scripts and templates from: $LMCC_HOME, else the
 * source tree it was built from. */
const char *lmcc_home(void);

int frontend_open(frontend *f, lm_err *e);
void frontend_close(frontend *f);

/* Loads the YAML config and calls driver.<fn>(cfg, marks, opts); on success
 * the result table is on top of the stack. */
int frontend_call(frontend *f, const char *fn, const char *config_path, const frontend_opts *o,
                  lm_err *e);

/* Reads a JSON file (config.json) and calls driver.<fn>(table, opts). */
int frontend_call_json(frontend *f, const char *fn, const char *json_path, const frontend_opts *o,
                       lm_err *e);

#endif
