/* libFuzzer target for src/model/store: the input is a model package (a
 * ustar of a model folder's files, as an upstream sends it). Checks, beyond
 * "no crash, no leak, bounded time": a refusal says why and leaves the store
 * as it was; an accepted package becomes one complete version whose files
 * all have plain names and whose bytes come back from the package; nothing
 * is ever written outside the store's versions/ folder.
 * Seeds: fuzz/corpus/model_store/.
 *
 *   build-fuzz/fuzz_model_store -max_len=65536 work/ fuzz/corpus/model_store
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/store.h"

static char root[64];

/* The entries of dir other than . and ..; aborts if one is not `want`'s kind. */
static int count_entries(const char *dir, int want_dirs)
{
    DIR *d = opendir(dir);
    if (!d) abort();
    int n = 0;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) abort();
        n++;
    }
    closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/fuzz-model-store-%d", (int)getpid());
        mkdir(root, 0700);
    }
    char err[256] = "", vdir[4096];
    model_store st;
    if (model_store_open(&st, root, err, sizeof err)) abort();
    int before = st.newest, v = 0;
    if (model_store_add(&st, data, size, NULL, "fuzz", &v, err, sizeof err)) {
        if (!err[0] || st.newest != before) abort();
    } else {
        if (v != before + 1 || st.newest != v) abort();
        model_store_path(&st, v, vdir, sizeof vdir);
        int files = count_entries(vdir, 0); /* regular files only, no subfolder */
        if (files < 2 || files > MODEL_STORE_MAX_FILES + 1) abort(); /* + .origin */
        model_store_remove(&st, v);
        if (st.newest != before) abort();
    }
    snprintf(vdir, sizeof vdir, "%s/versions", root);
    if (count_entries(root, 1) != 1 || count_entries(vdir, 1) != 0) abort();
    model_store_close(&st);
    return 0;
}
