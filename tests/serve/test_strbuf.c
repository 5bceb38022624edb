/* Unit tests of src/serve/strbuf: appends, growth, the hard limit (exactly
 * at and one past it), sticky errors, printf-append in both passes, reset,
 * detach, binary content. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "serve/core/strbuf.h"

static void test_empty(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 100);
    assert_int_equal(strbuf_len(&sb), 0);
    assert_string_equal(strbuf_cstr(&sb), "");
    assert_int_equal(strbuf_error(&sb), SERVE_OK);
    assert_int_equal(strbuf_append(&sb, NULL, 0), SERVE_OK);
    assert_int_equal(strbuf_append_str(&sb, ""), SERVE_OK);
    assert_null(sb.data); /* nothing allocated yet */
    size_t len = 99;
    char *s = strbuf_detach(&sb, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    strbuf_dispose(&sb);
    strbuf_dispose(NULL);
}

static void test_append_and_grow(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 1 << 20);
    char expect[5001];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(strbuf_append(&sb, "abcde", 5), SERVE_OK);
        memcpy(expect + 5 * i, "abcde", 5);
    }
    expect[5000] = '\0';
    assert_int_equal(strbuf_len(&sb), 5000);
    assert_string_equal(strbuf_cstr(&sb), expect);
    assert_true(sb.cap >= 5001);
    strbuf_dispose(&sb);
    assert_int_equal(strbuf_len(&sb), 0);
    assert_int_equal(sb.limit, 1 << 20);
}

static void test_limit_exact(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 10);
    assert_int_equal(strbuf_append_str(&sb, "0123456789"), SERVE_OK); /* exactly the limit */
    assert_int_equal(strbuf_len(&sb), 10);
    assert_true(sb.cap <= 11); /* never allocates past limit + 1 */
    assert_int_equal(strbuf_append(&sb, "x", 1), SERVE_ERR_LIMIT);
    assert_string_equal(strbuf_cstr(&sb), "0123456789"); /* unchanged */
    strbuf_dispose(&sb);

    /* One append that would overshoot leaves the earlier content intact. */
    strbuf_init(&sb, 10);
    assert_int_equal(strbuf_append_str(&sb, "01234"), SERVE_OK);
    assert_int_equal(strbuf_append_str(&sb, "567890"), SERVE_ERR_LIMIT);
    assert_string_equal(strbuf_cstr(&sb), "01234");
    assert_int_equal(strbuf_len(&sb), 5);
    strbuf_dispose(&sb);

    /* A zero limit holds nothing but the empty string. */
    strbuf_init(&sb, 0);
    assert_int_equal(strbuf_append(&sb, "", 0), SERVE_OK);
    assert_int_equal(strbuf_append(&sb, "a", 1), SERVE_ERR_LIMIT);
    strbuf_dispose(&sb);

    /* Huge lengths do not wrap around. */
    strbuf_init(&sb, SIZE_MAX);
    assert_int_equal(sb.limit, SIZE_MAX / 2);
    assert_int_equal(strbuf_append_str(&sb, "ab"), SERVE_OK);
    assert_int_equal(strbuf_append(&sb, "c", SIZE_MAX - 1), SERVE_ERR_LIMIT);
    assert_string_equal(strbuf_cstr(&sb), "ab");
    strbuf_dispose(&sb);
}

static void test_sticky_error(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 8);
    assert_int_equal(strbuf_append_str(&sb, "abc"), SERVE_OK);
    assert_int_equal(strbuf_append_str(&sb, "too long!"), SERVE_ERR_LIMIT);
    /* Later appends that would fit are no-ops reporting the first error. */
    assert_int_equal(strbuf_append_str(&sb, "d"), SERVE_ERR_LIMIT);
    assert_int_equal(strbuf_appendf(&sb, "%d", 1), SERVE_ERR_LIMIT);
    assert_int_equal(strbuf_append(&sb, NULL, 0), SERVE_ERR_LIMIT);
    assert_string_equal(strbuf_cstr(&sb), "abc");
    assert_int_equal(strbuf_error(&sb), SERVE_ERR_LIMIT);
    assert_string_equal(serve_strerror(strbuf_error(&sb)), "size limit reached");

    /* Detach of a failed buffer gives NULL and leaves a fresh buffer. */
    size_t len = 7;
    assert_null(strbuf_detach(&sb, &len));
    assert_int_equal(len, 0);
    assert_int_equal(strbuf_error(&sb), SERVE_OK);
    assert_int_equal(strbuf_append_str(&sb, "new"), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "new");

    /* Bad arguments are errors too, and sticky. */
    strbuf_reset(&sb);
    assert_int_equal(strbuf_append(&sb, NULL, 3), SERVE_ERR_FORMAT);
    assert_int_equal(strbuf_append_str(&sb, "x"), SERVE_ERR_FORMAT);
    strbuf_reset(&sb);
    assert_int_equal(strbuf_append_str(&sb, NULL), SERVE_ERR_FORMAT);
    strbuf_dispose(&sb);
}

