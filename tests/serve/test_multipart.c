/* Unit tests of src/serve/multipart: bodies as curl, browsers and Python
 * requests write them (1 and 3 file parts, quoted boundaries, preamble and
 * epilogue, transport padding), data that holds near-miss boundaries, every
 * malformation with its message, the bounds (boundary length, header line
 * length, header count, part count) on both sides of the limit, a random
 * round trip, and a hostile body that must still parse in linear time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/core/multipart.h"

#define CURL_CT "multipart/form-data; boundary=------------------------d74496d66958873e"
#define CURL_B "--------------------------d74496d66958873e" /* "--" + boundary */

/* A growable test buffer. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static int parse(const char *ct, const buf *b, multipart_part *parts, int max, int *n, char *err)
{
    err[0] = '\0';
    return multipart_parse(ct, ct ? strlen(ct) : 0, (const uint8_t *)b->p, b->n, parts, max, n, err,
                           200);
}

static void assert_span(const char *p, size_t n, const char *expect)
{
    assert_non_null(p);
    assert_int_equal(n, strlen(expect));
    assert_memory_equal(p, expect, n);
}

/* Binary "JPEG" bytes with NULs, CRLFs and fragments of the boundary. */
static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, '\r', '\n', '-',
                               '-',  '-',  '-',  '\r', '\n', 0x00, 0x00, '\n', '-',
                               '-',  0xff, 0xd9, '\r', '\n', '\r', '\n'};

static void test_curl_one_image(void **state)
{
    (void)state;
    buf b = {0};
    puts_(&b, CURL_B "\r\n"
                     "Content-Disposition: form-data; name=\"image\"; filename=\"bus.jpg\"\r\n"
                     "Content-Type: image/jpeg\r\n"
                     "\r\n");
    put(&b, jpeg, sizeof jpeg);
    puts_(&b, "\r\n" CURL_B "--\r\n");
    multipart_part parts[4];
    int n = -1;
    char err[200];
    assert_int_equal(parse(CURL_CT, &b, parts, 4, &n, err), 0);
    assert_int_equal(n, 1);
    assert_span(parts[0].name, parts[0].name_len, "image");
    assert_span(parts[0].filename, parts[0].filename_len, "bus.jpg");
    assert_span(parts[0].content_type, parts[0].content_type_len, "image/jpeg");
    assert_int_equal(parts[0].size, sizeof jpeg);
    assert_memory_equal(parts[0].data, jpeg, sizeof jpeg);
    /* zero-copy: the data points into the body */
    assert_ptr_equal(parts[0].data,
                     (const uint8_t *)b.p + b.n - sizeof jpeg - 2 - strlen(CURL_B "--\r\n"));
    assert_true(multipart_name_is(&parts[0], "image"));
    assert_false(multipart_name_is(&parts[0], "imag"));
    assert_false(multipart_name_is(&parts[0], "images"));
    free(b.p);
}

/* Three images and a text field, as `curl -F images=@a.jpg -F images=@b.png
 * -F images=@c.jpg -F threshold=0.5` sends them; the last part has no
 * trailing CRLF after the closing delimiter. */
