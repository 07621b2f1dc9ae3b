/* fuzz_ja4.c: JA4 over arbitrary ClientHello bytes: never reads out of
 * bounds, and a fingerprint is always the fixed JA4 shape. */
#include "autoconfig.h"
#include "ja4.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[JA4_LEN + 1];

	if (ja4_compute(data, size, out) == 0) {
		if (strlen(out) != JA4_LEN || out[0] != 't' || out[10] != '_' ||
		    out[23] != '_')
			abort();
	} else if (strcmp(out, "-") != 0) {
		abort();
	}
	return 0;
}
