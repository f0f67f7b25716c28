/*
 * sign.h - signed URLs: the lowercase hex HMAC-SHA256 of a request path
 * ("/user/avatar/3589782/w500.jpg", no query string) under a key.  The
 * responder checks "?sig=" with it (policy.h), images sign prints it.
 * Thread-safety: pure functions (OpenSSL's HMAC is reentrant).
 */
#ifndef IMGSRV_SIGN_H
#define IMGSRV_SIGN_H

#define SIGN_HEX_LEN 64 /* hex digits of a signature */

/*
 * Writes the signature of path under key into hex (SIGN_HEX_LEN digits
 * and a NUL).  Returns 0, or -1 if OpenSSL failed (hex is then empty).
 */
int sign_path(const char *key, const char *path, char hex[SIGN_HEX_LEN + 1]);

/*
 * 1 if sig is the signature of path under key, else 0 (also for an empty
 * key).  The digits are compared in constant time, so the answer's timing
 * tells nothing of how much of a guess was right.
 */
int sign_check(const char *key, const char *path, const char *sig);

#endif
