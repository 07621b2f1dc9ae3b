/* fuzz_config.c: libFuzzer harness for the configuration parser.
 *
 * Arbitrary bytes -> NUL-terminated libconfig text -> conf_parse_string ->
 * conf_validate (also after parse errors, as `sheath -t` does). A
 * configuration without errors is dumped (the -T output), and the dump
 * must parse and validate again and dump identically: any difference is a
 * round-trip bug and aborts. FUZZ_CONFIG_VERBOSE=1 in the environment
 * prints the parse and validation errors. */
#include "autoconfig.h"
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

/* Parse and validate text into a new conf. Returns the conf when it parsed
 * and validated without error, else NULL. Validation runs even after parse
 * errors, as for `sheath -t`, which validates whatever was parsed so that
 * it reports every problem (after a syntax error the conf is just empty). */
static struct conf *
load(const char *text, FILE *err)
{
	struct conf *c = conf_new();
	int nerr = conf_parse_string(text, "fuzz.conf", c, err);

	nerr += conf_validate(c, err);
	if (nerr != 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static char *
dump(const struct conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		abort();
	conf_dump(c, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* Why the dump did not load again: the errors, printed into a string. */
static void
explain(const char *what, const char *input, const char *d1, const char *d2)
{
	char *errs = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&errs, &len);
	struct conf *c = conf_new();

	if (f != NULL) {
		if (conf_parse_string(d1, "dump.conf", c, f) == 0)
			conf_validate(c, f);
		fclose(f);
	}
	conf_free(c);
	fprintf(stderr, "fuzz_config: %s\n--- input ---\n%s\n--- first dump "
	    "---\n%s--- second dump ---\n%s--- errors on the dump ---\n%s\n",
	    what, input, d1, d2 ? d2 : "(none)\n", errs ? errs : "");
	free(errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *d1, *d2;
	struct conf *c, *c2;

	if (devnull == NULL) {
		const char *v = getenv("FUZZ_CONFIG_VERBOSE");

		/* FUZZ_CONFIG_VERBOSE=1: show why an input is refused. */
		devnull = v != NULL && *v == '1' ? stderr :
		    fopen("/dev/null", "w");
		if (devnull == NULL)
			abort();
	}
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* libconfig's @include reads arbitrary files: keep the harness off
	 * the file system (and off /dev/zero). sheath accepts @include in a
	 * main file, which an administrator writes. */
	if (strcasestr(text, "@include") != NULL) {
		free(text);
		return 0;
	}
	c = load(text, devnull);
	if (c == NULL) {
		free(text);
		return 0;
	}
	d1 = dump(c);
	c2 = load(d1, devnull);
	if (c2 == NULL) {
		explain("the dump of a valid configuration does not load",
		    text, d1, NULL);
		abort();
	}
	d2 = dump(c2);
	if (strcmp(d1, d2) != 0) {
		explain("dumping the reloaded dump gives a different text",
		    text, d1, d2);
		abort();
	}
	free(d2);
	conf_free(c2);
	free(d1);
	conf_free(c);
	free(text);
	return 0;
}
