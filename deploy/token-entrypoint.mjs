// Container entry point of the token service (`node deploy/token-entrypoint.mjs`).
//
// Registers the gateway's confidential client from the environment, so the one
// secret in .env (GATEWAY_CLIENT_SECRET) serves both sides: it writes a clients
// file (the gateway client with scope revocations:read, plus any clients of an
// existing CLIENTS_FILE) to a private temporary directory, points CLIENTS_FILE at
// it, then runs the compiled service in this same process, so node stays PID 1 and
// receives SIGTERM itself. Without GATEWAY_CLIENT_SECRET it only runs the service.
/* global process */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const secret = process.env.GATEWAY_CLIENT_SECRET;
if (secret) {
  const clientId = process.env.GATEWAY_CLIENT_ID || 'gateway';
  let clients = [];
  if (process.env.CLIENTS_FILE) {
    // Validation (and its error messages) stay the service's: only the list shape matters here.
    clients = JSON.parse(fs.readFileSync(process.env.CLIENTS_FILE, 'utf8'));
    if (!Array.isArray(clients)) throw new Error(`CLIENTS_FILE ${process.env.CLIENTS_FILE}: expected a JSON list of clients`);
    clients = clients.filter((client) => client?.client_id !== clientId);
  }
  clients.push({
    client_id: clientId,
    name: 'Gateway (revocation feed)',
    client_secret: secret,
    grant_types: ['client_credentials'],
    scopes: ['revocations:read'],
    audiences: [],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-clients-'));
  const file = path.join(dir, 'clients.json');
  fs.writeFileSync(file, JSON.stringify(clients, null, 2), { mode: 0o600 });
  process.env.CLIENTS_FILE = file;
}

await import('../dist/services/token/server.js');
