/* fuzz_pci.c: PCI addresses as a guest config's hostpciN gives them (pci_normalize). What comes
 * out must be a full address that normalises to itself. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "pve_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_support_cstr(data, size);
	char out[64];
	/* The size of out is part of the input: a short buffer must be refused, never overrun. */
	size_t out_size = size > 0 ? 1 + data[0] % sizeof(out) : sizeof(out);
	if (pci_normalize(s, out, out_size)) {
		size_t n = strnlen(out, out_size);
		if (n >= out_size) {
			abort(); /* not terminated inside out */
		}
		char again[64];
		if (!pci_normalize(out, again, sizeof(again)) || strcmp(out, again) != 0) {
			abort(); /* a normalised address is a fixed point */
		}
	}
	free(s);
	return 0;
}
