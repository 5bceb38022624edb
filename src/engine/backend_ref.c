/* The reference backend: no kernels of its own, no layout planning. Every
 * step runs its operator's plain C reference kernel (ops_*.c) on plain
 * tensors, which defines the semantics the other backends are checked
 * against (tests/engine/test_backend_ops.c). */
#include "backend.h"

const backend_iface eng_backend_ref = {
    .name = "ref",
};
