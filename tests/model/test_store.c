/* Unit tests of src/model/store: packages (ustar tars built here, header by
 * header) added as versions; the files land byte for byte; two versions
 * kept; a sha256 that does not match, a path, a symlink entry, a bad
 * checksum, a truncated package, a name twice and an empty package are
 * refused with the store unchanged; a leftover .tmp version (a crash) is
 * removed at open and never counted. The committed models/red_disc/model.onnx
 * is one of the payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/fileio.h"
#include "model/reference.h"
#include "model/store.h"

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/glint-store-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A growing tar. */
typedef struct tarbuf {
    unsigned char *p;
    size_t len;
} tarbuf;

static void add(tarbuf *t, const char *name, char type, const void *data, size_t size)
{
    size_t padded = (size + 511) / 512 * 512;
    t->p = realloc(t->p, t->len + 512 + padded);
    assert_non_null(t->p);
    unsigned char *h = t->p + t->len;
    memset(h, 0, 512 + padded);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 12);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    if (size) memcpy(h + 512, data, size);
    t->len += 512 + padded;
}

static void end(tarbuf *t)
{
    t->p = realloc(t->p, t->len + 1024);
    assert_non_null(t->p);
    memset(t->p + t->len, 0, 1024);
    t->len += 1024;
}

static void sha256_hex(const void *p, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    assert_true(EVP_Digest(p, len, md, &n, EVP_sha256(), NULL));
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int file_equals(const char *path, const void *data, size_t size)
{
    size_t n = 0;
    char *got = fileio_read(path, (size_t)1 << 30, &n);
    int same = got && n == size && !memcmp(got, data, size);
    free(got);
    return same;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_versions(void **state)
{
    (void)state;
    char dir[128], err[256], path[4200], folder[4096];
    snprintf(dir, sizeof dir, "%s/v", tmp);
    model_store st;
    assert_int_equal(model_store_open(&st, dir, err, sizeof err), 0);
    assert_int_equal(st.newest, 0);
    char onnx_path[512];
    snprintf(onnx_path, sizeof onnx_path, "%s/models/red_disc/model.onnx", GLINT_SOURCE_DIR);
    size_t onnx_len = 0;
    char *onnx = fileio_read(onnx_path, (size_t)1 << 30, &onnx_len);
    assert_non_null(onnx);
    const char yaml[] = "task: classify\nwidth: 128\nheight: 128\n";
    for (int round = 1; round <= 3; round++) {
        tarbuf t = {0};
        add(&t, "model.onnx", '0', onnx, onnx_len);
        char y[64];
        snprintf(y, sizeof y, "%s# %d\n", yaml, round);
        add(&t, "model.yaml", '0', y, strlen(y));
        add(&t, "empty.txt", '0', "", 0);
        end(&t);
        char hex[65];
        sha256_hex(t.p, t.len, hex);
        int v = 0;
        char origin[32], got[64];
        snprintf(origin, sizeof origin, "upstream-id-%d", round);
        assert_int_equal(model_store_add(&st, t.p, t.len, hex, origin, &v, err, sizeof err), 0);
        assert_int_equal(v, round);
        assert_int_equal(st.newest, round);
        assert_int_equal(model_store_origin(&st, v, got, sizeof got), 0);
        assert_string_equal(got, origin);
        assert_int_equal(model_store_prev(&st, v), round - 1);
        /* added, not yet pruned: the caller prunes once the version proved good */
        model_store_path(&st, 1, folder, sizeof folder);
        assert_true(exists(folder));
        assert_int_equal(model_store_path(&st, v, folder, sizeof folder), 0);
        snprintf(path, sizeof path, "%s/model.onnx", folder);
        assert_true(file_equals(path, onnx, onnx_len));
        snprintf(path, sizeof path, "%s/model.yaml", folder);
        assert_true(file_equals(path, y, strlen(y)));
        snprintf(path, sizeof path, "%s/empty.txt", folder);
        assert_true(file_equals(path, "", 0));
        free(t.p);
    }
    /* pruned, two kept: 2 and 3; 1 is gone */
    model_store_prune(&st);
    model_store_path(&st, 1, folder, sizeof folder);
    assert_false(exists(folder));
    model_store_path(&st, 2, folder, sizeof folder);
    assert_true(exists(folder));
    assert_int_equal(model_store_prev(&st, 2), 0);
    char got[8];
    assert_int_equal(model_store_origin(&st, 1, got, sizeof got), -1);
    /* a version that failed to load is removed: newest goes back to 2 */
    model_store_remove(&st, 3);
    assert_int_equal(st.newest, 2);
    model_store_path(&st, 3, folder, sizeof folder);
    assert_false(exists(folder));
    model_store_close(&st);
    /* put 3 back as it was (the rest of the test expects it) */
    assert_int_equal(model_store_open(&st, dir, err, sizeof err), 0);
    {
        tarbuf t = {0};
        add(&t, "model.onnx", '0', onnx, onnx_len);
        end(&t);
        int v = 0;
        assert_int_equal(model_store_add(&st, t.p, t.len, NULL, NULL, &v, err, sizeof err), 0);
        assert_int_equal(v, 3);
        assert_int_equal(model_store_origin(&st, 3, got, sizeof got), -1);
        free(t.p);
    }
    model_store_close(&st);
    /* a crash mid-write leaves 4.tmp: open removes it and finds 3 */
    snprintf(path, sizeof path, "%s/versions/4.tmp", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/versions/4.tmp/model.onnx", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("half", f);
    fclose(f);
    assert_int_equal(model_store_open(&st, dir, err, sizeof err), 0);
    assert_int_equal(st.newest, 3);
    snprintf(path, sizeof path, "%s/versions/4.tmp", dir);
    assert_false(exists(path));
    model_store_close(&st);
    free(onnx);
}

/* Adds the package and expects a refusal naming `why`, the store unchanged. */
static void refused(model_store *st, tarbuf *t, const char *sha, const char *why)
{
    char err[256] = "", folder[4096];
    int before = st->newest, v = 0;
    assert_int_equal(model_store_add(st, t->p, t->len, sha, NULL, &v, err, sizeof err), -1);
    if (!strstr(err, why)) fail_msg("error '%s' does not say '%s'", err, why);
    assert_int_equal(st->newest, before);
    model_store_path(st, before + 1, folder, sizeof folder);
    assert_false(exists(folder));
    strcat(folder, ".tmp");
    assert_false(exists(folder));
}

static void test_refused(void **state)
{
    (void)state;
    char dir[128], err[256];
    snprintf(dir, sizeof dir, "%s/r", tmp);
    model_store st;
    assert_int_equal(model_store_open(&st, dir, err, sizeof err), 0);
    tarbuf t = {0};
    add(&t, "model.onnx", '0', "onnx", 4);
    end(&t);
    refused(&st, &t, "0000000000000000000000000000000000000000000000000000000000000000",
            "is not the expected");
    free(t.p);
    const char *names[] = {"../model.onnx", "sub/model.onnx", "/etc/passwd", ".hidden", "a b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tarbuf b = {0};
        add(&b, names[i], '0', "x", 1);
        end(&b);
        refused(&st, &b, NULL, "not a plain file name");
        free(b.p);
    }
    tarbuf sym = {0};
    add(&sym, "model.onnx", '2', "", 0); /* a symlink entry */
    end(&sym);
    refused(&st, &sym, NULL, "not a regular file");
    free(sym.p);
    tarbuf bad = {0};
    add(&bad, "model.onnx", '0', "onnx", 4);
    end(&bad);
    bad.p[0] = 'M'; /* the checksum no longer matches */
    refused(&st, &bad, NULL, "checksum does not match");
    bad.len = 700; /* cut inside the entry's data... */
    bad.p[0] = 'm';
    refused(&st, &bad, NULL, "truncated");
    free(bad.p);
    tarbuf twice = {0};
    add(&twice, "model.onnx", '0', "a", 1);
    add(&twice, "model.onnx", '0', "b", 1);
    end(&twice);
    refused(&st, &twice, NULL, "twice");
    free(twice.p);
    tarbuf empty = {0};
    end(&empty);
    refused(&st, &empty, NULL, "no file");
    free(empty.p);
    model_store_close(&st);
}

/* model_store_pack of the committed red_disc folder: deterministic, its id
 * is its sha256, and adding it gives back the folder's top-level files. */
static void test_pack_round_trip(void **state)
{
    (void)state;
    char src[512], dir[128], err[256], folder[4096], path[4200], id[65], id2[65], hex[65];
    snprintf(src, sizeof src, "%s/models/red_disc", GLINT_SOURCE_DIR);
    char *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(model_store_pack(src, &buf, &len, id, err, sizeof err), 0);
    assert_int_equal(model_store_pack(src, &buf2, &len2, id2, err, sizeof err), 0);
    assert_true(len == len2 && !memcmp(buf, buf2, len) && !strcmp(id, id2));
    sha256_hex(buf, len, hex);
    assert_string_equal(id, hex);
    snprintf(dir, sizeof dir, "%s/p", tmp);
    model_store st;
    int v = 0;
    assert_int_equal(model_store_open(&st, dir, err, sizeof err), 0);
    assert_int_equal(model_store_add(&st, buf, len, id, NULL, &v, err, sizeof err), 0);
    model_store_path(&st, v, folder, sizeof folder);
    const char *files[] = {"model.onnx", "model.yaml", "model.int8.onnx", "reference.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", src, files[i]);
        char *want = fileio_read(path, (size_t)1 << 30, &n);
        assert_non_null(want);
        snprintf(path, sizeof path, "%s/%s", folder, files[i]);
        assert_true(file_equals(path, want, n));
        free(want);
    }
    snprintf(path, sizeof path, "%s/test_data_set_0", folder); /* subfolders stay out */
    assert_false(exists(path));
    /* but the test set of a one-input, one-output model travels as the reference pair */
    const char *pair[][2] = {{"test_data_set_0/input_0.pb", MODEL_REFERENCE_INPUT},
                             {"test_data_set_0/output_0.pb", MODEL_REFERENCE_OUTPUT}};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", src, pair[i][0]);
        char *want = fileio_read(path, (size_t)1 << 30, &n);
        assert_non_null(want);
        snprintf(path, sizeof path, "%s/%s", folder, pair[i][1]);
        assert_true(file_equals(path, want, n));
        free(want);
    }
    char cerr[512];
    snprintf(path, sizeof path, "%s/model.onnx", folder);
    char in[4200], out[4200];
    snprintf(in, sizeof in, "%s/%s", folder, MODEL_REFERENCE_INPUT);
    snprintf(out, sizeof out, "%s/%s", folder, MODEL_REFERENCE_OUTPUT);
    model_tolerance tol = {.rtol = 1e-3, .atol = 1e-4};
    assert_int_equal(model_reference_check(path, in, out, &tol, cerr, sizeof cerr), 0);
    /* another model's output is not this one's */
    snprintf(out, sizeof out, "%s/models/red_disc/test_data_set_1/output_0.pb", GLINT_SOURCE_DIR);
    assert_int_equal(model_reference_check(path, in, out, &tol, cerr, sizeof cerr), -1);
    assert_non_null(strstr(cerr, "differs from the reference"));
    model_store_close(&st);
    free(buf);
    free(buf2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_pack_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
