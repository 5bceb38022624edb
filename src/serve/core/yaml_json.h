/* yaml_json: a YAML document read as the JSON value it would be (YAML 1.2's
 * core schema for plain scalars: null, true/false, integers, floats; every
 * other scalar a string), so that one validator serves a YAML file and the
 * JSON body of an API that changes the same settings. Bounded: nesting past
 * 32 levels or 100000 nodes (aliases included) is refused. */
#ifndef GLINT_SERVE_CORE_YAML_JSON_H
#define GLINT_SERVE_CORE_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses YAML text into a JSON value (new reference; an empty document is
 * an empty object) or NULL with err. */
json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size);

#endif
