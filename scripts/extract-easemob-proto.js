#!/usr/bin/env node
// Extracts the msync protobuf schema embedded in the official Easemob / Agora Chat Web SDK bundle
// and prints it as a proto2 `.proto` file.
//
//   node scripts/extract-easemob-proto.js [path/to/Easemob-chat.js] > proto/easemob.proto
//
// Default input: tests/sdk/node_modules/easemob-websdk/Easemob-chat.js (run `npm ci` in tests/sdk first).
// Also works on agora-chat's Agora-chat.js.
//
// Options:
//   --check   print nothing on stdout; instead parse the generated text back with a small parser
//             and compare it field by field with the descriptor (exit 1 on any difference).
//
// The bundle embeds the schema as a protobufjs JSON descriptor, written as a JavaScript object literal:
//   u().Root.fromJSON({nested:{easemob:{nested:{pb:{nested:{...}}}}}})
// It is located by text search, bracket-matched, and evaluated in an empty `vm` context (no access to
// anything; it is a pure literal). The descriptor is then walked in declaration order, so the output
// is deterministic for a given bundle.
//
// Deliberate deviations from a literal transcription (reference notes §2):
//  * Packing: the protobufjs copy inside the SDK packs every repeated packable field (scalars and
//    enums) unless the field says `packed: false`, even in proto2. Such fields are marked
//    `[packed = true]` here, so that a proto2 encoder produces the SDK's bytes. In 4.21.1 this
//    concerns only `Provision.protocolCompressType`; the fields that say `packed: false` stay unpacked
//    (the proto2 default).
//  * Enum value names: protoc / C++ scope enum values in the scope enclosing the enum, so two sibling
//    enums may not share a value name. protobufjs does not care. On a clash, the value of the enum
//    declared later is prefixed with its enum's name in SCREAMING_SNAKE_CASE; the number is kept.
//    In 4.21.1: `MessageBody.Content.SubType.COMBINE` -> `SUB_TYPE_COMBINE` (clash with
//    `MessageBody.Content.Type.COMBINE`).
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const crypto = require("crypto");

const MARKER = "nested:{easemob:{nested:{pb:{nested:";
const SCALARS = new Set([
  "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
  "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
]);
const NOT_PACKABLE = new Set(["string", "bytes"]);

