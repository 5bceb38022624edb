"""A real RTSP camera on loopback for tests: GStreamer's RTSP server
(gst-rtsp-server, through python3-gi) serving one clip file at
rtsp://127.0.0.1:PORT/PATH, like a live IP camera.

  - no re-encoding: the file is demuxed (matroskademux/qtdemux/avidemux by
    extension) and its packets are sent as they are: H.264 -> h264parse !
    rtph264pay, H.265 -> h265parse ! rtph265pay, MJPEG -> rtpjpegpay;
    SPS/PPS (VPS) go with every keyframe, so a client joining late starts at
    the next keyframe;
  - real time: a feeder thread reads the file's packets into an appsrc with
    the file's timestamps (continued across loops); the server's sinks send
    each packet when the clock reaches it;
  - loops forever (each loop continues the timeline), or plays once (--once:
    then end-of-stream, and the clients get BYE);
  - one stream shared by every client (a client joins the running stream);
  - the client picks the transport: RTP over TCP (interleaved) or over UDP
    (unicast; the server's RTP/RTCP ports bound on 127.0.0.1, 20000..59999);
  - optional basic authentication (--user/--password): no or wrong
    credentials get 401 Unauthorized.

CLI:
  /usr/bin/python3 tests/streams/rtsp_server.py CLIP [--port 0] [--path cam]
        [--user U --password P] [--once]
prints `READY rtsp://127.0.0.1:PORT/PATH` on stdout once listening (--port 0
picks a free port) and exits 0 on SIGTERM or SIGINT. Needs Debian's
/usr/bin/python3 (python3-gi) and the packages in NEEDED below; exits 1
naming the package when one is missing.

Module: RtspServer(clip, ...).start() runs the CLI as a child process and
waits for READY (10 s at most); .url, .port; .stop() (SIGTERM), .kill()
(SIGKILL, like a camera losing power), .restart() (same port).
"""
import argparse
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child import ChildServer  # noqa: E402

HERE = os.path.abspath(__file__)
PYTHON = "/usr/bin/python3"   # Debian's: python3-gi lives there

# element -> the Debian package that provides it
NEEDED = {"filesrc": "libgstreamer1.0-0", "appsrc": "gstreamer1.0-plugins-base",
          "appsink": "gstreamer1.0-plugins-base", "matroskademux": "gstreamer1.0-plugins-good",
          "qtdemux": "gstreamer1.0-plugins-good", "avidemux": "gstreamer1.0-plugins-good",
          "rtph264pay": "gstreamer1.0-plugins-good", "rtph265pay": "gstreamer1.0-plugins-good",
          "rtpjpegpay": "gstreamer1.0-plugins-good", "rtpbin": "gstreamer1.0-plugins-good",
          "udpsink": "gstreamer1.0-plugins-good", "h264parse": "gstreamer1.0-plugins-bad",
          "h265parse": "gstreamer1.0-plugins-bad"}
DEMUXERS = {".mkv": "matroskademux", ".webm": "matroskademux", ".mp4": "qtdemux",
            ".mov": "qtdemux", ".avi": "avidemux"}
# the demuxed caps' name -> the elements between appsrc and the RTP packets
PAYLOADERS = {"video/x-h264": "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96",
              "video/x-h265": "h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96",
              "image/jpeg": "rtpjpegpay name=pay0 pt=26"}


def die(msg):
    sys.stderr.write("rtsp_server: %s\n" % msg)
    sys.exit(1)


def load_gstreamer():
    """Imports GStreamer and its RTSP server, or exits naming the package."""
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
    except (ImportError, ValueError) as e:
        die("%s (Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 "
            "gir1.2-gst-plugins-base-1.0; run it with /usr/bin/python3)" % e)
    from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: F401
    Gst.init(None)
    for element, package in NEEDED.items():
        if Gst.ElementFactory.find(element) is None:
            die("GStreamer element %s missing (Debian package: %s)" % (element, package))
    return GLib, Gst, GstRtsp, GstRtspServer


