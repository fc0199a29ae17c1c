# --serve end to end (tests/serve/serve_test.py): with curl as the client
# (serve.curl), and with the official `openai` npm client (serve.openai,
# installed into the build tree by the lmcc_serve_npm fixture). The real
# Qwen3 tokenizer comes from the lmcc_tok_npm fixture of
# tests/tokenizer/tokenizer.test.cmake.
find_program(LMCC_SERVE_PYTHON3 NAMES python3 HINTS /usr/bin)
find_program(LMCC_SERVE_CURL NAMES curl)
find_program(LMCC_SERVE_NODE NAMES node nodejs)
find_program(LMCC_SERVE_NPM NAMES npm)
set(LMCC_SERVE_NPM_PACKAGE "openai@5.23.2")
set(LMCC_SERVE_NPM_PREFIX "${CMAKE_BINARY_DIR}/serve/npm")
if(LMCC_SERVE_PYTHON3 AND LMCC_SERVE_CURL)
  add_test(NAME serve.curl
    COMMAND ${LMCC_SERVE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/serve/serve_test.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm
      --work ${CMAKE_BINARY_DIR}/serve/curl)
  set_tests_properties(serve.curl PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 600 LABELS serve)
  # The same with four slots: concurrent requests batched into shared calls.
  add_test(NAME serve.curl_parallel
    COMMAND ${LMCC_SERVE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/serve/serve_test.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm --parallel 4
      --work ${CMAKE_BINARY_DIR}/serve/curl_parallel)
  set_tests_properties(serve.curl_parallel PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 600 LABELS serve)
else()
  message(STATUS "serve.curl not registered: it needs python3 and curl")
endif()
if(LMCC_SERVE_PYTHON3 AND LMCC_SERVE_NODE AND LMCC_SERVE_NPM)
  add_test(NAME serve.npm_install
    COMMAND sh -c "test -d '${LMCC_SERVE_NPM_PREFIX}/node_modules/openai' || '${LMCC_SERVE_NPM}' install --prefix '${LMCC_SERVE_NPM_PREFIX}' --no-audit --no-fund ${LMCC_SERVE_NPM_PACKAGE}")
  set_tests_properties(serve.npm_install PROPERTIES FIXTURES_SETUP lmcc_serve_npm TIMEOUT 300 LABELS serve)
  add_test(NAME serve.openai
    COMMAND ${LMCC_SERVE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/serve/serve_test.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm
      --openai-prefix ${LMCC_SERVE_NPM_PREFIX} --parallel 4 --work ${CMAKE_BINARY_DIR}/serve/openai)
  set_tests_properties(serve.openai PROPERTIES FIXTURES_REQUIRED "lmcc_tok_npm;lmcc_serve_npm" TIMEOUT 600
    LABELS serve)
endif()
