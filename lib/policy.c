/* policy.c - methods, outputs and POST parameters a client may ask for. */
#include "policy.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sign.h"

enum policy_method policy_method(const char *name)
{
	if (strcmp(name, "GET") == 0)
		return POLICY_GET;
	if (strcmp(name, "HEAD") == 0)
		return POLICY_HEAD;
	if (strcmp(name, "POST") == 0)
		return POLICY_POST;
	if (strcmp(name, "DELETE") == 0)
		return POLICY_DELETE;
	return POLICY_OTHER;
}

/* Compares a secret with a guess in time that depends on neither: their
 * digests are compared, which also hides the secret's length. */
static int same_secret(const char *secret, const char *guess, size_t len)
{
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int na = 0, nb = 0;

	if (!EVP_Digest(secret, strlen(secret), a, &na, EVP_sha256(), NULL) ||
	    !EVP_Digest(guess, len, b, &nb, EVP_sha256(), NULL) || na != nb)
		return 0;
	return CRYPTO_memcmp(a, b, na) == 0;
}

int policy_check_write(const struct conf *c, const char *authorization,
		       struct err *e)
{
	const char *token;

	if (c->api_key[0] == '\0')
		return 0;
	/* RFC 6750: the scheme is case-insensitive, then one or more spaces. */
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return err_set(e, ERR_UNAUTHORIZED,
			       "an API key is needed: Authorization: Bearer KEY");
	token = authorization + 7;
	token += strspn(token, " ");
	if (!same_secret(c->api_key, token, strcspn(token, " \t")) ||
	    token[strcspn(token, " \t")] != '\0')
		return err_set(e, ERR_UNAUTHORIZED, "the API key is not valid");
	return 0;
}

int policy_size_listed(const char *sizes, const char *spec)
{
	size_t len = strlen(spec);

	for (const char *p = sizes; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, spec, len) == 0)
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

/* The value of sig= in query, copied into out; "" when there is none. */
static void query_sig(const char *query, char *out, size_t size)
{
	out[0] = '\0';
	for (const char *p = query ? query : ""; *p != '\0';) {
		size_t n = strcspn(p, "&");
		if (n > 4 && strncmp(p, "sig=", 4) == 0) {
			snprintf(out, size, "%.*s", (int)(n - 4), p + 4);
			return;
		}
		p += n + (p[n] == '&');
	}
}

int policy_check_miss(const struct conf *c, const struct url_request *r,
		      const char *path, const char *query, struct err *e)
{
	char spec[URL_FILE_MAX + 1], sig[SIGN_HEX_LEN + 2];
	const char *dot = strrchr(r->file, '.'), *why;

	if (c->sizes[0] == '\0' && c->signing_key[0] == '\0')
		return 0;
	snprintf(spec, sizeof(spec), "%.*s",
		 (int)(dot ? (size_t)(dot - r->file) : strlen(r->file)), r->file);
	if (c->sizes[0] != '\0' && policy_size_listed(c->sizes, spec))
		return 0;
	if (c->signing_key[0] == '\0')
		return err_set(e, ERR_FORBIDDEN, "size %s is not in -sizes", spec);
	query_sig(query, sig, sizeof(sig));
	if (sign_check(c->signing_key, path, sig) ||
	    (c->signing_key_old[0] != '\0' &&
	     sign_check(c->signing_key_old, path, sig)))
		return 0;
	why = sig[0] ? "sig= is not the signature of the path"
		     : "the URL is not signed (no sig=)";
	if (c->sizes[0] != '\0')
		return err_set(e, ERR_FORBIDDEN, "size %s is not in -sizes, and %s",
			       spec, why);
	return err_set(e, ERR_FORBIDDEN, "%s", why);
}

