/* makepair.h: `sheath --make-pair DIR`, a ready tunnel pair (private CA,
 * certificates, configs) made with GnuTLS's X.509 API. */
#ifndef SHEATH_MAKEPAIR_H
#define SHEATH_MAKEPAIR_H

/** makepair_wanted(argc, argv): whether the command line asks for
 * --make-pair (then makepair_main parses all of it). */
int makepair_wanted(int argc, char **argv);

/** makepair_main(argc, argv, etc_default): parse the pair options, write the
 * pair and print what to do next. Returns the exit status: 0, 1 (nothing
 * written: DIR not empty, a required option missing, a bad value or a
 * failed write) or 2 (bad command line). */
int makepair_main(int argc, char **argv, const char *etc_default);

#endif
