-- wrk script: POSTs image files round-robin as raw bodies.
-- usage: IMAGES="a.jpg b.jpg" wrk -s bench/wrk_post.lua URL
local bodies = {}
local i = 0
for path in string.gmatch(os.getenv("IMAGES") or "", "%S+") do
  local f = assert(io.open(path, "rb"))
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end
assert(#bodies > 0, "set IMAGES to one or more image files")

request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/octet-stream"}, bodies[i])
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
                 + summary.errors.write + summary.errors.timeout
  io.write(string.format("WRK requests=%d seconds=%.3f rps=%.2f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, errors))
end
