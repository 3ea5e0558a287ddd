/* chunker.h: splitting Markdown or plain text into chunks for retrieval (labdeck rag ingest).
 *
 * A document is cut at its headings (ATX `#` to `######`, ignored inside fenced code) into
 * sections; each chunk keeps its section's heading path ("Setup > GPU passthrough") as its title.
 * Within a section, paragraphs (blank-line separated; a fenced code block stays whole when it
 * fits) are packed into chunks of at most max_chars characters, and each chunk after the first
 * of a section begins with the last ~overlap characters of the one before, starting at a word.
 * A paragraph too long for one chunk is cut at a line, sentence or word end when there is one
 * in reach, else between two characters. Sizes count UTF-8 characters (code points), and no cut
 * ever falls inside a character, so Hangul and other multibyte text stay whole. */
#ifndef LABDECK_CHUNKER_H
#define LABDECK_CHUNKER_H

#include <stddef.h>

#define CHUNKER_MAX_CHARS 1500
#define CHUNKER_OVERLAP 200

struct chunker_opts {
	size_t max_chars; /* at most this many characters per chunk; 0: CHUNKER_MAX_CHARS */
	size_t overlap;   /* characters repeated from the chunk before; capped at max_chars / 4 */
};

struct chunker_chunk {
	char *title; /* heading path joined by " > "; before any heading, the default title */
	char *text;  /* trimmed, never empty; heading lines themselves are not repeated here */
};

struct chunker_list {
	struct chunker_chunk *items;
	size_t len;
};

/* chunker_split appends the chunks of len bytes of text to out (which starts zeroed or from an
 * earlier call). default_title (may be NULL: "") titles the text before the first heading.
 * opts NULL means CHUNKER_MAX_CHARS and CHUNKER_OVERLAP. Empty or blank text gives no chunk. */
void chunker_split(const char *text, size_t len, const char *default_title,
                   const struct chunker_opts *opts, struct chunker_list *out);

/* chunker_list_finish frees every chunk and zeroes the list; NULL-safe. */
void chunker_list_finish(struct chunker_list *l);

/* chunker_chars counts the UTF-8 characters in len bytes of s (each byte that does not continue a
 * sequence starts one). */
size_t chunker_chars(const char *s, size_t len);

/* chunker_fix_utf8 returns a NUL-terminated copy of len bytes of s in which every byte that is
 * not part of a well-formed UTF-8 character (stray, truncated, overlong, surrogate) and every NUL
 * is replaced by U+FFFD, so the text can go into JSON and PostgreSQL. */
char *chunker_fix_utf8(const char *s, size_t len);

#endif
