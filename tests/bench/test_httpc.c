/* Unit tests of src/bench/httpc: URL parsing (good and refused), and the
 * incremental response parser fed whole and one byte at a time:
 * Content-Length, chunked (extensions, trailers), close-delimited bodies,
 * HEAD/204/304, 1xx interim responses, keep-alive rules of HTTP/1.0 and
 * 1.1, unsolicited trailing bytes, body capture, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/httpc.h"

static void test_url_good(void **state)
{
    (void)state;
    httpc_url u;
    assert_int_equal(httpc_url_parse("http://127.0.0.1:8080/v2/models/x/infer?a=1", &u), BENCH_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/v2/models/x/infer?a=1");
    assert_string_equal(u.authority, "127.0.0.1:8080");
    assert_int_equal(httpc_url_parse("http://example.com", &u), BENCH_OK);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");
    assert_int_equal(httpc_url_parse("HTTP://[::1]:9000?q", &u), BENCH_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9000);
    assert_string_equal(u.path, "/?q");
    assert_string_equal(u.authority, "[::1]:9000");
}

static void test_url_bad(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "ftp://x/",
                         "https://x/",
                         "http://",
                         "http:///path",
                         "http://x:0/",
                         "http://x:65536/",
                         "http://x:12ab/",
                         "http://x:/",
                         "http://u@x/",
                         "http://x/a b",
                         "http://[::1/",
                         "127.0.0.1:8080"};
    httpc_url u;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (httpc_url_parse(bad[i], &u) != BENCH_ERR_INVALID) fail_msg("accepted '%s'", bad[i]);
    assert_non_null(strstr((httpc_url_parse("https://x/", &u), bench_last_error()), "https"));
    char long_url[3000] = "http://x/";
    memset(long_url + 9, 'a', sizeof long_url - 10);
    long_url[sizeof long_url - 1] = 0;
    assert_int_equal(httpc_url_parse(long_url, &u), BENCH_ERR_INVALID);
}

/* Feeds `text` in one go and byte by byte; both must agree. Returns the
 * result and leaves the parser of the whole-feed run in *p. */
static httpc_result parse(const char *text, size_t len, int head, httpc_parser *p, size_t *used,
                          int eof)
{
    httpc_parser q;
    httpc_parser_reset(p, head, NULL, 0);
    httpc_parser_reset(&q, head, NULL, 0);
    httpc_result r = httpc_parser_feed(p, text, len, used);
    if (r == HTTPC_NEED_MORE && eof) r = httpc_parser_eof(p);
    /* byte by byte */
    httpc_result r2 = HTTPC_NEED_MORE;
    size_t total = 0;
    for (size_t i = 0; i < len && r2 == HTTPC_NEED_MORE; i++) {
        size_t u1 = 0;
        r2 = httpc_parser_feed(&q, text + i, 1, &u1);
        total += u1;
    }
    if (r2 == HTTPC_NEED_MORE && eof) r2 = httpc_parser_eof(&q);
    assert_int_equal(r, r2);
    if (r == HTTPC_DONE) {
        assert_int_equal(total, *used);
        assert_int_equal(p->status, q.status);
        assert_int_equal(p->body_bytes, q.body_bytes);
        assert_int_equal(p->keep_alive, q.keep_alive);
    }
    return r;
}

#define PARSE(s, head, p, used, eof) parse(s, sizeof(s) - 1, head, p, used, eof)

