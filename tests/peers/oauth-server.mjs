// A real OAuth 2.0 / OpenID Connect server for mailcred's integration tests,
// built on oidc-provider 9 and listening on loopback only.
//
//   node /ABS/tests/peers/oauth-server.mjs --state-dir DIR
//        [--access-ttl SECONDS] [--rotate] [--port N]
//
// It listens on 127.0.0.1 at a free port (or at --port N, which lets a test
// restart the server under the same issuer) and, once it accepts connections,
// writes the port to DIR/oauth.port (a temp file renamed into place, so a
// reader never sees half a number).  The issuer is http://127.0.0.1:PORT.
//
// Endpoints are oidc-provider's own: /device/auth, /device, /auth, /token,
// /token/revocation, /token/introspection, /me (userinfo), /jwks,
// /.well-known/openid-configuration, /interaction/:uid (devInteractions).
//
// Clients:
//   mailcred-conf    confidential, secret conf-secret-1234, client_secret_post
//   mailcred-public  public (token_endpoint_auth_method none, PKCE S256
//                    required by oidc-provider for public clients)
//     both: native, grants device_code + refresh_token + authorization_code,
//     redirect_uris http://127.0.0.1/ and http://localhost/, each matching
//     any port (RFC 8252: oidc-provider 9 compares a native client's
//     loopback redirect without its port; the path must be "/")
//   smtp-rs          confidential, secret rs-secret-1234 (HTTP Basic), no
//                    grants: a resource server that may call introspection
//
// Refresh tokens: issued when the granted scope has offline_access and the
// client has the refresh_token grant (oidc-provider's issueRefreshToken
// default).  Device flow: request scope "... offline_access" at
// /device/auth.  Code flow: the authorization request needs scope
// "... offline_access" AND prompt=consent (OIDC Core 11); without
// prompt=consent, oidc-provider silently drops offline_access from the
// scope and the code exchange returns no refresh token.  --rotate turns
// refresh token rotation on; without it a refresh token stays the same for
// its whole life (14 days), public clients included.
//
// A small test-control layer (see testControl below) sits in front of the
// provider: /test/stats, /test/seen, /test/reset-stats, /test/config, /test/reset-config,
// and the behaviours the config switches on (interval, slow_down, Google's
// spellings, device authorization errors, device poll errors, token and
// revocation endpoint outages).  The config keys are DEFAULT_CONFIG's;
// the two the lifecycle tests added:
//   device_poll_error  a string: every device_code poll is answered 400
//                      {"error": it} (expired_token, access_denied,
//                      authorization_declined), counted like any poll.
//                      oidc-provider itself cannot say expired_token: its
//                      in-memory storage drops an expired device code, so
//                      a late poll gets invalid_grant "not found".
//   revocation_status  a number: every /token/revocation request is
//                      answered with it (HTML body) and revokes nothing,
//                      as a sick server behind a proxy would; still
//                      counted in "revocations".
//   revocation_error   a string: every /token/revocation request is
//                      answered 400 {"error": it} and revokes nothing
//                      (Google answers invalid_token for a token that is
//                      already revoked); counted in "revocations".
//
// Storage is oidc-provider's in-memory adapter: restarting the server
// forgets every grant, which is how tests produce invalid_grant.
//
// Logs go to stdout, one line per request; tokens, codes and secrets are
// never logged.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const BODY_LIMIT = 64 * 1024;

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} oauth: ${msg}\n`);
}

function usage(msg) {
  if (msg) process.stderr.write(`oauth-server: ${msg}\n`);
  process.stderr.write('usage: node oauth-server.mjs --state-dir DIR '
    + '[--access-ttl SECONDS] [--rotate] [--port N] [--cert CERT --key KEY]\n');
  process.exit(64);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      'access-ttl': { type: 'string', default: '3600' },
      rotate: { type: 'boolean', default: false },
      port: { type: 'string', default: '0' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
if (!args['state-dir']) usage('--state-dir is required');
const stateDir = args['state-dir'];
const accessTtl = Number(args['access-ttl']);
if (!Number.isInteger(accessTtl) || accessTtl < 1) usage('--access-ttl must be a positive integer');
const rotate = args.rotate;
const listenPort = Number(args.port);
if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) usage('--port must be 0..65535');
// With --cert and --key the server speaks HTTPS (issuer https://...), for
// tests of certificate verification and ca_file.
if (Boolean(args.cert) !== Boolean(args.key)) usage('--cert and --key go together');
const tls = args.cert ? { cert: readFileSync(args.cert), key: readFileSync(args.key) } : null;

// ---------------------------------------------------------------------------
// Test-control state

const DEFAULT_CONFIG = Object.freeze({
  device_interval: null, // number: add "interval" to the device authz response
  slow_down_polls: 0, // answer the first N polls of each device_code with slow_down
  google_style: false, // verification_url spelling, 428 for authorization_pending
  device_auth_error: null, // string: fail the device authorization request
  token_status: null, // number: answer every /token request with it (HTML body)
  refresh_delay_ms: 0, // wait this long before answering a refresh grant
  code_delay_ms: 0, // wait this long before answering a code exchange
  token_rewrite: null, // object: members set in (null: removed from) each granted token answer
  device_poll_error: null, // string: answer every device_code poll with this OAuth error
  revocation_status: null, // number: answer every /token/revocation request with it (HTML body)
  revocation_error: null, // string: answer every /token/revocation request 400 {"error": it}
});
let testConfig = { ...DEFAULT_CONFIG };

function freshStats() {
  return {
    refresh_grants: 0,
    device_polls: 0,
    device_auths: 0,
    poll_times_ms: [],
    revocations: 0,
    token_requests: 0,
    code_exchanges: 0, // authorization_code grants (browser and manual flows)
  };
}
let stats = freshStats();
// The secrets clients sent (GET /test/seen), for the secrets audit
// (t-secrets-audit.sh): the PKCE code verifiers of code exchanges, and the
// authorization codes, which otherwise live only inside the client.
const seen = { code_verifiers: [], codes: [] };

// Polls seen per device_code, for slow_down_polls.  Keyed by the code
// itself but never printed.
const pollsPerDeviceCode = new Map();

// ---------------------------------------------------------------------------
// Helpers

async function readRawBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

// Validates a POST /test/config body; returns an error string or null.
function checkConfigPatch(patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    return 'body must be a JSON object';
  }
  const nullableNumber = (v) => v === null || (Number.isInteger(v) && v >= 0);
  for (const [k, v] of Object.entries(patch)) {
    switch (k) {
      case 'device_interval':
        if (!nullableNumber(v)) return `${k} must be a non-negative integer or null`;
        break;
      case 'slow_down_polls':
        if (!Number.isInteger(v) || v < 0) return `${k} must be a non-negative integer`;
        break;
      case 'google_style':
        if (typeof v !== 'boolean') return `${k} must be a boolean`;
        break;
      case 'device_auth_error':
        if (v !== null && typeof v !== 'string') return `${k} must be a string or null`;
        break;
      case 'device_poll_error':
      case 'revocation_error':
        if (v !== null && typeof v !== 'string') return `${k} must be a string or null`;
        break;
      case 'revocation_status':
      case 'token_status':
        if (v !== null && !(Number.isInteger(v) && v >= 100 && v <= 599)) {
          return `${k} must be an HTTP status or null`;
        }
        break;
      case 'refresh_delay_ms':
      case 'code_delay_ms':
        if (!Number.isInteger(v) || v < 0 || v > 60000) return `${k} must be 0..60000`;
        break;
      case 'token_rewrite':
        if (v !== null && (typeof v !== 'object' || Array.isArray(v))) {
          return `${k} must be an object or null`;
        }
        break;
      default:
        return `unknown key ${k}`;
    }
  }
  return null;
}

// The /test/* routes.  Returns true when it answered the request.
async function handleTestRoute(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'GET /test/seen':
      sendJson(ctx, 200, seen);
      return true;
    case 'GET /test/stats':
      sendJson(ctx, 200, stats);
      return true;
    case 'POST /test/reset-stats':
      stats = freshStats();
      pollsPerDeviceCode.clear();
      sendJson(ctx, 200, stats);
      return true;
    case 'GET /test/config':
      sendJson(ctx, 200, testConfig);
      return true;
    case 'POST /test/reset-config':
      testConfig = { ...DEFAULT_CONFIG };
      sendJson(ctx, 200, testConfig);
      return true;
    case 'POST /test/config': {
      let patch;
      try {
        patch = JSON.parse(await readRawBody(ctx.req));
      } catch (err) {
        sendJson(ctx, 400, { error: `bad JSON: ${err.message}` });
        return true;
      }
      const problem = checkConfigPatch(patch);
      if (problem) {
        sendJson(ctx, 400, { error: problem });
        return true;
      }
      testConfig = { ...testConfig, ...patch };
      log(`test config now ${JSON.stringify(testConfig)}`);
      sendJson(ctx, 200, testConfig);
      return true;
    }
    default:
      if (ctx.path.startsWith('/test/')) {
        sendJson(ctx, 404, { error: `no test route ${route}` });
        return true;
      }
      return false;
  }
}

// Koa middleware placed (by provider.use) in front of oidc-provider's routes.
// For the form-encoded endpoints it needs to look at, it reads the body
// itself and hands it on as req.body, which oidc-provider's body parser
// accepts (it warns once about an "already parsed request body").
async function testControl(ctx, next) {
  const started = Date.now();
  if (await handleTestRoute(ctx)) return;

  const watched = ctx.method === 'POST'
    && ['/token', '/device/auth', '/token/revocation'].includes(ctx.path);
  let params = new URLSearchParams();
  if (watched && ctx.is('application/x-www-form-urlencoded')) {
    let raw;
    try {
      raw = await readRawBody(ctx.req);
    } catch (err) {
      sendJson(ctx, 400, { error: 'invalid_request', error_description: err.message });
      return;
    }
    ctx.req.body = raw;
    params = new URLSearchParams(raw);
  }
  const grantType = params.get('grant_type');
  let note = ''; // what the log line says besides method, path and status

  try {
    if (ctx.method === 'POST' && ctx.path === '/token') {
      stats.token_requests += 1;
      note = `grant_type=${grantType ?? '-'}`;
      if (grantType === 'authorization_code') {
        stats.code_exchanges += 1;
        if (params.get('code_verifier')) seen.code_verifiers.push(params.get('code_verifier'));
        if (params.get('code')) seen.codes.push(params.get('code'));
        if (testConfig.code_delay_ms > 0) {
          await new Promise((resolve) => { setTimeout(resolve, testConfig.code_delay_ms); });
          note += ` (delayed ${testConfig.code_delay_ms} ms)`;
        }
      }
      if (grantType === 'refresh_token') {
        stats.refresh_grants += 1;
        if (testConfig.refresh_delay_ms > 0) {
          await new Promise((resolve) => { setTimeout(resolve, testConfig.refresh_delay_ms); });
          note += ` (delayed ${testConfig.refresh_delay_ms} ms)`;
        }
      }

      let pollNumber = 0;
      if (grantType === DEVICE_GRANT) {
        stats.device_polls += 1;
        stats.poll_times_ms.push(Date.now());
        const code = params.get('device_code') ?? '';
        pollNumber = (pollsPerDeviceCode.get(code) ?? 0) + 1;
        pollsPerDeviceCode.set(code, pollNumber);
        note += ` poll=${pollNumber}`;
      }

      if (testConfig.token_status !== null) {
        // Simulated outage: what a proxy in front of a sick server sends.
        ctx.status = testConfig.token_status;
        ctx.type = 'text/html';
        ctx.body = `<html><head><title>${ctx.status}</title></head>`
          + `<body><h1>Error ${ctx.status}</h1><p>Simulated by the test server.</p></body></html>\n`;
        note += ' (token_status)';
        return;
      }

      if (grantType === DEVICE_GRANT && testConfig.device_poll_error !== null) {
        sendJson(ctx, 400, {
          error: testConfig.device_poll_error,
          error_description: `device poll refused by the test server (${testConfig.device_poll_error})`,
        });
        note += ` (device_poll_error) error=${testConfig.device_poll_error}`;
        return;
      }

      if (grantType === DEVICE_GRANT && pollNumber <= testConfig.slow_down_polls) {
        sendJson(ctx, 400, {
          error: 'slow_down',
          error_description: 'you are polling too quickly (test server)',
        });
        note += ' (slow_down_polls)';
        return;
      }

      await next();

      if (grantType === DEVICE_GRANT && testConfig.google_style
          && ctx.status === 400 && ctx.body?.error === 'authorization_pending') {
        ctx.status = 428; // as seen from Google's token endpoint
        note += ' (google_style)';
      }
      if (ctx.status >= 400 && ctx.body?.error) note += ` error=${ctx.body.error}`;
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        if (testConfig.token_rewrite !== null) {
          const body = { ...ctx.body };
          for (const [k, v] of Object.entries(testConfig.token_rewrite)) {
            if (v === null) delete body[k];
            else body[k] = v;
          }
          ctx.body = body;
          note += ' (token_rewrite)';
        }
        note += ` issued=${['access_token', 'refresh_token', 'id_token']
          .filter((k) => k in ctx.body).join(',')}`;
      }
      return;
    }

    if (ctx.method === 'POST' && ctx.path === '/device/auth') {
      stats.device_auths += 1;
      if (testConfig.device_auth_error !== null) {
        sendJson(ctx, 400, {
          error: testConfig.device_auth_error,
          error_description: `device authorization refused by the test server (${testConfig.device_auth_error})`,
        });
        note = '(device_auth_error)';
        return;
      }
      await next();
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        const body = { ...ctx.body };
        if (testConfig.device_interval !== null) body.interval = testConfig.device_interval;
        if (testConfig.google_style && 'verification_uri' in body) {
          body.verification_url = body.verification_uri;
          delete body.verification_uri;
        }
        ctx.body = body;
      }
      return;
    }

    if (ctx.method === 'POST' && ctx.path === '/token/revocation') {
      stats.revocations += 1;
      note = `token_type_hint=${params.get('token_type_hint') ?? '-'}`;
      if (testConfig.revocation_status !== null) {
        ctx.status = testConfig.revocation_status;
        ctx.type = 'text/html';
        ctx.body = `<html><head><title>${ctx.status}</title></head>`
          + `<body><h1>Error ${ctx.status}</h1><p>Simulated by the test server.</p></body></html>\n`;
        note += ' (revocation_status)';
        return;
      }
      if (testConfig.revocation_error !== null) {
        sendJson(ctx, 400, {
          error: testConfig.revocation_error,
          error_description: `revocation refused by the test server (${testConfig.revocation_error})`,
        });
        note += ` (revocation_error=${testConfig.revocation_error})`;
        return;
      }
    }
    await next();
  } finally {
    const extra = note ? ` ${note}` : '';
    log(`${ctx.method} ${ctx.path} -> ${ctx.status}${extra} (${Date.now() - started} ms)`);
  }
}

// ---------------------------------------------------------------------------
// Provider configuration

// The login typed on the devInteractions page becomes the account id, the
// `sub` claim and (when it looks like an address) the `email` claim.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: id.includes('@') ? id : `${id}@example.test`,
        email_verified: true,
      };
    },
  };
}

const nativeGrants = ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code'];

const clients = [
  {
    client_id: 'mailcred-conf',
    client_secret: 'conf-secret-1234',
    client_name: 'mailcred (confidential test client)',
    token_endpoint_auth_method: 'client_secret_post',
    application_type: 'native',
    grant_types: nativeGrants,
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
  },
  {
    client_id: 'mailcred-public',
    client_name: 'mailcred (public test client)',
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    grant_types: nativeGrants,
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
  },
  {
    // Resource server (the SMTP peer, or Dovecot) calling introspection.
    client_id: 'smtp-rs',
    client_secret: 'rs-secret-1234',
    client_name: 'SMTP resource server',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];

function buildProvider(issuer) {
  // A fresh EC P-256 signing key for ID tokens; nothing outlives the process.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'test-es256' };

  const DAY = 24 * 60 * 60;
  return new Provider(issuer, {
    clients,
    responseTypes: ['code'],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount,
    scopes: ['openid', 'offline_access', 'email'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
    },
    features: {
      deviceFlow: { enabled: true },
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
    },
    // Issue a refresh token whenever offline_access was granted to a client
    // allowed the refresh_token grant (this is also the library default;
    // spelled out so the rule is visible here).
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    rotateRefreshToken: () => rotate,
    // Same clock on both sides: no grace period, so --access-ttl is exact
    // (with the default 15 s, an expired token keeps working for 15 s).
    clockTolerance: 0,
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: 600,
      DeviceCode: 600,
      Grant: 14 * DAY,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * DAY,
      Session: 14 * DAY,
      ClientCredentials: 600,
      BackchannelAuthenticationRequest: 600,
    },
  });
}

// ---------------------------------------------------------------------------
// Start-up: listen first (port 0 picks a free port), then build the
// provider with the issuer that names that port, then announce the port.

const placeholder = (_req, res) => {
  res.statusCode = 503; // only until the provider is attached
  res.end();
};
const server = tls ? createTlsServer(tls, placeholder) : createServer(placeholder);

server.listen(listenPort, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  let provider;
  try {
    provider = buildProvider(issuer);
  } catch (err) {
    process.stderr.write(`oauth-server: ${err.stack}\n`);
    process.exit(1);
  }
  provider.use(testControl);
  provider.on('server_error', (_ctx, err) => log(`server_error: ${err.message}`));

  server.removeAllListeners('request');
  server.on('request', provider.callback());

  const issuerFile = join(stateDir, 'oauth.issuer');
  writeFileSync(`${issuerFile}.tmp.${process.pid}`, `${issuer}\n`, { mode: 0o600 });
  renameSync(`${issuerFile}.tmp.${process.pid}`, issuerFile);
  const portFile = join(stateDir, 'oauth.port');
  const tmp = `${portFile}.tmp.${process.pid}`;
  writeFileSync(tmp, `${port}\n`, { mode: 0o600 });
  renameSync(tmp, portFile);
  log(`listening at ${issuer} (access ttl ${accessTtl}s, rotation ${rotate ? 'on' : 'off'})`);
});

server.on('error', (err) => {
  process.stderr.write(`oauth-server: ${err.message}\n`);
  process.exit(1);
});

function stop(signal) {
  log(`${signal}: stopping`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Should close() hang on some connection, leave anyway.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
