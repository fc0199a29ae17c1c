/* Reading a model config YAML into a Lua table.
 *
 * Scalars are resolved with the YAML 1.2 core schema: null, bool
 * (true/false/True/FALSE...), int (decimal, 0x hex, 0o octal), float
 * (1.0e-6, .inf, .nan) and otherwise string; quoted scalars are always
 * strings. Sequences become Lua arrays (1-based) and mappings tables.
 * Mapping keys are always strings. YAML null becomes the sentinel that
 * config_push_null pushes (Lua nil cannot be stored in a table). The tags
 * !!str !!int !!float !!bool !!null !!map !!seq are honoured, other tags and
 * aliases are rejected, and nesting is capped at CONFIG_YAML_MAX_DEPTH. */
#ifndef LMCC_CONFIG_YAML_H
#define LMCC_CONFIG_YAML_H

#include <lua.h>

#include "../runtime/core/error.h"

/* Deepest nesting of mappings and sequences a config may use. */
#define CONFIG_YAML_MAX_DEPTH 64

/* Parses the YAML file at path (a single document whose root is a mapping)
 * and pushes two tables on L: the config, and its marks, which map each key
 * path ("num_heads", "rope_scaling.factor", "stop.1") to {line=, col=}
 * (1-based) of that key's value. On failure pushes nothing, returns -1 and
 * writes "<path>:<line>:<col>: <what>" into e. */
int config_load_yaml(lua_State *L, const char *path, lm_err *e);

/* The same for YAML text already in memory; name is used in messages. */
int config_load_yaml_string(lua_State *L, const char *text, size_t len, const char *name,
                            lm_err *e);

/* Pushes the unique value that stands for YAML null in loaded configs: one
 * table kept in the registry under "lmcc.null" (tostring gives "null"), so
 * callers compare with rawequal. */
void config_push_null(lua_State *L);

#endif
