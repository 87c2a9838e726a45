"""A minimal puppeting bridge on the mautrix Python framework, with a dummy IM network.

The peer of imbridge in `cargo bench --bench peer` (driven by `scripts/bench-peer.sh`): it
registers as an appservice against the benchmark's stand-in homeserver and does, per
message, what a mautrix-python puppeting bridge does:

* IM -> Matrix: the dummy network "receives" a message for a login; the login's client hands
  it to the portal (looked up in memory, else in the database, else created: a DM room made by
  the peer's ghost with the Matrix user invited); the portal's worker checks the message
  mapping (dedup), sends it as the ghost through `IntentAPI.send_message` (which checks the
  ghost's membership and power levels in the mautrix state store, as every mautrix-python
  bridge does) and stores the mapping (remote id -> event id) in SQLite through
  `mautrix.util.async_db`.
* Matrix -> IM: `AppService` takes the stand-in's transactions; the handler drops the
  bridge's own events (echoes), finds the portal by room id, "sends" the text on the login's
  dummy client (recorded) and stores the mapping.

Per login it holds what such a bridge holds: a user object, a client object with a session
and a receive loop (an asyncio task on a queue), a portal map; a row in the `user` table; with
`--im-server`, also a websocket (aiohttp, heartbeat, its reader task) to a dummy IM server.

Control routes on the appservice port (for the benchmark only, not part of the bridge):
`POST /_peer/im` `{"items": [[login, peer, seq], ...]}` makes the dummy network deliver
`bench <seq>` from IM peer `p<peer>` to login `u<login>`; `GET /_peer/received?n=N&timeout=S`
answers the count of `bench …` texts the dummy network got from the bridge, once it reaches N
or after S seconds; `GET /_peer/portals` answers `{"<login>,<peer>": room_id}`.

Usage: python peer.py --homeserver URL --port PORT --token TOKEN --logins N --db PATH
[--im-server ws://HOST:PORT/ws]; `python peer.py --serve-im PORT` runs the dummy IM server
(another process) that `--im-server` logins hold a websocket to (for the RSS figure only).
(`PEER_LOG=DEBUG` for mautrix's logs; `PEER_PROFILE=FILE` writes cProfile stats to FILE.<db name> on SIGTERM.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal

import aiohttp
from aiohttp import web
from mautrix.appservice import AppService, IntentAPI
from mautrix.appservice.state_store.asyncpg import PgASStateStore
from mautrix.types import (
    Event,
    EventType,
    Membership,
    MessageEvent,
    PowerLevelStateEventContent,
    RoomID,
    StateEvent,
    TextMessageEventContent,
    UserID,
    MessageType,
)
from mautrix.util.async_db import Database, UpgradeTable

DOMAIN = "bench"
GHOST_PREFIX = "easemob_"

upgrade_table = UpgradeTable()


@upgrade_table.register(description="Initial revision")
async def upgrade_v1(conn, scheme) -> None:
    await conn.execute(
        "CREATE TABLE \"user\" (mxid TEXT PRIMARY KEY, remote_id TEXT, session TEXT)"
    )
    await conn.execute(
        "CREATE TABLE portal (login TEXT, peer TEXT, mxid TEXT, PRIMARY KEY (login, peer))"
    )
    await conn.execute("CREATE UNIQUE INDEX portal_mxid ON portal (mxid)")
    await conn.execute(
        "CREATE TABLE puppet (remote_id TEXT PRIMARY KEY, mxid TEXT, registered BOOLEAN)"
    )
    await conn.execute(
        "CREATE TABLE message (remote_id TEXT, login TEXT, peer TEXT, mxid TEXT,"
        " PRIMARY KEY (login, peer, remote_id))"
    )
    await conn.execute("CREATE UNIQUE INDEX message_mxid ON message (mxid)")


def ghost_mxid(peer: str) -> UserID:
    return UserID(f"@{GHOST_PREFIX}{peer}:{DOMAIN}")


class DummyNetwork:
    """The fake IM service: clients by login id; what the bridge sent, counted."""

    def __init__(self) -> None:
        self.clients: dict[str, DummyClient] = {}
        self.outbox: list[tuple[str, str, str, str]] = []
        self.received = 0
        self.changed = asyncio.Event()
        self.next_id = 0

    def new_id(self) -> str:
        self.next_id += 1
        return f"im{self.next_id}"

    def deliver(self, login: str, peer: str, text: str) -> None:
        """A message from IM user `peer` to `login` arrives on the login's connection."""
        self.clients[login].queue.put_nowait((peer, self.new_id(), text))

    def accept(self, login: str, peer: str, text: str) -> str:
        """The bridge sends `text` as `login` to `peer`; the network answers a message id."""
        msg_id = self.new_id()
        if text.startswith("bench "):
            self.received += 1
            self.changed.set()
        else:
            self.outbox.append((login, peer, msg_id, text))
        return msg_id


