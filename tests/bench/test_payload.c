/* Unit tests of src/bench/payload: requests are one buffer with a correct
 * request line, Host, Content-Type from the extension and Content-Length;
 * a folder is read sorted, hidden files and sub-folders skipped; multipart
 * bodies are well-formed; user headers override ours; bad input is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/payload.h"

static char dir[64];

static void write_file(const char *name, const char *data)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/glint-payload-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    write_file("b.png", "PNGDATA");
    write_file("a.jpg", "JPEGDATA!");
    write_file(".hidden", "x");
    write_file("c.bin", "");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"b.png", "a.jpg", ".hidden", "c.bin"};
    char p[256];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/sub", dir);
    rmdir(p);
    rmdir(dir);
    return 0;
}

static httpc_url url(void)
{
    httpc_url u;
    assert_int_equal(httpc_url_parse("http://127.0.0.1:9000/v1/infer?x=1", &u), BENCH_OK);
    return u;
}

static const char *req(const payload_set *s, int i)
{
    return s->reqs[i].bytes;
}

static void test_get_without_body(void **state)
{
    (void)state;
    payload_spec spec = {0};
    httpc_url u = url();
    payload_set s;
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.method, "GET");
    assert_string_equal(req(&s, 0), "GET /v1/infer?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"
                                    "User-Agent: glint-bench\r\n\r\n");
    assert_int_equal(s.reqs[0].len, strlen(req(&s, 0)));
    payload_set_dispose(&s);
    payload_set_dispose(&s); /* twice is harmless */
}

static void test_folder_round_robin(void **state)
{
    (void)state;
    payload_spec spec = {0};
    spec.body_path = dir;
    spec.headers[0] = "Authorization: Bearer t";
    spec.nheaders = 1;
    httpc_url u = url();
    payload_set s;
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    assert_int_equal(s.n, 3); /* a.jpg, b.png, c.bin; not .hidden nor sub/ */
    assert_string_equal(s.method, "POST");
    assert_string_equal(s.reqs[0].name, "a.jpg");
    assert_string_equal(s.reqs[1].name, "b.png");
    assert_non_null(strstr(req(&s, 0), "Content-Type: image/jpeg\r\n"));
    assert_non_null(strstr(req(&s, 0), "Content-Length: 9\r\n"));
    assert_non_null(strstr(req(&s, 0), "Authorization: Bearer t\r\n\r\nJPEGDATA!"));
    assert_non_null(strstr(req(&s, 1), "Content-Type: image/png\r\n"));
    assert_non_null(strstr(req(&s, 2), "Content-Type: application/octet-stream\r\n"));
    assert_non_null(strstr(req(&s, 2), "Content-Length: 0\r\n"));
    assert_int_equal(s.reqs[0].body_len, 9);
    payload_set_dispose(&s);
}

static void test_multipart(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/a.jpg", dir);
    payload_spec spec = {0};
    spec.body_path = path;
    spec.multipart = "image";
    httpc_url u = url();
    payload_set s;
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    const char *r = req(&s, 0);
    const char *ct = strstr(r, "Content-Type: multipart/form-data; boundary=");
    assert_non_null(ct);
    char boundary[80];
    assert_int_equal(sscanf(ct, "Content-Type: multipart/form-data; boundary=%79[^\r]", boundary),
                     1);
    const char *body = strstr(r, "\r\n\r\n") + 4;
    char expect[512];
    snprintf(expect, sizeof expect,
             "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
             "Content-Type: image/jpeg\r\n\r\nJPEGDATA!\r\n--%s--\r\n",
             boundary, boundary);
    assert_string_equal(body, expect);
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", strlen(expect));
    assert_non_null(strstr(r, cl));
    payload_set_dispose(&s);
}

static void test_overrides_and_data(void **state)
{
    (void)state;
    payload_spec spec = {0};
    spec.data = "{\"a\":1}";
    spec.method = "PUT";
    spec.content_type = "application/json";
    spec.headers[0] = "Host: other";
    spec.nheaders = 1;
    httpc_url u = url();
    payload_set s;
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    assert_null(strstr(req(&s, 0), "Host: 127.0.0.1"));
    assert_non_null(strstr(req(&s, 0), "Host: other\r\n"));
    assert_non_null(strstr(req(&s, 0), "Content-Type: application/json\r\n"));
    assert_non_null(strstr(req(&s, 0), "PUT /v1/infer?x=1 HTTP/1.1\r\n"));
    payload_set_dispose(&s);
    spec = (payload_spec){0};
    spec.method = "HEAD";
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    assert_true(s.head);
    payload_set_dispose(&s);
}

static void test_real_image(void **state)
{
    (void)state;
    payload_spec spec = {0};
    spec.body_path = GLINT_SOURCE_DIR "/tests/data/dog.jpg";
    httpc_url u = url();
    payload_set s;
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_OK);
    struct stat st;
    assert_int_equal(stat(spec.body_path, &st), 0);
    assert_int_equal(s.reqs[0].body_len, (size_t)st.st_size);
    assert_memory_equal(s.reqs[0].bytes + s.reqs[0].len - s.reqs[0].body_len, "\xff\xd8", 2);
    payload_set_dispose(&s);
}

static void test_refused(void **state)
{
    (void)state;
    httpc_url u = url();
    payload_set s;
    struct {
        payload_spec spec;
        bench_status want;
    } cases[] = {
        {{.body_path = "/nonexistent/x.jpg"}, BENCH_ERR_IO},
        {{.body_path = "/tmp", .data = "x"}, BENCH_ERR_INVALID},
        {{.multipart = "f"}, BENCH_ERR_INVALID},
        {{.data = "x", .multipart = "bad\"name"}, BENCH_ERR_INVALID},
        {{.method = "get"}, BENCH_ERR_INVALID},
        {{.method = ""}, BENCH_ERR_INVALID},
        {{.headers = {"NoColon"}, .nheaders = 1}, BENCH_ERR_INVALID},
        {{.headers = {"Bad Name: x"}, .nheaders = 1}, BENCH_ERR_INVALID},
        {{.headers = {"X: a\r\nInjected: 1"}, .nheaders = 1}, BENCH_ERR_INVALID},
        {{.headers = {"Content-Length: 5"}, .nheaders = 1}, BENCH_ERR_INVALID},
        {{.content_type = "a\r\nb"}, BENCH_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bench_status got = payload_set_build(&cases[i].spec, &u, &s);
        if (got != cases[i].want) fail_msg("case %zu: got %d want %d", i, got, cases[i].want);
        assert_int_equal(s.n, 0);
        assert_null(s.reqs);
    }
    /* an empty folder */
    char empty[128];
    snprintf(empty, sizeof empty, "%s/sub", dir);
    payload_spec spec = {.body_path = empty};
    assert_int_equal(payload_set_build(&spec, &u, &s), BENCH_ERR_INVALID);
    assert_non_null(strstr(bench_last_error(), "no regular files"));
    assert_string_equal(payload_content_type("x.JPEG"), "image/jpeg");
    assert_string_equal(payload_content_type("dir.d/noext"), "application/octet-stream");
    assert_string_equal(payload_content_type(NULL), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_without_body), cmocka_unit_test(test_folder_round_robin),
        cmocka_unit_test(test_multipart),        cmocka_unit_test(test_overrides_and_data),
        cmocka_unit_test(test_real_image),       cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
