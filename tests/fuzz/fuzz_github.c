/*
 * libFuzzer target for the github webhook parser: forge_verify() and
 * forge_parse() with FORGE_GITHUB, as POST /api/v1/repos/{name}/hooks/github meets
 * them. The input and the contract are in fuzz_forge.h; the seed corpus is
 * tests/fuzz/corpus-github (the payloads of tests/data/forges).
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include "fuzz_forge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_forge_one(FORGE_GITHUB, data, size);
}
