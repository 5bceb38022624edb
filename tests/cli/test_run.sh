#!/bin/bash
# Black-box tests of `glint run`: answers on the committed reference models
# (weights are seeded, not trained: the checks are about the shape of the
# answers, never about what is detected), per-image errors, exit statuses,
# model.yaml handling and inference without one, determinism and batching.
#
# usage: test_run.sh GLINT_BINARY SOURCE_DIR
set -u
GLINT=${1:?usage: test_run.sh GLINT_BINARY SOURCE_DIR}
SRC=${2:?usage: test_run.sh GLINT_BINARY SOURCE_DIR}
PY=/usr/bin/python3
YOLO=$SRC/models/yolov8n
RESNET=$SRC/models/resnet18
DOG=$SRC/tests/data/dog.jpg
HORSES=$SRC/tests/data/horses.jpg
PERSON=$SRC/tests/data/person.jpg
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
FAILS=0
PASSES=0
SANITIZER_REPORT='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer'

pass() { PASSES=$((PASSES + 1)); echo "ok   $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1"; }

# run NAME EXPECTED_STATUS ARGS...: runs glint run, keeps stdout in $T/NAME.out
# and stderr in $T/NAME.err, and checks the exit status.
run() {
    local name=$1 want=$2
    shift 2
    "$GLINT" run "$@" >"$T/$name.out" 2>"$T/$name.err"
    local got=$?
    # a sanitizer report fails the case whatever the status (and is shown,
    # so that ctest's FAIL_REGULAR_EXPRESSION sees it too)
    if grep -qE "$SANITIZER_REPORT" "$T/$name.err"; then
        fail "$name: sanitizer report (exit status $got)"
        sed 's/^/    /' "$T/$name.err" | head -40
        return 1
    fi
    if [ "$got" != "$want" ]; then
        fail "$name: exit status $got, expected $want"
        sed 's/^/    /' "$T/$name.err" | head -5
        return 1
    fi
    return 0
}

# check NAME PYTHON_CHECK [ARGS...]: runs a check of chk.py on $T/NAME.out.
check() {
    local name=$1 what=$2
    shift 2
    if msg=$("$PY" "$T/chk.py" "$what" "$T/$name.out" "$@" 2>&1); then
        pass "$name: $what"
    else
        fail "$name: $what"
        echo "$msg" | sed 's/^/    /' | head -10
    fi
}

cat >"$T/chk.py" <<'EOF'
import json, math, sys

def answers(path):
    """Every JSON object in the file (JSON lines or --pretty output)."""
    text, dec, out, i = open(path).read(), json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)

def labels_of(model_dir):
    if model_dir.endswith('resnet18'):
        return [l.rstrip('\n') for l in open(model_dir + '/labels.txt')]
    for line in open(model_dir + '/model.yaml'):
        if line.startswith('labels:'):
            return [s.strip() for s in line.split('[', 1)[1].rsplit(']', 1)[0].split(',')]
    raise SystemExit('no labels in model.yaml')

def check_common(a, image, w, h, model, task):
    assert a['image'] == image, a['image']
    assert a['width'] == w and a['height'] == h, (a['width'], a['height'])
    if model:
        assert a['model'] == model, a['model']
    assert a['task'] == task, a['task']
    t = a['timings_ms']
    assert set(t) == {'decode', 'preprocess', 'infer', 'post'}, t
    assert all(isinstance(v, (int, float)) and v >= 0 for v in t.values()), t

def classify(path, image, model_dir, k='5'):
    (a,) = answers(path)
    check_common(a, image, 768, 576, 'resnet18', 'classify')
    names, cls = labels_of(model_dir), a['classes']
    assert len(cls) == int(k), len(cls)
    scores = [c['score'] for c in cls]
    assert scores == sorted(scores, reverse=True), scores
    assert all(0 <= s <= 1 for s in scores) and sum(scores) <= 1 + 1e-5, scores
    assert len({c['class_id'] for c in cls}) == len(cls)
    for c in cls:
        assert set(c) == {'label', 'class_id', 'score'}, c
        assert c['label'] == names[c['class_id']], c

