// `npm run openapi`: writes docs/openapi.json from services/token/openapi.ts (its request parts come from services/token/schemas/).
import fs from 'node:fs';
import { openApiDocument } from '../services/token/openapi.ts';

const document = openApiDocument({ ISSUER: 'http://localhost:4000' });
fs.writeFileSync(new URL('../docs/openapi.json', import.meta.url), `${JSON.stringify(document, null, 2)}\n`);
console.log('wrote docs/openapi.json');
