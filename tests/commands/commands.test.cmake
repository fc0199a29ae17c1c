# The registry and the commands around it (lmcc list, lmcc inspect), end to
# end: tests/commands/commands_check.py reads configs/registry.yaml itself
# (PyYAML) and checks what lmcc does with it. Debian's python3 lives under
# /usr/bin; a venv python may lack yaml.
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)

# registry-configs: every registry config exists and compiles (--emit-only)
# list:             lmcc list shows every model/size/variant and repository
# inspect-good:     inspect of synthesized checkpoints against their configs: exit 0
# inspect-broken:   a dropped, an added and a reshaped tensor, all reported, exit 1
# registry-errors:  unknown model type / size / variant: one line listing what exists
set(LMCC_COMMAND_CHECKS registry-configs list inspect-good inspect-broken registry-errors)

if(LMCC_PYTHON3)
  foreach(check ${LMCC_COMMAND_CHECKS})
    add_test(NAME commands.${check}
      COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/commands/commands_check.py
        --lmcc $<TARGET_FILE:lmcc>
        --root ${CMAKE_SOURCE_DIR}
        --work ${CMAKE_BINARY_DIR}/commands/${check}
        ${check})
    set_tests_properties(commands.${check} PROPERTIES TIMEOUT 300 LABELS commands)
  endforeach()
else()
  message(WARNING "python3 not found: the command tests are not registered")
endif()

# lmcc new-arch in a scratch copy of the tree: scaffold, build, synth, run,
# the golden test with the scaffolded reference, refusals that write nothing
# and a failure part-way that removes what it wrote (about 25 s with ASan).
add_test(NAME commands.new_arch
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/commands/new_arch.sh $<TARGET_FILE:lmcc>
    ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/commands/new_arch)
set_tests_properties(commands.new_arch PROPERTIES TIMEOUT 240 LABELS commands)

# The weight cache: quantized weights written at the first load, read at the
# next, not used after the checkpoint changes or when damaged, none with
# LMCC_WEIGHT_CACHE=0 or for a build that quantizes nothing.
add_test(NAME commands.weight_cache
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/commands/weight_cache.sh $<TARGET_FILE:lmcc>
    ${CMAKE_BINARY_DIR}/commands/weight_cache
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(commands.weight_cache PROPERTIES TIMEOUT 120 LABELS commands)

# scripts/bench-vs-llamacpp.sh's refusals (its runs need the user's
# llama.cpp builds).
add_test(NAME commands.bench_vs
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/commands/bench_vs.sh ${CMAKE_BINARY_DIR}/commands/bench_vs
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(commands.bench_vs PROPERTIES TIMEOUT 60 LABELS commands)
