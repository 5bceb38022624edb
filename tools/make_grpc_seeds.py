"""Writes fuzz/corpus/grpc/: what a gRPC client sends after the HTTP/2
preface and SETTINGS (fuzz/fuzz_grpc.c prepends those): HEADERS (HPACK
literals) and DATA frames carrying gRPC messages: a unary ModelInfer with raw
contents, one with typed contents, a stream of two requests, a message split
across DATA frames, a truncated message, a compressed flag, an oversized
length, a ServerLive. Hand-encoded (protobuf and HTTP/2 wire formats), no
libraries.

usage: python3 tools/make_grpc_seeds.py [OUT_DIR]"""
import os
import struct
import sys


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def infer_request(model, shape, raw=None, floats=None, rid=b""):
    t = field(1, 2, b"input") + field(2, 2, b"FP32")
    t += field(3, 2, b"".join(varint(d) for d in shape))
    if floats is not None:
        t += field(5, 2, field(6, 2, b"".join(struct.pack("<f", f) for f in floats)))
    m = field(1, 2, model) + (field(3, 2, rid) if rid else b"") + field(5, 2, t)
    if raw is not None:
        m += field(7, 2, raw)
    return m


def grpc_msg(body, flag=0, length=None):
    return bytes([flag]) + struct.pack(">I", len(body) if length is None else length) + body


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    return b"\x00" + varint(len(name)) + name + varint(len(value)) + value


def headers(stream, method, extra=()):
    block = literal(b":method", b"POST") + literal(b":scheme", b"http")
    block += literal(b":path", b"/inference.GRPCInferenceService/" + method)
    block += literal(b":authority", b"localhost") + literal(b"content-type", b"application/grpc")
    block += literal(b"te", b"trailers")
    for k, v in extra:
        block += literal(k, v)
    return frame(1, 0x4, stream, block)


def data(stream, payload, end=True):
    return frame(0, 0x1 if end else 0, stream, payload)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "grpc")
    os.makedirs(out, exist_ok=True)
    small = infer_request(b"red_disc", [1, 3, 2, 2], raw=bytes(48), rid=b"id-1")
    typed = infer_request(b"red_disc", [1, 3, 1, 1], floats=[0.5, 0.25, 1.0])
    msg = grpc_msg(small)
    seeds = {
        "unary_raw": headers(1, b"ModelInfer", [(b"grpc-timeout", b"100m")]) + data(1, msg),
        "unary_typed": headers(1, b"ModelInfer") + data(1, grpc_msg(typed)),
        "stream_two": headers(1, b"ModelStreamInfer") + data(1, msg, False) + data(1, grpc_msg(typed)),
        "split": headers(3, b"ModelInfer") + data(3, msg[:7], False) + data(3, msg[7:]),
        "truncated": headers(1, b"ModelInfer") + data(1, msg[:-3]),
        "compressed": headers(1, b"ModelInfer", [(b"grpc-encoding", b"identity")]) + data(1, grpc_msg(small, flag=1)),
        "oversized": headers(1, b"ModelInfer") + data(1, grpc_msg(b"", length=1 << 30)),
        "live_two_calls": headers(1, b"ServerLive") + data(1, grpc_msg(b"")) + headers(3, b"ServerLive") + data(3, grpc_msg(b"")),
    }
    for name, body in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)
    print("wrote %d seeds to %s" % (len(seeds), out))


main()
