# Golden-output tests: lmcc synth a checkpoint, lmcc build the model, and
# compare its logits and greedy ids with the PyTorch reference
# (tests/reference/qwen3_ref.py, qwen1_ref.py, qwen2_ref.py, llama_ref.py). Debian's python3-torch lives under
# /usr/bin/python3, so look there before PATH (a venv python lacks torch).
find_program(LMCC_PYTHON3 NAMES python3 HINTS /usr/bin)

# name | config | dtype | shards | tolerance (DESIGN.md: f32 1e-4, bf16 1e-3) | reference
#   | matmul inputs (lmcc build --matmul-input; the reference rounds the same way)
#   | mean tolerance | KV-cache dtype (lmcc build --kv-dtype; mirrored likewise)
# With bf16 matmul inputs an input that lmcc and PyTorch compute one f32 ulp
# apart may round to neighbouring bf16 values (about one in 4000 inputs), so
# the largest error grows: measured 0.010 (qwen3) and 0.0045 (qwen1) against
# the rounding reference, where the reference without rounding is 0.039 and
# 0.026 away. The mean error tells the two apart best: 4.6e-4 and 4.8e-5
# against the rounding reference, 6.4e-3 and 4.3e-3 without rounding.
# A bf16 KV cache rounds far fewer values: measured on qwen3-tiny-gqa4 over
# 40 positions, 1.6e-5 largest and 2.4e-7 mean against the rounding
# reference, 4.1e-3 and 5.9e-4 against the f32 one.
# The *-defaults cases are what a bf16 build does unless told otherwise:
# bf16 matmul inputs and a bf16 KV cache, against a reference rounding both.
# Measured at seed 1234: qwen3 0.012 max, 1.9e-4 mean; llama 1.2e-7, 1.3e-9;
# qwen1 4.8e-7, 1.2e-8. Qwen2's tiny config there is the unlucky one: an
# early input rounds to the neighbouring bf16 value, the flip is stored in
# the cache and carries to every later position (max 0.012, mean 1.2e-3,
# greedy parting at a 0.0038 near-tie), where seeds 1, 7 and 99 give mean
# 1.2e-8, 1.5e-4 and 1.2e-5; so the defaults rows are qwen3's and llama's.
# The defaults also round attention's queries and probabilities to bf16 (as
# transformers' bf16 attention does; the reference the same way), two more
# places for a flip: on the Intel host, whose AMX linears sum in another
# order than the reference, qwen3's query at position 15 flips and carries
# to the 9 positions after it (max 0.014, mean 1.0e-3; with the vdpbf16ps
# linears of -DLM_NO_AMX 4.8e-7 and 6.7e-9): their mean bound is 3e-3.
# The longctx case runs a 24-token prompt + 32 generated ids on seq_length 16,
# so Qwen1's dynamic NTK and logn attention both act. The llama3 RoPE case
# rescales from an original context of 16, which changes the logits there:
# with LLAMA_REF_NO_SCALING=1 the reference is 3.1 away (measured).
# Gemma 3 (tests/reference/gemma3_ref.py), measured at seed 1234: f32 6.6e-7,
# bf16 3.8e-6; its final soft cap of 2 moves the logits by 0.022, the linear
# RoPE factor by 0.10 (0.46 were it applied to the local layers too). Its
# defaults row agrees to 5e-7 at positions 0 to 6 (2e-4 at 1); at 7 an input
# rounds to the neighbouring bf16 value and the flip, cached, carries to
# every later position through the global layers: max 0.017, mean 2.2e-3
# (the embedding's product taken in f32 instead of bf16 would be 0.059 and
# 9.2e-3 away, at every position). Since the vdpbf16ps linears of 2 to 127
# tokens multiply rows as stored (linear_bf16.h: 16 partial sums a row,
# added at the end) their sums are in another order than the reference's
# too, closer to the exact sums (mean error 4.3e-7 against the packed
# kernel's 1.1e-6 on random K = 1024 rows), and the flips land elsewhere:
# max 0.019, mean 3.5e-3 on Zen 4 (qwen3 9.5e-7, llama 2.5e-5, the MoE
# 5.3e-4 mean); the Gemma row's mean bound is 5e-3.
set(LMCC_GOLDEN_CASES
  "qwen3-tiny-f32|configs/test/qwen3-tiny.yaml|f32|1|1e-4|qwen3_ref.py"
  "qwen3-untied-bf16-2shards|configs/test/qwen3-tiny-untied-bf16.yaml|bf16|2|1e-3|qwen3_ref.py"
  "qwen3-gqa4-f32|configs/test/qwen3-tiny-gqa4.yaml|f32|1|1e-4|qwen3_ref.py"
  "qwen1-tiny-f32|configs/test/qwen1-tiny.yaml|f32|1|1e-4|qwen1_ref.py"
  "qwen1-tiny-bf16|configs/test/qwen1-tiny-bf16.yaml|bf16|1|1e-3|qwen1_ref.py"
  "qwen1-longctx-logn-ntk-f32|configs/test/qwen1-tiny-longctx.yaml|f32|1|1e-4|qwen1_ref.py"
  "qwen3-untied-bf16-matmul-bf16|configs/test/qwen3-tiny-untied-bf16.yaml|bf16|2|2e-2|qwen3_ref.py|bf16|1e-3"
  "qwen1-tiny-bf16-matmul-bf16|configs/test/qwen1-tiny-bf16.yaml|bf16|1|2e-2|qwen1_ref.py|bf16|1e-3"
  "qwen3-gqa4-kv-bf16|configs/test/qwen3-tiny-gqa4.yaml|f32|1|1e-3|qwen3_ref.py|f32|1e-5|bf16"
  "qwen1-longctx-kv-bf16|configs/test/qwen1-tiny-longctx.yaml|f32|1|1e-3|qwen1_ref.py|f32|1e-5|bf16"
  "qwen2-tiny-bias-f32|configs/test/qwen2-tiny.yaml|f32|1|1e-4|qwen2_ref.py"
  "qwen2-untied-gqa4-bf16-2shards|configs/test/qwen2-tiny-untied-bf16.yaml|bf16|2|1e-3|qwen2_ref.py"
  "llama-rope-llama3-f32|configs/test/llama-tiny-rope-llama3.yaml|f32|1|1e-4|llama_ref.py"
  "llama-rope-linear-f32|configs/test/llama-tiny-rope-linear.yaml|f32|1|1e-4|llama_ref.py"
  "llama-headdim-bias-tied-bf16-2shards|configs/test/llama-tiny-headdim-bias.yaml|bf16|2|1e-3|llama_ref.py"
  "qwen3-untied-bf16-defaults|configs/test/qwen3-tiny-untied-bf16.yaml|bf16|2|2e-2|qwen3_ref.py|bf16|3e-3|bf16"
  "llama-headdim-bias-bf16-defaults|configs/test/llama-tiny-headdim-bias.yaml|bf16|2|2e-2|llama_ref.py|bf16|3e-3|bf16"
  "qwen3-moe-top2-renorm-f32|configs/test/qwen3-moe-tiny.yaml|f32|1|1e-4|qwen3_moe_ref.py"
  "qwen3-moe-top3-raw-f32|configs/test/qwen3-moe-tiny-top3-raw.yaml|f32|1|1e-4|qwen3_moe_ref.py"
  "qwen3-moe-step2-dense-layers-f32|configs/test/qwen3-moe-tiny-mixed.yaml|f32|1|1e-4|qwen3_moe_ref.py"
  "qwen3-moe-bf16-2shards|configs/test/qwen3-moe-tiny-bf16.yaml|bf16|2|1e-3|qwen3_moe_ref.py"
  "qwen3-moe-bf16-defaults|configs/test/qwen3-moe-tiny-bf16.yaml|bf16|2|2e-2|qwen3_moe_ref.py|bf16|3e-3|bf16"
  "gemma3-tiny-f32|configs/test/gemma3-tiny.yaml|f32|1|1e-4|gemma3_ref.py"
  "gemma3-final-softcap-f32|configs/test/gemma3-tiny-softcap.yaml|f32|1|1e-4|gemma3_ref.py"
  "gemma3-rope-linear-f32|configs/test/gemma3-tiny-rope-linear.yaml|f32|1|1e-4|gemma3_ref.py"
  "gemma3-multimodal-f32-2shards|configs/test/gemma3-tiny-mm.yaml|f32|2|1e-4|gemma3_ref.py"
  "gemma3-mqa-untied-bf16-2shards|configs/test/gemma3-tiny-bf16.yaml|bf16|2|1e-3|gemma3_ref.py"
  "gemma3-mqa-untied-bf16-defaults|configs/test/gemma3-tiny-bf16.yaml|bf16|2|2e-2|gemma3_ref.py|bf16|5e-3|bf16")

