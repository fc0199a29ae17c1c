# lmcc pull / run / list --cached / rm against a fake hub (tests/hub/
# fake_hub.py, Python's http.server on random 127.0.0.1 ports), one ctest
# test per check of hub_test.py. The interoperability checks use the npm
# package @huggingface/hub (scanCacheDir, downloads into the cache),
# installed once into the build tree by a fixture; run-registry uses Qwen3's
# real tokenizer from the tokenizer tests' npm fixture.
find_program(LMCC_HUB_PYTHON3 NAMES python3 HINTS /usr/bin)
find_program(LMCC_HUB_NODE NAMES node nodejs)
find_program(LMCC_HUB_NPM NAMES npm)

set(LMCC_HUB_NPM_PACKAGE "@huggingface/hub@2.17.5")
set(LMCC_HUB_NPM_PREFIX "${CMAKE_BINARY_DIR}/npm-hub")
set(LMCC_HUB_TOK_PREFIX "${CMAKE_BINARY_DIR}/npm")

# layout:     the cache as huggingface_hub lays it out; the token to the hub, never to the CDN; no refetch
# run:        lmcc run ORG/NAME --tokens == the checkpoint directory; built once; offline; -m ORG/NAME; list --cached; rm
# faults:     a connection cut mid-file (resumed with Range), a 500, a 429 with Retry-After
# api-retry:  the model API answering 503 twice
# checksum:   a wrong sha256 (LFS) and a wrong git sha1: refused, the bytes removed, no link
# interrupt:  Ctrl-C mid-file: exit 130, a resumable .incomplete, no half blob or dangling link; the resume
# concurrent: two pulls at once: one download, one blob
# gated:      401 and 403 on a gated repository; HF_TOKEN and the token file
# errors:     unknown repo, revision, model, size, variant; malformed ids; offline; no weights; no hub;
#             an ETag with a control character
# disk-full:  a cache on a tmpfs too small for the weights (skipped where tmpfs cannot be mounted)
# progress:   a bar on a terminal (script(1)), one line per file otherwise, none with --quiet
set(LMCC_HUB_CHECKS layout run faults api-retry checksum interrupt concurrent gated errors disk-full progress)

if(LMCC_HUB_PYTHON3)
  foreach(check ${LMCC_HUB_CHECKS})
    add_test(NAME hub.${check}
      COMMAND ${LMCC_HUB_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/hub/hub_test.py
        --lmcc $<TARGET_FILE:lmcc> --work ${CMAKE_BINARY_DIR}/hub ${check})
    set_tests_properties(hub.${check} PROPERTIES TIMEOUT 600 LABELS hub)
  endforeach()
  if(LMCC_HUB_NODE AND LMCC_HUB_NPM)
    add_test(NAME hub.npm_install
      COMMAND sh -c "test -d '${LMCC_HUB_NPM_PREFIX}/node_modules/@huggingface/hub' || '${LMCC_HUB_NPM}' install --prefix '${LMCC_HUB_NPM_PREFIX}' --no-audit --no-fund ${LMCC_HUB_NPM_PACKAGE}")
    set_tests_properties(hub.npm_install PROPERTIES FIXTURES_SETUP lmcc_hub_npm TIMEOUT 300 LABELS hub)
    # hfjs-scan:     @huggingface/hub's scanCacheDir lists the cache lmcc wrote
    # hfjs-download: a snapshot @huggingface/hub downloaded serves lmcc run offline
    foreach(check hfjs-scan hfjs-download)
      add_test(NAME hub.${check}
        COMMAND ${LMCC_HUB_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/hub/hub_test.py
          --lmcc $<TARGET_FILE:lmcc> --work ${CMAKE_BINARY_DIR}/hub --npm-prefix ${LMCC_HUB_NPM_PREFIX} ${check})
      set_tests_properties(hub.${check} PROPERTIES FIXTURES_REQUIRED lmcc_hub_npm TIMEOUT 600 LABELS hub)
    endforeach()
    # run-registry: lmcc run MODEL --size S --variant instruct -p TEXT, chat and base
    add_test(NAME hub.run-registry
      COMMAND ${LMCC_HUB_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/hub/hub_test.py
        --lmcc $<TARGET_FILE:lmcc> --work ${CMAKE_BINARY_DIR}/hub --tok-prefix ${LMCC_HUB_TOK_PREFIX} run-registry)
    set_tests_properties(hub.run-registry PROPERTIES FIXTURES_REQUIRED lmcc_tok_npm TIMEOUT 600 LABELS hub)
  else()
    message(WARNING "node or npm not found: the hub interoperability tests are not registered")
  endif()
else()
  message(WARNING "python3 not found: the hub tests are not registered")
endif()