int policy_check_output(const struct conf *c, unsigned formats_available,
			const struct url_request *r, struct err *e)
{
	unsigned enabled = 0;

	(void)conf_format_mask(c->formats, &enabled, NULL);
	if (!(enabled & formats_available & (1u << r->format)))
		return err_set(e, ERR_FORMAT, "output format '%s' is not enabled",
			       url_format_ext(r->format));
	if ((int)r->width > c->maximum_width)
		return err_set(e, ERR_TOO_LARGE, "width %u is over the maximum of %d",
			       r->width, c->maximum_width);
	if ((int)r->height > c->maximum_height)
		return err_set(e, ERR_TOO_LARGE,
			       "height %u is over the maximum of %d", r->height,
			       c->maximum_height);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out (and '+' to ' '); -1 if malformed. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* The query's key=value pairs into p; the outputs list, still a string,
 * into list. */
static int parse_query(const char *q, struct policy_post *p, char *list,
		       size_t list_size, struct err *e)
{
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		char key[32], flag[4], *value;
		int *which = NULL;
		size_t vsize;

		eq = memchr(q, '=', len);
		if (eq == NULL || (size_t)(eq - q) >= sizeof(key))
			return err_set(e, ERR_BAD_REQUEST,
				       "query: expected key=value pairs");
		memcpy(key, q, (size_t)(eq - q));
		key[eq - q] = '\0';
		if (strcmp(key, "outputs") == 0)
			value = list, vsize = list_size;
		else if (strcmp(key, "source") == 0)
			value = p->source, vsize = sizeof(p->source);
		else if (strcmp(key, "force") == 0)
			value = flag, vsize = sizeof(flag), which = &p->force;
		else if (strcmp(key, "replace") == 0)
			value = flag, vsize = sizeof(flag), which = &p->replace;
		else
			return err_set(e, ERR_BAD_REQUEST,
				       "query: unknown parameter '%s' (outputs, "
				       "source, force, replace)", key);
		if (decode(eq + 1, len - (size_t)(eq + 1 - q), value, vsize) < 0)
			return err_set(e, ERR_BAD_REQUEST, "query: bad value for %s",
				       key);
		if (value == flag) {
			if (strcmp(flag, "1") != 0 && strcmp(flag, "0") != 0)
				return err_set(e, ERR_BAD_REQUEST, "%s must be 0 or 1",
					       key);
			*which = flag[0] == '1';
		}
		q += len + (amp ? 1 : 0);
	}
	return 0;
}

/* "/model/field/id" into p; method names the request in errors. */
static int parse_path(const char *method, const char *path,
		      struct policy_post *p, struct err *e)
{
	char copy[256], *save = NULL, *parts[4];
	int n = 0;

	if (strlen(path) >= sizeof(copy) || path[0] != '/')
		return err_set(e, ERR_BAD_REQUEST, "%s /{model}/{field}/{id}",
			       method);
	snprintf(copy, sizeof(copy), "%s", path + 1);
	if (copy[0] == '\0' || copy[strlen(copy) - 1] == '/' || strstr(copy, "//"))
		return err_set(e, ERR_BAD_REQUEST, "%s /{model}/{field}/{id}",
			       method);
	for (char *t = strtok_r(copy, "/", &save); t && n < 4;
	     t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	if (n != 3 || url_valid_name(parts[0]) < 0 ||
	    url_valid_name(parts[1]) < 0 || url_valid_id(parts[2]) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "%s /{model}/{field}/{id} with model and field "
			       "[a-z0-9_]{1,32}, id [0-9A-Za-z_-]{1,64}", method);
	snprintf(p->model, sizeof(p->model), "%s", parts[0]);
	snprintf(p->field, sizeof(p->field), "%s", parts[1]);
	snprintf(p->id, sizeof(p->id), "%s", parts[2]);
	return 0;
}

/* Checks every entry of the outputs list into p->outputs. */
static int parse_outputs(const struct conf *c, unsigned formats_available,
			 const char *list, struct policy_post *p, struct err *e)
{
	char copy[1024], *save = NULL;

	p->noutputs = 0;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		struct url_request r;
		struct err one;
		int dup = 0;

		for (int i = 0; i < p->noutputs; i++)
			dup |= strcmp(p->outputs[i], t) == 0;
		if (dup)
			continue; /* one job per output */
		if (p->noutputs == POLICY_MAX_OUTPUTS)
			return err_set(e, ERR_BAD_REQUEST,
				       "outputs: at most %d entries",
				       POLICY_MAX_OUTPUTS);
		if (url_parse_file(t, &r, &one) < 0 ||
		    policy_check_output(c, formats_available, &r, &one) < 0)
			return err_set(e, one.code == ERR_FORMAT ? ERR_BAD_REQUEST
								 : one.code,
				       "outputs: bad entry '%s': %s", t, one.msg);
		snprintf(p->outputs[p->noutputs++], URL_FILE_MAX + 1, "%s", t);
	}
	return 0;
}

int policy_parse_post(const struct conf *c, unsigned formats_available,
		      const char *path, const char *query,
		      struct policy_post *p, struct err *e)
{
	char list[1024] = "";

	memset(p, 0, sizeof(*p));
	if (parse_path("POST", path, p, e) < 0 ||
	    parse_query(query ? query : "", p, list, sizeof(list), e) < 0)
		return -1;
	return parse_outputs(c, formats_available, list, p, e);
}

int policy_parse_delete(const char *path, const char *query,
			struct policy_post *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	if (query != NULL && *query != '\0')
		return err_set(e, ERR_BAD_REQUEST,
			       "DELETE takes no query string");
	return parse_path("DELETE", path, p, e);
}
