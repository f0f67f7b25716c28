/* sign.c - HMAC-SHA256 of a request path, in lowercase hex. */
#include "sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

int sign_path(const char *key, const char *path, char hex[SIGN_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	hex[0] = '\0';
	if (HMAC(EVP_sha256(), key, (int)strlen(key),
		 (const unsigned char *)path, strlen(path), md, &n) == NULL ||
	    n * 2 != SIGN_HEX_LEN)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[SIGN_HEX_LEN] = '\0';
	return 0;
}

int sign_check(const char *key, const char *path, const char *sig)
{
	char want[SIGN_HEX_LEN + 1];

	/* The length of a signature is no secret; its digits are. */
	if (key[0] == '\0' || strlen(sig) != SIGN_HEX_LEN ||
	    sign_path(key, path, want) < 0)
		return 0;
	return CRYPTO_memcmp(want, sig, SIGN_HEX_LEN) == 0;
}
