/* Sub-commands of the glint program and the helpers they share. */
#ifndef GLINT_CLI_H
#define GLINT_CLI_H

#include <stddef.h>

int cmd_check(int argc, char **argv);
int cmd_perf(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* Reads a whole file of at most `limit` bytes; returns malloc'ed bytes (free
 * them) and sets *size, or NULL with errno set. */
void *cli_read_file(const char *path, size_t limit, size_t *size);
/* Parses a positive integer option value in [lo, hi]; exits with a message
 * on anything else. */
long cli_int(const char *opt, const char *val, long lo, long hi);
double cli_double(const char *opt, const char *val, double lo, double hi);

#endif
