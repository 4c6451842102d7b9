#!/usr/bin/env node
// A hostile OAuth server for mailcred's tests: every way a token endpoint
// or a device-authorization endpoint can misbehave, one at a time.
//
//   node /ABS/tests/peers/hostile-oauth.mjs --state-dir DIR
//
// Plain node (no npm package), plain HTTP on loopback.  Two listeners:
//   the main one on 127.0.0.1 (POST /token, POST /device/auth, /test/*);
//   the "other host" on 127.0.0.2, the target of the redirect modes: it
//   answers every request with a good-looking token (so a client that
//   followed a redirect would succeed and be caught) and logs it.
// Once both listen, DIR/hostile.json is written (atomically) with
// {"url": "http://127.0.0.1:PORT", "other_url": "http://127.0.0.2:PORT2"}.
//
// What the endpoints answer is chosen per endpoint with
//   POST /test/mode {"token": MODE, "device": MODE}     (either key)
// and stays until changed.  MODEs:
//   ok              a good answer: token endpoint {"access_token":
//                   "hostile-at-N","token_type":"Bearer","expires_in":3600}
//                   (no refresh_token: the client keeps its own); device
//                   endpoint a device authorization (interval 1,
//                   expires_in 600)
//   500             HTTP 500, an HTML body
//   503             HTTP 503, Retry-After: 120, an HTML body
//   badjson         HTTP 200, application/json, not JSON
//   truncated       HTTP 200, Content-Length: 4000, 60 bytes of JSON, then
//                   the connection is closed
//   huge            HTTP 200, a 10 MB JSON body (one 10 MB access_token)
//   hang            reads the request and never answers (the connection is
//                   held until the client goes)
//   no_access_token HTTP 200 {"token_type":"Bearer","expires_in":3600}
//   wrong_type      as ok, token_type "mac"
//   expires_zero, expires_negative (-3600), expires_1e30 (the JSON real
//   1e30), expires_2p63 (the JSON integer 9223372036854775808): as ok with
//                   that expires_in
//   slow_down       HTTP 400 {"error":"slow_down"}: a storm, every poll
//   redirect302, redirect307
//                   a redirect to the same path on the other host
// Default: "ok" for both.
//
// Other routes:
//   GET  /test/log    every request both listeners saw, oldest first:
//                     [{"listener":"main"|"other","method","path",
//                       "grant_type","mode","ms"}]   (no secrets: the form
//                     body is read for grant_type only)
//   POST /test/reset  mode back to "ok", log and counters cleared
// The log also goes to stdout, one line per request.
import { createServer } from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { 'state-dir': { type: 'string' } },
});
if (!args['state-dir']) {
  process.stderr.write('usage: hostile-oauth.mjs --state-dir DIR\n');
  process.exit(2);
}

const MODES = new Set(['ok', '500', '503', 'badjson', 'truncated', 'huge',
  'hang', 'no_access_token', 'wrong_type', 'expires_zero', 'expires_negative',
  'expires_1e30', 'expires_2p63', 'slow_down', 'redirect302', 'redirect307']);
const HUGE = 10 * 1024 * 1024;

let mode = { token: 'ok', device: 'ok' };
let requests = [];
let counter = 0;
let otherUrl = '';
const held = new Set(); // sockets of "hang" requests, closed at exit

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function json(res, status, obj) {
  send(res, status, 'application/json', JSON.stringify(obj));
}

function html(res, status, extra = {}) {
  send(res, status, 'text/html', `<html><body><h1>Error ${status}</h1>`
    + '<p>hostile-oauth test server</p></body></html>\n', extra);
}

// A token answer; rawExpires, when given, is put into the JSON text as is
// (1e30 and 2^63 cannot go through JSON.stringify unchanged).
function tokenAnswer(res, type, rawExpires) {
  counter += 1;
  const at = `hostile-at-${counter}`;
  if (rawExpires !== undefined) {
    send(res, 200, 'application/json', `{"access_token":"${at}",`
      + `"token_type":"${type}","expires_in":${rawExpires}}`);
    return;
  }
  json(res, 200, { access_token: at, token_type: type, expires_in: 3600 });
}

function deviceAnswer(res) {
  counter += 1;
  json(res, 200, {
    device_code: `hostile-device-code-${counter}`,
    user_code: 'HOST-ILE1',
    verification_uri: 'http://127.0.0.1/hostile-verify',
    expires_in: 600,
    interval: 1,
  });
}

