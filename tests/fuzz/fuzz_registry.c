/* configs/registry.yaml: models, sizes, variants, repository patterns;
 * a loaded registry is then looked up the ways commands do. */
#include <stdint.h>

#include "fuzz_files.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_put("registry.yaml", data, size);
    registry r;
    lm_err e;
    if (registry_load(&r, path, &e) != 0)
        return 0;
    for (int i = 0; i < r.n_models; i++) {
        const registry_model *m = &r.models[i];
        char buf[4096];
        for (int s = 0; s < m->n_sizes; s++) {
            (void)registry_config_rel(m, m->sizes[s], buf, sizeof buf, &e);
            for (int v = 0; v < m->n_variants; v++) {
                registry_entry out;
                if (registry_lookup(&r, m->name, m->sizes[s], m->variants[v].name, &out, &e) == 0)
                    (void)registry_find_repo(&r, out.repo, &out, &e);
            }
        }
        (void)registry_default_variant(m);
    }
    registry_entry out;
    (void)registry_find_repo(&r, "Qwen/Qwen3-0.6B", &out, &e);
    registry_free(&r);
    return 0;
}
