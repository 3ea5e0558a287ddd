/* fuzz_text.c: the display sanitiser and width code (text.c) on any bytes. What text_sanitize
 * returns must hold no C0/C1 control, no DEL, no bidi override or isolate and be valid UTF-8;
 * text_fit and text_fit_middle must give exactly the columns asked for. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "text.h"

/* check_clean aborts when s holds what text_sanitize promises to remove (newlines allowed when
 * keep_newlines). */
static void check_clean(const char *s, bool keep_newlines)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		if (c < 0x80) {
			if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7f) {
				abort();
			}
			p++;
			continue;
		}
		size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (n == 0 || c > 0xf4) {
			abort(); /* a stray continuation byte or an impossible lead byte */
		}
		unsigned cp = c & (0xff >> (n + 1));
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				abort();
			}
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			abort(); /* overlong, out of range, a surrogate */
		}
		if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f ||
		    cp == 0x061c || cp == 0x2028 || cp == 0x2029) {
			abort(); /* C1 control, bidi control, line or paragraph separator */
		}
		p += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = fuzz_support_cstr(data, size);
	int cols = size > 0 ? data[0] % 40 : 0;
	/* Both locales labdeck meets: C.UTF-8 (wide characters are 2 columns) and plain C. */
	static int current = -1; /* setlocale is slow: only when the choice changes */
	int plain = size > 0 && (data[0] & 0x80);
	if (plain != current) {
		setlocale(LC_ALL, plain ? "C" : "C.UTF-8");
		current = plain;
	}
	for (int keep = 0; keep <= 1; keep++) {
		char *clean = text_sanitize(raw, keep);
		check_clean(clean, keep);
		if (text_width(clean) < 0) {
			abort();
		}
		/* Sanitising twice changes nothing. */
		char *again = text_sanitize(clean, keep);
		if (strcmp(again, clean) != 0) {
			abort();
		}
		free(again);
		if (!keep) {
			for (int right = 0; right <= 1; right++) {
				char *fit = text_fit(clean, cols, right);
				if (text_width(fit) != cols) {
					abort();
				}
				free(fit);
			}
			char *mid = text_fit_middle(clean, cols);
			if (text_width(mid) != cols) {
				abort();
			}
			free(mid);
		}
		free(clean);
	}
	/* The width code must not misbehave on text that was not sanitised either. */
	text_width(raw);
	free(raw);
	return 0;
}
