// Every token-service variable is documented where operators look: the README
// configuration table, .env.example and docker-compose.yml (except the ones
// docker-compose fixes itself, as .env.example says).
import fs from 'node:fs';
import { expect } from 'chai';
import { tokenServiceEnv } from '../../services/token/config.ts';

const read = (file: string) => fs.readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
// Fixed by docker-compose.yml or its entrypoint, or meaningless in a container (the embedded database).
const FIXED_BY_COMPOSE = [
  'TOKEN_HOST',
  'TOKEN_PORT',
  'ISSUER',
  'DATABASE_URL',
  'DATA_DIR',
  'CLIENTS_FILE',
  'TRUST_PROXY',
  'KEY_ENCRYPTION_KEY',
];

describe('token service: configuration is documented', () => {
  const names = Object.keys(tokenServiceEnv);
  it('in the README configuration table', () => {
    const readme = read('README.md');
    expect(names.filter((name) => !readme.includes(`| \`${name}\` |`))).to.deep.equal([]);
  });
  it('in .env.example and docker-compose.yml', () => {
    const example = read('.env.example');
    const compose = read('docker-compose.yml');
    const settable = names.filter((name) => !FIXED_BY_COMPOSE.includes(name));
    expect(
      settable.filter((name) => !new RegExp(`^${name}=`, 'm').test(example)),
      '.env.example',
    ).to.deep.equal([]);
    expect(
      settable.filter((name) => !compose.includes(`${name}: \${${name}:-`)),
      'docker-compose.yml',
    ).to.deep.equal([]);
  });
});
