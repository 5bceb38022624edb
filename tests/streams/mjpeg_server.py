"""An HTTP MJPEG camera on loopback for tests, like an IP camera's
`multipart/x-mixed-replace` stream. Standard library only (+ ffmpeg to take
the JPEG frames out of a clip).

GET /PATH answers `multipart/x-mixed-replace; boundary=glintframe` and then,
at --fps, one part per frame:
    --glintframe\\r\\nContent-Type: image/jpeg\\r\\nContent-Length: N\\r\\n\\r\\n<JPEG>\\r\\n
looping over the frames for as long as the client stays. Every client sees
the same frame at the same moment (frame = time since start x fps), as with
a real camera. GET /PATH/snapshot.jpg answers the current frame once. Other
paths: 404. With --user/--password, a request without the right basic
credentials gets 401 and `WWW-Authenticate: Basic realm="glint-test"`.

--die-after S: S seconds after start, every connection is closed and the port
stops listening (connections are refused) for --down-for seconds (default 3);
then it listens again on the same port (once).

CLI:
  /usr/bin/python3 tests/streams/mjpeg_server.py (--clip FILE | --jpegs DIR)
        [--port 0] [--path cam] [--fps 15] [--user U --password P]
        [--die-after S [--down-for D]]
prints `READY http://127.0.0.1:PORT/PATH` on stdout once listening and exits 0
on SIGTERM or SIGINT.

Module: MjpegServer(clip=..., ...).start() runs the CLI as a child process and
waits for READY (10 s at most); .url, .port; .stop(), .kill(), .restart().
"""
import argparse
import base64
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child import ChildServer  # noqa: E402

HERE = os.path.abspath(__file__)
PYTHON = "/usr/bin/python3"
BOUNDARY = "glintframe"
MAX_FRAMES = 3000      # frames kept in memory (a clip's first 200 s at 15 fps)


def die(msg):
    sys.stderr.write("mjpeg_server: %s\n" % msg)
    sys.exit(1)


