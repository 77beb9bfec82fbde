#!/usr/bin/env python3
"""A minimal HTTP/1.0 responder for the bench's connection-rate measurement: every connection gets one
short answer and is closed, so each request costs one new TCP connection. Two processes share the port
(SO_REUSEPORT), one per core. Usage: http-responder.py PORT"""
import asyncio
import os
import socket
import sys

ANSWER = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("0.0.0.0", port))
    server = await asyncio.start_server(handle, sock=sock, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port = int(sys.argv[1])
    if os.fork() == 0:
        asyncio.run(serve(port))
    else:
        asyncio.run(serve(port))
