"""A wss:// echo server on loopback for bench/ws_io.sh: stands in for a provider's TLS WebSocket
(Deepgram, Cartesia, ElevenLabs) so the libwebsockets client of the benchmark's server can be
checked over TLS offline. Standard library only; the certificate is made by the script at run time.

usage: python3 tls_echo.py PORT CERT KEY   (prints "ready" once listening; echoes text and binary)
"""
import asyncio
import base64
import hashlib
import ssl
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def serve(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    key = None
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if key is None:
        writer.close()
        return
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    await writer.drain()
    try:
        while True:
            b0, b1 = await reader.readexactly(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(n)))
            if opcode == 0x8:
                writer.write(b"\x88\x02\x03\xe8")
                break
            if opcode in (0x1, 0x2):
                hdr = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else b"\x7e" + struct.pack("!H", n))
                writer.write(hdr + data)
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=ctx)
    print("ready", flush=True)
    async with server:
        await asyncio.wait_for(server.serve_forever(), timeout=600)  # stops by itself


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (asyncio.TimeoutError, KeyboardInterrupt):
        pass
