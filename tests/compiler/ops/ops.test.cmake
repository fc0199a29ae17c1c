# Gemma 3's non-attention ops (geglu, softcap, offset norms, the scaled
# embedding) through a test-only architecture: fusion seen in the emitted
# C, logits against a PyTorch reference, script errors (ops.sh).
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)
add_test(NAME compiler.gemma_ops
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/compiler/ops/ops.sh $<TARGET_FILE:lmcc> ${CMAKE_BINARY_DIR}/gemma_ops
          ${LMCC_PYTHON3}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(compiler.gemma_ops PROPERTIES TIMEOUT 300)