class DummyClient:
    """One login's connection to the dummy network: session, inbound queue, receive loop."""

    def __init__(self, network: DummyNetwork, user: User, session: str) -> None:
        self.network = network
        self.user = user
        self.session = session
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self.receive_loop())
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ws_task: asyncio.Task | None = None

    async def connect(self, http: aiohttp.ClientSession, url: str) -> None:
        """Holds a websocket to the dummy IM server (`--im-server`), read by its own task,
        with a 30 s heartbeat, as a network client library holds its connection."""
        self.ws = await http.ws_connect(f"{url}?login={self.user.remote_id}", heartbeat=30)
        self.ws_task = asyncio.create_task(self.ws_loop())

    async def ws_loop(self) -> None:
        assert self.ws is not None
        async for _ in self.ws:
            pass

    async def receive_loop(self) -> None:
        while True:
            peer, msg_id, text = await self.queue.get()
            portal = await self.user.bridge.get_portal(self.user, peer, create=True)
            portal.enqueue_remote(msg_id, text)

    async def send(self, peer: str, text: str) -> str:
        return self.network.accept(self.user.remote_id, peer, text)


class User:
    """A login: the Matrix user, its IM identity, its client and its portals by peer."""

    def __init__(self, bridge: Bridge, mxid: UserID, remote_id: str) -> None:
        self.bridge = bridge
        self.mxid = mxid
        self.remote_id = remote_id
        self.portals: dict[str, Portal] = {}
        self.client: DummyClient | None = None


