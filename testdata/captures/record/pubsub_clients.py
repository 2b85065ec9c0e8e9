#!/usr/bin/env python3
"""aiocoap clients of the pub-sub broker captures (see ../BROKERS.md).

Usage: pubsub_clients.py BROKER STEP [ARGS]

  create NAME            POST /ps with a CBOR topic configuration
                         (application/core-pubsub+cbor, 606); prints the
                         topic-data path from the response
  get PATH               one GET
  observe PATH SECONDS [LINGER]
                         subscribe (Observe=0), cancel after SECONDS, stay
                         LINGER seconds more (the next notification is
                         answered with RST)
  put PATH VALUE...      publish each value with a PUT, 0.4 s apart
  delete PATH            DELETE
Each client binds to the address in $BIND (127.0.4.x) so that captures
tell the roles apart.
"""
import asyncio
import os
import sys

import aiocoap
import cbor2
from aiocoap import Message, GET, PUT, POST, DELETE

CT_PUBSUB_CBOR = 606


async def context():
    bind = os.environ.get("BIND", "127.0.4.9")
    return await aiocoap.Context.create_server_context(None, bind=(bind, 0))


async def main(broker, step, args):
    ctx = await context()
    base = "coap://" + broker + "/"
    try:
        if step == "create":
            payload = cbor2.dumps({0: args[0], 2: "core.ps.conf", 3: 0})
            req = Message(code=POST, uri=base + "ps", payload=payload)
            req.opt.content_format = CT_PUBSUB_CBOR
            resp = await ctx.request(req).response
            conf = cbor2.loads(resp.payload)
            print(conf[1])
            print("/".join(resp.opt.location_path), file=sys.stderr)
        elif step == "get":
            resp = await ctx.request(Message(code=GET, uri=base + args[0])).response
            print(resp.code, resp.payload[:60], file=sys.stderr)
        elif step == "observe":
            req = Message(code=GET, uri=base + args[0], observe=0)
            pr = ctx.request(req)
            resp = await pr.response
            print("first", resp.code, resp.payload, file=sys.stderr)

            async def follow():
                async for n in pr.observation:
                    print("notification", n.code, n.payload, file=sys.stderr)
            task = asyncio.ensure_future(follow())
            await asyncio.sleep(float(args[1]))
            task.cancel()
            # aiocoap does not send a deregistration: it forgets the
            # observation and answers the next notification with RST
            # (RFC 7641 section 3.6).
            pr.observation.cancel()
            await asyncio.sleep(float(args[2]) if len(args) > 2 else 0)
        elif step == "put":
            path = args[0]
            for v in args[1:]:
                req = Message(code=PUT, uri=base + path, payload=v.encode())
                req.opt.content_format = 0
                resp = await ctx.request(req).response
                print("put", v, resp.code, file=sys.stderr)
                await asyncio.sleep(0.4)
        elif step == "delete":
            resp = await ctx.request(Message(code=DELETE, uri=base + args[0])).response
            print("delete", resp.code, file=sys.stderr)
    finally:
        await ctx.shutdown()


if __name__ == "__main__":
    broker, step, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    asyncio.run(main(broker, step, rest))
