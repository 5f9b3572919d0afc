// The audio codec table: the flow's codec names, their ids on the wire (streamproto1's AUDIO header) and bytes per sample.
//
// One numbering everywhere a codec is a number: the wire, the packet ring to the mix thread, the playout buffer's
// slots and the event stream's PCM codec byte (docs/event-stream.md numbers PCM the same way). The ids are the
// wire's (docs/streamproto1.md) and never change.

export enum Codec {
  PCM_S16LE = 0,
  PCM_F32LE = 1,
  OPUS = 2,
}

export type CodecName = 'pcm_s16le' | 'pcm_f32le' | 'opus';

/** The codec names, indexed by wire id. */
export const CODEC_NAMES: readonly CodecName[] = ['pcm_s16le', 'pcm_f32le', 'opus'];

/** Bytes per sample by wire id; 0 for Opus (packet sizes vary). */
const BYTES_PER_SAMPLE: readonly number[] = [2, 4, 0];

/** The wire id of a codec name, or −1 for a name that is none (no throw: the playout and the ring call it per packet). */
export function codecOf(name: string): Codec | -1 {
  return name === 'opus' ? Codec.OPUS : name === 'pcm_f32le' ? Codec.PCM_F32LE : name === 'pcm_s16le' ? Codec.PCM_S16LE : -1;
}

/** The name of a wire id, or undefined for an id that is none. */
export function codecNameOf(id: number): CodecName | undefined {
  return CODEC_NAMES[id];
}

/** Bytes per sample of a codec (id or name); 0 for Opus. */
export function codecBytesPerSample(codec: Codec | CodecName): number {
  const id = typeof codec === 'number' ? codec : codecOf(codec);
  return BYTES_PER_SAMPLE[id] ?? 0;
}
