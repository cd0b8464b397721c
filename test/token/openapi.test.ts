import fs from 'node:fs';
import { expect } from 'chai';
import { buildRouter } from '../../services/token/app.ts';
import { RevocationStreams } from '../../services/token/actions/revocation-feed.ts';
import { openApiDocument } from '../../services/token/openapi.ts';
import { useTestTokenService } from '../support/token-service.ts';
import { request } from '../support/http.ts';

type Paths = Record<string, Record<string, unknown>>;

describe('token service: OpenAPI document', () => {
  const svc = useTestTokenService();

  it('lists exactly the operations the router serves', () => {
    const router = buildRouter(svc.service, new RevocationStreams());
    const served = new Set<string>();
    for (const layer of router.stack) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue; // added implicitly for every GET
        served.add(`${method} ${String(layer.path).replace(/:([A-Za-z_]+)/g, '{$1}')}`);
      }
    }
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(openApiDocument(svc.service.config).paths as Paths)) {
      for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    expect(
      [...served].filter((op) => !documented.has(op)),
      'served but not documented',
    ).to.deep.equal([]);
    expect(
      [...documented].filter((op) => !served.has(op)),
      'documented but not served',
    ).to.deep.equal([]);
    expect(served.size).to.be.greaterThan(15);
  });

  it('is served at /openapi.json, and docs/openapi.json is current (npm run openapi)', async () => {
    const reply = await request(svc.url, 'GET', '/openapi.json');
    expect(reply.status).to.equal(200);
    expect(reply.body.openapi).to.equal('3.1.0');
    const onDisk = JSON.parse(fs.readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
    expect(onDisk).to.deep.equal(openApiDocument({ ISSUER: 'http://localhost:4000' }));
  });
});
