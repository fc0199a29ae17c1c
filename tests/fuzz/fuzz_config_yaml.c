/* A model config YAML read into a Lua table (config_load_yaml_string):
 * anchors, aliases, tags, nesting, every scalar form. */
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>

#include "config_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    if (!L)
        abort();
    lm_err e;
    (void)config_load_yaml_string(L, (const char *)data, size, "fuzz.yaml", &e);
    lua_close(L);
    return 0;
}
