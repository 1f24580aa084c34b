-- Rotates through bench/queries.tsv's trove queries, one per request, URL-encoded.
local queries = {}
for line in io.lines("bench/queries.tsv") do
  local q = line:match("^([^\t]+)\t")
  if q and not q:match("^#") then
    queries[#queries + 1] = q:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end)
  end
end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/search?q=" .. queries[(i % #queries) + 1])
end
