/* sentinel.c - ask Redis Sentinels for the master, and the master its role. */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEME "sentinel://"

int sentinel_is(const char *spec)
{
	return strncmp(spec, SCHEME, strlen(SCHEME)) == 0;
}

int sentinel_addr_parse(const char *text, size_t len, struct sentinel_addr *a)
{
	const char *colon = NULL, *host = text;
	size_t hlen;
	char *end;
	long port;

	for (size_t i = len; i > 0; i--) {
		if (text[i - 1] == ':') {
			colon = text + i - 1;
			break;
		}
	}
	if (colon == NULL || colon == text || (size_t)(colon - text) + 1 >= len)
		return -1;
	hlen = (size_t)(colon - text);
	if (text[0] == '[') { /* "[::1]:26379" */
		if (hlen < 3 || text[hlen - 1] != ']')
			return -1;
		host++;
		hlen -= 2;
	}
	if (hlen >= sizeof(a->host) || memchr(host, '/', hlen) != NULL)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (end != text + len || port < 1 || port > 65535)
		return -1;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	a->port = (int)port;
	return 0;
}

int sentinel_parse(const char *spec, struct sentinel *s, struct err *e)
{
	const char *p, *slash;

	memset(s, 0, sizeof(*s));
	if (!sentinel_is(spec))
		return err_set(e, ERR_BAD_REQUEST, "-redis %s: not a sentinel:// address",
			       spec);
	p = spec + strlen(SCHEME);
	slash = strchr(p, '/');
	if (slash == NULL || slash[1] == '\0')
		return err_set(e, ERR_BAD_REQUEST, "-redis %s: want "
			       "sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME", spec);
	if (strlen(slash + 1) >= sizeof(s->master) || strchr(slash + 1, '/') ||
	    strpbrk(slash + 1, " \t,") != NULL)
		return err_set(e, ERR_BAD_REQUEST, "-redis %s: bad master name", spec);
	snprintf(s->master, sizeof(s->master), "%s", slash + 1);
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *end = comma ? comma : slash;

		if (s->n == SENTINEL_MAX)
			return err_set(e, ERR_BAD_REQUEST, "-redis %s: more than %d "
				       "sentinels", spec, SENTINEL_MAX);
		if (sentinel_addr_parse(p, (size_t)(end - p), &s->at[s->n]) < 0)
			return err_set(e, ERR_BAD_REQUEST, "-redis %s: bad sentinel "
				       "address '%.*s' (want HOST:PORT)", spec,
				       (int)(end - p), p);
		s->n++;
		p = comma ? comma + 1 : slash;
	}
	if (s->n == 0)
		return err_set(e, ERR_BAD_REQUEST, "-redis %s: no sentinel", spec);
	return 0;
}

/* One sentinel's answer: 1 with *master set, 0 when it does not know the
 * name, -1 when it did not answer. */
static int ask_one(const struct sentinel_addr *at, const char *name,
		   struct timeval tv, struct sentinel_addr *master)
{
	redisContext *ctx = redisConnectWithTimeout(at->host, at->port, tv);
	redisReply *rep = NULL;
	int rc = -1;

	if (ctx == NULL || ctx->err)
		goto out;
	redisSetTimeout(ctx, tv);
	rep = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s", name);
	if (rep == NULL)
		goto out;
	rc = 0;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    rep->element[1]->type == REDIS_REPLY_STRING &&
	    rep->element[0]->len < sizeof(master->host)) {
		snprintf(master->host, sizeof(master->host), "%s",
			 rep->element[0]->str);
		master->port = atoi(rep->element[1]->str);
		rc = master->port > 0 ? 1 : 0;
	}
out:
	if (rep != NULL)
		freeReplyObject(rep);
	if (ctx != NULL)
		redisFree(ctx);
	return rc;
}

int sentinel_ask(struct sentinel *s, struct timeval tv,
		 struct sentinel_addr *master, struct err *e)
{
	int answered = 0;

	for (int i = 0; i < s->n; i++) {
		int at = (s->first + i) % s->n;
		int rc = ask_one(&s->at[at], s->master, tv, master);

		if (rc == 1) {
			s->first = at;
			return 0;
		}
		answered += rc == 0;
	}
	if (answered > 0)
		return err_set(e, ERR_BUSY, "no sentinel knows a master '%s'",
			       s->master);
	return err_set(e, ERR_BUSY, "no sentinel answered");
}

int sentinel_role_master(redisContext *ctx, struct err *e)
{
	redisReply *rep = redisCommand(ctx, "ROLE");
	int rc;

	if (rep == NULL)
		return err_set(e, ERR_BUSY, "ROLE: %s",
			       ctx->errstr[0] ? ctx->errstr : "no answer");
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
	    rep->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(rep->element[0]->str, "master") == 0)
		rc = 0;
	else
		rc = err_set(e, ERR_BUSY, "not the master (ROLE %s)",
			     rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
					     rep->element[0]->type == REDIS_REPLY_STRING
				     ? rep->element[0]->str
				     : "?");
	freeReplyObject(rep);
	return rc;
}
