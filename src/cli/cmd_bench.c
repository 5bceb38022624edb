/* glint bench: the HTTP load generator (src/bench/). */
#include "cli/cli.h"

#include <stdio.h>

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "glint bench: not built yet\n");
    return 1;
}
