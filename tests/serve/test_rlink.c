/* Unit tests of src/serve/core/rlink's URL forms (the link itself runs
 * against a real redis-server in tests/serve/test_fleet.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "serve/core/rlink.h"

static int parse(const char *url, char *host, int *port, int *db)
{
    char err[256] = "";
    int rc = rlink_parse_url(url, host, 256, port, db, err, sizeof err);
    if (rc) assert_non_null(strstr(err, url)); /* the message names the URL */
    return rc;
}

static void test_tcp(void **state)
{
    (void)state;
    char host[256];
    int port, db;
    assert_int_equal(parse("redis://127.0.0.1", host, &port, &db), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6379);
    assert_int_equal(db, 0);
    assert_int_equal(parse("redis://cache.example:7000/3", host, &port, &db), 0);
    assert_string_equal(host, "cache.example");
    assert_int_equal(port, 7000);
    assert_int_equal(db, 3);
    assert_int_equal(parse("redis://h:1/", host, &port, &db), 0);
    assert_int_equal(port, 1);
    assert_int_equal(db, 0);
}

static void test_unix(void **state)
{
    (void)state;
    char host[256];
    int port, db;
    assert_int_equal(parse("unix:///run/redis.sock", host, &port, &db), 0);
    assert_string_equal(host, "/run/redis.sock");
    assert_int_equal(port, 0);
    assert_int_equal(db, 0);
    assert_int_equal(parse("unix:///tmp/r.sock?db=2", host, &port, &db), 0);
    assert_string_equal(host, "/tmp/r.sock");
    assert_int_equal(db, 2);
}

static void test_bad(void **state)
{
    (void)state;
    char host[256];
    int port, db;
    const char *bad[] = {"",
                         "foo://x",
                         "redis://",
                         "redis://:6379",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:12x",
                         "redis://h/x",
                         "redis://h/1/2",
                         "redis://h:1/-1",
                         "unix://",
                         "unix://relative",
                         "unix:///s?db=x",
                         "unix:///s?x=1",
                         "http://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], host, &port, &db), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
