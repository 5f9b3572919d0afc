// Summarises an .xcev event file: format, duration, channels with their profiles, packets, and late and concealed frames per channel.
import { EventType, type DecodedProfile, type TruncatedEvent } from './codec';
import { indexSession, type IndexOptions } from './session';

export interface ChannelSummary {
  channelId: number;
  profile: DecodedProfile | null;
  /** 'opus' or 'pcm' from its packets; null if the file has none of them. */
  codec: 'opus' | 'pcm' | null;
  compression: number;
  channels: number;
  frameSamples: number;
  /** Packet events (0x01/0x12), duplicates included. */
  packets: number;
  duplicates: number;
  packetBytes: number;
  firstSeq: bigint | null;
  lastSeq: bigint | null;
  /** Frames whose mix included this channel. */
  framesMixed: number;
  /** Of those, frames the live mix concealed. */
  concealedFrames: number;
  /** Concealed live, but the slot's packet arrived later (a reconstruction uses it). */
  latePackets: number;
  /** Concealed live and not recoverable. */
  lostPackets: number;
  /** Used by the live mix but absent from the file. */
  missingPackets: number;
  /** Seqs of the first late packets (at most 100). */
  lateSeqs: bigint[];
}

export interface Summary {
  path: string;
  bytes: number;
  events: number;
  eventsByType: { opusPacketReceived: number; audioFrameMixed: number; roomFrameMixed: number; streamInfo: number; mixParameters: number; pcmPacketReceived: number; roomMasters: number; unknown: number };
  /** Mixed frames per room ('main': 0x02, the others 0x13); the figures below are the room 'main''s. */
  rooms: Record<string, number>;
  formatVersion: number | null;
  serverStartMicros: number | null;
  sampleRate: number | null;
  frameSamples: number | null;
  /** Mixed frames in the file. */
  frames: number;
  firstFrameSeq: bigint | null;
  lastFrameSeq: bigint | null;
  /** Audio time the mixed frames span (frame seqs × frame size), in seconds. */
  durationSeconds: number;
  /** Wall time from the first to the last event, in seconds. */
  wallSeconds: number;
  mixParameterChanges: number;
  channels: ChannelSummary[];
  warnings: string[];
  truncated: TruncatedEvent | null;
}

