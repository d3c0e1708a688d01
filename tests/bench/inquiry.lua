-- wrk script of `make bench` (tests/bench/wrk.py): the same load generator for /healthz and for
-- POST /v1/inquiries, so that their ratio compares the two answers and nothing else.
--   BENCH_WRK_MODE   "healthz" (GET /healthz) or "inquiry" (POST /v1/inquiries)
--   BENCH_WRK_TOKENS a file of borrower tokens, one 64-hex token a line (inquiry mode)
--   BENCH_WRK_KEYS   a file of API keys of several lenders, one a line (inquiry mode)
-- Each thread walks the tokens from its own starting point, the lenders in turn; done()
-- prints one JSON line that wrk.py reads.

local mode = os.getenv("BENCH_WRK_MODE") or "healthz"
local tokens, keys = {}, {}
local health_request = nil
local counter = 0

local function read_lines(path, into)
  for line in io.lines(path) do
    if #line > 0 then into[#into + 1] = line end
  end
end

function init(args)
  if mode == "inquiry" then
    read_lines(os.getenv("BENCH_WRK_TOKENS"), tokens)
    read_lines(os.getenv("BENCH_WRK_KEYS"), keys)
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
    counter = math.random(#tokens)
  else
    health_request = wrk.format("GET", "/healthz")
  end
end

function request()
  if mode ~= "inquiry" then
    return health_request
  end
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local key = keys[(counter % #keys) + 1]
  local body = '{"borrower":"' .. token .. '","purpose":"new_credit","consent_ref":"bench-consent"}'
  return wrk.format("POST", "/v1/inquiries", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
