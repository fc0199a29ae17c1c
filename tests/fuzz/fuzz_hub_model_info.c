/* The hub's model API answer, as lmcc pull reads it before fetching
 * anything: the commit, the siblings with their names (which become paths
 * in the cache), sizes and LFS sha256s. */
#include <stdint.h>

#include "hub/hub_model_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lm_hub_model_info info; /* 4096 files: too big for the stack */
    lm_err e;
    (void)lm_hub_parse_model_info("Org/Model", "main", "https://hub/api/models/Org/Model",
                                  (const char *)data, size, &info, &e);
    lm_hub_model_info_free(&info);
    return 0;
}
