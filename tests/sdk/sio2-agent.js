#!/usr/bin/env node
"use strict";
// Remote-controlled socket.io-client 2.5.0 (npm; Engine.IO v3, the transport the JMessage Web SDK bundles)
// for imbridge transport tests against the JMessage sandbox.
//
//   node tests/sdk/sio2-agent.js --url ws://127.0.0.1:PORT [--reconnection-delay MS]
//
// Protocol: one JSON object per line.
//   stdin   {"id":N,"op":"...",...}
//   stdout  {"id":N,"ok":true,"result":<json>} | {"id":N,"ok":false,"error":{message}}
//           {"event":"<name>","data":<json>}
// ops
//   connect                      -> io(url, {transports:["websocket"], reconnectionDelay}); answers at once
//   emit {name, data}            -> socket.emit(name, data); null
//   state                        -> {connected, engineId, transport, eio}
//   close                        -> socket.close(); null
//   exit                         -> reply, exit(0)
// events
//   "ready"; "connect"; "disconnect" {reason}; "reconnect" {attempt}; "reconnect_attempt" {attempt};
//   "ping"; "pong" {latency}; "server" {name, data} for every event the server emits.

for (const m of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[m] = (...a) => process.stderr.write(a.map(String).join(" ") + "\n");
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const url = arg("--url", "ws://127.0.0.1:18100");
const reconnectionDelay = Number(arg("--reconnection-delay", "200"));
const io = require("socket.io-client");
const pkg = require("socket.io-client/package.json");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
function emit(event, data) {
  out({ event, data: data === undefined ? null : data });
}

let socket = null;

function handle(cmd) {
  switch (cmd.op) {
    case "connect":
      socket = io(url, { transports: ["websocket"], reconnectionDelay, reconnectionDelayMax: reconnectionDelay,
        randomizationFactor: 0 });
      socket.on("connect", () => emit("connect", null));
      socket.on("disconnect", (reason) => emit("disconnect", { reason }));
      socket.on("reconnect", (attempt) => emit("reconnect", { attempt }));
      socket.on("reconnect_attempt", (attempt) => emit("reconnect_attempt", { attempt }));
      socket.on("ping", () => emit("ping", null));
      socket.on("pong", (latency) => emit("pong", { latency }));
      {
        const onevent = socket.onevent;
        socket.onevent = function (packet) {
          const args = packet.data || [];
          emit("server", { name: args[0], data: args[1] === undefined ? null : args[1] });
          onevent.call(this, packet);
        };
      }
      return null;
    case "emit":
      socket.emit(cmd.name, cmd.data);
      return null;
    case "state":
      return { connected: socket.connected, engineId: socket.io.engine && socket.io.engine.id,
        transport: socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.name,
        // engine.io-client 3 puts its protocol revision in every transport's query (EIO=3).
        eio: socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.query
          ? String(socket.io.engine.transport.query.EIO) : null };
    case "close":
      socket.close();
      return null;
    case "exit":
      setTimeout(() => process.exit(0), 10);
      return null;
    default:
      throw new Error("unknown op " + cmd.op);
  }
}

let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (!line) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
      out({ id: cmd.id, ok: true, result: handle(cmd) });
    } catch (e) {
      out({ id: cmd && cmd.id, ok: false, error: { message: String(e && e.message || e) } });
    }
  }
});
process.stdin.on("end", () => setTimeout(() => process.exit(0), 10));

emit("ready", { client: "socket.io-client", version: pkg.version, url });