/** Reads the file once and summarises it. */
export async function inspectEvents(path: string, opts: IndexOptions = {}): Promise<Summary> {
  const ix = await indexSession(path, opts);
  const t = ix.eventsByType;
  const frameSpan = ix.firstFrameSeq === null ? 0 : Number(ix.lastFrameSeq! - ix.firstFrameSeq) + 1;
  const channels: ChannelSummary[] = [...ix.channels.values()]
    .sort((a, b) => a.channelId - b.channelId)
    .map((c) => ({
      channelId: c.channelId,
      profile: c.profile,
      codec: c.kind,
      compression: c.compression,
      channels: c.channels,
      frameSamples: c.frameSamples,
      packets: c.packets,
      duplicates: c.duplicates,
      packetBytes: c.packetBytes,
      firstSeq: c.firstSeq,
      lastSeq: c.lastSeq,
      framesMixed: c.framesMixed,
      concealedFrames: c.concealedFrames,
      latePackets: c.latePackets,
      lostPackets: c.lostPackets,
      missingPackets: c.missingPackets,
      lateSeqs: c.lateSeqs,
    }));
  return {
    path,
    bytes: ix.bytes,
    events: ix.events,
    eventsByType: {
      opusPacketReceived: t[EventType.OPUS_PACKET_RECEIVED] ?? 0,
      audioFrameMixed: t[EventType.AUDIO_FRAME_MIXED] ?? 0,
      roomFrameMixed: t[EventType.ROOM_FRAME_MIXED] ?? 0,
      streamInfo: t[EventType.STREAM_INFO] ?? 0,
      mixParameters: t[EventType.MIX_PARAMETERS] ?? 0,
      pcmPacketReceived: t[EventType.PCM_PACKET_RECEIVED] ?? 0,
      roomMasters: t[EventType.ROOM_MASTERS] ?? 0,
      unknown: ix.unknownEvents,
    },
    rooms: Object.fromEntries(ix.rooms),
    formatVersion: ix.streamInfo?.version ?? null,
    serverStartMicros: ix.streamInfo?.serverStartMicros ?? null,
    sampleRate: ix.sampleRate,
    frameSamples: ix.frameSamples,
    frames: ix.frames,
    firstFrameSeq: ix.firstFrameSeq,
    lastFrameSeq: ix.lastFrameSeq,
    durationSeconds: ix.sampleRate && ix.frameSamples ? (frameSpan * ix.frameSamples) / ix.sampleRate : 0,
    wallSeconds: ix.firstTimestamp === null ? 0 : (ix.lastTimestamp! - ix.firstTimestamp) / 1e6,
    mixParameterChanges: ix.params.length,
    channels,
    warnings: ix.warnings,
    truncated: ix.truncated,
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function padLeft(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/** A human-readable report of a Summary (what `xcast events inspect` prints). */
export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  lines.push(`${s.path}: ${s.bytes} bytes, ${s.events} events`);
  const e = s.eventsByType;
  lines.push(`  events: ${e.opusPacketReceived} opus packets, ${e.pcmPacketReceived} pcm packets, ${e.audioFrameMixed} mixed frames, ` +
    `${e.mixParameters} mix parameters, ${e.streamInfo} stream info, ${e.unknown} unknown`);
  const others = Object.entries(s.rooms).filter(([r]) => r !== 'main');
  if (others.length > 0) lines.push(`  rooms: ${Object.entries(s.rooms).map(([r, n]) => `${r} ${n} frames`).join(', ')} (channels and frames below: main; xcast reconstruct --room NAME rebuilds another)`);
  const fmt = s.sampleRate ? `${s.sampleRate} Hz, ${s.frameSamples} samples per frame` : 'unknown format (no Stream Info or mixed frame)';
  lines.push(`  format: ${fmt}${s.formatVersion === null ? '' : `, version ${s.formatVersion}`}`);
  if (s.serverStartMicros !== null) lines.push(`  server started: ${new Date(s.serverStartMicros / 1000).toISOString()}`);
  lines.push(`  duration: ${s.durationSeconds.toFixed(3)} s of mixed audio (${s.frames} frames` +
    `${s.firstFrameSeq === null ? '' : `, seq ${s.firstFrameSeq}…${s.lastFrameSeq}`}), ${s.wallSeconds.toFixed(3)} s wall time`);
  lines.push(`  mix parameter snapshots: ${s.mixParameterChanges}`);
  lines.push(`  channels: ${s.channels.length}`);
  if (s.channels.length > 0) {
    const head = ['id', 'name', 'city', 'country', 'codec', 'packets', 'mixed', 'concealed', 'late', 'lost', 'missing'];
    const rows = s.channels.map((c) => [
      String(c.channelId),
      c.profile?.name || '-',
      c.profile?.city || '-',
      String(c.profile?.countryCode ?? 0),
      c.codec ? `${c.codec} ${c.channels}ch ${c.frameSamples}` : '-',
      String(c.packets) + (c.duplicates ? ` (+${c.duplicates} dup)` : ''),
      String(c.framesMixed),
      String(c.concealedFrames),
      String(c.latePackets),
      String(c.lostPackets),
      String(c.missingPackets),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const fmtRow = (r: string[]): string => '    ' + r.map((v, i) => (i <= 4 ? pad(v, widths[i]) : padLeft(v, widths[i]))).join('  ');
    lines.push(fmtRow(head));
    for (const r of rows) lines.push(fmtRow(r));
    for (const c of s.channels) {
      if (c.lateSeqs.length > 0) {
        const more = c.latePackets > c.lateSeqs.length ? `, … (${c.latePackets} in all)` : '';
        lines.push(`  late packets of channel ${c.channelId}: seq ${c.lateSeqs.join(', ')}${more}`);
      }
    }
  }
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}
