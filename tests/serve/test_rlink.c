/* Unit tests of src/serve/core/rlink's URL forms (the link itself runs
 * against a real redis-server in tests/serve/test_fleet.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "serve/core/rlink.h"

static rlink_target last;

static int parse(const char *url, char *host, int *port, int *db)
{
    char err[512] = "";
    int rc = rlink_parse_url(url, &last, err, sizeof err);
    if (rc && !strchr(url, '@')) assert_non_null(strstr(err, url));      /* it names the URL */
    if (rc && strstr(url, "s3cret")) assert_null(strstr(err, "s3cret")); /* never the password */
    strcpy(host, last.host);
    *port = last.port;
    *db = last.db;
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

static void test_credentials(void **state)
{
    (void)state;
    char host[256];
    int port, db;
    assert_int_equal(parse("redis://:s3cret@cache:6380/2", host, &port, &db), 0);
    assert_string_equal(host, "cache");
    assert_int_equal(port, 6380);
    assert_int_equal(db, 2);
    assert_string_equal(last.user, "");
    assert_string_equal(last.password, "s3cret");
    assert_int_equal(parse("redis://glint:s3cret@10.0.0.5", host, &port, &db), 0);
    assert_string_equal(last.user, "glint");
    assert_string_equal(last.password, "s3cret");
    assert_string_equal(host, "10.0.0.5");
    assert_int_equal(parse("redis://127.0.0.1", host, &port, &db), 0);
    assert_string_equal(last.password, "");
    /* bad ones never show the password */
    assert_int_equal(parse("redis://:s3cret@", host, &port, &db), -1);
    assert_int_equal(parse("redis://glint@h", host, &port, &db), -1);
    assert_int_equal(parse("redis://u:@h", host, &port, &db), -1);
    assert_int_equal(parse("redis://:s3cret@h:99999", host, &port, &db), -1);
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
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
