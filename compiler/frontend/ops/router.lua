-- router: a mixture-of-experts layer's choice of experts for each token.
--
--   route = router(scores, top_k, { renormalize = bool })
--
-- scores [n, num_experts] are the router linear's logits. Each row is
-- turned into probabilities by a softmax over all experts in f32, the
-- top_k largest are kept (ties to the lower expert index, as torch.topk
-- does on a CPU), and with renormalize they are divided by their sum
-- (Qwen3's norm_topk_prob). The output [n, 2 * top_k] holds, per token,
-- the chosen experts' indices (as floats, exact below 2^24) in
-- descending order of probability, then their weights: what ops/experts.lua
-- reads. Its kernel is lm_router_task in runtime/kernels/moe.h.

local M = { kind = "router" }

function M.build(g, scores, top_k, opts, name)
  g:check_tensor("router", scores, "scores")
  g:check_int("router", top_k, "top_k")
  opts = opts or {}
  if top_k > scores.cols then
    g:fail("router", ("top_k %d is more than the %d experts scored"):format(top_k, scores.cols))
  end
  if opts.renormalize ~= nil and type(opts.renormalize) ~= "boolean" then
    g:fail("router", "renormalize must be true or false, got " .. tostring(opts.renormalize))
  end
  return g:op("router", { scores }, 2 * top_k, { top_k = top_k, renormalize = opts.renormalize or false },
    name or ((scores.name or "x") .. ".route"))
end

function M.emit(node, e)
  local E, k = node.inputs[1].cols, node.attrs.top_k
  local renorm = node.attrs.renormalize and 1 or 0
  local name = e:instance(("router_%d_top%d%s"):format(E, k, renorm == 1 and "_renorm" or ""), "rowwise.c.in", {
    DOC = ("softmax over %d experts, top %d%s"):format(E, k, renorm == 1 and ", renormalized" or ""),
    CALL = ("lm_router_task(arg, tid, nthreads, %d, %d, %d)"):format(E, k, renorm),
  })
  e:line(("    /* %s: [n, %d] -> [n, %d] */"):format(node.out.name, E, 2 * k))
  e:line(("    lm_pool_run(c->pool, %s, &(lm_rows_args){ .a = %s, .y = %s, .n = n });"):format(
    name, e:A(node.inputs[1]), e:A(node.out)))
  e:dump(node.out)
end

return M
