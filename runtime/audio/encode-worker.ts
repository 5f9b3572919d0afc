// An Opus encoder thread of the EncodePool (encode-pool.ts): one OpusEncoder per stream it was given; each batch is
// encoded in order and answered with the packets packed into one transferred ArrayBuffer.
import { parentPort } from 'node:worker_threads';
import { OpusEncoder } from './opus';
import type { EncodeBatch, EncodeResult } from './encode-pool';

const encoders = new Map<number, OpusEncoder | Error>();

parentPort!.on('message', (m: EncodeBatch) => {
  for (const id of m.closed) encoders.delete(id);
  const packets: Buffer[] = [];
  const lens: number[] = [];
  const errors: Array<string | null> = [];
  let bytes = 0;
  for (const it of m.items) {
    let enc = encoders.get(it.id);
    if (enc === undefined && it.opts) {
      try {
        enc = new OpusEncoder(it.opts);
      } catch (err) {
        enc = err as Error;
      }
      encoders.set(it.id, enc);
    }
    if (enc === undefined || enc instanceof Error) {
      lens.push(-1);
      errors.push(enc instanceof Error ? enc.message : `opus encode: stream ${it.id} unknown to its thread`);
      continue;
    }
    try {
      // OpusEncoder.encode checks the size before libopus sees it.
      const p = enc.encode(Buffer.from(m.pcm, it.off, it.len));
      packets.push(p);
      lens.push(p.length);
      errors.push(null);
      bytes += p.length;
    } catch (err) {
      lens.push(-1);
      errors.push((err as Error).message);
    }
  }
  const data = new ArrayBuffer(bytes);
  const dst = new Uint8Array(data);
  let off = 0;
  for (const p of packets) {
    dst.set(p, off);
    off += p.length;
  }
  const r: EncodeResult = { batch: m.batch, lens, errors, data };
  parentPort!.postMessage(r, [data]);
});
