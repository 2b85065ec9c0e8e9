"""One aiocoap client request, sent from BIND (an ephemeral port) either
through a forward proxy (Proxy-Uri, as aiocoap-client --proxy does) or
straight to the URI (for a reverse proxy).

usage: python3 aiocoap-client.py --bind ADDR [--proxy URI] [--payload S]
         [--block2 SZX] [--observe SECONDS] [--etag HEX] [--non] METHOD URI
(PYTHONPATH must find aiocoap)
"""

import argparse
import asyncio

import aiocoap
import aiocoap.proxy.client
import aiocoap.resource
from aiocoap.optiontypes import BlockOption


async def main(a):
    ctx = await aiocoap.Context.create_server_context(
        aiocoap.resource.Site(), bind=(a.bind, 0), transports=["udp6"]
    )
    iface = aiocoap.proxy.client.ProxyForwarder(a.proxy, ctx) if a.proxy else ctx
    msg = aiocoap.Message(
        code=aiocoap.Code[a.method],
        uri=a.uri,
        payload=a.payload.encode(),
        transport_tuning=aiocoap.Unreliable if a.non else aiocoap.Reliable,
    )
    if a.block2 is not None:
        msg.opt.block2 = BlockOption.BlockwiseTuple(0, False, a.block2)
    if a.observe:
        msg.opt.observe = 0
    if a.etag:
        msg.opt.etags = (bytes.fromhex(a.etag),)
    req = iface.request(msg)
    try:
        resp = await asyncio.wait_for(req.response, 15)
        print(resp.code, resp.payload[:200])
        if a.observe:

            async def notifications():
                async for n in req.observation:
                    print("notification", n.code, n.payload[:60])

            try:
                await asyncio.wait_for(notifications(), a.observe)
            except asyncio.TimeoutError:
                pass
            req.observation.cancel()
            await asyncio.sleep(1)
    except Exception as e:  # report, the capture shows the rest
        print("error:", type(e).__name__, e)
    await ctx.shutdown()


p = argparse.ArgumentParser()
p.add_argument("--bind", required=True)
p.add_argument("--proxy")
p.add_argument("--payload", default="")
p.add_argument("--block2", type=int)
p.add_argument("--observe", type=float)
p.add_argument("--etag", help="hex ETag to validate")
p.add_argument("--non", action="store_true")
p.add_argument("method")
p.add_argument("uri")
asyncio.run(main(p.parse_args()))