def detections(a, w, h, names=None, score=0.25):
    dets = a['detections']
    scores = [d['score'] for d in dets]
    assert scores == sorted(scores, reverse=True), 'not sorted by score'
    for d in dets:
        assert set(d) == {'label', 'class_id', 'score', 'box'}, d
        b = d['box']
        assert 0 <= b['x1'] < b['x2'] <= w and 0 <= b['y1'] < b['y2'] <= h, d
        assert score <= d['score'] <= 1, d
        assert 0 <= d['class_id'] < 80, d
        if names is not None:
            assert d['label'] == names[d['class_id']], d
    return dets

def detect(path, image, model_dir, model='yolov8n'):
    (a,) = answers(path)
    check_common(a, image, 768, 576, model, 'detect')
    detections(a, 768, 576, labels_of(model_dir))

def numbered(path):
    (a,) = answers(path)
    check_common(a, a['image'], 768, 576, None, 'detect')
    for d in detections(a, 768, 576):
        assert d['label'] == str(d['class_id']), d

def tricky_names(path):
    (a,) = answers(path)
    want = {0: "teddy's", 1: 'say "hi"', 2: 'back\\slash', 3: 'caf\u00e9', 4: '\U0001F415 dog'}
    dets = detections(a, 768, 576, score=0.01)
    assert {0, 1, 2, 3, 4} & {d['class_id'] for d in dets}, 'no escaped name to look at'
    for d in dets:
        i = d['class_id']
        assert d['label'] == want.get(i, 'c%d' % i), d

def lines(path, *images):
    got = answers(path)
    assert [a['image'] for a in got] == list(images), [a['image'] for a in got]
    assert len(open(path).read().splitlines()) == len(images), 'not one line per image'

def errors(path, *spec):
    """spec: image, then 'ok' or a fragment the error must contain."""
    got = answers(path)
    assert len(got) == len(spec) // 2, len(got)
    for a, image, want in zip(got, spec[::2], spec[1::2]):
        assert a['image'] == image, a
        if want == 'ok':
            assert 'error' not in a and 'detections' in a, a
        else:
            assert set(a) == {'image', 'error'}, a
            assert want.lower() in a['error'].lower(), a['error']

def strip_timings(a):
    return {k: v for k, v in a.items() if k != 'timings_ms'}

def same(path, other):
    x, y = [strip_timings(a) for a in answers(path)], [strip_timings(a) for a in answers(other)]
    assert x == y, 'answers differ'

def close(path, *others):
    """Answers in `path` match those in the files `others` (one answer
    each), up to float noise of a different batch size."""
    got = answers(path)
    want = [a for f in others for a in answers(f)]
    assert len(got) == len(want), (len(got), len(want))
    for a, b in zip(got, want):
        assert strip_timings(a).keys() == strip_timings(b).keys()
        assert a['image'] == b['image']
        da, db = a['detections'], b['detections']
        assert len(da) == len(db), (a['image'], len(da), len(db))
        for p, q in zip(da, db):
            assert p['class_id'] == q['class_id'], (p, q)
            assert abs(p['score'] - q['score']) <= 1e-4, (p, q)
            for k in p['box']:
                assert abs(p['box'][k] - q['box'][k]) <= 0.05, (p, q)

def count(path, n):
    (a,) = answers(path)
    assert len(a['classes']) == int(n), len(a['classes'])

def pretty(path):
    got = answers(path)
    assert len(got) == 2 and len(open(path).read().splitlines()) > 20, 'not indented'

def empty(path):
    assert open(path).read() == '', 'stdout not empty'

globals()[sys.argv[1]](*sys.argv[2:])
EOF

# Rewrites an ONNX model's metadata_props (ModelProto field 14) without the
# onnx package: drops the old entries and appends the given key=value pairs.
set_metadata() {
    "$PY" - "$@" <<'EOF'
import sys
src, dst, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
d = open(src, 'rb').read()
def varint(i):
    r = s = 0
    while True:
        b = d[i]; i += 1; r |= (b & 0x7f) << s; s += 7
        if not b & 0x80:
            return r, i
def enc(n):
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])
def field(num, data):
    return enc(num << 3 | 2) + enc(len(data)) + data
