/* What `lmcc pull` and `lmcc run` are asked for: a model type of the
 * registry with a size (and variant), or a hub repository ORG/NAME, which
 * maps back to its registry entry when the registry lists it. */
#ifndef LMCC_MODEL_REF_H
#define LMCC_MODEL_REF_H

#include "registry.h"

typedef struct model_ref {
    char repo[512];          /* ORG/NAME */
    char revision[256];      /* main unless asked */
    int in_registry;         /* entry is filled (with its variant) */
    registry_entry entry;
} model_ref;

/* model: a registry model type (size needed, variant defaults to instruct
 * where there is one) or ORG/NAME (no size or variant). revision NULL: main. */
int model_ref_resolve(const char *model, const char *size, const char *variant, const char *revision,
                      model_ref *out, lm_err *e);

#endif
