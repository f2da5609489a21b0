-- wrk script shared by every variant, so the load generator does the same work for all.
-- Arguments (after `--`): [file with one token per line] [header name] [header value prefix]
-- Without a file, every request is the same (headers from -H). With one, the requests rotate
-- through the tokens (pre-formatted at start, so rotating costs wrk nothing per request).
local reqs = {}
local n = 0
local i = 0

function init(args)
  local file, name, prefix = args[1], args[2], args[3] or ""
  if file ~= nil and file ~= "" and file ~= "-" then
    for line in io.lines(file) do
      if line ~= "" then
        local headers = {}
        for k, v in pairs(wrk.headers) do headers[k] = v end
        headers[name] = prefix .. line
        n = n + 1
        reqs[n] = wrk.format(nil, nil, headers)
      end
    end
  end
  if n == 0 then
    n = 1
    reqs[1] = wrk.format()
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
