/* status.c - lib error codes to HTTP statuses (design.md, "Status codes"). */
#include "status.h"

struct http_status status_for(enum err_code c)
{
	static const struct http_status table[] = {
		[ERR_NONE] = { 200, "OK" },
		[ERR_BAD_REQUEST] = { 400, "Bad Request" },
		[ERR_NOT_FOUND] = { 404, "Not Found" },
		[ERR_METHOD] = { 405, "Method Not Allowed" },
		[ERR_TOO_LARGE] = { 406, "Not Acceptable" },
		[ERR_FORMAT] = { 415, "Unsupported Media Type" },
		[ERR_UNPROCESSABLE] = { 422, "Unprocessable Entity" },
		[ERR_SOURCE] = { 502, "Bad Gateway" },
		[ERR_TIMEOUT] = { 504, "Gateway Timeout" },
		[ERR_STORAGE_FULL] = { 507, "Insufficient Storage" },
		[ERR_BUSY] = { 503, "Service Unavailable" },
		[ERR_FORBIDDEN] = { 403, "Forbidden" },
		[ERR_CONFLICT] = { 409, "Conflict" },
		[ERR_INTERNAL] = { 500, "Internal Server Error" },
		[ERR_UNAUTHORIZED] = { 401, "Unauthorized" },
	};

	if ((unsigned)c < sizeof(table) / sizeof(table[0]) && table[c].code != 0)
		return table[c];
	return table[ERR_INTERNAL];
}

const char *status_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	}
	for (int c = ERR_BAD_REQUEST; c < ERR_COUNT; c++)
		if (status_for((enum err_code)c).code == code)
			return status_for((enum err_code)c).reason;
	return "Unknown";
}
