"""Test clips for glint serve's camera streams, made with Debian's ffmpeg
(libx264, libx265, mjpeg, mpeg4, libvpx-vp9). Standard library only; each
function writes one file into OUTDIR and returns its path. All of them
together take about 8 s on 2 cores (the 1080p clip 1.5 s, each other < 1 s).

Scene pictures (tests/data/shapes_heldout, 128x128, from the held-out set of
tools/train_shapes.py, never used in training), for models/red_disc
("Is there a red disc?", labels [YES, NO]):
  YES  eval/shapes_026.png  one red disc on a green background, nothing else
  NO   eval/shapes_021.png  one blue disc on a purple background (a disc, but
                            not a red one)
What `build/glint run --model models/red_disc` answers (precision auto, as
model.yaml says), top class and score:
  the PNGs themselves                  YES 0.999949       NO 0.999623
  frames of disc_then_none at 640x480 (the picture scaled to 480x480 and
  padded with grey 114), taken with frame_at() at 1.5 s and 4.5 s:
    h264 .mkv / .mp4                   YES 1.0            NO 0.999067
    mjpeg .avi                         YES 1.0            NO 0.999081
    h265 .mkv / .mp4                   YES 1.0            NO 0.998999
  the switch is exact: frame 44 (2.933 s) is YES, frame 45 (3.0 s) is NO.
The motion/static clips use the NO picture as background (the white square
is not a disc: NO throughout).

CLI: /usr/bin/python3 tests/streams/clips.py OUTDIR   makes every clip and
prints one line per file: NAME PATH.
"""
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PICS = os.path.join(SRC, "tests", "data", "shapes_heldout", "eval")
YES_PICTURE = os.path.join(PICS, "shapes_026.png")  # red disc: red_disc says YES
NO_PICTURE = os.path.join(PICS, "shapes_021.png")   # blue disc only: red_disc says NO

FFMPEG_TIMEOUT = 120  # seconds for one ffmpeg run (a clip takes ~1 s)


def ffmpeg_path():
    """The ffmpeg binary; if absent, exits (status 1) naming the Debian package."""
    path = shutil.which("ffmpeg")
    if not path:
        sys.exit("clips: ffmpeg not found (Debian package: ffmpeg)")
    return path


def run_ffmpeg(args):
    """Runs ffmpeg quietly with ARGS (bounded); raises RuntimeError with its stderr."""
    cmd = [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("ffmpeg failed (%s): %s" % (" ".join(cmd), p.stderr.strip()))


def _video_args(codec, fps):
    """Encoder options: a keyframe every second, no B-frames, 4:2:0, like a camera."""
    if codec == "h264":
        return ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
                "-bf", "0", "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0",
                "-pix_fmt", "yuv420p"]
    if codec == "h265":
        return ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-x265-params", "keyint=%d:min-keyint=%d:scenecut=0:bframes=0:log-level=error"
                % (fps, fps)]
    if codec == "mjpeg":
        return ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"]
    if codec == "mpeg4":
        return ["-c:v", "mpeg4", "-q:v", "4", "-g", str(fps), "-pix_fmt", "yuv420p"]
    if codec == "vp9":
        return ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                "-g", str(fps), "-b:v", "1M", "-pix_fmt", "yuv420p"]
    raise ValueError("unknown codec %r" % codec)


def _container_args(ext, codec):
    if ext == "mp4":
        return ["-movflags", "+faststart"] + (["-tag:v", "hvc1"] if codec == "h265" else [])
    return []


def _fit(w, h, label):
    """A filter chain: picture scaled to fit WxH, centred on grey 114 (even sizes)."""
    return ("scale=%d:%d:force_original_aspect_ratio=decrease:flags=bicubic,"
            "pad=%d:%d:(ow-iw)/2:(oh-ih)/2:color=0x727272,setsar=1%s"
            % (w, h, w, h, label))


def disc_then_none(outdir, codec="h264", ext="mkv", yes_s=3, no_s=3, fps=15,
                   size=(640, 480)):
    """YES_PICTURE for YES_S seconds then NO_PICTURE for NO_S seconds, at FPS
    and SIZE (the 128x128 pictures fitted and grey-padded). CODEC h264/h265/mjpeg,
    EXT mkv/mp4/avi. Returns the path: disc_then_none_<codec>.<ext>."""
    w, h = size
    out = os.path.join(outdir, "disc_then_none_%s.%s" % (codec, ext))
    graph = "[0:v]%s;[1:v]%s;[a][b]concat=n=2:v=1:a=0[v]" % (_fit(w, h, "[a]"), _fit(w, h, "[b]"))
    run_ffmpeg(["-loop", "1", "-framerate", str(fps), "-t", str(yes_s), "-i", YES_PICTURE,
                "-loop", "1", "-framerate", str(fps), "-t", str(no_s), "-i", NO_PICTURE,
                "-filter_complex", graph, "-map", "[v]", "-r", str(fps)]
               + _video_args(codec, fps) + _container_args(ext, codec) + [out])
    return out


def static(outdir, seconds=6, fps=15, size=(640, 480), grain=0, codec="h264"):
    """NO_PICTURE still for SECONDS: nothing moves; frames differ only by the
    encoder's noise (each keyframe, every second, is coded afresh). GRAIN > 0
    adds temporal sensor-like noise of that strength (ffmpeg's noise filter,
    0..100; 4 is a clean camera). Returns static.mkv or static_grain<G>.mkv."""
    w, h = size
    name = "static.mkv" if grain == 0 else "static_grain%d.mkv" % grain
    out = os.path.join(outdir, name)
    vf = _fit(w, h, "")
    if grain > 0:
        vf += ",noise=alls=%d:allf=t" % grain
    run_ffmpeg(["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", NO_PICTURE,
                "-vf", vf, "-r", str(fps)] + _video_args(codec, fps) + [out])
    return out


