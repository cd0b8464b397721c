// Token-service settings that depend on each other.
import { expect } from 'chai';
import { loadTokenServiceConfig } from '../../services/token/config.ts';

describe('token service: configuration', () => {
  it('ISSUER defaults to http://localhost:<TOKEN_PORT>, so moving the port alone keeps tokens and metadata coherent', () => {
    expect(loadTokenServiceConfig({}).ISSUER).to.equal('http://localhost:4000');
    expect(loadTokenServiceConfig({ TOKEN_PORT: '4010' }).ISSUER).to.equal('http://localhost:4010');
    expect(loadTokenServiceConfig({ TOKEN_PORT: '4010', ISSUER: 'https://auth.example.com/' }).ISSUER).to.equal('https://auth.example.com');
  });
});
