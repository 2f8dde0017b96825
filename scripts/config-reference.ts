/**
 * Prints the README's configuration reference, generated from the one config table (`describeConfig()`).
 * `npx tsx scripts/config-reference.ts` — and test/docs/readme.test.ts fails when the README drifts from it.
 */
import { PROXY_OPTION_DOCS } from '../src/cli/proxy-config.js';
import { describeConfig } from '../src/core/config.js';

/** The Markdown table of every option. */
export function configReference(): string {
  const rows = describeConfig().map((o) => {
    const bounds = o.min === undefined ? '' : `${o.min} … ${o.max}`;
    // A `|` inside a cell would end it: the enum types (`'cancel' | 'complete'`) escape theirs.
    const type = o.type.replaceAll('|', '\\|');
    return `| \`${o.path}\` | ${type} | \`${JSON.stringify(o.default)}\` | ${bounds} | ${o.description} |`;
  });
  return ['| option | type | default | allowed | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

/** The Markdown table of the proxy's own keys (slice-proxy YAML and flags). */
export function proxyReference(): string {
  const rows = PROXY_OPTION_DOCS.map(
    (o) =>
      `| \`${o.path}\` | ${o.flag === '' ? '' : `\`${o.flag}\``} | ${o.default === '' ? '' : `\`${o.default}\``} | ${o.description} |`,
  );
  return ['| key | flag | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`)
  console.log(`${configReference()}\n\n${proxyReference()}`);