def motion(outdir, seconds=8, move_from=3, move_to=5, fps=15, size=(640, 480),
           square=40, codec="h264"):
    """NO_PICTURE still, except from MOVE_FROM to MOVE_TO seconds when a white
    SQUARE-pixel square crosses it left to right at mid-height (it appears at
    the left edge at MOVE_FROM and is gone at MOVE_TO). Returns motion.mkv."""
    w, h = size
    out = os.path.join(outdir, "motion.mkv")
    span = float(move_to - move_from)
    graph = ("[0:v]%s;color=c=white:s=%dx%d:r=%d[sq];"
             "[bg][sq]overlay=x='(t-%g)/%g*(W-w)':y=(H-h)/2:enable='between(t,%g,%g)'"
             ":shortest=1[v]" % (_fit(w, h, "[bg]"), square, square, fps,
                                 move_from, span, move_from, move_to))
    run_ffmpeg(["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", NO_PICTURE,
                "-filter_complex", graph, "-map", "[v]", "-r", str(fps)]
               + _video_args(codec, fps) + [out])
    return out


def bench_1080p(outdir, seconds=6, fps=15):
    """1920x1080 H.264 (High profile, CABAC, no B-frames, keyframe every second)
    of ffmpeg's testsrc2 (moving pattern, counter, colour bars): a camera-like
    decode cost for benchmarks. Returns bench_1080p.mkv."""
    out = os.path.join(outdir, "bench_1080p.mkv")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=%d:duration=%g" % (fps, seconds)]
               + _video_args("h264", fps) + ["-crf", "23", out])
    return out


def unsupported(outdir, codec="mpeg4", seconds=2, fps=15, size=(640, 480)):
    """The YES picture in a codec glint does not take: mpeg4 (MPEG-4 part 2,
    unsupported_mpeg4.mkv) or vp9 (unsupported_vp9.webm). Returns the path."""
    ext = "webm" if codec == "vp9" else "mkv"
    out = os.path.join(outdir, "unsupported_%s.%s" % (codec, ext))
    w, h = size
    run_ffmpeg(["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", YES_PICTURE,
                "-vf", _fit(w, h, ""), "-r", str(fps)] + _video_args(codec, fps) + [out])
    return out


def truncated(outdir, ext="mkv", keep=0.4):
    """A disc_then_none H.264 clip cut after KEEP of its bytes.
    mkv: opens, the first ~KEEP of the frames decode, then it ends mid-packet
    (truncated_h264.mkv). mp4 without faststart: the index (moov) is at the
    end, so it cannot be opened at all (truncated_h264.mp4). Returns the path."""
    tmp = os.path.join(outdir, ".whole_%s" % ext)
    os.makedirs(tmp, exist_ok=True)
    whole = disc_then_none(tmp, "h264", ext)
    if ext == "mp4":  # again, with the index at the end
        run_ffmpeg(["-i", whole, "-c", "copy", "-movflags", "-faststart", whole + ".mp4"])
        os.replace(whole + ".mp4", whole)
    out = os.path.join(outdir, "truncated_h264.%s" % ext)
    with open(whole, "rb") as f:
        data = f.read()
    with open(out, "wb") as f:
        f.write(data[:int(len(data) * keep)])
    shutil.rmtree(tmp)
    return out


def corrupt(outdir, seed=1):
    """A disc_then_none H.264 .mkv whose middle third has 1 byte in 997 replaced
    by random bytes (seeded): it opens, but packets there fail to decode or
    decode to garbage (corrupt_h264.mkv). Returns the path."""
    tmp = os.path.join(outdir, ".whole_corrupt")
    os.makedirs(tmp, exist_ok=True)
    whole = disc_then_none(tmp, "h264", "mkv")
    data = bytearray(open(whole, "rb").read())
    rng = random.Random(seed)
    for i in range(len(data) // 3, 2 * len(data) // 3, 997):
        data[i] = rng.randrange(256)
    out = os.path.join(outdir, "corrupt_h264.mkv")
    with open(out, "wb") as f:
        f.write(data)
    shutil.rmtree(tmp)
    return out


def frame_at(clip, seconds, out_png):
    """Frame of CLIP at SECONDS written as a PNG to OUT_PNG; returns OUT_PNG."""
    run_ffmpeg(["-ss", str(seconds), "-i", clip, "-frames:v", "1", out_png])
    return out_png


def make_all(outdir):
    """Every clip above with its defaults; returns [(name, path)]."""
    os.makedirs(outdir, exist_ok=True)
    made = [("disc_then_none_h264_mkv", disc_then_none(outdir, "h264", "mkv")),
            ("disc_then_none_h264_mp4", disc_then_none(outdir, "h264", "mp4")),
            ("disc_then_none_mjpeg_avi", disc_then_none(outdir, "mjpeg", "avi")),
            ("disc_then_none_h265_mkv", disc_then_none(outdir, "h265", "mkv")),
            ("disc_then_none_h265_mp4", disc_then_none(outdir, "h265", "mp4")),
            ("static", static(outdir)),
            ("static_grain", static(outdir, grain=4)),
            ("motion", motion(outdir)),
            ("bench_1080p", bench_1080p(outdir)),
            ("unsupported_mpeg4", unsupported(outdir, "mpeg4")),
            ("unsupported_vp9", unsupported(outdir, "vp9")),
            ("truncated_mkv", truncated(outdir, "mkv")),
            ("truncated_mp4", truncated(outdir, "mp4")),
            ("corrupt", corrupt(outdir))]
    return made


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: clips.py OUTDIR   (makes every test clip in OUTDIR)\n")
        return 2
    for name, path in make_all(argv[1]):
        print(name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
