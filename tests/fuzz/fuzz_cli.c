/* fuzz_cli.c: the ad-hoc command line, `sheath --KEY VALUE ...`. The input
 * is split on NUL bytes into argv words (after argv[0]); getopt_long() reads
 * them with conf_cli_options()'s table as main() does (unknown options and
 * stray words are skipped here, where main() would exit), and conf_build()
 * makes and validates the `cli` service from the key options
 * (conf_add_cli_service(), key_set_string()).
 *
 * A configuration that validates is dumped (-T); the dump must parse and
 * validate again as a file and dump identically, but for the lines only a
 * command-line configuration has. FUZZ_CLI_VERBOSE=1 prints why an input
 * is refused. */
#include "autoconfig.h"
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 64

static FILE *devnull;

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *words, *argv[MAX_WORDS + 2], *d1, *d2;
	const struct option *opts = conf_cli_options(NULL, 0);
	struct conf_cli cli;
	struct conf *c, *c2;
	int argc = 0, ch;

	if (devnull == NULL) {
		const char *v = getenv("FUZZ_CLI_VERBOSE");

		devnull = v != NULL && *v == '1' ? stderr :
		    fopen("/dev/null", "w");
		if (devnull == NULL)
			abort();
	}
	if (size > 16384)
		return 0;
	if ((words = malloc(size + 1)) == NULL)
		abort();
	memcpy(words, data, size);
	words[size] = '\0';
	argv[argc++] = (char *)"sheath";
	for (size_t off = 0; off <= size && argc <= MAX_WORDS;) {
		argv[argc++] = words + off;
		off += strlen(words + off) + 1;
	}
	argv[argc] = NULL;

	memset(&cli, 0, sizeof(cli));
	cli.foreground = 1;
	optind = 0;	/* glibc: start afresh */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		if (ch >= CONF_CLI_OPT_BASE)
			conf_cli_add_kv(&cli, ch, optarg);
	if (cli.nkv == 0) {
		/* conf_build() would read the default configuration file. */
		free(words);
		return 0;
	}
	c = conf_build(&cli, devnull);
	if (c != NULL) {
		d1 = dump(c);
		c2 = conf_new();
		if (conf_parse_string(d1, "dump.conf", c2, devnull) != 0 ||
		    conf_validate(c2, devnull) != 0) {
			fprintf(stderr, "fuzz_cli: the dump of a valid command "
			    "line does not load:\n%s", d1);
			abort();
		}
		d2 = dump(c2);
		if (strcmp(d1, d2) != 0) {
			fprintf(stderr, "fuzz_cli: the reloaded dump differs:"
			    "\n--- first ---\n%s--- second ---\n%s", d1, d2);
			abort();
		}
		free(d2);
		free(d1);
		conf_free(c2);
		conf_free(c);
	}
	free(cli.kv);
	free(words);
	return 0;
}
