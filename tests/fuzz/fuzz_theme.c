/* fuzz_theme.c: the .theme loader (theme_parse): any text gives a usable theme (problems become
 * warnings, never fatal), and every slot resolves at every colour depth. */
#include <stdlib.h>

#include "fuzz_support.h"
#include "theme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct theme t;
	theme_parse(&t, "fuzz.theme", "fuzz", (const char *)data, size);
	if (!t.name) {
		abort();
	}
	static const enum theme_depth depths[] = {THEME_DEPTH_NONE, THEME_DEPTH_8, THEME_DEPTH_16,
	                                          THEME_DEPTH_256};
	for (int s = 0; s < THEME_SLOT_COUNT; s++) {
		for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
			theme_resolve(&t, (enum theme_slot)s, depths[d]);
		}
	}
	theme_finish(&t);
	return 0;
}
