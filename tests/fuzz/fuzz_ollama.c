/* fuzz_ollama.c: what an Ollama server sends: a streamed chat answer in random pieces, error
 * bodies, the model lists and embeddings (see fuzz_llm.h). */
#include "fuzz_llm.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_llm_run(LLM_OLLAMA, data, size);
	return 0;
}
