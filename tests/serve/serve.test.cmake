# --serve end to end with curl as the client (tests/serve/serve_test.py): the
# real Qwen3 tokenizer from the lmcc_tok_npm fixture of
# tests/tokenizer/tokenizer.test.cmake.
find_program(LMCC_SERVE_PYTHON3 NAMES python3 HINTS /usr/bin)
find_program(LMCC_SERVE_CURL NAMES curl)
if(LMCC_SERVE_PYTHON3 AND LMCC_SERVE_CURL)
  add_test(NAME serve.curl
    COMMAND ${LMCC_SERVE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/serve/serve_test.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm
      --work ${CMAKE_BINARY_DIR}/serve/curl)
  set_tests_properties(serve.curl PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 600 LABELS serve)
else()
  message(STATUS "serve.curl not registered: it needs python3 and curl")
endif()
