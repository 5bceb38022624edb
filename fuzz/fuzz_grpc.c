/* libFuzzer target for KServe v2 over gRPC: the transport (HTTP/2 frames
 * through nghttp2, gRPC's length-prefixed messages, calls, answers and
 * trailers: src/serve/kserve/grpc_transport.c) and ModelInferRequest
 * parsing (kserve_grpc_msg.c). The input is what a client sends after the
 * connection preface and an empty SETTINGS frame (both prepended), on a
 * socketpair served by a grpc_server on an h2o event loop. Every whole
 * message is parsed as a ModelInferRequest (a parsed request is checked:
 * input counts, names, sizes against shapes, data present) and echoed back;
 * a half-closed call ends OK. Beyond "no crash, no leak": every connection
 * closes once the client has gone.
 * Seeds: fuzz/corpus/grpc/ (tools/make_grpc_seeds.py: unary and streamed
 * calls of valid and broken messages).
 *
 *   scripts/fuzz.sh build-fuzz 600
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve/kserve/grpc_transport.h"
#include "serve/kserve/kserve_grpc_msg.h"

static void check(const kserve_request *r)
{
    if (r->n_inputs < 1 || r->n_inputs > KSERVE_MAX_TENSORS) __builtin_trap();
    if (r->n_outputs < 0 || r->n_outputs > KSERVE_MAX_TENSORS) __builtin_trap();
    for (int i = 0; i < r->n_inputs; i++) {
        const kserve_tensor *t = &r->inputs[i];
        if (!t->name || !t->name[0] || !kserve_datatype_name(t->dtype)) __builtin_trap();
        if (kserve_request_find_input(r, t->name) != i) __builtin_trap();
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->dims[d];
        if (n != t->elements || t->elements > KSERVE_DEFAULT_MAX_ELEMENTS) __builtin_trap();
        size_t es = t->dtype == GLINT_F64 || t->dtype == GLINT_I64   ? 8
                    : t->dtype == GLINT_F32 || t->dtype == GLINT_I32 ? 4
                                                                     : 1;
        if (t->size != n * es || (n && !t->data)) __builtin_trap();
        volatile uint8_t sum = 0; /* every byte is readable */
        for (size_t k = 0; k < t->size; k++)
            sum ^= ((const uint8_t *)t->data)[k];
        (void)sum;
    }
}

static void on_message(grpc_call *c, const uint8_t *msg, size_t len, void *ud)
{
    (void)ud;
    Inference__ModelInferRequest *q = NULL;
    kserve_request r;
    char err[256] = "";
    if (!kserve_grpc_parse_infer(msg, len, NULL, &q, &r, err, sizeof err))
        check(&r);
    else if (!err[0])
        __builtin_trap(); /* a failure says why */
    kserve_request_dispose(&r);
    if (q) protobuf_c_message_free_unpacked(&q->base, NULL);
    char name[64], version[16];
    kserve_grpc_peek_model(msg, len, name, sizeof name, version, sizeof version);
    uint8_t *echo = malloc(GRPC_PREFIX + len + 1);
    if (!echo) return;
    memcpy(echo + GRPC_PREFIX, msg, len);
    grpc_call_send(c, echo, len);
}

static void on_half_close(grpc_call *c, void *ud)
{
    (void)ud;
    grpc_call_finish(c, GRPC_OK, "done \xff%");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static h2o_evloop_t *loop;
    static grpc_server *g;
    if (!loop) {
        static const grpc_handler h = {.on_message = on_message, .on_half_close = on_half_close};
        char err[256] = "";
        loop = h2o_evloop_create();
        g = grpc_server_create(loop, NULL, 0, &h, NULL, (size_t)1 << 16, 8, err, sizeof err);
        if (!g) __builtin_trap();
    }
    if (size > 100000) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) return 0;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                     "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    grpc_server_adopt(g, sv[0]);
    size_t off = 0, total = sizeof preface - 1 + size;
    char sink[65536];
    for (int i = 0; i < 200 && grpc_server_connections(g) > 0; i++) {
        while (off < total) { /* the client's bytes, as the socket takes them */
            const uint8_t *p =
                off < sizeof preface - 1 ? preface + off : data + (off - (sizeof preface - 1));
            size_t n = off < sizeof preface - 1 ? sizeof preface - 1 - off : total - off;
            ssize_t w = write(sv[1], p, n);
            if (w <= 0) break;
            off += (size_t)w;
        }
        if (off == total) shutdown(sv[1], SHUT_WR);
        h2o_evloop_run(loop, 0);
        while (read(sv[1], sink, sizeof sink) > 0) {
        }
    }
    close(sv[1]); /* the client goes: the connection must close */
    for (int i = 0; i < 50 && grpc_server_connections(g) > 0; i++)
        h2o_evloop_run(loop, 1);
    if (grpc_server_connections(g) > 0) __builtin_trap();
    return 0;
}
