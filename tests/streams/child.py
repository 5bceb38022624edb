"""A test camera's CLI run as a child process (rtsp_server.py, mjpeg_server.py):
started and waited for (its `READY URL` line), stopped, killed, restarted on
the same port. Killed at interpreter exit too, and by the kernel if the test
process dies (PR_SET_PDEATHSIG)."""
import atexit
import ctypes
import selectors
import signal
import subprocess

START_TIMEOUT = 10.0  # seconds to wait for READY
STOP_TIMEOUT = 5.0    # seconds to wait for exit after SIGTERM


def _die_with_parent():
    """In the child: SIGTERM when the parent (the test) dies (Linux prctl)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _read_line(stream, timeout):
    """One line from STREAM within TIMEOUT seconds ("" on timeout or EOF)."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    ready = sel.select(timeout)
    sel.close()
    return stream.readline().strip() if ready else ""


class ChildServer:
    """Subclasses set `name` and implement command() (the argv, with
    self.port). Not thread-safe: one test thread drives it."""

    name = "server"

    def __init__(self):
        self.proc, self.url, self.port = None, None, 0
        atexit.register(self.stop)

    def command(self):
        raise NotImplementedError

    def start(self):
        """Starts it and waits for READY; returns the URL (no credentials).
        Raises RuntimeError with its stderr if it fails or is not ready
        within START_TIMEOUT."""
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)
        line = _read_line(self.proc.stdout, START_TIMEOUT)
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError("%s did not start: %r %s"
                               % (self.name, line, self.proc.stderr.read().strip()))
        self.url = line.split()[1]
        self.port = int(self.url.split(":")[2].split("/")[0])
        return self.url

    def url_with(self, user, password):
        """The URL with USER:PASSWORD@ in it."""
        scheme, rest = self.url.split("://", 1)
        return "%s://%s:%s@%s" % (scheme, user, password, rest)

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status (None if not run)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self):
        """SIGKILL at once (a camera losing power)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        """Stops it (if running) and starts it again on the same port; returns the URL."""
        self.stop()
        return self.start()
