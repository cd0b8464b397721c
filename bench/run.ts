// `npm run bench [-- scenario…] [--quick]`: runs the named scenarios (all by
// default) and prints their tables. Figures, not verdicts: nothing here fails
// on a slow machine.
import os from 'node:os';
import { denylistScale } from './scenarios/denylist-scale.ts';
import { eventLoop } from './scenarios/event-loop.ts';
import { gatewayOverhead } from './scenarios/gateway-overhead.ts';
import { revocationLatency } from './scenarios/revocation-latency.ts';
import { soak } from './scenarios/soak.ts';
import { tokenServiceBench } from './scenarios/token-service.ts';
import { websocketFlood } from './scenarios/websocket-flood.ts';
import { quickMode } from './lib/stats.ts';

const scenarios: Record<string, () => Promise<void>> = {
  'gateway-overhead': gatewayOverhead,
  'token-service': tokenServiceBench,
  'revocation-latency': revocationLatency,
  'denylist-scale': denylistScale,
  'event-loop': eventLoop,
  soak,
  'websocket-flood': websocketFlood,
};

const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const unknown = requested.filter((name) => !(name in scenarios));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
// Other work on the machine skews every figure: the load average is printed before and after each scenario.
const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}` +
    `${quickMode() ? ' (quick mode)' : ''}; load average ${load()}`,
);
for (const name of requested.length > 0 ? requested : Object.keys(scenarios)) {
  const started = performance.now();
  console.log(`\n=== ${name} (load average before: ${load()})`);
  await scenarios[name]!();
  console.log(`=== ${name}: ${((performance.now() - started) / 1000).toFixed(0)} s (load average after: ${load()})`);
}
process.exit(0);