def frames_from_clip(clip, fps):
    """The clip's frames resampled to FPS, as JPEG bytes (ffmpeg, bounded)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        die("ffmpeg not found (Debian package: ffmpeg)")
    tmp = tempfile.mkdtemp(prefix="mjpeg_server.")
    try:
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip,
               "-vf", "fps=%g" % fps, "-frames:v", str(MAX_FRAMES), "-c:v", "mjpeg",
               "-q:v", "3", "-pix_fmt", "yuvj420p", os.path.join(tmp, "%06d.jpg")]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            die("ffmpeg could not read %s: %s" % (clip, p.stderr.strip()))
        return frames_from_dir(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def frames_from_dir(path):
    """The *.jpg/*.jpeg files of PATH in name order, as bytes."""
    names = sorted(glob.glob(os.path.join(path, "*.jpg")) + glob.glob(os.path.join(path, "*.jpeg")))
    if not names:
        die("no JPEG frames in %s" % path)
    frames = []
    for name in names[:MAX_FRAMES]:
        with open(name, "rb") as f:
            frames.append(f.read())
    return frames


class Camera:
    """What every connection shares: the frames, the clock, the live sockets."""

    def __init__(self, args, frames):
        self.frames, self.fps, self.path = frames, args.fps, "/" + args.path.strip("/")
        self.start = time.monotonic()
        self.auth = None
        if args.user is not None:
            token = base64.b64encode(("%s:%s" % (args.user, args.password)).encode()).decode()
            self.auth = "Basic " + token
        self.lock = threading.Lock()
        self.conns = set()
        self.stopping = threading.Event()

    def tick(self):
        """The current frame number since start (monotonic clock)."""
        return int((time.monotonic() - self.start) * self.fps)

    def drop_all(self):
        """Closes every live connection (their handler threads then end)."""
        with self.lock:
            for sock in list(self.conns):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Handler(BaseHTTPRequestHandler):
    server_version = "glint-test-camera/1"

    def log_message(self, *args):  # quiet: tests read stdout/stderr
        pass

    def do_GET(self):
        cam = self.server.camera
        if cam.auth is not None and self.headers.get("Authorization") != cam.auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="glint-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == cam.path + "/snapshot.jpg":
            jpeg = cam.frames[cam.tick() % len(cam.frames)]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
            return
        if self.path != cam.path:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with cam.lock:
            cam.conns.add(self.connection)
        try:
            self.stream(cam)
        except OSError:
            pass  # the client left, or the camera "died"
        finally:
            with cam.lock:
                cam.conns.discard(self.connection)

    def stream(self, cam):
        n = cam.tick()
        while not cam.stopping.is_set():
            jpeg = cam.frames[n % len(cam.frames)]
            self.wfile.write(("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                              % (BOUNDARY, len(jpeg))).encode() + jpeg + b"\r\n")
            self.wfile.flush()
            n += 1
            wait = cam.start + n / cam.fps - time.monotonic()
            if wait > 0 and cam.stopping.wait(wait):
                return


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def listen(camera, port):
    """A listening server on 127.0.0.1:PORT serving CAMERA (its own thread)."""
    server = Server(("127.0.0.1", port), Handler)
    server.camera = camera
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return server


def serve(args):
    """Runs the camera until SIGTERM/SIGINT; returns the exit status."""
    frames = frames_from_clip(args.clip, args.fps) if args.clip else frames_from_dir(args.jpegs)
    camera = Camera(args, frames)
    try:
        server = listen(camera, args.port)
    except OSError as e:
        die("cannot listen on 127.0.0.1:%d: %s" % (args.port, e))
    port = server.server_address[1]
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print("READY http://127.0.0.1:%d/%s" % (port, args.path.strip("/")), flush=True)
    if args.die_after is not None and not done.wait(args.die_after):
        server.shutdown()
        server.server_close()  # connections are refused from now
        camera.drop_all()
        sys.stderr.write("mjpeg_server: down for %g s\n" % args.down_for)
        if not done.wait(args.down_for):
            server = listen(camera, port)
            sys.stderr.write("mjpeg_server: up again on port %d\n" % port)
    done.wait()
    camera.stopping.set()
    server.shutdown()
    server.server_close()
    camera.drop_all()
    return 0


class MjpegServer(ChildServer):
    """The CLI above as a child process. Not thread-safe: one test thread
    drives it. Killed (SIGTERM, then SIGKILL) at stop(), at interpreter exit,
    and by the kernel if the test process dies."""

    name = "mjpeg_server"

    def __init__(self, clip=None, jpegs=None, path="cam", port=0, fps=15, user=None,
                 password=None, die_after=None, down_for=3.0):
        self.clip, self.jpegs, self.path, self.port, self.fps = clip, jpegs, path.strip("/"), port, fps
        self.user, self.password, self.die_after, self.down_for = user, password, die_after, down_for
        ChildServer.__init__(self)
        self.port = port

    def command(self):
        cmd = [PYTHON, HERE, "--port", str(self.port), "--path", self.path, "--fps", str(self.fps)]
        cmd += ["--clip", self.clip] if self.clip else ["--jpegs", self.jpegs]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        if self.die_after is not None:
            cmd += ["--die-after", str(self.die_after), "--down-for", str(self.down_for)]
        return cmd


def main():
    ap = argparse.ArgumentParser(description="HTTP MJPEG camera for tests, on 127.0.0.1")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--clip", help="a video file (its frames, via ffmpeg)")
    src.add_argument("--jpegs", help="a directory of .jpg frames (name order)")
    ap.add_argument("--port", type=int, default=8080, help="TCP port (0: a free one)")
    ap.add_argument("--path", default="cam", help="the URL's path (default cam)")
    ap.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    ap.add_argument("--user", help="require basic authentication with this user")
    ap.add_argument("--password", help="... and this password")
    ap.add_argument("--die-after", type=float, help="seconds, then drop everything and stop listening")
    ap.add_argument("--down-for", type=float, default=3.0, help="seconds down (default 3)")
    args = ap.parse_args()
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")
    if not 0 < args.fps <= 120:
        ap.error("--fps: 0 < fps <= 120")
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
