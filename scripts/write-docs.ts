// `npm run docs`: rewrites the generated parts of the README tables and .env.example (scripts/settings-docs.ts).
import fs from 'node:fs';
import { readRepoFile, renderDocs } from './settings-docs.ts';

for (const [file, content] of Object.entries(renderDocs(readRepoFile))) {
  if (content === readRepoFile(file)) continue;
  fs.writeFileSync(new URL(`../${file}`, import.meta.url), content);
  console.log(`wrote ${file}`);
}