class Portal:
    """A DM between a login and an IM peer, bridged to one room; its remote events run in
    order on a worker task that ends when idle."""

    def __init__(self, bridge: Bridge, user: User, peer: str, mxid: RoomID | None) -> None:
        self.bridge = bridge
        self.user = user
        self.peer = peer
        self.mxid = mxid
        self.lock = asyncio.Lock()
        self.pending: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    def enqueue_remote(self, msg_id: str, text: str) -> None:
        if self.pending is None:
            self.pending = asyncio.Queue()
        self.pending.put_nowait((msg_id, text))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.run_remote())

    async def run_remote(self) -> None:
        while self.pending is not None and not self.pending.empty():
            msg_id, text = self.pending.get_nowait()
            try:
                async with self.lock:
                    await self.handle_remote_message(msg_id, text)
            except Exception:
                logging.getLogger("peer").exception("remote message %s", msg_id)
        self.pending = None

    async def handle_remote_message(self, msg_id: str, text: str) -> None:
        db = self.bridge.db
        login = self.user.remote_id
        dup = await db.fetchval(
            "SELECT mxid FROM message WHERE login=$1 AND peer=$2 AND remote_id=$3",
            login,
            self.peer,
            msg_id,
        )
        if dup:
            return
        intent = await self.bridge.get_puppet_intent(self.peer)
        if not self.mxid:
            await self.create_room(intent)
        content = TextMessageEventContent(msgtype=MessageType.TEXT, body=text)
        event_id = await intent.send_message(self.mxid, content)
        await db.execute(
            "INSERT INTO message (remote_id, login, peer, mxid) VALUES ($1, $2, $3, $4)",
            msg_id,
            login,
            self.peer,
            event_id,
        )

    async def create_room(self, intent: IntentAPI) -> None:
        ghost = intent.mxid
        bot = self.bridge.az.bot_mxid
        levels = PowerLevelStateEventContent(
            users={ghost: 100, bot: 100, self.user.mxid: 0},
            events={},
            users_default=0,
            events_default=0,
            state_default=50,
        )
        room = await intent.create_room(
            invitees=[self.user.mxid], is_direct=True, power_level_override=levels
        )
        self.mxid = room
        # What the homeserver's room-creation events would put in the state store (the
        # stand-in does not push state events back).
        store = self.bridge.state_store
        await store.set_membership(room, ghost, Membership.JOIN)
        await store.set_membership(room, self.user.mxid, Membership.INVITE)
        await store.set_power_levels(room, levels)
        await store.set_create(
            StateEvent.deserialize(
                {
                    "type": "m.room.create",
                    "room_id": room,
                    "sender": ghost,
                    "event_id": f"$create-{room}",
                    "origin_server_ts": 0,
                    "state_key": "",
                    "content": {"room_version": "10", "creator": ghost},
                }
            )
        )
        await self.bridge.db.execute(
            "INSERT INTO portal (login, peer, mxid) VALUES ($1, $2, $3)",
            self.user.remote_id,
            self.peer,
            room,
        )
        self.bridge.portals_by_mxid[room] = self

    async def handle_matrix_message(self, event: MessageEvent) -> None:
        async with self.lock:
            client = self.user.client
            if client is None:
                return
            msg_id = await client.send(self.peer, event.content.body)
            await self.bridge.db.execute(
                "INSERT INTO message (remote_id, login, peer, mxid) VALUES ($1, $2, $3, $4)",
                msg_id,
                self.user.remote_id,
                self.peer,
                event.event_id,
            )


