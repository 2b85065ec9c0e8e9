#!/usr/bin/python3
"""OSCORE client and server for scripts/record-relay.sh, on aiocoap 0.4.7.

    oscore-peer.py server BIND_ADDR CONTEXT_DIR
    oscore-peer.py client BIND_ADDR RELAY_ADDR CONTEXT_DIR

CONTEXT_DIR holds aiocoap's settings.json of the security context (the
script writes sequence numbers there, so give it a scratch copy). The
server serves /hello (GET), /data (GET, PUT) and /time (GET, observable,
a notification a second while observed), all OSCORE-only. The client sends
a fixed sequence of requests to the relay, one at a time, each given up
after a few seconds, and prints one line per request.
"""

import asyncio
import json
import sys
import time

import aiocoap
import aiocoap.resource as resource
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper
from aiocoap.credentials import CredentialsMap


class Hello(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"hello", content_format=0)


class Data(resource.Resource):
    def __init__(self):
        super().__init__()
        self.content = b"initial"

    async def render_get(self, request):
        return aiocoap.Message(payload=self.content, content_format=0)

    async def render_put(self, request):
        self.content = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED)


class Time(resource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.handle = None

    def notify(self):
        self.updated_state()
        self.handle = asyncio.get_event_loop().call_later(1, self.notify)

    def update_observation_count(self, count):
        if count and self.handle is None:
            self.handle = asyncio.get_event_loop().call_later(1, self.notify)
        if count == 0 and self.handle:
            self.handle.cancel()
            self.handle = None

    async def render_get(self, request):
        return aiocoap.Message(payload=time.strftime("%H:%M:%S").encode(), content_format=0)


async def server(bind, ctxdir):
    site = resource.Site()
    site.add_resource(["hello"], Hello())
    site.add_resource(["data"], Data())
    site.add_resource(["time"], Time())
    creds = CredentialsMap()
    creds.load_from_dict({":client": {"oscore": {"contextfile": ctxdir}}})
    await aiocoap.Context.create_server_context(
        OscoreSiteWrapper(site, creds), bind=(bind, 5683), server_credentials=creds,
        transports=["oscore", "udp6"])
    await asyncio.get_running_loop().create_future()


# The requests, in order (n = 1, 2, ...); the relay's -schedule in
# record-relay.sh says what happens to which.
REQUESTS = [
    ("GET", "hello", None),                # 1
    ("PUT", "data", b"hello world"),       # 2
    ("GET", "data", None),                 # 3
    ("GET", "hello", None),                # 4
    ("GET", "data", None),                 # 5
    ("PUT", "data", b"temp=21"),           # 6
    ("GET", "hello", None),                # 7
    ("GET", "hello", None),                # 8
    ("GET", "time", None),                 # 9
    ("GET", "hello", None),                # 10
    ("GET", "time", None),                 # 11
    ("PUT", "data", b"temp=22"),           # 12
    ("GET", "hello", None),                # 13
    ("GET", "data", None),                 # 14
]
# After them the Observe registration of /time (15), then LAST, a GET of
# /data (16): aiocoap keeps retransmitting a request whose response never
# comes, and sends nothing else to that server meanwhile (NSTART 1).
LAST = ("GET", "data", None)


async def client(bind, relay, ctxdir):
    ctx = await aiocoap.Context.create_server_context(
        resource.Site(), bind=(bind, 0), transports=["oscore", "udp6"])
    ctx.client_credentials.load_from_dict(
        {"coap://%s/*" % relay: {"oscore": {"contextfile": ctxdir}}})
    base = "coap://%s/" % relay
    async def send(n, method, path, payload):
        msg = aiocoap.Message(code=getattr(aiocoap, method), uri=base + path,
                              payload=payload or b"")
        try:
            resp = await asyncio.wait_for(ctx.request(msg).response, 4.5)
            print(n, method, path, "->", resp.code, resp.payload)
        except Exception as e:
            print(n, method, path, "->", type(e).__name__, e)
        await asyncio.sleep(0.1)

    for n, (method, path, payload) in enumerate(REQUESTS, 1):
        await send(n, method, path, payload)
    # Observe /time: the registration, two notifications, then give up.
    msg = aiocoap.Message(code=aiocoap.GET, uri=base + "time", observe=0)
    req = ctx.request(msg)
    try:
        first = await asyncio.wait_for(req.response, 4.5)
        print("observe ->", first.code, first.payload)
        got = 0
        async for note in req.observation:
            print("notification ->", note.code, note.payload)
            got += 1
            if got == 2:
                break
    except Exception as e:
        print("observe ->", type(e).__name__, e)
    req.observation.cancel()
    await asyncio.sleep(1.5)  # let the cancellation reach the server
    await send(len(REQUESTS) + 2, *LAST)
    await ctx.shutdown()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "client":
        asyncio.run(client(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