out, i = b'', 0
while i < len(d):
    start = i
    key, i = varint(i)
    wt = key & 7
    if wt == 0:
        _, i = varint(i)
    elif wt == 2:
        n, i = varint(i); i += n
    elif wt == 1:
        i += 8
    elif wt == 5:
        i += 4
    else:
        raise SystemExit('unexpected wire type')
    if key >> 3 != 14:
        out += d[start:i]
for p in pairs:
    k, v = p.split('=', 1)
    out += field(14, field(1, k.encode()) + field(2, v.encode()))
open(dst, 'wb').write(out)
EOF
}

# ---- answers on the reference models ----
if run classify 0 --model "$RESNET/model.onnx" "$DOG"; then
    check classify classify "$DOG" "$RESNET"
fi
if run classify-top 0 --model "$RESNET/model.onnx" --top 3 "$DOG"; then
    check classify-top count 3
fi
if run detect 0 --model "$YOLO/model.onnx" "$DOG"; then
    check detect detect "$DOG" "$YOLO"
fi
if run detect-dir 0 --model "$YOLO" "$DOG"; then
    check detect-dir same "$T/detect.out"
fi
if run detect-pretty 0 --pretty --model "$YOLO/model.onnx" "$DOG" "$HORSES"; then
    check detect-pretty pretty
fi

# ---- no model.yaml: everything from the model (Ultralytics metadata) ----
mkdir -p "$T/bare" "$T/nometa" "$T/tricky"
cp "$YOLO/model.onnx" "$T/bare/model.onnx"
if run bare 0 --model "$T/bare/model.onnx" "$DOG"; then
    check bare detect "$DOG" "$YOLO" bare
fi
# the inferred defaults (letterbox 640, mean 0, std 1) match model.yaml's
# once the IoU threshold (0.7 without a config, 0.45 in it) is the same
if run bare-iou 0 --model "$T/bare/model.onnx" --iou 0.45 "$DOG"; then
    check bare-iou close "$T/detect.out"
fi
# no metadata either: classes are numbered
set_metadata "$YOLO/model.onnx" "$T/nometa/model.onnx"
if run nometa 0 --model "$T/nometa/model.onnx" "$DOG"; then
    check nometa numbered
fi
# names as Python writes them: quotes, backslashes, \x, \U escapes, gaps
NAMES="{0: \"teddy's\", 1: 'say \"hi\"', 2: 'back\\\\slash', 3: 'caf\\xe9', 4: '\\U0001f415 dog'"
for i in $(seq 5 79); do NAMES="$NAMES, $i: 'c$i'"; done
set_metadata "$YOLO/model.onnx" "$T/tricky/model.onnx" "names=$NAMES}" "task=detect"
if run tricky 0 --model "$T/tricky/model.onnx" --score 0.01 "$DOG"; then
    check tricky tricky_names
fi

# ---- several images, errors per image ----
if run two 0 --model "$YOLO/model.onnx" "$DOG" "$HORSES"; then
    check two lines "$DOG" "$HORSES"
fi
head -c 20000 "$DOG" >"$T/truncated.jpg"
echo "not an image" >"$T/text.jpg"
"$PY" - "$DOG" "$T/huge.jpg" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = 2  # walk the marker segments to the frame header (SOF0..SOF2)
while d[i] == 0xFF and d[i + 1] not in (0xC0, 0xC1, 0xC2):
    i += 2 + int.from_bytes(d[i + 2:i + 4], 'big')
assert d[i] == 0xFF, 'no frame header'
d[i + 5:i + 9] = (60000).to_bytes(2, 'big') * 2  # height, width: 3.6 Gpixel
open(sys.argv[2], 'wb').write(bytes(d))
EOF
if run errors 1 --model "$YOLO/model.onnx" "$T/missing.jpg" "$DOG" "$T/truncated.jpg" \
    "$T/text.jpg" "$T/huge.jpg" "$HORSES"; then
    check errors errors "$T/missing.jpg" "no such file" "$DOG" ok "$T/truncated.jpg" "" \
        "$T/text.jpg" "" "$T/huge.jpg" "limit" "$HORSES" ok
fi

