/* Class names for answers: id -> label, from an array of strings or a
 * newline-separated file (one label per line, line i names class i, as in
 * coco.names or an ImageNet synset list).
 *
 * A task_labels is immutable after creation: any number of threads may look
 * names up concurrently. It owns copies of all its strings.
 */
#ifndef GLINT_TASKS_LABELS_H
#define GLINT_TASKS_LABELS_H

#include <stddef.h>

#include "tasks/task_status.h"

/* Limits of task_labels_load_file when the caller passes 0. */
#define TASK_LABELS_DEFAULT_MAX_BYTES ((size_t)1 << 20) /* 1 MiB */
#define TASK_LABELS_DEFAULT_MAX_LINES 100000
/* Hard ceiling on the label count, whatever the caller asks. */
#define TASK_LABELS_MAX_COUNT 1000000
/* Room task_labels_name needs in `buf` to spell any int id. */
#define TASK_LABELS_NUM_BUF 16

typedef struct task_labels task_labels;

/* Copies names[0..count) (count 0..TASK_LABELS_MAX_COUNT; a NULL entry is an
 * empty name). On success *out owns the labels: free with
 * task_labels_destroy(). */
task_status task_labels_create(const char *const *names, int count, task_labels **out);

/* Reads a label file: one label per line; "\n" or "\r\n" line ends; a
 * trailing newline does not add a label; a leading UTF-8 BOM is skipped;
 * trailing spaces and tabs are trimmed; an empty line keeps its id (its name
 * falls back to the number). Fails with TASK_ERR_NOMEM if the file is larger
 * than max_bytes or has more than max_lines labels (0 = the defaults above),
 * TASK_ERR_IO if it cannot be read, TASK_ERR_PARSE if it holds a NUL byte.
 * On success *out owns the labels: free with task_labels_destroy(). */
task_status task_labels_load_file(const char *path, size_t max_bytes, int max_lines,
                                  task_labels **out);

/* Accepts NULL. */
void task_labels_destroy(task_labels *l);

/* Number of labels (0 for NULL). */
int task_labels_count(const task_labels *l);

/* Name of class `id`: the stored label (owned by `l`, valid until destroy)
 * when 0 <= id < count and non-empty; otherwise the decimal number written
 * into buf (size >= TASK_LABELS_NUM_BUF is always enough) and buf returned.
 * `l` may be NULL (every id is then a number). Never returns NULL. */
const char *task_labels_name(const task_labels *l, int id, char *buf, size_t size);

#endif