static void test_three_images_and_field(void **state)
{
    (void)state;
    static const char *files[3] = {"a.jpg", "b.png", "c.jpg"};
    static const char *types[3] = {"image/jpeg", "image/png", "image/jpeg"};
    buf b = {0};
    for (int i = 0; i < 3; i++) {
        char h[256];
        snprintf(h, sizeof h,
                 CURL_B "\r\nContent-Disposition: form-data; name=\"images\"; filename=\"%s\"\r\n"
                        "Content-Type: %s\r\n\r\n",
                 files[i], types[i]);
        puts_(&b, h);
        put(&b, jpeg, sizeof jpeg - (size_t)i); /* sizes differ */
        puts_(&b, "\r\n");
    }
    puts_(&b, CURL_B "\r\nContent-Disposition: form-data; name=\"threshold\"\r\n\r\n0.5\r\n" CURL_B
                     "--");
    multipart_part parts[8];
    int n = -1;
    char err[200];
    assert_int_equal(parse(CURL_CT, &b, parts, 8, &n, err), 0);
    assert_int_equal(n, 4);
    for (int i = 0; i < 3; i++) {
        assert_span(parts[i].name, parts[i].name_len, "images");
        assert_span(parts[i].filename, parts[i].filename_len, files[i]);
        assert_span(parts[i].content_type, parts[i].content_type_len, types[i]);
        assert_int_equal(parts[i].size, sizeof jpeg - (size_t)i);
        assert_memory_equal(parts[i].data, jpeg, parts[i].size);
    }
    assert_span(parts[3].name, parts[3].name_len, "threshold");
    assert_null(parts[3].filename);
    assert_null(parts[3].content_type);
    assert_span((const char *)parts[3].data, parts[3].size, "0.5");
    assert_int_equal(multipart_find(parts, n, "threshold"), 3);
    assert_int_equal(multipart_find(parts, n, "images"), 0);
    assert_int_equal(multipart_find(parts, n, "image"), -1);

    /* Exactly as many parts as allowed is fine; one more is refused. */
    assert_int_equal(parse(CURL_CT, &b, parts, 4, &n, err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(parse(CURL_CT, &b, parts, 3, &n, err), -1);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "more than 3 parts"));
    free(b.p);
}

/* RFC 2046's example boundary: quoted, with a space; a preamble and an
 * epilogue that both contain boundary-like text; transport padding after a
 * delimiter; header names and the disposition type in odd case. */
static void test_quoted_boundary_preamble_epilogue(void **state)
{
    (void)state;
    const char *ct = "Multipart/Form-Data ; charset=utf-8; boundary=\"simple boundary\"";
    buf b = {0};
    puts_(&b, "This is the preamble. --simple boundary is mentioned here.\r\n"
              "--simple boundaryX is not a delimiter either\r\n"
              "--simple boundary \t\r\n"
              "content-disposition: FORM-DATA; NAME=first\r\n"
              "X-Other: ignored\r\n"
              "Content-Transfer-Encoding: binary\r\n"
              "\r\n"
              "first data\r\n"
              "--simple boundary\r\n"
              "Content-Disposition: form-data; name=\"second\"; filename=\"\"\r\n"
              "\r\n"
              "\r\n"
              "--simple boundary--\r\n"
              "This is the epilogue.\r\n--simple boundary\r\nnot: parsed\r\n");
    multipart_part parts[4];
    int n = -1;
    char err[200];
    assert_int_equal(parse(ct, &b, parts, 4, &n, err), 0);
    assert_int_equal(n, 2);
    assert_span(parts[0].name, parts[0].name_len, "first");
    assert_span((const char *)parts[0].data, parts[0].size, "first data");
    assert_span(parts[1].name, parts[1].name_len, "second");
    assert_span(parts[1].filename, parts[1].filename_len, ""); /* present but empty */
    assert_int_equal(parts[1].size, 0);
    free(b.p);
}

/* Part data holding near misses: the boundary after a bare LF, the boundary
 * without the leading CRLF, the boundary followed by other characters, a
 * prefix of the boundary at the very end of the data. */
static void test_data_with_partial_boundaries(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=XyZ";
    const char data[] = "a\n--XyZ\r\nb--XyZ--\r\n\r\n--XyZa\r\n--XyZ\t-\r\n--Xy\r\n--X";
    buf b = {0};
    puts_(&b, "--XyZ\r\nContent-Disposition: form-data; name=f\r\n\r\n");
    put(&b, data, sizeof data - 1);
    puts_(&b, "\r\n--XyZ--");
    multipart_part parts[2];
    int n = -1;
    char err[200];
    assert_int_equal(parse(ct, &b, parts, 2, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].size, sizeof data - 1);
    assert_memory_equal(parts[0].data, data, sizeof data - 1);
    free(b.p);
}

static void test_no_parts_and_unquoted_boundary_chars(void **state)
{
    (void)state;
    multipart_part parts[2];
    int n = -1;
    char err[200];
    buf b = {0};
    puts_(&b, "--a'()+_,-./:=?b--\r\n");
    assert_int_equal(parse("multipart/form-data;boundary=a'()+_,-./:=?b", &b, parts, 2, &n, err),
                     0);
    assert_int_equal(n, 0);
    /* quoted with a backslash escape of an ordinary character */
    assert_int_equal(
        parse("multipart/form-data; boundary=\"a'()+_,-./:=?\\b\"", &b, parts, 2, &n, err), 0);
    free(b.p);
}

