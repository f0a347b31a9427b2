"""Children of the harness: set up so that none outlives it, and stopped politely first."""
import ctypes
import resource
import signal
import subprocess

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def child_setup():
    """Run in each child: thousands of idle tunnels need thousands of descriptors, and a harness that
    is killed must not leave proxies and origins behind."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_process(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
