"""Opens N intercepted tunnels through a proxy (CONNECT, then a TLS handshake trusting the proxy's CA),
prints READY, and holds them until stdin closes."""
import asyncio
import resource
import ssl
import sys


async def open_tunnel(host, port, context, name, gate):
    async with gate:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"CONNECT refused: {head[:80]!r}")
        await writer.start_tls(context, server_hostname=name)
        return writer


async def main():
    host, port, ca_file, name, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    context = ssl.create_default_context(cafile=ca_file)
    gate = asyncio.Semaphore(64)
    try:
        writers = await asyncio.gather(*(open_tunnel(host, port, context, name, gate) for _ in range(count)))
    except Exception as error:  # reported to the harness on the READY line's place
        print(f"FAILED {type(error).__name__}: {error}", flush=True)
        return
    print(f"READY {len(writers)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for writer in writers:
        writer.close()


asyncio.run(main())
