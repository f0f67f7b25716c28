/* test_sign.c - signed URLs: HMAC-SHA256 in lowercase hex, checked. */
#include <string.h>

#include "sign.h"
#include "test.h"

int main(void)
{
	char hex[SIGN_HEX_LEN + 1], bad[SIGN_HEX_LEN + 1];

	/* RFC 4231, test case 2. */
	CHECK_INT(sign_path("Jefe", "what do ya want for nothing?", hex), 0);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d27398"
		       "39dec58b964ec3843");
	/* What images sign prints for the example of image-server(8). */
	CHECK_INT(sign_path("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			    hex), 0);
	CHECK_STR(hex, "3e5c188f8c313118de72698c4e7f821d7d39ca6692677da5082f996a886e4de6");

	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			     hex), 1);
	/* Another path, another key, one digit off, upper case, short, long,
	 * empty: all refused. */
	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w501.jpg",
			     hex), 0);
	CHECK_INT(sign_check("0123456789abcdef0124", "/user/avatar/3589782/w500.jpg",
			     hex), 0);
	memcpy(bad, hex, sizeof(bad));
	bad[63] = bad[63] == '6' ? '7' : '6';
	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			     bad), 0);
	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			     "3E5C188F8C313118DE72698C4E7F821D7D39CA6692677DA5082F996A886E4DE6"), 0);
	memcpy(bad, hex, sizeof(bad));
	bad[63] = '\0';
	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			     bad), 0);
	CHECK_INT(sign_check("0123456789abcdef0123", "/user/avatar/3589782/w500.jpg",
			     ""), 0);
	{
		char longer[SIGN_HEX_LEN + 2];
		snprintf(longer, sizeof(longer), "%s0", hex);
		CHECK_INT(sign_check("0123456789abcdef0123",
				     "/user/avatar/3589782/w500.jpg", longer), 0);
	}
	/* No key: nothing is ever signed. */
	sign_path("", "/a/b/c/w1.jpg", bad);
	CHECK_INT(sign_check("", "/a/b/c/w1.jpg", bad), 0);
	return TEST_END("sign");
}
