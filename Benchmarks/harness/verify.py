"""Proof that a contender really intercepts: the leaf a client sees for a bench host is issued by the
contender's own CA (not the origin's), checked before the contender is measured."""
import socket
import ssl

from .origin import DOMAIN


class NotIntercepting(RuntimeError):
    pass


def _subject(ca_file):
    return ssl._ssl._test_decode_cert(ca_file)["subject"]


def leaf_issuer(contender, host=f"verify.{DOMAIN}", timeout=15):
    """The issuer of the leaf served to a client that reaches `host` through the contender; the handshake
    verifies the chain against the contender's CA alone."""
    context = ssl.create_default_context(cafile=contender.ca_file)
    proxy = contender.proxy_address()
    if proxy is not None:
        sock = socket.create_connection(proxy, timeout=timeout)
        sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                raise NotIntercepting(f"{contender.name}: closed after CONNECT: {reply[:200]!r}")
            reply += chunk
        if b" 200" not in reply.split(b"\r\n", 1)[0]:
            raise NotIntercepting(f"{contender.name}: CONNECT answered {reply.splitlines()[0]!r}")
    else:
        sock = socket.create_connection(("127.0.0.1", contender.port), timeout=timeout)
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return tls.getpeercert()["issuer"]
    except ssl.SSLError as error:
        raise NotIntercepting(f"{contender.name}: the leaf for {host} does not chain to its own CA: {error}") from error


def check_intercepts(contender):
    issuer = leaf_issuer(contender)
    expected = _subject(contender.ca_file)
    if issuer != expected:
        raise NotIntercepting(f"{contender.name}: leaf issued by {issuer}, expected its CA {expected}")
    return dict(pair for rdn in issuer for pair in rdn).get("commonName", str(issuer))
