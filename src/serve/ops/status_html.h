/* The status page (src/serve/ops/status.html), embedded at build time by
 * cmake/embed.cmake. */
#ifndef GLINT_SERVE_OPS_STATUS_HTML_H
#define GLINT_SERVE_OPS_STATUS_HTML_H

#include <stddef.h>

extern const unsigned char glint_status_html[];
extern const size_t glint_status_html_len;

#endif