/* Boundaries of 70 characters work; 71 are refused. */
static void test_boundary_length_limit(void **state)
{
    (void)state;
    char bnd[80], ct[128];
    memset(bnd, 'b', 71);
    bnd[71] = '\0';
    multipart_part parts[1];
    int n;
    char err[200];
    buf b = {0};
    puts_(&b, "--");
    puts_(&b, bnd);
    puts_(&b, "--");
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", bnd);
    assert_int_equal(parse(ct, &b, parts, 1, &n, err), -1);
    assert_non_null(strstr(err, "longer than 70"));

    bnd[70] = '\0';
    b.n = 0;
    puts_(&b, "--");
    puts_(&b, bnd);
    puts_(&b, "\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--");
    puts_(&b, bnd);
    puts_(&b, "--");
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%s\"", bnd);
    assert_int_equal(parse(ct, &b, parts, 1, &n, err), 0);
    assert_int_equal(n, 1);
    assert_span((const char *)parts[0].data, parts[0].size, "v");
    free(b.p);
}

/* Content-Type values that must be refused, with the message expected. */
static void test_bad_content_types(void **state)
{
    (void)state;
    static const struct {
        const char *ct, *msg;
    } cases[] = {
        {NULL, "not multipart/form-data"},
        {"", "not multipart/form-data"},
        {"application/json", "not multipart/form-data"},
        {"multipart/mixed; boundary=x", "not multipart/form-data"},
        {"multipart/form-data", "no boundary"},
        {"multipart/form-data; charset=utf-8", "no boundary"},
        {"multipart/form-data; boundary=", "malformed"},
        {"multipart/form-data; boundary=\"\"", "empty"},
        {"multipart/form-data; boundary=\"abc", "malformed"},
        {"multipart/form-data; boundary=a b", "malformed"},
        {"multipart/form-data boundary=x", "malformed"},
        {"multipart/form-data; boundary=\"ab \"", "ends with a space"},
        {"multipart/form-data; boundary=a\x01z", "invalid character (0x01)"},
        {"multipart/form-data; boundary=a*b", "invalid character (0x2a)"},
        {"multipart/form-data; boundary=\"a\\\"b\"", "invalid character (0x22)"},
        {"multipart/form-data; boundary=x; boundary=y", "two boundary"},
    };
    buf b = {0};
    puts_(&b, "--x\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--x--");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        multipart_part parts[1];
        int n = 7;
        char err[200];
        assert_int_equal(parse(cases[i].ct, &b, parts, 1, &n, err), -1);
        assert_int_equal(n, 0);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
    free(b.p);
}