class Bridge:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.db = Database.create(
            f"sqlite:{args.db}", upgrade_table=upgrade_table, owner_name="peer"
        )
        self.state_store = PgASStateStore(self.db)
        self.az = AppService(
            server=args.homeserver,
            domain=DOMAIN,
            as_token=args.token,
            hs_token=args.token,
            bot_localpart="bot",
            id="peer",
            state_store=self.state_store,
            log="peer.as",
        )
        self.network = DummyNetwork()
        self.users: dict[UserID, User] = {}
        self.users_by_remote: dict[str, User] = {}
        self.portals_by_mxid: dict[RoomID, Portal] = {}
        self.puppet_intents: dict[str, IntentAPI] = {}
        self.puppet_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.db.start()
        await PgASStateStore.upgrade_table.upgrade(self.db)
        self.az.matrix_event_handler(self.on_event)
        self.az.app.router.add_post("/_peer/im", self.http_im)
        self.az.app.router.add_get("/_peer/received", self.http_received)
        self.az.app.router.add_get("/_peer/portals", self.http_portals)
        await self.az.start(host="127.0.0.1", port=self.args.port)
        for i in range(self.args.logins):
            await self.add_login(UserID(f"@mx{i}:{DOMAIN}"), f"u{i}")
        if self.args.im_server:
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            self.im_http = http
            for user in self.users.values():
                assert user.client is not None
                await user.client.connect(http, self.args.im_server)
        self.az.ready = True

    async def add_login(self, mxid: UserID, remote_id: str) -> None:
        row = await self.db.fetchrow('SELECT session FROM "user" WHERE mxid=$1', mxid)
        session = row["session"] if row else secrets.token_hex(32)
        if not row:
            await self.db.execute(
                'INSERT INTO "user" (mxid, remote_id, session) VALUES ($1, $2, $3)',
                mxid,
                remote_id,
                session,
            )
        user = User(self, mxid, remote_id)
        user.client = DummyClient(self.network, user, session)
        self.network.clients[remote_id] = user.client
        self.users[mxid] = user
        self.users_by_remote[remote_id] = user

    async def get_puppet_intent(self, peer: str) -> IntentAPI:
        intent = self.puppet_intents.get(peer)
        if intent is not None:
            return intent
        async with self.puppet_lock:
            intent = self.puppet_intents.get(peer)
            if intent is not None:
                return intent
            mxid = ghost_mxid(peer)
            row = await self.db.fetchrow("SELECT registered FROM puppet WHERE remote_id=$1", peer)
            intent = self.az.intent.user(mxid)
            if not row:
                await intent.ensure_registered()
                await self.db.execute(
                    "INSERT INTO puppet (remote_id, mxid, registered) VALUES ($1, $2, true)",
                    peer,
                    mxid,
                )
            self.puppet_intents[peer] = intent
        return intent

    async def get_portal(self, user: User, peer: str, create: bool) -> Portal | None:
        portal = user.portals.get(peer)
        if portal is None:
            mxid = await self.db.fetchval(
                "SELECT mxid FROM portal WHERE login=$1 AND peer=$2", user.remote_id, peer
            )
            if mxid is None and not create:
                return None
            portal = Portal(self, user, peer, mxid)
            user.portals[peer] = portal
            if mxid:
                self.portals_by_mxid[mxid] = portal
        return portal

    async def get_portal_by_mxid(self, room: RoomID) -> Portal | None:
        portal = self.portals_by_mxid.get(room)
        if portal is None:
            row = await self.db.fetchrow("SELECT login, peer FROM portal WHERE mxid=$1", room)
            if row is None:
                return None
            user = self.users_by_remote.get(row["login"])
            if user is None:
                return None
            portal = await self.get_portal(user, row["peer"], create=False)
        return portal

    def is_bridge_user(self, mxid: UserID) -> bool:
        return mxid == self.az.bot_mxid or mxid.startswith(f"@{GHOST_PREFIX}")

    async def on_event(self, event: Event) -> None:
        if event.type != EventType.ROOM_MESSAGE or self.is_bridge_user(event.sender):
            return
        portal = await self.get_portal_by_mxid(event.room_id)
        if portal is None or portal.user.mxid != event.sender:
            return
        await portal.handle_matrix_message(event)

    async def http_im(self, request: web.Request) -> web.Response:
        body = await request.json()
        for login, peer, seq in body["items"]:
            self.network.deliver(f"u{login}", f"p{peer}", f"bench {seq}")
        return web.json_response({})

    async def http_received(self, request: web.Request) -> web.Response:
        n = int(request.query.get("n", "0"))
        timeout = float(request.query.get("timeout", "0"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.network.received < n and loop.time() < deadline:
            self.network.changed.clear()
            try:
                await asyncio.wait_for(self.network.changed.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
        return web.json_response({"received": self.network.received})

    async def http_portals(self, _: web.Request) -> web.Response:
        out = {}
        for user in self.users.values():
            for peer, portal in user.portals.items():
                if portal.mxid:
                    out[f"{user.remote_id[1:]},{peer[1:]}"] = portal.mxid
        return web.json_response(out)


async def serve_im(port: int) -> None:
    """The dummy IM server for `--im-server`: accepts websockets and holds them open."""

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(heartbeat=30)
        await sock.prepare(request)
        async for _ in sock:
            pass
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-im", type=int, help="only run the dummy IM server on this port")
    parser.add_argument("--homeserver")
    parser.add_argument("--port", type=int)
    parser.add_argument("--token")
    parser.add_argument("--logins", type=int, default=1)
    parser.add_argument("--db")
    parser.add_argument("--im-server", help="ws:// URL: each login holds a websocket to it")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("PEER_LOG", "WARNING"))
    if args.serve_im:
        await serve_im(args.serve_im)
        return
    if not (args.homeserver and args.port and args.token and args.db):
        parser.error("--homeserver, --port, --token and --db are needed")
    profile_path = os.environ.get("PEER_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    bridge = Bridge(args)
    await bridge.start()
    print(json.dumps({"ready": True, "logins": args.logins}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile_path}.{os.path.basename(args.db)}")
    await bridge.az.stop()
    await bridge.db.stop()


if __name__ == "__main__":
    asyncio.run(main())
