import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { discoverIssuer } from '../../gateway/keys/discovery.ts';
import { rejectionOf } from '../support/rejection.ts';

describe('gateway: discovery through an internal token-service URL', () => {
  const issuer = 'https://auth.example.test';
  let server: http.Server;
  let internal: string;
  const requested: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      requested.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          revocation_feed_endpoint: `${issuer}/revocations`,
          revocation_stream_endpoint: 'https://elsewhere.example.test/stream',
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    internal = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('fetches metadata from the internal URL and rewrites endpoints under the issuer onto it', async () => {
    const metadata = await discoverIssuer(issuer, { serviceUrl: `${internal}/` });
    expect(requested).to.deep.equal(['/.well-known/oauth-authorization-server']);
    expect(metadata.issuer).to.equal(issuer);
    expect(metadata.jwksUri).to.equal(`${internal}/.well-known/jwks.json`);
    expect(metadata.revocationFeedEndpoint).to.equal(`${internal}/revocations`);
    // Endpoints the issuer places elsewhere are left alone.
    expect(metadata.revocationStreamEndpoint).to.equal('https://elsewhere.example.test/stream');
  });

  it('still insists that the metadata names the configured issuer', async () => {
    expect(await rejectionOf(discoverIssuer('https://other.example.test', { serviceUrl: internal })))
      .to.have.property('message')
      .that.matches(/is not the configured issuer/);
  });
});
