// `npm run bench [-- scenario…] [--quick]`: runs the named scenarios (all by
// default) and prints their tables. Figures, not verdicts: nothing here fails
// on a slow machine.
import os from 'node:os';
import { revocationLatency } from './scenarios/revocation-latency.ts';
import { quickMode } from './lib/stats.ts';

const scenarios: Record<string, () => Promise<void>> = {
  'revocation-latency': revocationLatency,
};

const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const unknown = requested.filter((name) => !(name in scenarios));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}` +
    `${quickMode() ? ' (quick mode)' : ''}`,
);
for (const name of requested.length > 0 ? requested : Object.keys(scenarios)) {
  await scenarios[name]!();
}
process.exit(0);