class Feeder(threading.Thread):
    """Reads the clip's packets (filesrc ! demuxer ! appsink) and pushes them
    into the media's appsrc, timestamps continued across loops; at the end
    starts over (or, once, ends the stream). The appsrc blocks when 4 packets
    wait: the media's sinks, synchronised to the clock, set the pace. Runs on
    its own thread; stop() ends it."""

    def __init__(self, Gst, clip, demuxer, appsrc, once):
        super().__init__(daemon=True)
        self.Gst, self.appsrc, self.once = Gst, appsrc, once
        self.stopping = threading.Event()
        self.reader = Gst.parse_launch(
            "filesrc location=\"%s\" ! %s ! appsink name=sink sync=false max-buffers=8 drop=false"
            % (clip.replace("\"", "\\\""), demuxer))
        self.sink = self.reader.get_by_name("sink")

    def stop(self):
        self.stopping.set()

    def run(self):
        Gst = self.Gst
        offset, first_ts, last_ts, frame = 0, None, None, Gst.SECOND // 15
        self.reader.set_state(Gst.State.PLAYING)
        try:
            while not self.stopping.is_set():
                sample = self.sink.try_pull_sample(200 * Gst.MSECOND)
                if sample is None:
                    err = self.reader.get_bus().pop_filtered(Gst.MessageType.ERROR)
                    if not self.sink.is_eos() and err is None:
                        continue
                    if err is not None:  # a truncated file: its end, as far as it goes
                        sys.stderr.write("rtsp_server: %s\n" % err.parse_error()[0].message)
                    if self.once:
                        self.appsrc.end_of_stream()
                        return
                    if not self.reader.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH
                                                   | Gst.SeekFlags.KEY_UNIT, 0):
                        sys.stderr.write("rtsp_server: cannot seek back to the start\n")
                        self.appsrc.end_of_stream()
                        return
                    offset += last_ts - first_ts + frame  # start over, one frame later
                    first_ts = last_ts = None
                    continue
                buf = sample.get_buffer()
                ts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
                if first_ts is None:
                    first_ts = ts
                if last_ts is not None and ts > last_ts:
                    frame = ts - last_ts
                last_ts = ts
                if self.appsrc.get_caps() is None:
                    self.appsrc.set_caps(sample.get_caps())
                out = buf.copy()
                out.pts = offset + ts - first_ts
                out.dts = out.pts
                out.duration = frame
                if self.appsrc.push_buffer(out) != Gst.FlowReturn.OK:
                    return  # the media is shutting down
        finally:
            self.reader.set_state(Gst.State.NULL)


def serve(args):
    """Runs the server until SIGTERM/SIGINT; returns the exit status."""
    GLib, Gst, GstRtsp, GstRtspServer = load_gstreamer()
    clip = os.path.abspath(args.clip)
    if not os.path.isfile(clip):
        die("no such clip: %s" % clip)
    demuxer = DEMUXERS.get(os.path.splitext(clip)[1].lower())
    if demuxer is None:
        die("%s: a .mkv, .webm, .mp4, .mov or .avi file, please" % clip)
    caps = probe_caps(Gst, clip, demuxer)
    if caps not in PAYLOADERS:
        die("%s: video is %s; this server sends H.264, H.265 or MJPEG" % (clip, caps))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( appsrc name=src is-live=false format=time block=true "
                       "max-buffers=4 ! %s )" % PAYLOADERS[caps])
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    pool = GstRtspServer.RTSPAddressPool()  # UDP ports bound on loopback only
    pool.add_range("127.0.0.1", "127.0.0.1", 20000, 59999, 0)
    factory.set_address_pool(pool)
    feeders = []

    def on_configure(_factory, media):
        feeder = Feeder(Gst, clip, demuxer, media.get_element().get_by_name("src"), args.once)
        feeders[:] = [f for f in feeders if f.is_alive()] + [feeder]
        media.connect("unprepared", lambda _m: feeder.stop())
        feeder.start()

    factory.connect("media-configure", on_configure)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", "media.factory.access", True)
        perms.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory("/" + args.path.strip("/"), factory)
    if server.attach(None) == 0:
        die("cannot listen on 127.0.0.1:%s" % args.port)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, lambda: loop.quit() or False)
    print("READY rtsp://127.0.0.1:%d/%s" % (server.get_bound_port(), args.path.strip("/")),
          flush=True)
    loop.run()
    for feeder in feeders:
        feeder.stop()
    for feeder in feeders:
        feeder.join(2)
    return 0


def probe_caps(Gst, clip, demuxer):
    """The name of the clip's video caps as its demuxer gives them ("video/x-h264"...)."""
    pipe = Gst.parse_launch("filesrc location=\"%s\" ! %s ! appsink name=sink sync=false"
                            % (clip.replace("\"", "\\\""), demuxer))
    pipe.set_state(Gst.State.PLAYING)
    sample = pipe.get_by_name("sink").try_pull_sample(5 * Gst.SECOND)
    pipe.set_state(Gst.State.NULL)
    if sample is None:
        die("%s: no video found by %s (not a video, or corrupt?)" % (clip, demuxer))
    return sample.get_caps().get_structure(0).get_name()


class RtspServer(ChildServer):
    """The CLI above as a child process. Not thread-safe: one test thread
    drives it. Killed (SIGTERM, then SIGKILL) at stop(), at interpreter exit,
    and by the kernel if the test process dies."""

    name = "rtsp_server"

    def __init__(self, clip, path="cam", port=0, user=None, password=None, once=False):
        self.clip, self.path, self.port = clip, path.strip("/"), port
        self.user, self.password, self.once = user, password, once
        ChildServer.__init__(self)
        self.port = port

    def command(self):
        cmd = [PYTHON, HERE, self.clip, "--port", str(self.port), "--path", self.path]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        if self.once:
            cmd.append("--once")
        return cmd


def main():
    ap = argparse.ArgumentParser(description="RTSP camera for tests: serves CLIP on 127.0.0.1")
    ap.add_argument("clip", help="an H.264, H.265 or MJPEG clip (.mkv .webm .mp4 .mov .avi)")
    ap.add_argument("--port", type=int, default=8554, help="TCP port (0: a free one)")
    ap.add_argument("--path", default="cam", help="the URL's path (default cam)")
    ap.add_argument("--user", help="require basic authentication with this user")
    ap.add_argument("--password", help="... and this password")
    ap.add_argument("--once", action="store_true", help="play the clip once, then end")
    args = ap.parse_args()
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
