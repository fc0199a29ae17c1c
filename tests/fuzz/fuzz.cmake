# Fuzz targets (tests/fuzz/fuzz_<parser>.c), two ways:
#   -DLMCC_FUZZ=ON (clang): each target is a libFuzzer binary, fuzz_<name>,
#     and the runtime and compiler core are instrumented for coverage; built
#     with ASan and UBSan. scripts/fuzz.sh (make fuzz) runs them.
#   otherwise: each target is linked with standalone_main.c as
#     fuzz_<name>_replay, and ctest (label fuzz) replays its committed
#     corpus, tests/fuzz/corpus/<name>/, under whatever sanitizers the build
#     has (make test: ASan/UBSan), plus LMCC_FUZZ_MUTATIONS fixed mutants of
#     each input (standalone_main.c).
option(LMCC_FUZZ "Build the libFuzzer targets (clang; ASan, UBSan, coverage)" OFF)

set(LMCC_FUZZ_MUTATIONS 32 CACHE STRING "Mutants of each corpus input that ctest's replay runs")
set(LMCC_FUZZ_TARGETS safetensors safetensors_index hf_config config_yaml registry
    tokenizer_json tiktoken tokenize chat serve_request hub_model_info npy
    serve_http hub_headers chat_detect)
set(LMCC_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)

if(LMCC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LMCC_FUZZ needs clang (libFuzzer): cmake -DCMAKE_C_COMPILER=clang-19 -DLMCC_FUZZ=ON")
  endif()
  set(LMCC_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer -g)
  target_compile_options(lmrt PRIVATE ${LMCC_FUZZ_FLAGS} -fsanitize=fuzzer-no-link)
  target_compile_options(lmcc_core PRIVATE ${LMCC_FUZZ_FLAGS} -fsanitize=fuzzer-no-link)
endif()

add_custom_target(fuzz_targets)
foreach(name ${LMCC_FUZZ_TARGETS})
  set(srcs ${LMCC_FUZZ_DIR}/fuzz_${name}.c ${LMCC_FUZZ_DIR}/fuzz_files.c
      ${LMCC_FUZZ_DIR}/fuzz_tokenizer_file.c ${LMCC_FUZZ_DIR}/fuzz_serve.c)
  if(LMCC_FUZZ)
    set(exe fuzz_${name})
    add_executable(${exe} ${srcs})
    target_compile_options(${exe} PRIVATE ${LMCC_FUZZ_FLAGS} -fsanitize=fuzzer)
    target_link_options(${exe} PRIVATE ${LMCC_FUZZ_FLAGS} -fsanitize=fuzzer)
  else()
    set(exe fuzz_${name}_replay)
    add_executable(${exe} ${srcs} ${LMCC_FUZZ_DIR}/standalone_main.c)
    add_test(NAME fuzz.${name} COMMAND ${exe} -mutations=${LMCC_FUZZ_MUTATIONS} ${LMCC_FUZZ_DIR}/corpus/${name})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
  target_include_directories(${exe} PRIVATE ${LMCC_FUZZ_DIR})
  target_compile_definitions(${exe} PRIVATE FUZZ_DATA_DIR="${LMCC_FUZZ_DIR}/data")
  target_link_libraries(${exe} PRIVATE lmcc_core)
  set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  add_dependencies(fuzz_targets ${exe})
endforeach()