# Registers golden.<prefix><name> for one case of the table's shape; ARGN
# goes to golden.py as it is.
function(lmcc_golden_case prefix case)
  string(REPLACE "|" ";" fields "${case}")
  list(GET fields 0 name)
  list(GET fields 1 config)
  list(GET fields 2 dtype)
  list(GET fields 3 shards)
  list(GET fields 4 tol)
  list(GET fields 5 reference)
  set(matmul_input f32)
  set(mean_tol "")
  set(kv_dtype f32)
  list(LENGTH fields nfields)
  if(nfields GREATER 7)
    list(GET fields 6 matmul_input)
    list(GET fields 7 mean_tol_value)
    set(mean_tol --mean-tol ${mean_tol_value})
  endif()
  if(nfields GREATER 8)
    list(GET fields 8 kv_dtype)
  endif()
  add_test(NAME golden.${prefix}${name}
    COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/golden.py
      --lmcc $<TARGET_FILE:lmcc>
      --config ${CMAKE_SOURCE_DIR}/${config}
      --work ${CMAKE_BINARY_DIR}/golden/${prefix}${name}
      --seed 1234 --dtype ${dtype} --shards ${shards} --tol ${tol}
      --prompt-len 24 --gen 32
      --reference ${CMAKE_SOURCE_DIR}/tests/reference/${reference}
      --matmul-input ${matmul_input} ${mean_tol} --kv-dtype ${kv_dtype} ${ARGN})
  set_tests_properties(golden.${prefix}${name} PROPERTIES TIMEOUT 300 LABELS golden)
