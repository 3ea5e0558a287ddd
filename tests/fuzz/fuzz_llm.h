/* fuzz_llm.h: the body of the three model-provider targets (fuzz_ollama, fuzz_gemini,
 * fuzz_openai), which differ only in the provider. */
#ifndef LABDECK_FUZZ_LLM_H
#define LABDECK_FUZZ_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "llm_parse.h"

/* fuzz_llm_run feeds the input to provider p's parsers as llm.c does: the first byte chooses the
 * chunking, the rest is a streamed chat answer cut by the NDJSON (Ollama) or SSE (Gemini, OpenAI)
 * splitter into units for llm_stream_unit, then judged and turned into a result. The same bytes
 * go to llm_parse_error (as a non-2xx answer, the status chosen by the first byte), and for
 * Ollama to the model list and embedding parsers. */
void fuzz_llm_run(enum llm_provider p, const uint8_t *data, size_t size);

#endif
