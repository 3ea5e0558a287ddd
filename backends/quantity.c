/* quantity.c: see quantity.h.
 *
 * A quantity is <sign?><digits>[.<digits>]<suffix?> where the suffix is one of the decimal SI
 * letters (n u m k M G T P E), a binary one (Ki Mi Gi Ti Pi Ei) or an exponent (e3, E-2). The
 * number is kept as an integer mantissa (up to 19 significant digits, more digits only make the
 * result round up), a power of ten and a power of two, so common values come out exact
 * ("16314928Ki" is exactly 16314928 * 1024) without going through floating point. */
#include "quantity.h"

#include <stddef.h>
#include <string.h>

__extension__ typedef unsigned __int128 quantity_u128;

/* A parsed quantity: (neg ? -1 : 1) * mant * 10^exp10 * 2^bin. */
struct quantity_num {
	bool neg;
	uint64_t mant;
	int64_t exp10;
	int bin;
	bool sticky; /* non-zero digits were dropped beyond the mantissa's precision */
};

#define QUANTITY_MANT_LIMIT 1000000000000000000ULL /* 1e18: mant * 10 + 9 stays below 1e19 */
#define QUANTITY_EXP_CAP 1000000

struct quantity_suffix {
	const char *name;
	int exp10;
	int bin;
};

static const struct quantity_suffix quantity_suffixes[] = {
        {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10},
        {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
};

static bool quantity_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void quantity_add_digit(struct quantity_num *q, int d, bool fraction)
{
	if (q->mant < QUANTITY_MANT_LIMIT) {
		q->mant = q->mant * 10 + (uint64_t)d;
		if (fraction) {
			q->exp10--;
		}
		return;
	}
	/* Out of precision: an integer digit still scales the value, a fraction digit does not. */
	if (!fraction) {
		q->exp10++;
	}
	if (d != 0) {
		q->sticky = true;
	}
}

/* quantity_exponent parses [+-]digits up to the end of the string, clamping the magnitude. */
static bool quantity_exponent(const char *p, int64_t *out)
{
	bool neg = false;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (!quantity_is_digit(*p)) {
		return false;
	}
	int64_t v = 0;
	for (; quantity_is_digit(*p); p++) {
		if (v < QUANTITY_EXP_CAP) {
			v = v * 10 + (*p - '0');
		}
	}
	if (*p != '\0') {
		return false;
	}
	*out = neg ? -v : v;
	return true;
}

static bool quantity_split(const char *s, struct quantity_num *q)
{
	memset(q, 0, sizeof(*q));
	if (!s) {
		return false;
	}
	const char *p = s;
	if (*p == '+' || *p == '-') {
		q->neg = *p == '-';
		p++;
	}
	size_t digits = 0;
	for (; quantity_is_digit(*p); p++, digits++) {
		quantity_add_digit(q, *p - '0', false);
	}
	if (*p == '.') {
		p++;
		for (; quantity_is_digit(*p); p++, digits++) {
			quantity_add_digit(q, *p - '0', true);
		}
	}
	if (digits == 0) {
		return false;
	}
	if (*p == '\0') {
		return true;
	}
	if ((*p == 'e' || *p == 'E') && p[1] != '\0') {
		int64_t e;
		if (quantity_exponent(p + 1, &e)) {
			q->exp10 += e;
			return true;
		}
		/* "E" alone is exa, handled below; anything else after e/E is garbage. */
	}
	for (size_t i = 0; i < sizeof(quantity_suffixes) / sizeof(quantity_suffixes[0]); i++) {
		if (strcmp(p, quantity_suffixes[i].name) == 0) {
			q->exp10 += quantity_suffixes[i].exp10;
			q->bin = quantity_suffixes[i].bin;
			return true;
		}
	}
	return false;
}

/* quantity_scaled: ceil(|value| * 10^scale10), saturating at INT64_MAX, with the sign applied. */
static int64_t quantity_scaled(const struct quantity_num *q, int scale10)
{
	quantity_u128 mant = q->mant; /* < 1e19 */
	int64_t e = q->exp10 + scale10;
	if (q->sticky) {
		/* Stand for the dropped digits with a trailing 1 so the result rounds up. */
		mant = mant * 10 + 1;
		e--;
	}
	if (mant == 0) {
		return 0;
	}
	const quantity_u128 limit = (quantity_u128)INT64_MAX;
	quantity_u128 v = mant << q->bin; /* < 1e20 * 2^60 < 2^127 */
	quantity_u128 r;
	if (e >= 0) {
		r = v;
		for (int64_t i = 0; i < e && r <= limit; i++) {
			r *= 10; /* r <= 2^63 before, so no wrap */
		}
	} else if (e < -38) {
		r = 1; /* v < 2^127 < 10^39: a positive fraction below one rounds up to one */
	} else {
		quantity_u128 p = 1;
		for (int64_t i = 0; i < -e; i++) {
			p *= 10;
		}
		r = v / p + (v % p != 0 ? 1 : 0);
	}
	int64_t out = r > limit ? INT64_MAX : (int64_t)r;
	return q->neg ? -out : out;
}

static bool quantity_parse_scaled(const char *s, int scale10, int64_t *out)
{
	struct quantity_num q;
	if (!quantity_split(s, &q)) {
		return false;
	}
	*out = quantity_scaled(&q, scale10);
	return true;
}

bool quantity_parse_milli(const char *s, int64_t *out)
{
	return quantity_parse_scaled(s, 3, out);
}

bool quantity_parse_nano(const char *s, int64_t *out)
{
	return quantity_parse_scaled(s, 9, out);
}

bool quantity_parse_int(const char *s, int64_t *out)
{
	return quantity_parse_scaled(s, 0, out);
}

int64_t quantity_add(int64_t a, int64_t b)
{
	int64_t sum;
	if (__builtin_add_overflow(a, b, &sum)) {
		return b > 0 ? INT64_MAX : INT64_MIN;
	}
	return sum;
}