// Answers one endpoint's request in mode m.
function hostile(req, res, m, endpoint) {
  switch (m) {
    case '500': html(res, 500); return;
    case '503': html(res, 503, { 'Retry-After': '120' }); return;
    case 'badjson':
      send(res, 200, 'application/json', '{"access_token": "hostile-at-x", "token_type": ');
      return;
    case 'truncated':
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '4000' });
      res.write('{"access_token":"hostile-at-cut","token_type":"Bearer","exp');
      setTimeout(() => res.socket?.destroy(), 100);
      return;
    case 'huge': {
      res.writeHead(200, { 'Content-Type': 'application/json',
        'Content-Length': String(HUGE + 20) });
      res.write('{"access_token":"');
      const chunk = Buffer.alloc(64 * 1024, 'A');
      let left = HUGE;
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end('","x":1}\n');
      };
      res.on('close', () => { left = 0; });
      pump();
      return;
    }
    case 'hang':
      held.add(res.socket);
      res.socket.on('close', () => held.delete(res.socket));
      return;
    case 'no_access_token':
      json(res, 200, { token_type: 'Bearer', expires_in: 3600 });
      return;
    case 'wrong_type': tokenAnswer(res, 'mac'); return;
    case 'expires_zero': tokenAnswer(res, 'Bearer', '0'); return;
    case 'expires_negative': tokenAnswer(res, 'Bearer', '-3600'); return;
    case 'expires_1e30': tokenAnswer(res, 'Bearer', '1e30'); return;
    case 'expires_2p63': tokenAnswer(res, 'Bearer', '9223372036854775808'); return;
    case 'slow_down':
      json(res, 400, { error: 'slow_down', error_description: 'slow down (hostile test server)' });
      return;
    case 'redirect302':
    case 'redirect307':
      send(res, m === 'redirect302' ? 302 : 307, 'text/html', 'moved\n',
        { Location: `${otherUrl}${req.url}` });
      return;
    default: // ok
      if (endpoint === 'device') deviceAnswer(res);
      else tokenAnswer(res, 'Bearer');
  }
}

function handler(listener) {
  return async (req, res) => {
    const started = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    const body = await readBody(req);
    let grantType = null;
    let m = null;
    try {
      grantType = new URLSearchParams(body).get('grant_type');
    } catch {
      grantType = null;
    }
    if (listener === 'main' && path === '/test/mode' && req.method === 'POST') {
      let patch;
      try {
        patch = JSON.parse(body);
      } catch {
        json(res, 400, { error: 'not JSON' });
        return;
      }
      for (const [k, v] of Object.entries(patch ?? {})) {
        if (!['token', 'device'].includes(k) || !MODES.has(v)) {
          json(res, 400, { error: `bad mode ${k}=${v}` });
          return;
        }
      }
      mode = { ...mode, ...patch };
      log(`mode ${JSON.stringify(mode)}`);
      json(res, 200, mode);
      return;
    }
    if (listener === 'main' && path === '/test/log' && req.method === 'GET') {
      json(res, 200, requests);
      return;
    }
    if (listener === 'main' && path === '/test/reset' && req.method === 'POST') {
      mode = { token: 'ok', device: 'ok' };
      requests = [];
      counter = 0;
      json(res, 200, mode);
      return;
    }
    if (listener === 'other') {
      // Whatever reaches the other host: logged, and answered as a client
      // that followed the redirect would hope.
      m = 'other';
      tokenAnswer(res, 'Bearer');
    } else if (req.method === 'POST' && path === '/token') {
      m = mode.token;
      hostile(req, res, m, 'token');
    } else if (req.method === 'POST' && path === '/device/auth') {
      m = mode.device;
      hostile(req, res, m, 'device');
    } else {
      json(res, 404, { error: 'not_found' });
    }
    const entry = { listener, method: req.method, path, grant_type: grantType, mode: m,
      ms: Date.now() - started };
    requests.push(entry);
    log(`${listener} ${req.method} ${path} grant_type=${grantType ?? '-'} mode=${m ?? '-'}`);
  };
}

function listen(server, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server.address().port));
  });
}

const main = createServer(handler('main'));
const other = createServer(handler('other'));
// A "hang" request is held as long as the client wants.
main.requestTimeout = 0;
main.headersTimeout = 0;
const port = await listen(main, '127.0.0.1');
const otherPort = await listen(other, '127.0.0.2');
otherUrl = `http://127.0.0.2:${otherPort}`;
const file = join(args['state-dir'], 'hostile.json');
writeFileSync(`${file}.tmp`, `${JSON.stringify({ url: `http://127.0.0.1:${port}`, other_url: otherUrl })}\n`);
renameSync(`${file}.tmp`, file);
log(`listening at http://127.0.0.1:${port}, other host ${otherUrl}`);

function stop() {
  for (const s of held) s.destroy();
  main.close();
  other.close();
  main.closeAllConnections?.();
  other.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