function fail(msg) {
  process.stderr.write(`extract-easemob-proto: ${msg}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// 1. Locate and evaluate the descriptor literal.

function findObjectLiteral(src, markerIndex) {
  // The literal starts at the "{" just before the marker ("{nested:{easemob:...").
  const start = src.lastIndexOf("{", markerIndex);
  if (start < 0 || src.slice(start + 1, markerIndex).trim() !== "") fail("unexpected text before marker");
  let depth = 0;
  let quote = null;
  for (let i = start; i < src.length; i++) {
    const c = src[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return src.slice(start, i + 1);
    }
  }
  fail("unbalanced descriptor literal");
}

function loadDescriptor(file) {
  const src = fs.readFileSync(file, "utf8");
  const first = src.indexOf(MARKER);
  if (first < 0) fail(`marker ${JSON.stringify(MARKER)} not found in ${file}`);
  if (src.indexOf(MARKER, first + 1) >= 0) fail(`marker found more than once in ${file}`);
  const text = findObjectLiteral(src, first);
  // A pure object literal; evaluate it with no globals and a time limit.
  const root = vm.runInNewContext("(" + text + ")", Object.create(null), { timeout: 1000 });
  const pb = root && root.nested && root.nested.easemob && root.nested.easemob.nested
    && root.nested.easemob.nested.pb;
  if (!pb || !pb.nested) fail("descriptor has no easemob.pb namespace");
  if (Object.keys(root.nested).length !== 1 || Object.keys(root.nested.easemob.nested).length !== 1) {
    fail("descriptor holds namespaces other than easemob.pb (not supported)");
  }
  const sha256 = crypto.createHash("sha256").update(src).digest("hex");
  return { pb: JSON.parse(JSON.stringify(pb)), sha256 };
}

function sdkVersion(file) {
  let dir = path.dirname(path.resolve(file));
  for (let i = 0; i < 4; i++) {
    const p = path.join(dir, "package.json");
    if (fs.existsSync(p)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(p, "utf8"));
        if (pkg.name && pkg.version) return { name: pkg.name, version: pkg.version, dir };
      } catch (_) { /* keep looking */ }
    }
    dir = path.dirname(dir);
  }
  return { name: "unknown-sdk", version: "unknown", dir: path.dirname(path.resolve(file)) };
}

// ---------------------------------------------------------------------------------------------
// 2. Build a model: a tree of scopes with types, and resolve every type reference.

const KNOWN_NS_KEYS = new Set(["nested", "fields", "oneofs", "values", "options", "comment", "comments",
  "reserved", "valuesOptions"]);
const KNOWN_FIELD_KEYS = new Set(["type", "id", "rule", "options", "comment", "keyType"]);

function kindOf(def) {
  if (def.values) return "enum";
  if (def.fields) return "message";
  if (def.nested && !def.fields && !def.values) return "namespace";
  if (Object.keys(def).length === 0) return "message"; // e.g. `CommUnreadUL:{fields:{}}` stripped
  fail(`cannot classify definition ${JSON.stringify(def).slice(0, 80)}`);
}

function buildModel(pb) {
  // node: {name, fullName, kind, def, parent, children: Map}
  const root = { name: "", fullName: ".easemob.pb", kind: "package", def: pb, parent: null, children: new Map() };
  const all = [];
  function add(parent) {
    for (const [name, def] of Object.entries(parent.def.nested || {})) {
      for (const k of Object.keys(def)) if (!KNOWN_NS_KEYS.has(k)) fail(`${parent.fullName}.${name}: unsupported key "${k}"`);
      const kind = kindOf(def);
      if (kind === "namespace") fail(`${parent.fullName}.${name}: nested namespaces are not supported`);
      if (def.reserved && def.reserved.length) fail(`${parent.fullName}.${name}: "reserved" not supported`);
      const node = { name, fullName: `${parent.fullName}.${name}`, kind, def, parent, children: new Map() };
      parent.children.set(name, node);
      all.push(node);
      if (kind === "message") add(node);
    }
  }
  add(root);
  return { root, all };
}

// protoc-style lookup: try the innermost scope first, then walk outwards. For dotted names the first
// component is looked up that way, the rest is resolved inside it.
function resolve(scope, ref) {
  if (ref.startsWith(".")) fail(`absolute type reference ${ref} not supported`);
  const parts = ref.split(".");
  for (let s = scope; s; s = s.parent) {
    let n = s.children.get(parts[0]);
    if (!n) continue;
    for (const p of parts.slice(1)) {
      n = n.children.get(p);
      if (!n) fail(`cannot resolve ${ref} from ${scope.fullName}`);
    }
    return n;
  }
  fail(`cannot resolve type ${ref} from ${scope.fullName}`);
}

// ---------------------------------------------------------------------------------------------
// 3. Enum value renames for protoc scoping (values live in the enum's parent scope).

function screamingSnake(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toUpperCase();
}

function computeRenames(model) {
  // Map enumNode -> Map(originalValueName -> emittedName)
  const renames = new Map();
  const scopes = [model.root, ...model.all.filter((n) => n.kind === "message")];
  for (const scope of scopes) {
    // Symbols that live in this scope: nested type names, field names, oneof names, enum values of
    // the enums nested here.
    const taken = new Map(); // symbol -> description
    for (const child of scope.children.values()) taken.set(child.name, `type ${child.fullName}`);
    if (scope.kind === "message") {
      for (const f of Object.keys(scope.def.fields || {})) taken.set(f, `field ${scope.fullName}.${f}`);
      for (const o of Object.keys(scope.def.oneofs || {})) taken.set(o, `oneof ${scope.fullName}.${o}`);
    }
    for (const child of scope.children.values()) {
      if (child.kind !== "enum") continue;
      const map = new Map();
      for (const v of Object.keys(child.def.values)) {
        let emitted = v;
        if (taken.has(emitted)) {
          emitted = `${screamingSnake(child.name)}_${v}`;
          if (taken.has(emitted)) fail(`cannot rename ${child.fullName}.${v}: ${emitted} is taken too`);
          process.stderr.write(`extract-easemob-proto: renamed ${child.fullName}.${v} -> ${emitted} ` +
            `(clashes with ${taken.get(v)})\n`);
        }
        taken.set(emitted, `enum value ${child.fullName}.${v}`);
        map.set(v, emitted);
      }
      renames.set(child, map);
    }
  }
  return renames;
}

// ---------------------------------------------------------------------------------------------
// 4. Emit.

function fieldInfo(model, renames, msg, fname, f) {
  for (const k of Object.keys(f)) if (!KNOWN_FIELD_KEYS.has(k)) fail(`${msg.fullName}.${fname}: unsupported key "${k}"`);
  if (f.keyType) fail(`${msg.fullName}.${fname}: map fields not supported`);
  if (!Number.isInteger(f.id) || f.id < 1) fail(`${msg.fullName}.${fname}: bad id ${f.id}`);
  const rule = f.rule || "optional";
  if (!["optional", "required", "repeated"].includes(rule)) fail(`${msg.fullName}.${fname}: bad rule ${rule}`);
  let target = null;
  if (!SCALARS.has(f.type)) target = resolve(msg, f.type);
  const opts = Object.assign({}, f.options || {});
  const out = [];
  if ("packed" in opts) {
    if (rule !== "repeated") fail(`${msg.fullName}.${fname}: packed on non-repeated field`);
    delete opts.packed;
  }
  const packable = rule === "repeated" && (target ? target.kind === "enum" : !NOT_PACKABLE.has(f.type));
  const sdkPacks = packable && !(f.options && f.options.packed === false);
  if (sdkPacks) out.push("packed = true");
  if ("default" in opts) {
    const d = opts.default;
    delete opts.default;
    if (target && target.kind === "enum") {
      const emitted = renames.get(target).get(d);
      if (emitted === undefined) fail(`${msg.fullName}.${fname}: default ${d} is not a value of ${target.fullName}`);
      out.push(`default = ${emitted}`);
    } else if (f.type === "string" || f.type === "bytes") {
      out.push(`default = ${JSON.stringify(String(d))}`);
    } else if (typeof d === "number" || typeof d === "boolean") {
      out.push(`default = ${d}`);
    } else fail(`${msg.fullName}.${fname}: unsupported default ${JSON.stringify(d)}`);
  }
  if (Object.keys(opts).length) fail(`${msg.fullName}.${fname}: unsupported options ${JSON.stringify(opts)}`);
  return { name: fname, id: f.id, rule, type: f.type, target, sdkPacks, options: out };
}

function emit(model, renames, meta) {
  const lines = [];
  const L = (s) => lines.push(s);
  L("// GENERATED FILE - DO NOT EDIT.");
  L(`// Generated by scripts/extract-easemob-proto.js from the protobufjs descriptor embedded in`);
  L(`// ${meta.sdk.name}@${meta.sdk.version} (${meta.file}, sha256 ${meta.sha256}).`);
  L(`// Regenerate with:`);
  L(`//   ${meta.command}`);
  L("//");
  L("// Deviations from a literal transcription, kept so the SDK's bytes round-trip (see the script):");
  for (const n of meta.notes) L(`//  * ${n}`);
  L("");
  L('syntax = "proto2";');
  L("");
  L("package easemob.pb;");

  function emitEnum(node, ind) {
    L("");
    L(`${ind}enum ${node.name} {`);
    const map = renames.get(node);
    const nums = Object.values(node.def.values);
    if (new Set(nums).size !== nums.length) L(`${ind}  option allow_alias = true;`);
    for (const [v, num] of Object.entries(node.def.values)) {
      if (!Number.isInteger(num)) fail(`${node.fullName}.${v}: bad number ${num}`);
      L(`${ind}  ${map.get(v)} = ${num};`);
    }
    L(`${ind}}`);
  }
  function fieldLine(fi, inOneof) {
    const label = inOneof ? "" : `${fi.rule} `;
    const opts = fi.options.length ? ` [${fi.options.join(", ")}]` : "";
    return `${label}${fi.type} ${fi.name} = ${fi.id}${opts};`;
  }
  function emitMessage(node, ind) {
    L("");
    L(`${ind}message ${node.name} {`);
    const def = node.def;
    const oneofOf = new Map();
    for (const [oname, o] of Object.entries(def.oneofs || {})) {
      for (const k of Object.keys(o)) if (k !== "oneof" && k !== "comment") fail(`${node.fullName}.${oname}: unsupported oneof key ${k}`);
      for (const f of o.oneof) {
        if (!(def.fields || {})[f]) fail(`${node.fullName}: oneof ${oname} names unknown field ${f}`);
        oneofOf.set(f, oname);
      }
    }
    const ids = new Set();
    const emittedOneofs = new Set();
    for (const [fname, f] of Object.entries(def.fields || {})) {
      const fi = fieldInfo(model, renames, node, fname, f);
      if (ids.has(fi.id)) fail(`${node.fullName}: duplicate field id ${fi.id}`);
      ids.add(fi.id);
      const oname = oneofOf.get(fname);
      if (oname) {
        if (emittedOneofs.has(oname)) continue;
        emittedOneofs.add(oname);
        L(`${ind}  oneof ${oname} {`);
        for (const member of def.oneofs[oname].oneof) {
          const mi = fieldInfo(model, renames, node, member, def.fields[member]);
          if (mi.rule !== "optional") fail(`${node.fullName}.${member}: oneof member must not be ${mi.rule}`);
          L(`${ind}    ${fieldLine(mi, true)}`);
        }
        L(`${ind}  }`);
      } else {
        L(`${ind}  ${fieldLine(fi, false)}`);
      }
    }
    for (const child of node.children.values()) {
      if (child.kind === "enum") emitEnum(child, ind + "  ");
      else emitMessage(child, ind + "  ");
    }
    L(`${ind}}`);
  }
  for (const child of model.root.children.values()) {
    if (child.kind === "enum") emitEnum(child, "");
    else emitMessage(child, "");
  }
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// 5. --check: parse the emitted text back (it is in our own regular format) and compare.

function parseEmitted(text) {
  const stack = [{ nested: {} }];
  const cur = () => stack[stack.length - 1];
  let oneof = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("//") || line.startsWith("syntax") || line.startsWith("package")) continue;
    let m;
    if ((m = /^message (\w+) \{$/.exec(line))) {
      const def = { fields: {} };
      (cur().nested = cur().nested || {})[m[1]] = def;
      stack.push(def);
    } else if ((m = /^enum (\w+) \{$/.exec(line))) {
      const def = { values: {} };
      (cur().nested = cur().nested || {})[m[1]] = def;
      stack.push(def);
    } else if ((m = /^oneof (\w+) \{$/.exec(line))) {
      oneof = m[1];
      (cur().oneofs = cur().oneofs || {})[oneof] = { oneof: [] };
    } else if (line === "}") {
      if (oneof) oneof = null;
      else stack.pop();
    } else if ((m = /^(?:(optional|required|repeated) )?([\w.]+) (\w+) = (\d+)(?: \[(.*)\])?;$/.exec(line))) {
      const f = { type: m[2], id: Number(m[4]) };
      if (m[1] && m[1] !== "optional") f.rule = m[1];
      if (m[5]) {
        f.options = {};
        for (const o of m[5].split(", ")) {
          const [k, v] = o.split(" = ");
          f.options[k] = v === "true" ? true : v === "false" ? false : v;
        }
      }
      cur().fields[m[3]] = f;
      if (oneof) cur().oneofs[oneof].oneof.push(m[3]);
    } else if ((m = /^(\w+) = (-?\d+);$/.exec(line))) {
      cur().values[m[1]] = Number(m[2]);
    } else if (line === "option allow_alias = true;") {
      // ignore
    } else {
      throw new Error(`check: cannot parse line: ${raw}`);
    }
  }
  return stack[0];
}

function compare(orig, parsed, model, renames) {
  const diffs = [];
  const byFull = new Map(model.all.map((n) => [n.fullName, n]));
  function cmpNs(a, b, p) {
    const an = Object.keys(a.nested || {});
    const bn = Object.keys(b.nested || {});
    if (an.join() !== bn.join()) diffs.push(`${p}: nested ${an} vs ${bn}`);
    for (const k of an) {
      const x = a.nested[k];
      const y = (b.nested || {})[k];
      const fp = `${p}.${k}`;
      if (!y) continue;
      if (x.values) {
        const map = renames.get(byFull.get(fp));
        const xs = Object.entries(x.values).map(([v, n]) => `${map.get(v)}=${n}`).join();
        const ys = Object.entries(y.values || {}).map(([v, n]) => `${v}=${n}`).join();
        if (xs !== ys) diffs.push(`${fp}: values ${xs} vs ${ys}`);
        continue;
      }
      const xf = x.fields || {};
      const yf = y.fields || {};
      if (Object.keys(xf).sort().join() !== Object.keys(yf).sort().join()) diffs.push(`${fp}: field names differ`);
      for (const [fn, f] of Object.entries(xf)) {
        const g = yf[fn];
        if (!g) continue;
        if (f.type !== g.type || f.id !== g.id || (f.rule || "optional") !== (g.rule || "optional")) {
          diffs.push(`${fp}.${fn}: ${JSON.stringify(f)} vs ${JSON.stringify(g)}`);
        }
        const fo = f.options || {};
        const go = g.options || {};
        if ("default" in fo) {
          const target = resolve(byFull.get(fp), f.type);
          if (renames.get(target).get(fo.default) !== go.default) diffs.push(`${fp}.${fn}: default differs`);
        } else if ("default" in go) diffs.push(`${fp}.${fn}: unexpected default`);
        const sdkPacks = fieldInfo(model, renames, byFull.get(fp), fn, f).sdkPacks;
        if (sdkPacks !== (go.packed === true)) diffs.push(`${fp}.${fn}: packed ${sdkPacks} vs ${go.packed}`);
      }
      const xo = JSON.stringify(Object.entries(x.oneofs || {}).map(([k, o]) => [k, o.oneof]));
      const yo = JSON.stringify(Object.entries(y.oneofs || {}).map(([k, o]) => [k, o.oneof]));
      if (xo !== yo) diffs.push(`${fp}: oneofs ${xo} vs ${yo}`);
      cmpNs(x, y, fp);
    }
  }
  cmpNs(orig, parsed, ".easemob.pb");
  return diffs;
}

// ---------------------------------------------------------------------------------------------

function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const positional = args.filter((a) => !a.startsWith("--"));
  if (args.some((a) => a.startsWith("--") && a !== "--check") || positional.length > 1) {
    fail("usage: node scripts/extract-easemob-proto.js [--check] [path/to/Easemob-chat.js]");
  }
  const repo = path.resolve(__dirname, "..");
  const file = positional[0] || path.join(repo, "tests/sdk/node_modules/easemob-websdk/Easemob-chat.js");
  if (!fs.existsSync(file)) fail(`${file} not found (run \`npm ci\` in tests/sdk, or pass the bundle path)`);

  const { pb, sha256 } = loadDescriptor(file);
  const sdk = sdkVersion(file);
  const model = buildModel(pb);
  const renames = computeRenames(model);

  const notes = [];
  for (const node of model.all) {
    if (node.kind !== "message") continue;
    for (const [fname, f] of Object.entries(node.def.fields || {})) {
      const fi = fieldInfo(model, renames, node, fname, f);
      if (fi.sdkPacks) notes.push(`${node.fullName.slice(12)}.${fname} is [packed = true]: the SDK's protobufjs packs it.`);
    }
  }
  for (const [node, map] of renames) {
    for (const [v, e] of map) {
      if (v !== e) notes.push(`${node.fullName.slice(12)}.${v} is renamed ${e} (protoc enum value scoping); number kept.`);
    }
  }
  const rel = path.relative(sdk.dir, path.resolve(file)).split(path.sep).join("/");
  let command = "(cd tests/sdk && npm ci) && node scripts/extract-easemob-proto.js > proto/easemob.proto";
  if (positional[0]) {
    const r = path.relative(repo, path.resolve(file)).split(path.sep).join("/");
    const shown = r.startsWith("..") ? `path/to/${path.basename(file)}` : r;
    command = `node scripts/extract-easemob-proto.js ${shown} > proto/easemob.proto`;
  }
  const text = emit(model, renames, { sdk, file: rel, sha256, notes, command });

  if (check) {
    const diffs = compare(pb, parseEmitted(text), model, renames);
    if (diffs.length) {
      process.stderr.write(diffs.join("\n") + "\n");
      fail(`${diffs.length} difference(s) between descriptor and generated .proto`);
    }
    let nMsg = 0, nEnum = 0, nField = 0;
    for (const n of model.all) {
      if (n.kind === "enum") nEnum++;
      else { nMsg++; nField += Object.keys(n.def.fields || {}).length; }
    }
    process.stderr.write(`extract-easemob-proto: check OK (${nMsg} messages, ${nEnum} enums, ${nField} fields)\n`);
    return;
  }
  process.stdout.write(text);
}

main();
