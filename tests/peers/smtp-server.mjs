// A real SMTP submission server for mailcred's integration tests, built on
// Nodemailer's smtp-server and listening on loopback only.
//
//   node /ABS/tests/peers/smtp-server.mjs --state-dir DIR --cert CERT
//        --key KEY --oauth-issuer URL [--password USER:PASS]
//
// Two listeners on free 127.0.0.1 ports:
//   starttls  plain connection; AUTH only after STARTTLS (allowInsecureAuth
//             false), like port 587
//   tls       implicit TLS from the first byte, like port 465
// Once both listen, DIR/smtp.ports gets {"starttls":N,"tls":M} (temp file
// renamed into place).
//
// AUTH mechanisms PLAIN, LOGIN and XOAUTH2; sending needs AUTH.
//   XOAUTH2   the bearer token is checked with GET ${issuer}/me; accepted
//             when that answers 200 with a `sub` equal (ignoring case) to
//             the SASL user.  A rejection is answered as Gmail does: a 334
//             challenge carrying base64 {"status":"400","schemes":"Bearer",
//             "scope":"https://mail.google.com/"}, then 535 after the
//             client's empty reply.  If the issuer cannot be reached the
//             answer is 454 (temporary).
//   PLAIN, LOGIN  only the --password USER:PASS pair; without one, every
//             attempt fails with 535.
// Each attempt appends one line to DIR/smtp-auth.log:
//   <METHOD> <user> ok|fail <how>
// where <how> says what decided (userinfo, userinfo-401, sub-mismatch,
// password, no-password-configured, issuer-unreachable, ...).  Tokens and
// passwords are never written anywhere.
//
// Each accepted message: DIR/mail/<n>.eml (the raw DATA) and then
// DIR/mail/<n>.json {"from","to":[...],"user","method","size"} (renamed into
// place last, so a test may wait for the .json).  Size limit 10 MB (552).

