// A real OpenID provider for the identity tests: the certified `oidc-provider` package, configured
// from a JSON file the pytest fixture writes (issuer, signing keys, clients, accounts with groups,
// resource servers). Usage: node provider.mjs CONFIG.json
//
// Access tokens for a resource server are JWTs (RFC 9068) carrying the account's username and
// groups, as Keycloak's are with its default mappers; the dev interactions serve the login and
// consent pages the browser test clicks through.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function accountClaims(id) {
  const account = config.accounts[id];
  if (!account) return undefined;
  return {
    sub: id,
    preferred_username: id,
    name: account.name,
    email: account.email,
    email_verified: true,
    groups: account.groups || [],
  };
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: config.cookie_keys },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups', 'offline_access', 'trevor'],
  async findAccount(_ctx, id) {
    const claims = accountClaims(id);
    if (!claims) return undefined;
    return { accountId: id, async claims() { return claims; } };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource() { return config.default_resource; },
      async useGrantedResource() { return true; },
      async getResourceServerInfo(_ctx, indicator, client) {
        const server = config.resources[indicator];
        if (!server) throw new Provider.errors.InvalidTarget();
        return {
          scope: server.scope,
          audience: server.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: (config.client_token_ttl || {})[client.clientId] ?? server.ttl,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async extraTokenClaims(_ctx, token) {
    if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
    const claims = accountClaims(token.accountId);
    if (!claims) return undefined;
    const { sub: _sub, ...rest } = claims;
    return rest;
  },
  // Claims in the ID token too, as Keycloak puts them (the browser login reads them there).
  conformIdTokenClaims: false,
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, IdToken: 600, AuthorizationCode: 60 },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
