// The OpenID provider of the portcullis end-to-end tests: `oidc-provider` (npm), on 127.0.0.1
// only, with one confidential client, a password login page for one test user, consent granted
// automatically, refresh tokens (offline_access), RP-initiated logout, and JWT access tokens
// for the resource `urn:portcullis:api` (RFC 8707 resource indicators, RFC 9068 format).
//
//   node tests/idp/server.js --port 0 --app-port 3000
//
// Prints `listening <port>` on stdout once it accepts connections. Everything is configurable
// with flags so the Rust harness can pick free ports:
//   --host IP            loopback address to listen on (default 127.0.0.1; the tests use
//                        127.0.0.2 so that the browser keeps the provider's cookies apart
//                        from the app's, which lives on 127.0.0.1)
//   --port N             port of the provider (0: any free port)
//   --app-port N         port of the app (redirect URI http://127.0.0.1:N/callback)
//   --client-id ID       (default portcullis-e2e)
//   --client-secret S    (default e2e-secret-that-is-long-enough-0123456789)
//   --auth METHOD        token endpoint auth: client_secret_basic (default), client_secret_post, none
//
// A second, machine-to-machine client (`portcullis-machine`, secret
// `machine-secret-that-is-long-enough-0123456789`) may use the client-credentials grant for
// JWT access tokens to the same resource (scopes `api:read`, `api:write`); the gateway tests
// use it.
import http from 'node:http';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'app-port': { type: 'string', default: '3000' },
    'client-id': { type: 'string', default: 'portcullis-e2e' },
    'client-secret': { type: 'string', default: 'e2e-secret-that-is-long-enough-0123456789' },
    auth: { type: 'string', default: 'client_secret_basic' },
  },
});

export const TEST_USER = { username: 'alice', password: 'wonderland' };
const RESOURCE = 'urn:portcullis:api';

if (!args.host.startsWith('127.')) throw new Error('--host must be a loopback address');
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port), args.host, resolve));
const { port } = server.address();
const issuer = `http://${args.host}:${port}`;
const app = `http://127.0.0.1:${args['app-port']}`;

const client = {
  client_id: args['client-id'],
  redirect_uris: [`${app}/callback`],
  post_logout_redirect_uris: [`${app}/logged-out`],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: args.auth,
};
if (args.auth !== 'none') client.client_secret = args['client-secret'];
const machine = {
  client_id: 'portcullis-machine',
  client_secret: 'machine-secret-that-is-long-enough-0123456789',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'api:read api:write',
};

const provider = new Provider(issuer, {
  clients: [client, machine],
  // Fixed keys for the provider's own cookies (this is a test server).
  cookies: { keys: ['portcullis-e2e-cookie-key-0', 'portcullis-e2e-cookie-key-1'] },
  findAccount: async (_ctx, sub) =>
    sub === TEST_USER.username
      ? { accountId: sub, claims: async () => ({ sub, name: 'Alice Liddell' }) }
      : undefined,
  claims: { openid: ['sub'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'profile', 'api:read', 'api:write'],
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, RefreshToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return { scope: 'api:read api:write', audience: RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'jwt' };
      },
    },
  },
});

const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// The interaction pages: a password login for the test user; consent is granted automatically.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page('Sign in', `<h1>Sign in to the test provider</h1>
      <form id="login" method="post" action="/interaction/${escape(uid)}/login">
        <input id="username" name="username" autocomplete="off">
        <input id="password" name="password" type="password">
        <button id="submit" type="submit">Sign in</button>
      </form>`));
    return;
  }
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    const form = await readForm(req);
    if (form.get('username') !== TEST_USER.username || form.get('password') !== TEST_USER.password) {
      res.statusCode = 401;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page('Sign in failed', `<h1 id="failed">Wrong username or password</h1>`));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: TEST_USER.username } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.end(page('Unexpected', `unexpected prompt ${escape(prompt.name)}`));
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(page('Error', escape(err.message)));
    });
  } else {
    callback(req, res);
  }
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
process.stdout.write(`listening ${port}\n`);
// Stop with the harness: it closes our stdin (or kills us).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
