# Every tests/unit/test_*.c is a cmocka test linked with the runtime and the
# compiler core.
if(CMOCKA_FOUND)
  file(GLOB LMCC_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
  foreach(src ${LMCC_UNIT_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE lmcc_core PkgConfig::CMOCKA)
    target_compile_definitions(${name} PRIVATE TEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data")
    add_test(NAME unit.${name} COMMAND ${name})
  endforeach()
  # The kernels test compiles the kernels as models do: for this CPU. A
  # second build of it targets the baseline of the architecture (x86-64:
  # SSE2, no FMA, F16C or AVX-512), the portable path a model built with
  # LMCC_NATIVE=OFF takes: the same vector code lowered to narrow vectors,
  # q8_0 without the int16 path, f16 scales converted in C.
  if(TARGET test_attention_window)
    target_compile_options(test_attention_window PRIVATE ${LMCC_OPT_FLAGS})
  endif()
  if(TARGET test_kernels)
    target_compile_options(test_kernels PRIVATE ${LMCC_OPT_FLAGS})
    add_executable(test_kernels_portable ${CMAKE_SOURCE_DIR}/tests/unit/test_kernels.c)
    target_link_libraries(test_kernels_portable PRIVATE lmcc_core PkgConfig::CMOCKA)
    target_compile_options(test_kernels_portable PRIVATE -O2 -Wno-psabi)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
      target_compile_options(test_kernels_portable PRIVATE -march=x86-64)
    endif()
    add_test(NAME unit.test_kernels_portable COMMAND test_kernels_portable)
    # A third build leaves AMX out, so that on a CPU with it the AVX-512
    # BF16 batch kernel (what a CPU without AMX runs) is tested too.
    add_executable(test_kernels_noamx ${CMAKE_SOURCE_DIR}/tests/unit/test_kernels.c)
    target_link_libraries(test_kernels_noamx PRIVATE lmcc_core PkgConfig::CMOCKA)
    target_compile_options(test_kernels_noamx PRIVATE ${LMCC_OPT_FLAGS} -DLM_NO_AMX)
    add_test(NAME unit.test_kernels_noamx COMMAND test_kernels_noamx)
    # A fourth targets AVX2 + FMA (Haswell), the widest x86-64 without
    # AVX-512, where this CPU runs it: that lowering, tested here.
    set(LMCC_CPU_AVX2 OFF)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$" AND EXISTS /proc/cpuinfo)
      file(STRINGS /proc/cpuinfo LMCC_CPU_FLAGS REGEX "^flags" LIMIT_COUNT 1)
      if(LMCC_CPU_FLAGS MATCHES " avx2( |$)" AND LMCC_CPU_FLAGS MATCHES " fma( |$)")
        set(LMCC_CPU_AVX2 ON)
      endif()
    endif()
    if(LMCC_CPU_AVX2)
      add_executable(test_kernels_avx2 ${CMAKE_SOURCE_DIR}/tests/unit/test_kernels.c)
      target_link_libraries(test_kernels_avx2 PRIVATE lmcc_core PkgConfig::CMOCKA)
      target_compile_options(test_kernels_avx2 PRIVATE -O2 -Wno-psabi -march=haswell)
      add_test(NAME unit.test_kernels_avx2 COMMAND test_kernels_avx2)
    endif()
  endif()
endif()

# Each tests/**/*.test.cmake adds its own end-to-end tests.
file(GLOB_RECURSE LMCC_TEST_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.test.cmake)
foreach(f ${LMCC_TEST_FRAGMENTS})
  include(${f})
endforeach()