endfunction()

if(LMCC_PYTHON3)
  foreach(case ${LMCC_GOLDEN_CASES})
    lmcc_golden_case("" "${case}")
  endforeach()
  # Each MoE routing rule matters: with the reference breaking one
  # (QWEN3_MOE_REF_BREAK in tests/reference/qwen3_moe_ref.py) its case must
  # fail, by a logit mismatch, or for the layer selection by the tensors
  # the broken rule asks for not being in the checkpoint. Likewise each of
  # Gemma 3's own features (GEMMA3_REF_BREAK in gemma3_ref.py): the local
  # layers' window, the norms' (1 + w) and the embedding's sqrt(hidden).
  # case | the reference's variable | rule | what the output must show
  foreach(broken
      "qwen3-moe-top2-renorm-f32|QWEN3_MOE_REF_BREAK|renorm|EXCEEDS TOLERANCE"
      "qwen3-moe-top3-raw-f32|QWEN3_MOE_REF_BREAK|renorm|EXCEEDS TOLERANCE"
      "qwen3-moe-top2-renorm-f32|QWEN3_MOE_REF_BREAK|topk|EXCEEDS TOLERANCE"
      "qwen3-moe-step2-dense-layers-f32|QWEN3_MOE_REF_BREAK|dense_layers|every layer as sparse: missing tensor model.layers.0.mlp.gate.weight"
      "gemma3-tiny-f32|GEMMA3_REF_BREAK|window|EXCEEDS TOLERANCE"
      "gemma3-tiny-f32|GEMMA3_REF_BREAK|norm_offset|EXCEEDS TOLERANCE"
      "gemma3-tiny-f32|GEMMA3_REF_BREAK|embed_scale|EXCEEDS TOLERANCE")
    string(REPLACE "|" ";" fields "${broken}")
    list(GET fields 0 case_name)
    list(GET fields 1 variable)
    list(GET fields 2 rule)
    list(GET fields 3 expect)
    foreach(case ${LMCC_GOLDEN_CASES})
      if(case MATCHES "^${case_name}[|]")
        lmcc_golden_case("broken-${rule}." "${case}")
        set_tests_properties(golden.broken-${rule}.${case_name} PROPERTIES
          ENVIRONMENT "${variable}=${rule}" PASS_REGULAR_EXPRESSION "${expect}")
      endif()
    endforeach()
  endforeach()
  # (Measured without each Gemma 3 feature: window 0.62, norm_offset 0.64,
  # embed_scale 0.20.)
  # Prompts fed in chunks (lmcc build --batch 5): the 24-token prompt goes
  # through in 5 forward calls, so the local layers' window of 8 reaches
  # back over a chunk's start into keys that earlier calls cached.
  foreach(case ${LMCC_GOLDEN_CASES})
    if(case MATCHES "^(gemma3-tiny-f32|gemma3-mqa-untied-bf16-2shards)[|]")
      lmcc_golden_case("batch5." "${case}" --batch 5)
    endif()
  endforeach()
else()
  message(WARNING "python3 not found: the golden tests are not registered; install python3-torch")
endif()

