/* Unit tests of src/tasks/labels: names from an array and from files (line
 * ends, BOM, blank lines), the fallback to numbers, and the file limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks/labels.h"

/* Writes `len` bytes to a fresh temporary file; returns its path (static
 * buffer, valid until the next call). */
static const char *temp_file(const void *data, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/glint_labels_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static const char *name(const task_labels *l, int id)
{
    static char buf[TASK_LABELS_NUM_BUF];
    return task_labels_name(l, id, buf, sizeof buf);
}

static void test_from_array(void **state)
{
    (void)state;
    char first[16] = "person";
    const char *names[4] = {first, "bicycle", NULL, ""};
    task_labels *l = NULL;
    assert_int_equal(task_labels_create(names, 4, &l), TASK_OK);
    first[0] = 'X'; /* the labels hold copies */
    assert_int_equal(task_labels_count(l), 4);
    assert_string_equal(name(l, 0), "person");
    assert_string_equal(name(l, 1), "bicycle");
    assert_string_equal(name(l, 2), "2"); /* NULL entry */
    assert_string_equal(name(l, 3), "3"); /* empty entry */
    assert_string_equal(name(l, 4), "4"); /* unknown id */
    assert_string_equal(name(l, -1), "-1");
    assert_string_equal(name(l, -2147483647 - 1), "-2147483648");
    task_labels_destroy(l);

    /* No labels at all: every id is its number. */
    assert_string_equal(name(NULL, 17), "17");
    assert_int_equal(task_labels_count(NULL), 0);
    assert_int_equal(task_labels_create(NULL, 0, &l), TASK_OK);
    assert_int_equal(task_labels_count(l), 0);
    task_labels_destroy(l);
    task_labels_destroy(NULL);
    assert_int_equal(task_labels_create(names, -1, &l), TASK_ERR_INVALID);
    assert_null(l);
}

static void test_load_file_formats(void **state)
{
    (void)state;
    const char text[] = "\xEF\xBB\xBFperson\r\nbicycle \n\ntraffic light\t\n";
    const char *path = temp_file(text, sizeof text - 1);
    task_labels *l = NULL;
    assert_int_equal(task_labels_load_file(path, 0, 0, &l), TASK_OK);
    unlink(path);
    assert_int_equal(task_labels_count(l), 4);
    assert_string_equal(name(l, 0), "person");
    assert_string_equal(name(l, 1), "bicycle");
    assert_string_equal(name(l, 2), "2"); /* blank line keeps its id */
    assert_string_equal(name(l, 3), "traffic light");
    assert_string_equal(name(l, 4), "4");
    task_labels_destroy(l);

    /* No trailing newline; an empty file has no labels. */
    path = temp_file("cat\ndog", 7);
    assert_int_equal(task_labels_load_file(path, 0, 0, &l), TASK_OK);
    unlink(path);
    assert_int_equal(task_labels_count(l), 2);
    assert_string_equal(name(l, 1), "dog");
    task_labels_destroy(l);
    path = temp_file("", 0);
    assert_int_equal(task_labels_load_file(path, 0, 0, &l), TASK_OK);
    unlink(path);
    assert_int_equal(task_labels_count(l), 0);
    task_labels_destroy(l);
}

/* 20,000 labels (~200 KB, past the reader's first buffers). */
static void test_load_large_file(void **state)
{
    (void)state;
    enum { N = 20000 };
    char *text = malloc(N * 16);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, 16, "label%d\n", i);
    const char *path = temp_file(text, len);
    task_labels *l = NULL;
    assert_int_equal(task_labels_load_file(path, 0, 0, &l), TASK_OK);
    assert_int_equal(task_labels_count(l), N);
    assert_string_equal(name(l, 0), "label0");
    assert_string_equal(name(l, N - 1), "label19999");
    task_labels_destroy(l);

    /* The same file over a byte limit or a line limit is refused. */
    assert_int_equal(task_labels_load_file(path, len - 1, 0, &l), TASK_ERR_NOMEM);
    assert_null(l);
    assert_int_equal(task_labels_load_file(path, len, N - 1, &l), TASK_ERR_NOMEM);
    assert_null(l);
    assert_int_equal(task_labels_load_file(path, len, N, &l), TASK_OK);
    task_labels_destroy(l);
    unlink(path);
    free(text);
}

static void test_load_small_limits(void **state)
{
    (void)state;
    const char *path = temp_file("a\nb\nc\nd\ne\n", 10);
    task_labels *l = NULL;
    assert_int_equal(task_labels_load_file(path, 10, 5, &l), TASK_OK);
    assert_int_equal(task_labels_count(l), 5);
    task_labels_destroy(l);
    assert_int_equal(task_labels_load_file(path, 9, 5, &l), TASK_ERR_NOMEM);
    assert_int_equal(task_labels_load_file(path, 10, 4, &l), TASK_ERR_NOMEM);
    assert_non_null(strstr(task_last_error(), "4"));
    assert_int_equal(task_labels_load_file(path, 1, 0, &l), TASK_ERR_NOMEM);
    unlink(path);
}

static void test_load_errors(void **state)
{
    (void)state;
    task_labels *l = NULL;
    assert_int_equal(task_labels_load_file("/nonexistent/glint/labels.txt", 0, 0, &l), TASK_ERR_IO);
    assert_null(l);
    assert_non_null(strstr(task_last_error(), "/nonexistent/glint/labels.txt"));
    const char *path = temp_file("cat\0dog\n", 8);
    assert_int_equal(task_labels_load_file(path, 0, 0, &l), TASK_ERR_PARSE);
    assert_null(l);
    unlink(path);
    assert_int_equal(task_labels_load_file(NULL, 0, 0, &l), TASK_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_array),      cmocka_unit_test(test_load_file_formats),
        cmocka_unit_test(test_load_large_file), cmocka_unit_test(test_load_small_limits),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