static void test_appendf_both_passes(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 4096);
    /* First call: nothing allocated, so pass 1 cannot fit and pass 2 runs. */
    assert_int_equal(strbuf_appendf(&sb, "%s=%d;", "alpha", 42), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "alpha=42;");
    size_t cap = sb.cap;
    /* Fits in the room already there (pass 1 only: capacity unchanged). */
    assert_int_equal(strbuf_appendf(&sb, "%03u", 7u), SERVE_OK);
    assert_int_equal(sb.cap, cap);
    assert_string_equal(strbuf_cstr(&sb), "alpha=42;007");
    /* Does not fit: pass 1 truncates, the buffer grows, pass 2 formats. */
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    assert_int_equal(strbuf_appendf(&sb, "[%s]", big), SERVE_OK);
    assert_int_equal(strbuf_len(&sb), 12 + 1002);
    assert_memory_equal(strbuf_cstr(&sb), "alpha=42;007[zzz", 16);
    assert_string_equal(strbuf_cstr(&sb) + 1013, "]");
    strbuf_dispose(&sb);
}

static void test_appendf_limit(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 10);
    assert_int_equal(strbuf_appendf(&sb, "%d", 123456789), SERVE_OK); /* 9 bytes */
    assert_int_equal(strbuf_appendf(&sb, "%d", 12), SERVE_ERR_LIMIT);
    /* The truncated first pass must not leave bytes behind. */
    assert_string_equal(strbuf_cstr(&sb), "123456789");
    assert_int_equal(strbuf_len(&sb), 9);
    strbuf_reset(&sb);
    assert_int_equal(strbuf_appendf(&sb, "%s", "0123456789"), SERVE_OK); /* exactly 10 */
    assert_string_equal(strbuf_cstr(&sb), "0123456789");
    strbuf_dispose(&sb);
}

static void test_reset_keeps_memory(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 1000);
    assert_int_equal(strbuf_append_str(&sb, "hello world"), SERVE_OK);
    char *data = sb.data;
    strbuf_reset(&sb);
    assert_int_equal(strbuf_len(&sb), 0);
    assert_string_equal(strbuf_cstr(&sb), "");
    assert_ptr_equal(sb.data, data);
    assert_int_equal(strbuf_append_str(&sb, "again"), SERVE_OK);
    assert_string_equal(strbuf_cstr(&sb), "again");
    strbuf_dispose(&sb);
}

static void test_detach_binary(void **state)
{
    (void)state;
    strbuf sb;
    strbuf_init(&sb, 1000);
    const unsigned char bin[5] = {'a', 0, 'b', 0xff, 0};
    assert_int_equal(strbuf_append(&sb, bin, sizeof bin), SERVE_OK);
    assert_int_equal(strbuf_append_str(&sb, "tail"), SERVE_OK);
    size_t len = 0;
    char *p = strbuf_detach(&sb, &len);
    assert_non_null(p);
    assert_int_equal(len, 9);
    assert_memory_equal(p, "a\0b\xff\0tail", 10); /* NUL-terminated too */
    free(p);
    /* The buffer is reusable and keeps its limit. */
    assert_null(sb.data);
    assert_int_equal(sb.limit, 1000);
    assert_int_equal(strbuf_append_str(&sb, "x"), SERVE_OK);
    p = strbuf_detach(&sb, NULL);
    assert_string_equal(p, "x");
    free(p);
    strbuf_dispose(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_limit_exact),
        cmocka_unit_test(test_sticky_error),
        cmocka_unit_test(test_appendf_both_passes),
        cmocka_unit_test(test_appendf_limit),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_detach_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
