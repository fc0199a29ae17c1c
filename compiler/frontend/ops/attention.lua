-- attention: causal grouped-query attention over this layer's KV cache.
-- k and v of the n new tokens are appended, then each query attends to
-- every cached position up to its own.
--
-- The node takes in the per-head norm (ops/head_rmsnorm.lua) and RoPE
-- (ops/rope.lua) of q and k, so one kernel pair does norm, rotation, the
-- cache write, scores, online softmax and the weighted sum of values:
-- lm_attn_store_task and lm_attn_query_task in runtime/kernels/attention.h.

local CompileError = require("errors")
local clit = require("clit")
local rope = require("ops.rope")

local M = { kind = "attention" }

-- The runtime's attention keeps a group's queries side by side
-- (LM_ATTN_MAX_GROUP in runtime/kernels/attention.h).
local MAX_GROUP = 16

function M.build(g, q, k, v, p, name)
  for _, t in ipairs({ { q, "q" }, { k, "k" }, { v, "v" } }) do g:check_tensor("attention", t[1], t[2]) end
  g:check_int("attention", p.heads, "heads")
  g:check_int("attention", p.kv_heads, "kv_heads")
  g:check_int("attention", p.head_dim, "head_dim")
  if p.heads % p.kv_heads ~= 0 then
    g:fail("attention", ("heads %d is not a multiple of kv_heads %d"):format(p.heads, p.kv_heads))
  end
  if p.heads // p.kv_heads > MAX_GROUP then
    g:fail("attention", ("heads / kv_heads = %d query heads per kv head, more than the %d the runtime supports")
      :format(p.heads // p.kv_heads, MAX_GROUP))
  end
  if q.cols ~= p.heads * p.head_dim then
    g:fail("attention", ("q has width %d, expected heads*head_dim = %d"):format(q.cols, p.heads * p.head_dim))
  end
  for _, t in ipairs({ { k, "k" }, { v, "v" } }) do
    if t[1].cols ~= p.kv_heads * p.head_dim then
      g:fail("attention", ("%s has width %d, expected kv_heads*head_dim = %d"):format(
        t[2], t[1].cols, p.kv_heads * p.head_dim))
    end
  end
  if p.window ~= nil then
    g:check_int("attention", p.window, "window")
  end
  for _, key in ipairs({ "scale", "softcap" }) do
    if p[key] ~= nil then g:check_number("attention", p[key], key, "positive") end
  end
  local layer = g.n_attention
  g.n_attention = layer + 1
  return g:op("attention", { q, k, v }, q.cols, {
    heads = p.heads, kv_heads = p.kv_heads, head_dim = p.head_dim, layer = layer,
    -- logn = seq_length scales queries past it by log(pos + 1) / log(seq_length).
    scale = p.scale or 1.0 / math.sqrt(p.head_dim), logn = p.logn,
    -- window = W: each query sees its last W positions only (sliding-window
    -- attention); the layer's cache is a ring (runtime/kernels/kv_cache.h).
    window = p.window,
    -- softcap = c: scores become c * tanh(s / c) (Gemma 2's attn_logit_softcapping).
    softcap = p.softcap,
  }, name or ("attention.%d"):format(layer))
end

-- Follows q (or k) back through rope and head_rmsnorm while each step feeds
-- only the next one; returns the raw projection and what was absorbed.
local function absorb_qk(f, t, consumer)
  local info = {}
  local rope = f:producer(t, "rope")
  if rope and f:only_user(t, consumer) then
    info.rope = rope.attrs
    f:kill(rope)
    consumer = rope
    t = rope.inputs[1]
  end
  local norm = f:producer(t, "head_rmsnorm")
  if norm and f:only_user(t, consumer) then
    info.norm = norm.attrs
    f:kill(norm)
    t = norm.inputs[1]
  end
  return t, info
end

function M.absorb(op, f)
  local q, qi = absorb_qk(f, op.inputs[1], op)
  local k, ki = absorb_qk(f, op.inputs[2], op)
  if (qi.rope == nil) ~= (ki.rope == nil) or (qi.norm == nil) ~= (ki.norm == nil) then
    CompileError.raise(("%s: attention %s: q and k must get the same norm and rope"):format(
      f.g.script, op.out.name))
  end
  if qi.rope and (qi.rope.base ~= ki.rope.base or qi.rope.head_dim ~= op.attrs.head_dim
      or qi.rope.rot ~= ki.rope.rot or qi.rope.ntk ~= ki.rope.ntk
      or not rope.same_scaling(qi.rope.scaling, ki.rope.scaling)) then
    CompileError.raise(("%s: attention %s: q and k rope settings differ"):format(f.g.script, op.out.name))
  end
  local a = op.attrs
  return {
    kind = "attention", q = q, k = k, v = op.inputs[3], reads = { q, k, op.inputs[3] }, outs = { op.out },
    heads = a.heads, kv_heads = a.kv_heads, head_dim = a.head_dim, layer = a.layer,
    scale = a.scale, logn = a.logn, window = a.window, softcap = a.softcap,
    q_norm = qi.norm and qi.norm.w, k_norm = ki.norm and ki.norm.w,
    eps = qi.norm and qi.norm.eps or 0.0,
    rope = qi.rope, name = op.out.name, index = op.index,
  }
end

function M.emit(node, e)
  local H, KVH, D = node.heads, node.kv_heads, node.head_dim
  local rot = node.rope and node.rope.rot or 0
  local base = node.rope and node.rope.base or 0.0
  local doc = {}
  if node.q_norm then doc[#doc + 1] = "per-head rmsnorm of q and k" end
  if node.rope then
    local sc = node.rope.scaling
    doc[#doc + 1] = ("RoPE base %s over %d dims%s%s"):format(clit.shortest(base, false), rot,
      node.rope.ntk and (", dynamic NTK past %d tokens"):format(node.rope.ntk) or "",
      sc and (", %s scaling x%s%s"):format(sc.type, clit.shortest(sc.factor, false),
        sc.type == "llama3" and (" from %s"):format(clit.shortest(sc.original_max_position_embeddings, false)) or "")
      or "")
  end
  if node.logn then doc[#doc + 1] = ("logn query scaling past %d"):format(node.logn) end
  local win, rows = M.cache_rows(node.window, e.ctx, e.batch)
  if node.softcap then doc[#doc + 1] = ("scores capped at %s"):format(clit.shortest(node.softcap, false)) end
  doc[#doc + 1] = win > 0 and ("causal, window of %d positions, online softmax"):format(win) or "causal, online softmax"
  local name = e:instance(("attention_%d_%d_%d%s"):format(H, KVH, D, win > 0 and ("_w%d"):format(win) or ""),
    "attention.c.in", {
    HEADS = H, KV_HEADS = KVH, HEAD_DIM = D, CTX = rows, WIN = win, EPS = clit.float(node.eps),
    CACHE_DOC = win > 0 and ("a ring of %d rows per head"):format(rows) or ("cache of %d"):format(rows),
    ROT = rot, SCALE = clit.float(node.scale), LOGN = node.logn or 0, DOC = table.concat(doc, ", "),
    KV16 = e.kv16 and 1 or 0, ABF16 = e.abf16 and 1 or 0,
  })
  -- LM_ATTN_SCRATCH in runtime/kernels/attention.h, checked there: per
  -- query head of the group, the query, its accumulator and a block of 64
  -- scores; or a batch tile: queries and outputs [D][16], 72 x 16 scores.
  e:scratch(math.max((H // KVH) * (2 * D + 64), 32 * D + 16 * 72 + 72 * D))
  -- A bf16 cache (--kv-dtype bf16) packs two values per float of it.
  local layer_floats = 2 * KVH * rows * D // (e.kv16 and 2 or 1)
  e:line(("    /* %s: layer %d, [n, %d] */"):format(node.name, node.layer, node.outs[1].cols))
  e:line("    {")
  e:line(("        lm_attn_call a = { .a = { .q = %s, .k = %s, .v = %s,"):format(e:A(node.q), e:A(node.k), e:A(node.v)))
  e:line(("            .q_norm = %s, .k_norm = %s,"):format(node.q_norm and e:W(node.q_norm) or "NULL",
    node.k_norm and e:W(node.k_norm) or "NULL"))
  e:line(("            .cache = c->kv + (size_t)%d, .out = %s,"):format(e.kv_floats, e:A(node.outs[1])))
  e:line(("            .rope_base = %s,"):format(clit.float(base)))
  local sc = node.rope and node.rope.scaling
  if sc then
    e:line(("            .rope_scaling = { %s, %s, %s, %s, %s },"):format(
      sc.type == "llama3" and "LM_ROPE_LLAMA3" or "LM_ROPE_LINEAR", clit.float(sc.factor),
      clit.float(sc.low_freq_factor or 0.0), clit.float(sc.high_freq_factor or 0.0),
      clit.float(sc.original_max_position_embeddings or 0.0)))
  end
  e:line(("            .scratch = c->scratch, .scratch_stride = SCRATCH_FLOATS%s },"):format(
    node.softcap and (", .softcap = %s"):format(clit.float(node.softcap)) or ""))
  -- Each sequence of the call in its own slot; dynamic NTK scales the base
  -- by that sequence's length.
  local ntk = node.rope and node.rope.ntk
  if ntk then e.rope_ntk = ntk end
  e:line(("            .spans = b->spans, .n_spans = b->n_spans, .slot_floats = KV_FLOATS%s };"):format(
    ntk and (", .ntk_base = %s, .ntk = %d"):format(clit.shortest(base, true), ntk) or ""))
  e:line(("        lm_pool_run(c->pool, %s_store, &a);"):format(name))
  e:line(("        lm_pool_run(c->pool, %s_query, &a);"):format(name))
  e:line("    }")
  e:dump(node.outs[1])
  e.kv_floats = e.kv_floats + layer_floats
  -- What --stats and the benchmarks count per cached position, and how far
  -- a sequence may be rewound with its rings intact (runtime/core/model.h).
  local per_position = layer_floats // rows
  if win > 0 then
    e.kv_window_floats = e.kv_window_floats + layer_floats
    e.kv_window_per_position = e.kv_window_per_position + per_position
    e.window = math.max(e.window, win)
    local slack = rows - win
    e.window_slack = e.window_slack < 0 and slack or math.min(e.window_slack, slack)
  else
    e.kv_full_per_position = e.kv_full_per_position + per_position
  end
end

-- The window and the cache rows per head of a layer with window w (nil:
-- none) in a model of ctx positions whose calls run up to batch tokens: a
-- ring of at least w + batch - 1 rows (runtime/kernels/kv_cache.h),
-- rounded up to a multiple of the kernels' block of 64. A window that
-- covers the context restricts nothing: the layer is a plain one.
local RING_ALIGN = 64
function M.cache_rows(w, ctx, batch)
  if w == nil or w >= ctx then return 0, ctx end
  local rows = (w + batch - 1 + RING_ALIGN - 1) // RING_ALIGN * RING_ALIGN
  -- A ring as long as the context never wraps: its rows need no alignment.
  if rows >= ctx then rows = ctx end
  return w, rows
end

return M