# golden.<name>-<qtype><suffix>: configs/test/<name>.yaml built as qtype
# (quantized at load) against the f32 PyTorch reference; ARGN: golden.py's
# tolerances, or --quantized-reference.
function(lmcc_golden_quantized name ref qtype suffix)
  add_test(NAME golden.${name}-${qtype}${suffix}
    COMMAND ${LMCC_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/golden/golden.py
      --lmcc $<TARGET_FILE:lmcc> --config ${CMAKE_SOURCE_DIR}/configs/test/${name}.yaml
      --work ${CMAKE_BINARY_DIR}/golden/${name}-${qtype}${suffix} --seed 1234 --dtype f32
      --build-dtype ${qtype} --prompt-len 64 --gen 32
      --reference ${CMAKE_SOURCE_DIR}/tests/reference/${ref} ${ARGN})
  set_tests_properties(golden.${name}-${qtype}${suffix} PROPERTIES TIMEOUT 300 LABELS golden)
endfunction()

if(LMCC_PYTHON3)
  # q8_0: weights quantized at load, compared with the reference on the f32
  # checkpoint. Greedy ids may part at near-ties, so the test bounds the logit
  # error and the top-1 agreement over 64 prompt positions instead (measured:
  # qwen3-tiny 0.031 of a largest logit 0.80, top-1 0.89; qwen1-tiny 0.155 of
  # 4.3, top-1 0.94).
  lmcc_golden_quantized(qwen3-tiny qwen3_ref.py q8_0 "" --tol 0.05 --min-top1 0.85)
  lmcc_golden_quantized(qwen1-tiny qwen1_ref.py q8_0 "" --tol 0.25 --min-top1 0.85)
  # q4_0 (GGUF's block layout), the same way: measured qwen3-tiny 0.355 max
  # (mean 0.053), top-1 0.53; qwen1-tiny 1.78 (mean 0.28), top-1 0.48:
  # about 16 times q8_0's error, the ratio of their steps (max/8 against
  # max/127), on tiny models whose random logits are nearly flat (rms 0.17
  # and 1.0), so top-1 says little here.
  lmcc_golden_quantized(qwen3-tiny qwen3_ref.py q4_0 "" --tol 0.6 --min-top1 0.4)
  lmcc_golden_quantized(qwen1-tiny qwen1_ref.py q4_0 "" --tol 2.5 --min-top1 0.35)
  # q4_k8 (lmcc's k-quant-like 4-bit type: a scale and a min per 32, in
  # 8-bit steps of a per-256 pair), the same way, with the int8 inputs:
  # measured qwen3-tiny max 0.35 (mean 0.042; q4_0 0.053), top-1 0.53;
  # qwen1-tiny max 1.26 (mean 0.207; q4_0 0.282), top-1 0.67 (q4_0 0.50).
  lmcc_golden_quantized(qwen3-tiny qwen3_ref.py q4_k8 "" --tol 0.5 --mean-tol 0.05 --min-top1 0.4)
  lmcc_golden_quantized(qwen1-tiny qwen1_ref.py q4_k8 "" --tol 1.8 --mean-tol 0.25 --min-top1 0.5)
  # And exactness: against the reference run on the checkpoint quantized and
  # dequantized by an independent NumPy implementation of GGUF's q8_0 and
  # q4_0 (tests/golden/quantize_ref.py), each linear's input quantized to
  # int8 per 32-block as lmcc's kernels take it (reference --int8-inputs).
  # Most positions then agree to f32 rounding (median 1.5e-7); an input
  # that lmcc and PyTorch compute an f32 ulp apart can round to the
  # neighbouring int8 step, which moves a position's logits by up to a few
  # 1e-3 (measured qwen3-tiny q8_0: max 4.7e-3 at one position, 1.2e-3 at
  # another, all others 0 to 1e-6; mean 2.3e-5), so the test bounds the max
  # as the bf16 rows do and the mean tightly; greedy 32/32. Which input
  # flips depends on the reference's summation order, so on its BLAS:
  # qwen1-tiny q4_0 measured max 2.4e-6 (mean 1.9e-7) with Debian's
  # reference BLAS and 0.031 at one position (mean 1.2e-4) with OpenBLAS
  # (libopenblas0-openmp, which tools/kjv's training wants); its logits are
  # 4 times qwen3-tiny's, hence its wider bounds.
  lmcc_golden_quantized(qwen3-tiny qwen3_ref.py q8_0 -exact --tol 2e-2 --mean-tol 1e-4 --quantized-reference)
  lmcc_golden_quantized(qwen3-tiny qwen3_ref.py q4_0 -exact --tol 2e-2 --mean-tol 1e-4 --quantized-reference)
  lmcc_golden_quantized(qwen1-tiny qwen1_ref.py q4_0 -exact --tol 6e-2 --mean-tol 4e-4 --quantized-reference)
endif()

# The AVX2 + FMA lowering end to end (no AVX-512, no AMX), where this CPU
# runs it (LMCC_CPU_AVX2, tests/tests.cmake): models built with
# -march=haswell after the native flags.
if(LMCC_PYTHON3 AND LMCC_CPU_AVX2)
  foreach(case "qwen3-gqa4-f32|configs/test/qwen3-tiny-gqa4.yaml|f32|1|1e-4|qwen3_ref.py"
               "qwen3-untied-bf16-2shards|configs/test/qwen3-tiny-untied-bf16.yaml|bf16|2|1e-3|qwen3_ref.py")
    lmcc_golden_case("avx2." "${case}" --cflags=-march=haswell)
  endforeach()
endif()
