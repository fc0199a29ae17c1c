# Text in, text out with the real Qwen3 tokenizer: lmcc -p against the
# JavaScript tokenizer + PyTorch reference (needs the npm fixture of
# tests/tokenizer/tokenizer.test.cmake).
if(LMCC_TOK_PYTHON3 AND LMCC_TOK_NODE AND LMCC_TOK_NPM)
  add_test(NAME golden.text_end_to_end
    COMMAND ${LMCC_TOK_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/text_e2e.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX}
      --work ${CMAKE_BINARY_DIR}/golden/text_e2e)
  set_tests_properties(golden.text_end_to_end PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm
    TIMEOUT 900 LABELS golden)
endif()