# a file name that is not UTF-8 still gives valid JSON (U+FFFD in its place)
LATIN1=$(printf '%s/caf\xe9.jpg' "$T")
cp "$DOG" "$LATIN1"
if run latin1 0 --model "$RESNET/model.onnx" "$LATIN1"; then
    "$PY" -c 'import json,sys; a=json.loads(open(sys.argv[1],"rb").read().decode("utf-8")); assert a["image"].endswith("caf\ufffd.jpg"), a["image"]; assert a["classes"]' \
        "$T/latin1.out" && pass "latin1: file name made valid UTF-8" || fail "latin1: bad JSON"
fi

# ---- model and usage errors ----
if run nomodel 1 --model "$T/does-not-exist.onnx" "$DOG"; then
    check nomodel empty
    grep -q "does-not-exist.onnx" "$T/nomodel.err" && pass "nomodel: message names the file" ||
        fail "nomodel: message does not name the file"
fi
# usage errors: exit 2 and a message that says what is wrong (a crash or
# another failure must not pass as the expected refusal)
usage() { # NAME FRAGMENT ARGS...: exit 2, nothing on stdout, FRAGMENT on stderr
    local name=$1 frag=$2
    shift 2
    if run "$name" 2 "$@"; then
        if [ ! -s "$T/$name.out" ] && grep -qF -- "$frag" "$T/$name.err"; then
            pass "$name: exit 2, message has '$frag'"
        else
            fail "$name: stdout not empty or message '$(head -3 "$T/$name.err")' lacks '$frag'"
        fi
    fi
}
usage usage-noimage "no images given" --model "$YOLO/model.onnx"
usage usage-nomodel "--model is required" "$DOG"
usage usage-option "unknown option '--bogus'" --model "$YOLO/model.onnx" --bogus "$DOG"
usage usage-score "--score needs a number in [0, 1], got '2'" --model "$YOLO/model.onnx" --score 2 "$DOG"
if run help 0 --help; then
    grep -q -- "--model" "$T/help.out" && pass "--help lists --model" || fail "--help lacks --model"
fi

# ---- model.yaml errors name the file and the key ----
mkdir -p "$T/badyaml"
ln -s "$YOLO/model.onnx" "$T/badyaml/model.onnx"
bad_yaml() { # NAME YAML FRAGMENT: the config is refused with a message holding FRAGMENT
    printf '%s\n' "$2" >"$T/badyaml/model.yaml"
    if run "$1" 1 --model "$T/badyaml/model.onnx" "$DOG"; then
        if grep -q "model.yaml" "$T/$1.err" && grep -q -- "$3" "$T/$1.err"; then
            pass "$1: refused, message names model.yaml and '$3'"
        else
            fail "$1: message '$(cat "$T/$1.err")' lacks model.yaml or '$3'"
        fi
    fi
}
bad_yaml yaml-width "width: abc" "width"
bad_yaml yaml-task "task: segment" "task"
bad_yaml yaml-size "width: 320" "fixed at 640"
bad_yaml yaml-std "std: [1, 0, 1]" "std"
bad_yaml yaml-mean "mean: [0, 0]" "mean"
bad_yaml yaml-syntax "labels: [a, b" "line"
bad_yaml yaml-labels-file "labels_file: nowhere.txt" "labels_file"
bad_yaml yaml-twice $'score_threshold: 0.5\nscore_threshold: 0.6' "given twice"
printf 'name: custom\nfuture_key: [1, 2, {a: b}]\nscore_threshold: 0.5\n' >"$T/badyaml/model.yaml"
if run yaml-unknown 0 --model "$T/badyaml/model.onnx" "$DOG"; then
    "$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["model"]=="custom"; assert all(d["score"]>=0.5 for d in a["detections"])' \
        "$T/yaml-unknown.out" && pass "yaml: unknown keys ignored, name and threshold used" ||
        fail "yaml: unknown keys / name / threshold"
fi

# ---- determinism and batching ----
if run again 0 --model "$YOLO/model.onnx" "$DOG"; then
    check again same "$T/detect.out"
fi
if run batch3 0 --model "$YOLO/model.onnx" "$DOG" "$HORSES" "$PERSON" &&
    run alone-horses 0 --model "$YOLO/model.onnx" "$HORSES" &&
    run alone-person 0 --model "$YOLO/model.onnx" "$PERSON"; then
    check batch3 close "$T/detect.out" "$T/alone-horses.out" "$T/alone-person.out"
fi

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
