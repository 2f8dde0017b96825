/**
 * The verdicts of cases 1, 2, 3 and 6 against the targets of the issue, from the medians of the rounds.
 *
 * @module
 */

import { bestMs, median, medianMs, ratio, rssMB, type Verdict } from '../report.js';
import { CASE1_SLICES, type Results, variantLabel } from './variants.js';

/** Case 3's ceiling: the median peak RSS of the cold 1 GiB stream, MB (10^6 bytes), over at least 3 rounds. */
export const CASE3_RSS_MB = 120;
const CASE3_MIN_ROUNDS = 3;

/** Case 6's floor: `fetch()` cold throughput ÷ one undici `request()` GET. */
export const CASE6_FLOOR = 0.7;

/**
 * The verdict per target of the issue, for cases 1–3 (case 2's `fetch()` cold rows are case 6's, at its floor:
 * see {@link fetchBodyVerdicts}).
 *
 * @example
 * ```ts
 * for (const v of verdicts(results)) console.log(v.target, v.met);
 * ```
 */
export function verdicts(results: Results): Verdict[] {
  const t = (id: string): number => medianMs(results, id);
  const rss = (id: string): number => rssMB(median(results.get(id)?.rssKiB ?? []));
  const out: Verdict[] = [];
  for (const id of CASE1_SLICES) {
    const name = variantLabel(id).replace('slice-fetch ', '');
    const vsAria = t(id) / t('c1.aria2c');
    const vsOne = t(id) / t('c1.undici');
    out.push(
      { target: `1. ${name}: time ≤ 1.15 × aria2c`, measured: ratio(vsAria), met: vsAria <= 1.15 },
      { target: `1. ${name}: time ≤ 1/6 (0.17×) of one GET`, measured: ratio(vsOne), met: vsOne <= 1 / 6 },
    );
  }
  const entries = [
    ['response', '`fetch()`'],
    ['open', 'internal open'],
  ] as const;
  const best = (id: string): number => bestMs(results, id);
  const vsGet = (id: string, min: number, text: string): Verdict => {
    const median = t('c2.undici') / t(id);
    const bestOfN = best('c2.undici') / best(id);
    return { target: text, measured: `${ratio(median)} (best ÷ best ${ratio(bestOfN)})`, met: median >= min };
  };
  out.push(
    vsGet('c2.cold.open', 0.5, '2. internal open: cold throughput ≥ 0.5 × undici GET'),
    vsGet('c2.cold.open.steady', 0.5, '2. internal open, warm process: cold throughput ≥ 0.5 × undici GET'),
  );
  for (const [entry, name] of entries)
    out.push(vsGet(`c2.warm.${entry}`, 0.8, `2. ${name}: warm throughput ≥ 0.8 × undici GET`));
  const rssEntries = [...entries, ['recycled', 'internal open, pieces given back (as the handler)']] as const;
  for (const [entry, name] of rssEntries) {
    const peak = rss(`c2.cold.${entry}`);
    const rounds = results.get(`c2.cold.${entry}`)?.rssKiB.length ?? 0;
    out.push({
      target: `3. ${name}: peak RSS cold 1 GiB ≤ ${CASE3_RSS_MB} MB (median of ≥ ${CASE3_MIN_ROUNDS} runs)`,
      measured: `${Math.round(peak)} MB (median of ${rounds})`,
      met: peak <= CASE3_RSS_MB && rounds >= CASE3_MIN_ROUNDS,
    });
  }
  return out;
}

/**
 * Case 6's verdicts: the cold 1 GiB through `fetcher.fetch()`, read through the Response body, at least
 * {@link CASE6_FLOOR} × one undici GET's throughput — first fetch and warm process alike.
 *
 * @example
 * ```ts
 * fetchBodyVerdicts(results);
 * ```
 */
export function fetchBodyVerdicts(results: Results): Verdict[] {
  return [
    ['c2.cold.response', 'first fetch'],
    ['c2.cold.response.steady', 'warm process'],
  ].map(([id, name]) => {
    const median = medianMs(results, 'c2.undici') / medianMs(results, id as string);
    const best = bestMs(results, 'c2.undici') / bestMs(results, id as string);
    return {
      target: `6. \`fetch()\` cold 1 GiB, Response body read, ${name}: throughput ≥ ${CASE6_FLOOR} × undici GET`,
      measured: `${ratio(median)} (best ÷ best ${ratio(best)})`,
      met: median >= CASE6_FLOOR,
    };
  });
}
