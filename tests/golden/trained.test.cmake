# Golden tests on the project's trained model (tools/kjv/checkpoint, a
# Qwen3 of 4.2M parameters trained on the King James Bible) with held-out
# chapters (tests/golden/trained.py): logits and greedy ids against the
# PyTorch reference, and --perplexity against the reference's within 1e-3
# in mean negative log-likelihood. The bf16 row is the default bf16 build
# (bf16 linear inputs and KV cache) against a reference rounding the same
# way; its tolerances are the synthetic *-defaults rows' (golden.test.cmake).
# The quantized rows report their perplexity increase over the f32
# reference (docs/performance.md) and bound it.
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)

# name | build dtype | trained.py's bounds. Measured on heldout.txt (2473
# tokens; 64 prompt positions, logits up to 18): f32 max 1.9e-5, mean 1.6e-6,
# nll equal to 2e-8; bf16 (defaults) max 0.047, mean 0.0042 (ten times the
# synthetic rows' errors, as these logits are ten times theirs), nll 1.0e-4
# apart; perplexity increases q8_0 +0.034%, q4_0 +0.74%, q4_k8 +1.28% (on
# all 59 held-out chapters: +0.011%, +2.05%, +1.41%; docs/performance.md).
set(LMCC_TRAINED_CASES
  "f32|f32|--tol 1e-4 --mean-tol 1e-5"
  "bf16|bf16|--tol 0.1 --mean-tol 0.01"
  "q8_0|q8_0|--max-ppl-increase 0.005"
  "q4_0|q4_0|--max-ppl-increase 0.03"
  "q4_k8|q4_k8|--max-ppl-increase 0.03")

# The weights are not in git (tools/kjv/train.py makes them): without them
# these tests are not registered.
if(LMCC_PYTHON3 AND EXISTS ${CMAKE_SOURCE_DIR}/tools/kjv/checkpoint/model.safetensors)
  foreach(case ${LMCC_TRAINED_CASES})
    string(REPLACE "|" ";" fields "${case}")
    list(GET fields 0 name)
    list(GET fields 1 dtype)
    list(GET fields 2 bounds)
    separate_arguments(bounds)
    add_test(NAME golden.kjv-${name}
      COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/trained.py
        --lmcc $<TARGET_FILE:lmcc> --config ${CMAKE_SOURCE_DIR}/configs/test/qwen3-kjv.yaml
        --ckpt ${CMAKE_SOURCE_DIR}/tools/kjv/checkpoint
        --text ${CMAKE_SOURCE_DIR}/tools/kjv/checkpoint/heldout.txt
        --work ${CMAKE_BINARY_DIR}/golden/kjv-${name} --build-dtype ${dtype} ${bounds})
    set_tests_properties(golden.kjv-${name} PROPERTIES TIMEOUT 300 LABELS golden)
  endforeach()
endif()
