/* fuzz_quantity.c: Kubernetes resource quantities ("3900m", "16314928Ki", "1e3") read as
 * millicores, nanocores and whole units. Both round away from zero, as Kubernetes' Quantity does
 * ("-1.5" is -2 units), so where both readings succeed without saturating, the whole units must be
 * the millis rounded away from zero in turn. */
#include <stdlib.h>

#include "fuzz_support.h"
#include "quantity.h"

/* away_div1000: m / 1000 rounded away from zero. */
static int64_t away_div1000(int64_t m)
{
	int64_t q = m / 1000;
	if (m % 1000 > 0) {
		return q + 1;
	}
	return m % 1000 < 0 ? q - 1 : q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_support_cstr(data, size);
	int64_t milli = 0, nano = 0, whole = 0;
	bool m_ok = quantity_parse_milli(s, &milli);
	bool n_ok = quantity_parse_nano(s, &nano);
	bool w_ok = quantity_parse_int(s, &whole);
	if (m_ok && w_ok && llabs(milli) < 1000000000000000LL && whole != away_div1000(milli)) {
		abort();
	}
	(void)n_ok;
	free(s);
	return 0;
}
