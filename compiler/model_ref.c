#include "model_ref.h"

#include <stdio.h>
#include <string.h>

#include "../runtime/hub/hub_cache.h"

int model_ref_resolve(const char *model, const char *size, const char *variant, const char *revision,
                      model_ref *out, lm_err *e)
{
    memset(out, 0, sizeof *out);
    snprintf(out->revision, sizeof out->revision, "%s", revision ? revision : "main");
    if (lm_hub_check_revision(out->revision, e) != 0)
        return -1;
    registry r;
    if (registry_load(&r, NULL, e) != 0)
        return -1;
    int rc = -1;
    if (strchr(model, '/')) {
        if (size || variant) {
            lm_fail(e, "%s: --size and --variant go with a model type of the registry, not a "
                       "repository id", model);
            goto out;
        }
        if (lm_hub_check_repo_id(model, e) != 0)
            goto out;
        snprintf(out->repo, sizeof out->repo, "%s", model);
        int found = registry_find_repo(&r, model, &out->entry, e);
        if (found < 0)
            goto out;
        out->in_registry = found;
        rc = 0;
        goto out;
    }
    const registry_model *m = registry_find_model(&r, model);
    if (m && !variant)
        variant = registry_default_variant(m);
    if (registry_lookup(&r, model, size, variant ? variant : "", &out->entry, e) != 0)
        goto out;
    snprintf(out->repo, sizeof out->repo, "%s", out->entry.repo);
    out->in_registry = 1;
    rc = 0;
out:
    registry_free(&r);
    return rc;
}
