// The playout (jitter) buffer's public entry: everything importers use, from the mechanisms in runtime/audio/playout/.
//
// buffer.ts (PlayoutBuffer: the state machine that composes the rest), slots.ts (packet slots by seq), fifo.ts
// (decoded samples waiting, and which packet they came from), playhead.ts (the next slot to play; playing, decoding
// ahead, dropping), decode.ts (a packet or concealment into the fifo), trim.ts (the latency trims: splice and whole
// frames), channel-map.ts, conceal.ts (PCM concealment),
// crossfade.ts (the trims' cross-fade and splice search), depth.ts (adaptive target, windows), options.ts
// (options, profiles, errors, the packet checks). Sequence numbers: runtime/seq.ts; jitter: runtime/jitter.ts.
export { PlayoutBuffer } from './playout/buffer';
export {
  PLAYOUT_PROFILES, PlayoutConfigError, PlayoutFormatError, PlayoutPacketError, checkPlayoutPacket,
  type AudioCodecName, type PlayoutHeader, type PlayoutOptions, type PlayoutProfile, type PlayoutStats, type PullInfo, type PulledFrame, type PushResult,
} from './playout/options';
export { crossfade, frameTrimFadeSamples } from './playout/crossfade';
export { mapChannels } from './playout/channel-map';
export { PcmConcealment } from './playout/conceal';
export type { PlayoutEventKind, PlayoutEventListener } from './playout/events';
