/* format.h: numbers as people read them, shared by the command line and the console. */
#ifndef LABDECK_FORMAT_H
#define LABDECK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* format_bytes: 1536 -> "1.5Ki", 34359738368 -> "32Gi"; negative (unknown) -> "-". */
void format_bytes(int64_t bytes, char *out, size_t size);
/* format_duration: kubectl-style ages: "45s", "12m", "5h3m", "3d4h", "400d"; negative -> "-". */
void format_duration(int64_t seconds, char *out, size_t size);
/* format_percent: a 0..1 fraction as "12%"; NAN -> "-". */
void format_percent(double fraction, char *out, size_t size);
/* format_usage: "used/total" in bytes, e.g. "10.2/32Gi"; either unknown -> "-". */
void format_usage(int64_t used, int64_t total, char *out, size_t size);

#endif
