# The runtime's layering (docs/architecture.md): no file includes one that
# includes it back, no two objects of the runtime library call each other,
# and each folder uses only the folders below it.
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)
if(LMCC_PYTHON3)
  add_test(NAME layout.includes
    COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/layout/layers.py --root ${CMAKE_SOURCE_DIR} includes)
  add_test(NAME layout.calls
    COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/layout/layers.py --root ${CMAKE_SOURCE_DIR}
      --lib $<TARGET_FILE:lmrt> calls)
  set_tests_properties(layout.includes layout.calls PROPERTIES TIMEOUT 60 LABELS layout)
endif()