/* Bodies that must be refused, with the message expected. */
static void test_bad_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"", "no opening boundary"},
        {"Content-Disposition: form-data; name=a\r\n\r\nx", "no opening boundary"},
        {"--xy\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--xy--", "no opening"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\ndata", "part 1: no closing"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--x", "part 1: no closing"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--x\r\n",
         "part 2: truncated"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--x-", "part 1: no closing"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--x-\r\n", "no closing"},
        {"--x\r\nContent-Disposition: form-data; na", "part 1: truncated headers"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n", "part 1: truncated headers"},
        {"--x\r\nContent-Type: image/jpeg\r\n\r\nx\r\n--x--", "part 1: no Content-Disposition"},
        {"--x\r\n\r\nx\r\n--x--", "part 1: no Content-Disposition"},
        {"--x\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--x--", "not form-data"},
        {"--x\r\nContent-Disposition: form-data\r\n\r\nx\r\n--x--", "has no name"},
        {"--x\r\nContent-Disposition: form-data; filename=\"a.jpg\"\r\n\r\nx\r\n--x--", "no name"},
        {"--x\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--x--",
         "malformed Content-Disp"},
        {"--x\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--x--", "two name"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b"
         "\r\n\r\nx\r\n--x--",
         "two Content-Disposition"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-Type: b\r\n"
         "\r\nx\r\n--x--",
         "two Content-Type"},
        {"--x\r\nContent-Disposition: form-data; name=a\n\nx\r\n--x--", "not ended by CRLF"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\nx\r\n--x--", "not ended by CRLF"},
        {"--x\r\nContent-Disposition form-data; name=a\r\n\r\nx\r\n--x--", "without ':'"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\nX-A: 1\r\n\t2\r\n\r\nx\r\n--x--",
         "part 1: folded"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n"
         "\r\neA==\r\n--x--",
         "Content-Transfer-Encoding base64 is not supported"},
        {"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--x\r\n"
         "Content-Disposition: form-data; name=b\r\n\r\ny\r\n",
         "part 2: no closing"},
        /* a delimiter in the headers of a truncated part */
        {"--x\r\nContent-Disposition: form-data; name=a\r\n--x--\r\n", "part 1: header line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        multipart_part parts[4];
        int n = 7;
        char err[200];
        buf b = {0};
        put(&b, cases[i].body, strlen(cases[i].body));
        assert_int_equal(parse("multipart/form-data; boundary=x", &b, parts, 4, &n, err), -1);
        assert_int_equal(n, 0);
        if (!strstr(err, cases[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        free(b.p);
    }
}

/* Header lines of MULTIPART_MAX_HEADER_LINE bytes and MULTIPART_MAX_HEADERS
 * lines pass; one byte or one line more fails. */
static void test_header_bounds(void **state)
{
    (void)state;
    multipart_part parts[1];
    int n;
    char err[200];
    for (int extra = 0; extra <= 1; extra++) {
        buf b = {0};
        puts_(&b, "--x\r\nContent-Disposition: form-data; name=a\r\nX-Long: ");
        size_t fill = MULTIPART_MAX_HEADER_LINE - strlen("X-Long: ") + (size_t)extra;
        for (size_t i = 0; i < fill; i++)
            put(&b, "v", 1);
        puts_(&b, "\r\n\r\nx\r\n--x--");
        int rc = parse("multipart/form-data; boundary=x", &b, parts, 1, &n, err);
        assert_int_equal(rc, extra ? -1 : 0);
        if (extra) assert_non_null(strstr(err, "longer than 4096"));
        free(b.p);
    }
    for (int extra = 0; extra <= 1; extra++) {
        buf b = {0};
        puts_(&b, "--x\r\nContent-Disposition: form-data; name=a\r\n");
        for (int i = 1; i < MULTIPART_MAX_HEADERS + extra; i++)
            puts_(&b, "X-H: 1\r\n");
        puts_(&b, "\r\nx\r\n--x--");
        int rc = parse("multipart/form-data; boundary=x", &b, parts, 1, &n, err);
        assert_int_equal(rc, extra ? -1 : 0);
        if (extra) assert_non_null(strstr(err, "more than 16 header lines"));
        free(b.p);
    }
    /* A huge header line that is also the end of the body: reported as too
     * long, having read at most the bound. */
    buf b = {0};
    puts_(&b, "--x\r\nX: ");
    for (int i = 0; i < 100000; i++)
        put(&b, "v", 1);
    assert_int_equal(parse("multipart/form-data; boundary=x", &b, parts, 1, &n, err), -1);
    assert_non_null(strstr(err, "longer than"));
    free(b.p);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=x";
    const uint8_t body[] = "--x--";
    multipart_part parts[1];
    int n = 5;
    char err[200];
    assert_int_equal(multipart_parse(ct, strlen(ct), body, 5, parts, 0, &n, err, sizeof err), -1);
    assert_int_equal(n, 0);
    assert_int_equal(multipart_parse(ct, strlen(ct), body, 5, NULL, 1, &n, err, sizeof err), -1);
    assert_int_equal(multipart_parse(ct, strlen(ct), NULL, 5, parts, 1, &n, err, sizeof err), -1);
    assert_int_equal(multipart_parse(ct, strlen(ct), body, 5, parts, 1, NULL, err, sizeof err), -1);
    /* err may be NULL; the Content-Type length is honoured (no NUL needed) */
    assert_int_equal(multipart_parse(ct, strlen(ct), body, 5, parts, 1, &n, NULL, 0), 0);
    assert_int_equal(multipart_parse("multipart/form-data; boundary=xyz", strlen(ct), body, 5,
                                     parts, 1, &n, NULL, 0),
                     0);
    /* a tiny err buffer is truncated, still NUL-terminated */
    char small[8];
    memset(small, 'z', sizeof small);
    assert_int_equal(multipart_parse("text/plain", 10, body, 5, parts, 1, &n, small, sizeof small),
                     -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* Random parts (random sizes, bytes drawn from an alphabet rich in boundary
 * characters, CR and LF) survive a build-parse round trip unchanged. */
static void test_random_round_trip(void **state)
{
    (void)state;
    const char *bnd = "ab-c";
    const char alphabet[] = "ab-c\r\n\0x";
    srand(1234);
    for (int iter = 0; iter < 300; iter++) {
        int np = 1 + rand() % 5;
        buf b = {0};
        uint8_t *data[5];
        size_t size[5];
        puts_(&b, "preamble\r\n");
        for (int i = 0; i < np; i++) {
            char h[128];
            size[i] = (size_t)(rand() % 64);
            data[i] = malloc(size[i] + 1);
            for (size_t k = 0; k < size[i]; k++)
                data[i][k] = (uint8_t)alphabet[rand() % (int)(sizeof alphabet - 1)];
            /* the sender's duty: the delimiter must not occur in the data */
            const uint8_t d[] = "\r\n--ab-c";
            if (memmem(data[i], size[i], d, 8)) size[i] = 0;
            snprintf(h, sizeof h, "--%s\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\n",
                     bnd, i);
            puts_(&b, h);
            put(&b, data[i], size[i]);
            puts_(&b, "\r\n");
        }
        puts_(&b, "--ab-c--\r\nepilogue");
        multipart_part parts[5];
        int n = -1;
        char err[200];
        if (parse("multipart/form-data; boundary=ab-c", &b, parts, 5, &n, err) != 0)
            fail_msg("iteration %d: %s", iter, err);
        assert_int_equal(n, np);
        for (int i = 0; i < np; i++) {
            char name[8];
            snprintf(name, sizeof name, "p%d", i);
            assert_true(multipart_name_is(&parts[i], name));
            assert_int_equal(parts[i].size, size[i]);
            if (size[i]) assert_memory_equal(parts[i].data, data[i], size[i]);
            free(data[i]);
        }
        free(b.p);
    }
}

/* 16 MiB of "\r\n--<69 chars>" near misses with a 70-character boundary:
 * a quadratic search would take minutes; linear takes milliseconds. */
static void test_hostile_body_is_linear(void **state)
{
    (void)state;
    char bnd[71], ct[128];
    memset(bnd, 'q', 70);
    bnd[70] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", bnd);
    buf b = {0};
    puts_(&b, "--");
    puts_(&b, bnd);
    puts_(&b, "\r\nContent-Disposition: form-data; name=a\r\n\r\n");
    size_t data0 = b.n;
    char miss[4 + 70 + 1];
    memcpy(miss, "\r\n--", 4);
    memset(miss + 4, 'q', 69);
    miss[73] = 'Q';
    miss[74] = '\0';
    while (b.n < ((size_t)16 << 20))
        put(&b, miss, 74);
    size_t data_len = b.n - data0;
    /* also full boundaries followed by a non-delimiter character */
    puts_(&b, "\r\n--");
    puts_(&b, bnd);
    puts_(&b, "!");
    data_len += 4 + 70 + 1;
    puts_(&b, "\r\n--");
    puts_(&b, bnd);
    puts_(&b, "--");
    multipart_part parts[1];
    int n;
    char err[200];
    clock_t t0 = clock();
    assert_int_equal(parse(ct, &b, parts, 1, &n, err), 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].size, data_len);
    /* generous for sanitizer builds on a loaded machine */
    if (secs > 5.0) fail_msg("16 MiB hostile body took %.2f s", secs);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_one_image),
        cmocka_unit_test(test_three_images_and_field),
        cmocka_unit_test(test_quoted_boundary_preamble_epilogue),
        cmocka_unit_test(test_data_with_partial_boundaries),
        cmocka_unit_test(test_no_parts_and_unquoted_boundary_chars),
        cmocka_unit_test(test_boundary_length_limit),
        cmocka_unit_test(test_bad_content_types),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_header_bounds),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_hostile_body_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
