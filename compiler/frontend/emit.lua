-- The emitter: fills templates/*.in with the planned graph.
--
-- Output is a pure function of the graph: no timestamps, no hash-order
-- iteration, floats printed with enough digits to round-trip, so the same
-- config and lmcc version always give byte-identical files.

local CompileError = require("errors")
local plan = require("plan")

local M = {}

local DTYPE_ENUM = { f32 = "LM_F32", bf16 = "LM_BF16", f16 = "LM_F16", q8_0 = "LM_Q8_0" }
local DTYPE_BYTES = { f32 = 4, bf16 = 2, f16 = 2, q8_0 = 34 / 32 }

local function read_template(dir, name)
  local path = dir .. "/" .. name
  local f, err = io.open(path, "rb")
  if not f then CompileError.raise(("%s: cannot read template: %s"):format(path, err)) end
  local s = f:read("a")
  f:close()
  return s
end

-- Replaces every {{KEY}}; a key without a value is a bug in the emitter.
local function fill(tpl, vars, what)
  return (tpl:gsub("{{([%w_]+)}}", function(k)
    local v = vars[k]
    if v == nil then error(("template %s: no value for {{%s}}"):format(what, k)) end
    return tostring(v)
  end))
end

-- A C float literal that reads back as the same double.
local function cfloat(x)
  if x ~= x then return "NAN" end
  if x == math.huge then return "INFINITY" end
  if x == -math.huge then return "-INFINITY" end
  return M.shortest(x, true) .. "f"
end
M.cfloat = cfloat

-- The shortest decimal that reads back as the same double; as_float keeps
-- a decimal point so that C reads it as a floating constant.
function M.shortest(x, as_float)
  if x == math.floor(x) and math.abs(x) < 1e15 then
    return ("%.1f"):format(x)
  end
  local s
  for digits = 1, 17 do
    s = ("%." .. digits .. "g"):format(x)
    if tonumber(s) == x then break end
  end
  if as_float and not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function cstring(s)
  return '"' .. s:gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"'
end

-- "qwen3-0.6b" -> "qwen3_0_6b"
function M.c_name(name)
  local c = name:gsub("[^%w]", "_"):lower()
  if c:match("^%d") then c = "m_" .. c end
  return c
end

local function weight_bytes(w, dtype)
  local n = 1
  for _, d in ipairs(w.shape) do n = n * d end
  return math.floor(n * DTYPE_BYTES[w.kind == "matrix" and dtype or "f32"] + 0.5)
end

function M.run(g, opts)
  local cfg = g.cfg
  local dtype = cfg.dtype
  -- lmcc build --matmul-input bf16: linears round their inputs to bf16.
  local xbf16 = opts.matmul_input == "bf16"
  -- lmcc build --kv-dtype bf16: the KV cache holds bf16 keys and values.
  local kv16 = opts.kv_dtype == "bf16"
  -- What a batch's linears multiply with, as the kernels name it
  -- (runtime/kernels_bf16.h), and whether they need the input region.
  local matmul_kernel = xbf16 and "LM_BF16_KERNEL"
    or dtype == "bf16" and "LM_F32_BF16W_KERNEL"
    or (dtype == "q8_0" or dtype == "f16") and "LM_F32_SPLITW_KERNEL"
    or '"f32-fma"'
  local bf16_input_region = matmul_kernel ~= '"f32-fma"'
  local tdir = opts.templates
  local T = {}
  for _, name in ipairs({ "model.c.in", "model.h.in", "main.c.in", "model.mk.in", "model.cmake.in",
                          "linear.c.in", "attention.c.in", "embedding.c.in", "rowwise.c.in" }) do
    T[name] = read_template(tdir, name)
  end

  -- Weight slots, numbered in first-use order.
  local rows = {}
  for i, w in ipairs(g.weights) do
    w.slot = i - 1
    local wd = w.kind == "matrix" and dtype or "f32"
    w.dtype = wd
    if wd == "q8_0" and w.shape[#w.shape] % 32 ~= 0 then
      CompileError.raise(("%s: q8_0 needs rows that are a multiple of 32; '%s' has %d; build with --dtype bf16"):format(
        opts.config_path, w.name, w.shape[#w.shape]))
    end
    local dims = {}
    for d = 1, 4 do dims[d] = tostring(w.shape[d] or 0) end
    rows[#rows + 1] = ("    /* %3d */ { %s, %s, %d, { %s }, %d, %d },"):format(
      w.slot, cstring(w.name), DTYPE_ENUM[wd], #w.shape, table.concat(dims, ", "), w.src_rows, w.row_begin)
  end

  local checks = {}
  for _, f in ipairs(opts.hf.fields) do
    if f.compare then
      local kind, value
      if type(f[2]) == "boolean" then
        kind, value = "LM_CFG_BOOL", f[2] and "1" or "0"
      elseif math.type(f[2]) == "integer" then
        kind, value = "LM_CFG_INT", tostring(f[2])
      else
        kind, value = "LM_CFG_FLOAT", M.shortest(f[2], false)
      end
      checks[#checks + 1] = ("    { %s, %s, %s, %d },"):format(cstring(f[1]), kind, value, f.has_default and 1 or 0)
    end
  end

  local batch, ctx = opts.batch, opts.ctx
  local arena = plan.run(g.fused, batch, g.result)

  -- Kernel instances, deduplicated by their text.
  local kernels, kernel_names, kernel_list = {}, {}, {}
  local function instance(base, tpl, vars)
    local key = base .. "\0" .. fill(tpl, setmetatable({ NAME = "@" }, { __index = vars }), base)
    if kernels[key] then return kernels[key] end
    local name = base
    local k = 2
    while kernel_names[name] do name = ("%s_%d"):format(base, k); k = k + 1 end
    kernel_names[name] = true
    vars.NAME = name
    kernels[key] = name
    kernel_list[#kernel_list + 1] = fill(tpl, vars, base)
    return name
  end

  local function A(t) return ("A + %d"):format(t.offset) end
  local function W(w) return ("W[%d]"):format(w.slot) end
  local function dump(t, rows_expr)
    return ("    if (c->dump) c->dump(c->dump_user, %s, %s, %s, %d);"):format(
      cstring(t.name), A(t), rows_expr or "n", t.cols)
  end

  local body = {}
  local scratch = 0
  local params, head_params, wbytes = 0, 0, 0
  local kv_floats = 0
  local function line(s) body[#body + 1] = s end

  for _, op in ipairs(g.fused) do
    if op.kind == "embedding" then
      local w = op.attrs.w
      local name = instance(("embed_%d_%s"):format(op.out.cols, dtype), T["embedding.c.in"],
        { DIM = op.out.cols, DTYPE = dtype, DTYPE_ENUM = DTYPE_ENUM[dtype] })
      line(("    /* %s: [n, %d] */"):format(op.out.name, op.out.cols))
      line(("    lm_pool_run(c->pool, %s, &(lm_embed_args){ .tokens = tokens, .table = %s, .y = %s, .n = n });"):format(
        name, W(w), A(op.out)))
      line(dump(op.out))
    elseif op.kind == "matmul" then
      local K = op.x.cols
      local outs, outs_doc, ws, bs, ys = {}, {}, {}, {}, {}
      for i, p in ipairs(op.parts) do
        outs[i] = tostring(p.w.shape[1])
        ws[i] = W(p.w)
        bs[i] = p.bias and W(p.bias) or "NULL"
        params = params + p.w.shape[1] * K
        if op.logits then head_params = head_params + p.w.shape[1] * K end
        wbytes = wbytes + weight_bytes(p.w, dtype)
      end
      for i, t in ipairs(op.outs) do
        ys[i] = op.logits and "logits" or A(t)
        outs_doc[i] = ("[n, %d]"):format(t.cols)
      end
      local mode = op.act == "swiglu" and "LM_LINEAR_SWIGLU" or "LM_LINEAR_PLAIN"
      local base = ("linear_%d_%s_%s%s%s%s"):format(K, table.concat(outs, "_"), dtype,
        op.norm and "_norm" or "", op.act == "swiglu" and "_swiglu" or "", xbf16 and "_xbf16" or "")
      local name = instance(base, T["linear.c.in"], {
        K = K, NPARTS = #op.parts, OUTS = table.concat(outs, ", "), DTYPE = dtype,
        DTYPE_ENUM = DTYPE_ENUM[dtype], MODE = mode, XBF16 = xbf16 and 1 or 0,
        XBF16_DOC = xbf16 and ", inputs rounded to bf16" or "",
        EPS = op.norm and cfloat(op.norm.eps) or "0.0f",
        NORM_DOC = op.norm and " rmsnorm" or "",
        OUTS_DOC = table.concat(outs_doc, " "),
        MODE_DOC = op.act == "swiglu" and ", silu(gate) * up" or "",
      })
      -- Per-thread scratch: the normalized or bf16-rounded input, then 32
      -- packed weight rows (two blocks for swiglu); see lm_linear_task.
      -- bf16, q8_0 and f16 weights also take f32 inputs to AMX tiles, in
      -- two bf16 parts.
      scratch = math.max(scratch, (op.norm and batch * K or 0) + (bf16_input_region and (batch + 32) * K or 0)
        + (op.act == "swiglu" and 2 or 1) * 32 * K)
      local fields = {}
      if op.logits then
        fields[#fields + 1] = (".x = all_logits ? %s : %s + (size_t)(n - 1) * %d"):format(A(op.x), A(op.x), K)
      else
        fields[#fields + 1] = ".x = " .. A(op.x)
      end
      if op.norm then fields[#fields + 1] = ".norm_w = " .. W(op.norm.w) end
      fields[#fields + 1] = ".w = { " .. table.concat(ws, ", ") .. " }"
      local any_bias = false
      for _, b in ipairs(bs) do if b ~= "NULL" then any_bias = true end end
      if any_bias then fields[#fields + 1] = ".bias = { " .. table.concat(bs, ", ") .. " }" end
      fields[#fields + 1] = ".y = { " .. table.concat(ys, ", ") .. " }"
      if op.residual then fields[#fields + 1] = ".residual = " .. A(op.residual) end
      fields[#fields + 1] = ".scratch = c->scratch, .scratch_stride = SCRATCH_FLOATS"
      fields[#fields + 1] = op.logits and ".n = all_logits ? n : 1" or ".n = n"
      line(("    /* %s: %s%s -> %s */"):format(op.name, op.norm and "rmsnorm " or "",
        ("[n, %d]"):format(K), table.concat(outs_doc, " ")))
      line(("    lm_pool_run(c->pool, %s, &(lm_linear_args){\n        %s });"):format(
        name, table.concat(fields, ",\n        ")))
      if not op.logits then
        for _, t in ipairs(op.outs) do line(dump(t)) end
      end
    elseif op.kind == "attention" then
      local H, KVH, D = op.heads, op.kv_heads, op.head_dim
      local rot = op.rope and op.rope.rot or 0
      local base = op.rope and op.rope.base or 0.0
      local doc = {}
      if op.q_norm then doc[#doc + 1] = "per-head rmsnorm of q and k" end
      if op.rope then
        doc[#doc + 1] = ("RoPE base %s over %d dims%s"):format(M.shortest(base, false), rot,
          op.rope.ntk and (", dynamic NTK past %d tokens"):format(op.rope.ntk) or "")
      end
      if op.logn then doc[#doc + 1] = ("logn query scaling past %d"):format(op.logn) end
      doc[#doc + 1] = "causal, online softmax"
      local name = instance(("attention_%d_%d_%d"):format(H, KVH, D), T["attention.c.in"], {
        HEADS = H, KV_HEADS = KVH, HEAD_DIM = D, CTX = ctx, EPS = cfloat(op.eps),
        ROT = rot, SCALE = cfloat(op.scale), LOGN = op.logn or 0, DOC = table.concat(doc, ", "),
        KV16 = kv16 and 1 or 0,
      })
      local base_expr = op.rope and op.rope.ntk
        and ("lm_ntk_base(%s, %d, c->seq_tokens, %d)"):format(M.shortest(base, true), rot, op.rope.ntk)
        or cfloat(base)
      -- LM_ATTN_SCRATCH in runtime/kernels.h, checked there: per query
      -- head of the group, the query, its accumulator and a block of 64
      -- scores; or a batch tile: queries and outputs [D][16], 72 x 16 scores.
      scratch = math.max(scratch, (H // KVH) * (2 * D + 64), 32 * D + 16 * 72 + 72 * D)
      -- A bf16 cache (--kv-dtype bf16) packs two values per float of it.
      local layer_floats = 2 * KVH * ctx * D // (kv16 and 2 or 1)
      line(("    /* %s: layer %d, [n, %d] */"):format(op.name, op.layer, op.outs[1].cols))
      line("    {")
      line(("        lm_attn_args a = { .q = %s, .k = %s, .v = %s,"):format(A(op.q), A(op.k), A(op.v)))
      line(("            .q_norm = %s, .k_norm = %s,"):format(op.q_norm and W(op.q_norm) or "NULL",
        op.k_norm and W(op.k_norm) or "NULL"))
      line(("            .cache = c->kv + (size_t)%d * %d, .out = %s,"):format(op.layer, layer_floats, A(op.outs[1])))
      line(("            .rope_base = %s,"):format(base_expr))
      line("            .scratch = c->scratch, .scratch_stride = SCRATCH_FLOATS, .n = n, .pos = pos };")
      line(("        lm_pool_run(c->pool, %s_store, &a);"):format(name))
      line(("        lm_pool_run(c->pool, %s_query, &a);"):format(name))
      line("    }")
      line(dump(op.outs[1]))
      kv_floats = kv_floats + layer_floats
    elseif op.kind == "rmsnorm" or op.kind == "add" or op.kind == "swiglu" then
      local K = op.out.cols
      local call, doc, fields
      if op.kind == "rmsnorm" then
        call = ("lm_rmsnorm_task(arg, tid, nthreads, %d, %s)"):format(K, cfloat(op.attrs.eps))
        doc = ("rmsnorm of [n, %d]"):format(K)
        fields = (".a = %s, .w = %s"):format(A(op.inputs[1]), W(op.attrs.w))
      else
        call = ("lm_%s_task(arg, tid, nthreads, %d)"):format(op.kind, K)
        doc = ("%s of two [n, %d]"):format(op.kind, K)
        fields = (".a = %s, .b = %s"):format(A(op.inputs[1]), A(op.inputs[2]))
      end
      local name = instance(("%s_%d"):format(op.kind, K), T["rowwise.c.in"], { DOC = doc, CALL = call })
      line(("    /* %s: [n, %d] */"):format(op.out.name, K))
      line(("    lm_pool_run(c->pool, %s, &(lm_rows_args){ %s, .y = %s, .n = n });"):format(name, fields, A(op.out)))
      line(dump(op.out))
    else
      error("emit: unexpected op kind " .. tostring(op.kind))
    end
  end

  local C = M.c_name(opts.name)
  local defines = {
    ("#define VOCAB %d"):format(cfg.vocab_size),
    ("#define CONTEXT %d /* KV-cache length in tokens */"):format(ctx),
    ("#define BATCH %d /* most tokens per forward call */"):format(batch),
    ("#define HIDDEN %d"):format(g.hidden or cfg.embedding_dim),
    ("#define ARENA_FLOATS ((size_t)%d) /* %.1f MiB */"):format(arena, arena * 4 / 1048576),
    ("#define SCRATCH_FLOATS ((size_t)%d) /* per thread */"):format(math.max(scratch, 16)),
    ("#define KV_FLOATS ((size_t)%d) /* %.1f MiB of address space */"):format(kv_floats, kv_floats * 4 / 1048576),
  }

  local comment = {}
  for _, k in ipairs(opts.config_keys) do
    local v = cfg[k]
    local s = math.type(v) == "float" and M.shortest(v, true) or tostring(v)
    comment[#comment + 1] = (" *   %s: %s"):format(k, s)
  end

  local vars = {
    MODEL = opts.name, C_NAME = C, VERSION = opts.version, CONFIG = opts.config_path,
    ARCH = cfg.arch, DTYPE = dtype, MATMUL_INPUT = opts.matmul_input or "f32",
    KV_DTYPE = opts.kv_dtype or "f32", MATMUL_KERNEL = matmul_kernel, CONFIG_COMMENT = table.concat(comment, "\n"),
    DEFINES = table.concat(defines, "\n"), N_WEIGHTS = #g.weights, WEIGHT_TABLE = table.concat(rows, "\n"),
    N_CHECKS = #checks, CONFIG_CHECKS = table.concat(checks, "\n"),
    KERNELS = table.concat(kernel_list), FORWARD = table.concat(body, "\n"),
    PARAMS_PER_TOKEN = params, HEAD_PARAMS = head_params, WEIGHT_BYTES_PER_TOKEN = wbytes,
    VOCAB = cfg.vocab_size, GUARD = C:upper() .. "_H", VAR = C:upper(),
  }
  if #checks == 0 then vars.CONFIG_CHECKS = "    { 0 }" end
  return {
    c_name = C,
    files = {
      { C .. ".c", fill(T["model.c.in"], vars, "model.c.in") },
      { C .. ".h", fill(T["model.h.in"], vars, "model.h.in") },
      { C .. "_main.c", fill(T["main.c.in"], vars, "main.c.in") },
      -- Build fragments for other build systems (lmcc build --emit-only).
      { C .. ".mk", fill(T["model.mk.in"], vars, "model.mk.in") },
      { C .. ".cmake", fill(T["model.cmake.in"], vars, "model.cmake.in") },
    },
  }
end

return M
