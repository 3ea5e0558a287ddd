/* quantity.h: Kubernetes resource quantities ("3900m", "16314928Ki", "1e3", "321069224n"). */
#ifndef LABDECK_QUANTITY_H
#define LABDECK_QUANTITY_H

#include <stdbool.h>
#include <stdint.h>

/* quantity_parse_milli: the value ×1000, rounded up (cpu in millicores). */
bool quantity_parse_milli(const char *s, int64_t *out);
/* quantity_parse_nano: the value ×10^9 (cpu in nanocores), saturating at INT64_MAX. */
bool quantity_parse_nano(const char *s, int64_t *out);
/* quantity_parse_int: the value rounded up to an integer (memory in bytes). */
bool quantity_parse_int(const char *s, int64_t *out);
/* quantity_add: a + b for sums of quantities (bytes, millicores), saturating at INT64_MIN and
 * INT64_MAX: a server may send any number of containers asking for 9E each. */
int64_t quantity_add(int64_t a, int64_t b);

#endif
