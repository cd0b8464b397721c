// Every setting is documented where operators look, from one source: the zod
// schemas. The README tables and .env.example's optional settings are generated
// from them (`npm run docs`, scripts/settings-docs.ts); docker-compose.yml passes
// each settable variable through (except the ones it fixes itself, as
// .env.example says).
import { expect } from 'chai';
import { gatewayEnv } from '../../gateway/config.ts';
import { tokenServiceEnv } from '../../services/token/config.ts';
import { describeSettings, readRepoFile, renderDocs } from '../../scripts/settings-docs.ts';

// Fixed by docker-compose.yml, or meaningless in a container (the embedded database).
const FIXED_BY_COMPOSE = [
  'TOKEN_HOST',
  'TOKEN_PORT',
  'ISSUER',
  'DATABASE_URL',
  'DATA_DIR',
  'CLIENTS_FILE',
  'TRUST_PROXY',
  'GATEWAY_HOST',
  'GATEWAY_PORT',
  'TOKEN_ISSUER',
  'TOKEN_SERVICE_URL',
  'GATEWAY_PUBLIC_URL',
];

describe('configuration is documented', () => {
  it('the generated tables and .env.example are current (npm run docs)', () => {
    for (const [file, expected] of Object.entries(renderDocs(readRepoFile))) {
      expect(readRepoFile(file) === expected, `${file} differs from its schemas: run npm run docs`).to.equal(true);
    }
  });

  it('every setting has a description in its schema', () => {
    expect(() => describeSettings(tokenServiceEnv)).not.to.throw();
    expect(() => describeSettings(gatewayEnv)).not.to.throw();
    expect(() => describeSettings({ UNDOCUMENTED: tokenServiceEnv.TOKEN_PORT.describe('') })).to.throw(/UNDOCUMENTED has no description/);
  });

  for (const [deployable, names, readmes] of [
    ['token service', Object.keys(tokenServiceEnv), ['README.md']],
    ['gateway', Object.keys(gatewayEnv), ['README.md', 'gateway/README.md']],
  ] as const) {
    describe(deployable, () => {
      for (const file of readmes) {
        it(`in the ${file} configuration table`, () => {
          const readme = readRepoFile(file);
          expect(names.filter((name) => !readme.includes(`| \`${name}\` |`))).to.deep.equal([]);
        });
      }
      it('in .env.example and docker-compose.yml', () => {
        const example = readRepoFile('.env.example');
        const compose = readRepoFile('docker-compose.yml');
        const settable = names.filter((name) => !FIXED_BY_COMPOSE.includes(name));
        expect(
          settable.filter((name) => !new RegExp(`^${name}=`, 'm').test(example)),
          '.env.example',
        ).to.deep.equal([]);
        expect(
          settable.filter((name) => !compose.includes(`${name}: \${${name}:`)),
          'docker-compose.yml',
        ).to.deep.equal([]);
      });
    });
  }
});
