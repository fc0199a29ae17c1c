# generated/ must be exactly what lmcc emits for the shipped configs.
add_test(NAME compiler.generated_up_to_date
  COMMAND ${CMAKE_COMMAND} -E env LMCC=$<TARGET_FILE:lmcc>
          bash ${CMAKE_SOURCE_DIR}/scripts/regen-generated.sh --check
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# Emitting twice gives byte-identical files.
add_test(NAME compiler.deterministic
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/compiler/deterministic.sh $<TARGET_FILE:lmcc> ${CMAKE_BINARY_DIR}/determinism
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# A bf16 build rounds matmul inputs and the KV cache to bf16 by default;
# f32 and q8_0 builds do not (each default == its explicit options).
add_test(NAME compiler.numerics_defaults
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/compiler/defaults.sh $<TARGET_FILE:lmcc> ${CMAKE_BINARY_DIR}/defaults
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# Bad configs and checkpoints: one clear error line, non-zero exit, no crash.
add_test(NAME bad_input
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/bad/bad_input.py
          --lmcc $<TARGET_FILE:lmcc> --work ${CMAKE_BINARY_DIR}/bad_input
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(bad_input PROPERTIES TIMEOUT 300)

# lmcc import reproduces every shipped config from its config.json.
add_test(NAME compiler.import_roundtrip
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/compiler/import_roundtrip.sh $<TARGET_FILE:lmcc>
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# The Make and CMake fragments of --emit-only build a working model.
string(REPLACE ";" " " LMCC_FRAGMENT_EXTRA "${LMCC_SAN_FLAGS}")
add_test(NAME compiler.build_fragments
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/compiler/fragments.sh $<TARGET_FILE:lmcc>
          ${CMAKE_BINARY_DIR}/fragments $<TARGET_FILE:lmrt> "${LMCC_FRAGMENT_EXTRA}" ${CMAKE_C_COMPILER}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(compiler.build_fragments PROPERTIES TIMEOUT 300)
