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
  # The kernels test compiles the kernels as models do: for this CPU.
  if(TARGET test_kernels)
    target_compile_options(test_kernels PRIVATE ${LMCC_OPT_FLAGS})
  endif()
endif()

# Each tests/**/*.test.cmake adds its own end-to-end tests.
file(GLOB_RECURSE LMCC_TEST_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.test.cmake)
foreach(f ${LMCC_TEST_FRAGMENTS})
  include(${f})
endforeach()
