// Defects the fuzzers found that their owners are fixing (reported to the lead). Each is matched by the error and where
// it was thrown; remove an entry once its fix is merged — test/fuzz/fuzz.test.ts has a skipped test per entry that
// checks the defect is gone, to be un-skipped with it.
import type { KnownDefect } from './engine';

function stackHas(err: unknown, ...names: string[]): boolean {
  const s = String((err as Error)?.stack ?? '');
  return names.some((n) => s.includes(n));
}

function overflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/.test(err.message);
}

export const KNOWN_DEFECTS: readonly KnownDefect[] = [
  {
    id: 'hello-deep-json',
    owner: 'transport',
    description: 'validateClientHello puts JSON.stringify(<wire value>) into its message: a HELLO whose protocol or role is '
      + 'nested ~10,000 deep throws RangeError (stack overflow) instead of ProtocolError bad_hello (runtime/protocol/frame.ts)',
    matches: (_t, err) => overflow(err) && stackHas(err, 'validateClientHello', 'validateServerHello'),
  },
  {
    id: 'qos-deep-json',
    owner: 'meta',
    description: 'validateQos\'s checkInt/checkNum put JSON.stringify(<wire value>) into the message: a QOS report whose '
      + 'misses/seq/… is nested ~10,000 deep throws RangeError instead of QosValidationError (runtime/qos/aggregator.ts)',
    matches: (_t, err) => overflow(err) && stackHas(err, 'checkInt', 'checkNum', 'validateQos'),
  },
  {
    id: 'snapshot-deep-metadata',
    owner: 'meta',
    description: 'buildAggregatedStatesSnapshot carries the metadata\'s `connections` object over as it came: a METADATA '
      + 'nested ~10,000 deep makes the getMetrics answer unserialisable (res.json throws RangeError: HTTP 500) (runtime/qos/snapshot.ts)',
    matches: (t, err) => t === 'metadata' && overflow(err) && stackHas(err, 'answerAsTheRouteSendsIt'),
  },
];