static void test_content_length(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    const char r1[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
    assert_int_equal(PARSE(r1, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.body_bytes, 5);
    assert_int_equal(used, sizeof r1 - 1);
    assert_true(p.keep_alive);
    /* a second response behind the first: used stops at the first's end */
    const char r2[] = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert_int_equal(PARSE(r2, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.status, 503);
    assert_int_equal(used, strlen("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"));
    /* bare LF line ends and a status line without a reason */
    const char r3[] = "HTTP/1.1 404\nContent-Length: 2\n\nno";
    assert_int_equal(PARSE(r3, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.status, 404);
    /* Retry-After: delta seconds kept; a date or garbage is none */
    const char r5[] = "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(PARSE(r5, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.retry_after_s, 7);
    const char r6[] =
        "HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\nContent-Length: "
        "0\r\n\r\n";
    assert_int_equal(PARSE(r6, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.retry_after_s, -1);
    assert_int_equal(PARSE(r1, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.retry_after_s, -1);
    /* truncated body */
    const char r4[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    assert_int_equal(PARSE(r4, 0, &p, &used, 1), HTTPC_ERROR);
}

static void test_chunked(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     "4;ext=1\r\nWiki\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_int_equal(PARSE(r, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.body_bytes, 14);
    assert_int_equal(used, sizeof r - 1);
    const char bad[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_int_equal(PARSE(bad, 0, &p, &used, 0), HTTPC_ERROR);
    const char nocrlf[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n";
    assert_int_equal(PARSE(nocrlf, 0, &p, &used, 0), HTTPC_ERROR);
    const char huge[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n";
    assert_int_equal(PARSE(huge, 0, &p, &used, 0), HTTPC_ERROR);
}

static void test_close_delimited_and_versions(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    const char r[] = "HTTP/1.0 200 OK\r\n\r\nbody until close";
    assert_int_equal(PARSE(r, 0, &p, &used, 1), HTTPC_DONE);
    assert_int_equal(p.body_bytes, 16);
    assert_false(p.keep_alive);
    const char ka[] = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx";
    assert_int_equal(PARSE(ka, 0, &p, &used, 0), HTTPC_DONE);
    assert_true(p.keep_alive);
    const char cl[] = "HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\nContent-Length: 1\r\n\r\nx";
    assert_int_equal(PARSE(cl, 0, &p, &used, 0), HTTPC_DONE);
    assert_false(p.keep_alive);
}

static void test_no_body_cases(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(PARSE(head, 1, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.body_bytes, 0);
    const char nc[] = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(PARSE(nc, 0, &p, &used, 0), HTTPC_DONE);
    assert_true(p.keep_alive);
    const char nm[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n";
    assert_int_equal(PARSE(nm, 0, &p, &used, 0), HTTPC_DONE);
    const char interim[] =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    assert_int_equal(PARSE(interim, 0, &p, &used, 0), HTTPC_DONE);
    assert_int_equal(p.status, 201);
}

static void test_malformed(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 600 OK\r\n\r\n",
        "SIP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        httpc_result r = parse(bad[i], strlen(bad[i]), 0, &p, &used, 0);
        if (r != HTTPC_ERROR) fail_msg("accepted: %s", bad[i]);
        assert_non_null(p.error);
    }
    /* NUL inside a header line */
    const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    assert_int_equal(parse(nul, sizeof nul - 1, 0, &p, &used, 0), HTTPC_ERROR);
    /* headers closed early by the server */
    assert_int_equal(PARSE("HTTP/1.1 200 OK\r\nContent-Le", 0, &p, &used, 1), HTTPC_ERROR);
    assert_non_null(strstr(p.error, "closed"));
    /* nothing at all is "empty" */
    httpc_parser_reset(&p, 0, NULL, 0);
    assert_true(httpc_parser_empty(&p));
    assert_int_equal(httpc_parser_eof(&p), HTTPC_ERROR);
}

static void test_limits(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    /* a 70 KiB header block is refused */
    size_t n = 70 * 1024;
    char *big = malloc(n + 64);
    assert_non_null(big);
    snprintf(big, n + 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    size_t off = strlen(big);
    memset(big + off, 'a', n - off);
    memcpy(big + n, "\r\n\r\n", 5);
    httpc_parser_reset(&p, 0, NULL, 0);
    assert_int_equal(httpc_parser_feed(&p, big, strlen(big), &used), HTTPC_ERROR);
    /* a long header that fits is skipped, the next ones still read */
    memset(big + off, 'b', 5000);
    snprintf(big + off + 5000, n + 64 - off - 5000, "\r\nContent-Length: 3\r\n\r\nabc");
    httpc_parser_reset(&p, 0, NULL, 0);
    assert_int_equal(httpc_parser_feed(&p, big, strlen(big), &used), HTTPC_DONE);
    assert_int_equal(p.body_bytes, 3);
    free(big);
    /* too many header lines */
    char many[HTTPC_MAX_HEADERS * 8 + 64];
    size_t len = (size_t)snprintf(many, sizeof many, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HTTPC_MAX_HEADERS; i++)
        len += (size_t)snprintf(many + len, sizeof many - len, "A: b\r\n");
    snprintf(many + len, sizeof many - len, "\r\n");
    httpc_parser_reset(&p, 0, NULL, 0);
    assert_int_equal(httpc_parser_feed(&p, many, strlen(many), &used), HTTPC_ERROR);
}

static void test_body_capture(void **state)
{
    (void)state;
    httpc_parser p;
    size_t used;
    char body[8];
    const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"a\":123456}";
    httpc_parser_reset(&p, 0, body, sizeof body);
    assert_int_equal(httpc_parser_feed(&p, r, sizeof r - 1, &used), HTTPC_DONE);
    assert_int_equal(p.body_len, 8);
    assert_memory_equal(body, "{\"a\":123", 8);
    assert_int_equal(p.body_bytes, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),
        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited_and_versions),
        cmocka_unit_test(test_no_body_cases),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_body_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