import {
  appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { SMTPServer } from 'smtp-server';

const SIZE_LIMIT = 10 * 1024 * 1024;
const USERINFO_TIMEOUT_MS = 5000;
const GMAIL_STYLE_ERROR = { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' };

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} smtp: ${msg}\n`);
}

function usage(msg) {
  if (msg) process.stderr.write(`smtp-server: ${msg}\n`);
  process.stderr.write('usage: node smtp-server.mjs --state-dir DIR --cert CERT --key KEY '
    + '--oauth-issuer URL [--password USER:PASS]\n');
  process.exit(64);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'oauth-issuer': { type: 'string' },
      password: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
for (const req of ['state-dir', 'cert', 'key', 'oauth-issuer']) {
  if (!args[req]) usage(`--${req} is required`);
}
const stateDir = args['state-dir'];
const issuer = args['oauth-issuer'].replace(/\/+$/, '');
let passUser = null;
let passWord = null;
if (args.password !== undefined) {
  const i = args.password.indexOf(':');
  if (i < 1) usage('--password must be USER:PASS');
  passUser = args.password.slice(0, i);
  passWord = args.password.slice(i + 1);
}

const tlsKey = readFileSync(args.key);
const tlsCert = readFileSync(args.cert);
const mailDir = join(stateDir, 'mail');
mkdirSync(mailDir, { recursive: true, mode: 0o700 });
const authLog = join(stateDir, 'smtp-auth.log');

// Continue numbering after what an earlier run left in DIR/mail.
let lastMessage = readdirSync(mailDir)
  .map((f) => /^(\d+)\.json$/.exec(f))
  .filter(Boolean)
  .reduce((max, m) => Math.max(max, Number(m[1])), 0);

function writeAtomic(path, data) {
  const tmp = `${path}.tmp.${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

function recordAuth(method, user, ok, how) {
  // The user is client-supplied: keep it on one line.
  const safeUser = String(user ?? '-').replace(/\s/g, '_') || '-';
  appendFileSync(authLog, `${method} ${safeUser} ${ok ? 'ok' : 'fail'} ${how}\n`, { mode: 0o600 });
  log(`AUTH ${method} ${safeUser} ${ok ? 'ok' : 'fail'} (${how})`);
}

// Asks the OAuth server whose token this is.  Resolves to
// { ok, how, temporary }.
async function checkBearer(user, token) {
  let res;
  let body;
  try {
    res = await fetch(`${issuer}/me`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      signal: AbortSignal.timeout(USERINFO_TIMEOUT_MS),
    });
    body = await res.text();
  } catch (err) {
    return { ok: false, how: 'issuer-unreachable', temporary: true, detail: err.message };
  }
  if (res.status !== 200) {
    return { ok: false, how: `userinfo-${res.status}`, temporary: res.status >= 500 };
  }
  let sub;
  try {
    ({ sub } = JSON.parse(body));
  } catch {
    return { ok: false, how: 'userinfo-bad-json', temporary: true };
  }
  if (typeof sub !== 'string' || sub.toLowerCase() !== user.toLowerCase()) {
    return { ok: false, how: 'sub-mismatch' };
  }
  return { ok: true, how: 'userinfo' };
}

function onAuth(auth, _session, callback) {
  const { method, username } = auth;
  if (method === 'XOAUTH2') {
    checkBearer(username, auth.accessToken).then((r) => {
      recordAuth(method, username, r.ok, r.how);
      if (r.ok) return callback(null, { user: { username, method } });
      if (r.temporary) {
        const err = new Error('Temporary authentication failure');
        err.responseCode = 454;
        return callback(err);
      }
      // No `user`: smtp-server sends 334 <base64 JSON>, waits for the
      // client's empty line, then 535.
      return callback(null, { data: GMAIL_STYLE_ERROR });
    }, (err) => {
      recordAuth(method, username, false, 'internal-error');
      log(`userinfo check failed: ${err.message}`);
      const e = new Error('Temporary authentication failure');
      e.responseCode = 454;
      callback(e);
    });
    return;
  }

  // PLAIN and LOGIN
  let ok = false;
  let how;
  if (passUser === null) {
    how = 'no-password-configured';
  } else if (username !== passUser) {
    how = 'unknown-user';
  } else if (auth.password !== passWord) {
    how = 'bad-password';
  } else {
    ok = true;
    how = 'password';
  }
  recordAuth(method, username, ok, how);
  if (ok) return callback(null, { user: { username, method } });
  const err = new Error('Authentication credentials invalid');
  err.responseCode = 535;
  return callback(err);
}

function onData(stream, session, callback) {
  const chunks = [];
  let size = 0;
  stream.on('data', (chunk) => {
    size += chunk.length;
    if (size <= SIZE_LIMIT) chunks.push(chunk);
  });
  stream.on('error', (err) => callback(err));
  stream.on('end', () => {
    if (stream.sizeExceeded || size > SIZE_LIMIT) {
      log(`refused a message of ${size} bytes (limit ${SIZE_LIMIT})`);
      const err = new Error(`Error: message exceeds fixed maximum message size ${SIZE_LIMIT}`);
      err.responseCode = 552;
      return callback(err);
    }
    lastMessage += 1;
    const n = lastMessage;
    const meta = {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
      to: session.envelope.rcptTo.map((r) => r.address),
      user: session.user ? session.user.username : null,
      method: session.user ? session.user.method : null,
      size,
    };
    try {
      writeAtomic(join(mailDir, `${n}.eml`), Buffer.concat(chunks, size));
      writeAtomic(join(mailDir, `${n}.json`), `${JSON.stringify(meta)}\n`);
    } catch (err) {
      log(`cannot store message ${n}: ${err.message}`);
      const e = new Error('Local error in processing');
      e.responseCode = 451;
      return callback(e);
    }
    log(`message ${n}: ${size} bytes from ${meta.from} to ${meta.to.join(',')} as ${meta.user} (${meta.method})`);
    return callback(null, `Message queued as ${n}`);
  });
}

function makeServer(secure) {
  const server = new SMTPServer({
    secure,
    key: tlsKey,
    cert: tlsCert,
    name: 'smtp.test.invalid',
    banner: 'mailcred test SMTP server',
    authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
    allowInsecureAuth: false, // on the starttls listener, AUTH only after STARTTLS
    size: SIZE_LIMIT,
    closeTimeout: 200, // on SIGTERM: 421 to open sessions after 0.2 s
    logger: false, // its logger would print the AUTH lines
    onAuth,
    onData,
  });
  server.on('error', (err) => log(`${secure ? 'tls' : 'starttls'} listener: ${err.message}`));
  return server;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve(server.server.address().port);
    });
  });
}

const plain = makeServer(false);
const implicit = makeServer(true);

try {
  const [starttls, tls] = await Promise.all([listen(plain), listen(implicit)]);
  writeAtomic(join(stateDir, 'smtp.ports'), `${JSON.stringify({ starttls, tls })}\n`);
  log(`listening: starttls 127.0.0.1:${starttls}, tls 127.0.0.1:${tls}; tokens checked at ${issuer}/me`);
} catch (err) {
  process.stderr.write(`smtp-server: cannot listen: ${err.message}\n`);
  process.exit(1);
}

function stop(signal) {
  log(`${signal}: stopping`);
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) process.exit(0);
  };
  plain.close(done);
  implicit.close(done);
  // Open sessions get 421 after closeTimeout; this is only a backstop.
  setTimeout(() => process.exit(0), 1500).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
