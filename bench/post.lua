-- wrk script: POST the file named by $BODY as a JSON request, or, with
-- $V2_HEADER_LEN set, as an Open Inference Protocol request with binary
-- tensors after a JSON header of that length.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local v2_header_len = os.getenv("V2_HEADER_LEN")
if v2_header_len and v2_header_len ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = v2_header_len
end
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
