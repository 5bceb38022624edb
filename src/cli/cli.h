/* Sub-commands of the glint program and the helpers they share. */
#ifndef GLINT_CLI_H
#define GLINT_CLI_H

#include <stddef.h>

int cmd_check(int argc, char **argv);
int cmd_perf(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Parses a positive integer option value in [lo, hi]; exits with a message
 * on anything else. */
long cli_int(const char *opt, const char *val, long lo, long hi);
double cli_double(const char *opt, const char *val, double lo, double hi);

#endif
