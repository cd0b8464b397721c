// Two routes files ship: gateway/routes.json (development, upstreams on this
// machine) and deploy/gateway-routes.json (docker-compose: the same routes with
// the compose services' host names, plus the token service's public endpoints,
// which development clients reach directly). Both are written by hand; this
// keeps them in step: a route added, removed or changed in one must be in the other.
import { expect } from 'chai';
import fs from 'node:fs';
import { compileRoutes } from '../../gateway/routes/schema.ts';

interface RouteEntry {
  id: string;
  upstream: string;
  [key: string]: unknown;
}

const read = (file: string) => JSON.parse(fs.readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')) as { routes: RouteEntry[] };
const development = read('gateway/routes.json').routes;
const deployed = read('deploy/gateway-routes.json').routes;
const compose = fs.readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');

/** `${NOTES_URL:-http://127.0.0.1:4102}` → variable NOTES_URL, default host 127.0.0.1, port 4102. */
function upstreamParts(upstream: string) {
  const match = /^\$\{([A-Z_]+):-http:\/\/([^:/]+):(\d+)\}$/.exec(upstream);
  expect(match, `upstream ${upstream} is not of the form \${VAR:-http://host:port}`).to.be.ok;
  return { variable: match![1]!, host: match![2]!, port: match![3]! };
}

describe('gateway: the development and deployment routes files', () => {
  it('both compile', () => {
    compileRoutes({ routes: development }, {}, 'gateway/routes.json');
    compileRoutes({ routes: deployed }, {}, 'deploy/gateway-routes.json');
  });

  it('hold the same routes, in the same order, apart from the upstream hosts', () => {
    const shared = deployed.filter((route) => development.some((d) => d.id === route.id));
    expect(shared.map((route) => route.id)).to.deep.equal(development.map((route) => route.id));
    for (const [index, route] of development.entries()) {
      const counterpart = shared[index]!;
      const { upstream: devUpstream, ...devRest } = route;
      const { upstream: deployUpstream, ...deployRest } = counterpart;
      expect(deployRest, `route ${route.id}`).to.deep.equal(devRest);
      const dev = upstreamParts(devUpstream);
      const deploy = upstreamParts(deployUpstream);
      expect({ ...deploy, host: dev.host }, `route ${route.id}: same variable and port`).to.deep.equal(dev);
      expect(dev.host, `route ${route.id}: development upstreams are on this machine`).to.equal('127.0.0.1');
    }
  });

  it('adds only the token service’s endpoints for deployment, each upstream a compose service the gateway is given', () => {
    const extra = deployed.filter((route) => !development.some((d) => d.id === route.id));
    expect(
      extra.every((route) => route.id.startsWith('token-') && upstreamParts(route.upstream).variable === 'TOKEN_SERVICE_URL'),
      JSON.stringify(extra.map((route) => route.id)),
    ).to.be.ok;
    for (const route of deployed) {
      const { variable, host, port } = upstreamParts(route.upstream);
      expect(compose.includes(`${variable}: http://${host}:${port}`), `docker-compose.yml sets ${variable} to http://${host}:${port}`).to.be
        .ok;
    }
  });
});
