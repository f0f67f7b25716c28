-- image-server behind lighttpd: the store lookup, run by mod_magnet for
-- every request (magnet.attract-physical-path-to in image-server.conf).
--
-- Store layout: /{m}/{f}/{id}/{file} is stored at
--   STORE/{m}/{f}/{s1}/{s2}/{id}/{file}
-- where, with the id left-padded with "_" to 4 characters, s1 is its last two
-- characters and s2 the two before them (3589782 -> 82/97, 123 -> 23/_1,
-- 42 -> 42/__, 7 -> _7/__). STORE is the document root.
--
-- A GET or HEAD of an image URL, spelled as its store path, whose file is
-- in the store: lighttpd serves that file, with the Cache-Control header
-- the responder gives what it makes. Everything else (a miss, any other
-- URL or spelling, any other method) is restarted as /.image-server/,
-- which fastcgi.server hands to the responder: a hit and a miss get the
-- same answer to another spelling (400) or method (405 with Allow). lighttpd still sends the client's own request target, as it
-- was sent, as REQUEST_URI, and that is what the responder parses.
--
-- Only names like "w500.jpg" (lower-case name, dot, extension) are looked
-- up: the original ("original", no extension) and temporary files (".name")
-- never match, so they are never served. Nothing else is ever served from
-- the disk, not even a store path asked for as such.

local r = lighty.r
local attr = r.req_attr
local path = attr["uri.path"] -- decoded and normalised by lighttpd
-- the path as the client sent it (request.orig-uri, without its query
-- string): a hit only when the two are the same, so that /w50%30.jpg or
-- //m/f/id/w500.jpg is the responder's 400, not a second URL of w500.jpg
local raw = (attr["request.orig-uri"] or ""):match("^[^?]*")

-- Already sent to the responder (below): leave it to mod_fastcgi.
if path:sub(1, 15) == "/.image-server/" then
	return 0
end

local m, f, id, file = path:match(
	"^/([a-z0-9_]+)/([a-z0-9_]+)/([0-9A-Za-z_%-]+)/([a-z0-9_%-]+%.[a-z0-9]+)$")
local method = attr["request.method"]
if m and #m <= 32 and #f <= 32 and #id <= 64 and raw == path and
	(method == "GET" or method == "HEAD") then
	local p = ("____" .. id):sub(-4)
	local full = attr["physical.doc-root"] .. "/" .. m .. "/" .. f .. "/" ..
		p:sub(3, 4) .. "/" .. p:sub(1, 2) .. "/" .. id .. "/" .. file
	local st = lighty.c.stat(full)
	if st and st.is_file then
		-- A hit. An output never changes once made (a new image gets
		-- a new id), but by a purge, which browsers do not hear of
		-- (docs/operations.md).
		attr["physical.path"] = full
		r.resp_header["Cache-Control"] = "public, max-age=31536000, immutable"
		return 0
	end
end

-- A miss, or not an image URL: the responder makes the output, or answers
-- 400 with the reason; it also handles POST and DELETE
-- /{model}/{field}/{id}.
-- The query string goes along: lighttpd takes QUERY_STRING from the URI
-- it restarts with, and the responder reads it (GET /status?format=html).
local query = attr["uri.query"]
if query and query ~= "" then
	attr["request.uri"] = "/.image-server/?" .. query
else
	attr["request.uri"] = "/.image-server/"
end
attr["physical.path"] = nil -- (or lighttpd does not restart)
return lighty.RESTART_REQUEST
