/* config.json checked against a compiled model's constants: every kind of
 * check (int, float, bool, string, absent-or-null, list of ints) meets
 * whatever JSON the input is. */
#include <stdint.h>

#include "fuzz_files.h"
#include "weights/bind.h"

static const lm_config_check checks[] = {
    {"vocab_size", LM_CFG_INT, 64, 0, NULL},
    {"hidden_size", LM_CFG_INT, 32, 0, NULL},
    {"rms_norm_eps", LM_CFG_FLOAT, 1e-6, 1, NULL},
    {"rope_theta", LM_CFG_FLOAT, 1e6, 1, NULL},
    {"tie_word_embeddings", LM_CFG_BOOL, 1, 1, NULL},
    {"hidden_act", LM_CFG_STRING, 0, 1, "silu"},
    {"rope_scaling", LM_CFG_STRING, 0, 1, NULL},
    {"mlp_only_layers", LM_CFG_INTS, 0, 1, "0,3"},
    {"text_config.num_hidden_layers", LM_CFG_INT, 2, 0, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_put("config.json", data, size);
    lm_model_desc d = {.name = "fuzz", .arch = "qwen3",
                       .n_config_checks = (int)(sizeof checks / sizeof checks[0]),
                       .config_checks = checks};
    lm_err e;
    (void)lm_check_hf_config(&d, fuzz_dir(), &e);
    return 0;
}
