# Batched forward calls (tests/batch/batch_check.c through batch.sh): several
# sequences in one call, each in its own KV-cache slot, give the logits each
# gets alone. A program embedding the model links batch_check.c, so the
# model's library and the runtime are used as an embedder uses them.
#
# name | config | synth dtype | lmcc build options | check options
# f32 builds agree to rounding (measured 7.5e-7 max for gqa4, 2.7e-6 for
# Qwen1's per-sequence dynamic NTK). The bf16 defaults round linear inputs
# and the cache to bf16, so a row computed in another call shape may round
# an input to the neighbouring bf16 value: measured 8.2e-3 max, 1.1e-4 mean;
# the golden bf16-defaults bounds apply.
set(LMCC_BATCH_CASES
  "qwen3-gqa4-f32|configs/test/qwen3-tiny-gqa4.yaml|f32||--seqs 6"
  "qwen1-longctx-ntk-logn-f32|configs/test/qwen1-tiny-longctx.yaml|f32||--seqs 6"
  "qwen3-untied-bf16-defaults|configs/test/qwen3-tiny-untied-bf16.yaml|bf16||--seqs 6 --tol 2e-2 --mean-tol 1e-3"
  "qwen3-moe-f32|configs/test/qwen3-moe-tiny.yaml|f32||--seqs 6"
  "qwen3-q4_0|configs/test/qwen3-tiny.yaml|f32|--dtype q4_0|--seqs 6"
  "llama-headdim-bias-bf16-defaults|configs/test/llama-tiny-headdim-bias.yaml|bf16||--seqs 6 --tol 2e-2 --mean-tol 1e-3")

foreach(case ${LMCC_BATCH_CASES})
  string(REPLACE "|" ";" f "${case}")
  list(GET f 0 name)
  list(GET f 1 config)
  list(GET f 2 dtype)
  list(GET f 3 build_opts)
  list(GET f 4 check_opts)
  separate_arguments(check_args UNIX_COMMAND "${check_opts}")
  add_test(NAME batch.${name}
    COMMAND ${CMAKE_COMMAND} -E env CC=${CMAKE_C_COMPILER}
      bash ${CMAKE_SOURCE_DIR}/tests/batch/batch.sh $<TARGET_FILE:lmcc> $<TARGET_FILE:lmrt>
      "${LMCC_MODEL_CFLAGS}" "-ljansson -lmicrohttpd -lpcre2-8 -lutf8proc -lpthread -lm"
      ${CMAKE_BINARY_DIR}/batch/${name} ${config} ${dtype} "${build_opts}" ${check_args})
  set_tests_properties(batch.${name} PROPERTIES TIMEOUT 300 LABELS batch)
endforeach()
