# The kernels as AArch64 runs them (NEON lowering of the vector code, no AMX
# or AVX-512): the kernel unit test and three golden tests, cross-compiled
# with clang for aarch64-linux-gnu and run under qemu's user-mode emulator.
# They need Debian's arm64 cross toolchain and :arm64 libraries, which
# scripts/setup-aarch64.sh installs (.ci/run does); without them the tests
# are not registered, and CMake says so.
find_program(LMCC_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
# As golden.test.cmake finds it (this file may be read first).
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)
set(LMCC_AARCH64_LIBDIR /usr/lib/aarch64-linux-gnu)
set(LMCC_AARCH64_READY OFF)
if(LMCC_QEMU_AARCH64 AND CMAKE_C_COMPILER_ID MATCHES "Clang"
   AND EXISTS /usr/aarch64-linux-gnu/include/stdio.h
   AND EXISTS ${LMCC_AARCH64_LIBDIR}/libjansson.a AND EXISTS ${LMCC_AARCH64_LIBDIR}/libpcre2-8.a
   AND EXISTS ${LMCC_AARCH64_LIBDIR}/libutf8proc.a AND EXISTS ${LMCC_AARCH64_LIBDIR}/libcmocka.so)
  set(LMCC_AARCH64_READY ON)
endif()

if(NOT LMCC_AARCH64_READY)
  message(STATUS "AArch64 tests not registered: run scripts/setup-aarch64.sh for qemu and the arm64 libraries")
else()
  add_test(NAME aarch64.kernels
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/aarch64/kernels.sh ${CMAKE_C_COMPILER} ${LMCC_QEMU_AARCH64}
      ${CMAKE_BINARY_DIR}/aarch64)
  set_tests_properties(aarch64.kernels PROPERTIES TIMEOUT 300 LABELS aarch64)
  if(LMCC_PYTHON3)
    function(lmcc_aarch64_golden name config dtype shards tol reference)
      add_test(NAME aarch64.golden.${name}
        COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/golden.py
          --lmcc $<TARGET_FILE:lmcc> --config ${CMAKE_SOURCE_DIR}/${config}
          --work ${CMAKE_BINARY_DIR}/aarch64/golden-${name}
          --seed 1234 --dtype ${dtype} --shards ${shards} --tol ${tol} --prompt-len 24 --gen 32
          --reference ${CMAKE_SOURCE_DIR}/tests/reference/${reference}
          --cross-aarch64 ${LMCC_QEMU_AARCH64} --cross-cc ${CMAKE_C_COMPILER})
      set_tests_properties(aarch64.golden.${name} PROPERTIES TIMEOUT 300 LABELS "aarch64;golden")
    endfunction()
    lmcc_aarch64_golden(qwen3-gqa4-f32 configs/test/qwen3-tiny-gqa4.yaml f32 1 1e-4 qwen3_ref.py)
    lmcc_aarch64_golden(qwen3-untied-bf16-2shards configs/test/qwen3-tiny-untied-bf16.yaml bf16 2 1e-3
                        qwen3_ref.py)
    lmcc_aarch64_golden(qwen1-longctx-logn-ntk-f32 configs/test/qwen1-tiny-longctx.yaml f32 1 1e-4 qwen1_ref.py)
  endif()
endif()
