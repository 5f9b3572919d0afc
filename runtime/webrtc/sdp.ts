// What the hub reads from a browser's SDP offer, and the one change it makes to werift's answer.
//
// The offer: it must parse (a session line, at least one m-line) and offer Opus at 48 kHz (`opus/48000/2`) on an
// audio m-line; its fmtp says whether the browser takes stereo. The answer: werift repeats the offer's Opus fmtp
// (`sprop-stereo=1` included, whatever it sends), so the hub writes the fmtp itself (webrtc.md, "Media").

export interface OfferInfo {
  /** The Opus payload type of the first audio m-line that offers Opus. */
  opusPayloadType: number;
  /** The offer's Opus fmtp had stereo=1. */
  stereo: boolean;
  /** The number of m-lines (the hub answers one audio m-line; any other is refused by werift's answer). */
  mLines: number;
}

export class SdpError extends Error {
  readonly code = 'bad_sdp';
  constructor(message: string) {
    super(message);
    this.name = 'SdpError';
  }
}

/** The largest offer read (a browser's is 2–6 KiB). */
export const MAX_SDP_BYTES = 64 * 1024;

/** Reads an offer; throws SdpError with a message naming `sdp`. */
export function readOffer(sdp: string): OfferInfo {
  if (sdp.length > MAX_SDP_BYTES) throw new SdpError(`sdp: longer than ${MAX_SDP_BYTES} characters`);
  const lines = sdp.split(/\r?\n/);
  if (!/^v=0\s*$/.test(lines[0] ?? '')) throw new SdpError('sdp: does not parse (it must start with "v=0")');
  let mLines = 0;
  let inAudio = false;
  let found: { pt: number; stereo: boolean } | null = null;
  // Per audio m-line: its Opus payload type (rtpmap) and fmtp lines by payload type.
  let pt = -1;
  let fmtp = new Map<number, string>();
  const finishSection = () => {
    if (inAudio && pt >= 0 && found === null) found = { pt, stereo: /(^|[;\s])stereo=1(;|\s|$)/.test(fmtp.get(pt) ?? '') };
  };
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      finishSection();
      mLines++;
      inAudio = /^m=audio\s+\d+(\/\d+)?\s+\S+(\s+\d+)+$/.test(line);
      if (/^m=audio\s/.test(line) && !inAudio) throw new SdpError('sdp: does not parse (a bad m=audio line)');
      pt = -1;
      fmtp = new Map();
      continue;
    }
    if (!inAudio) continue;
    const rtpmap = /^a=rtpmap:(\d{1,3})\s+opus\/48000(\/2)?$/i.exec(line);
    if (rtpmap && pt < 0) pt = Number(rtpmap[1]);
    const f = /^a=fmtp:(\d{1,3})\s+(.*)$/.exec(line);
    if (f) fmtp.set(Number(f[1]), f[2]);
  }
  finishSection();
  if (mLines === 0) throw new SdpError('sdp: does not parse (no m= line)');
  const opus = found as { pt: number; stereo: boolean } | null;
  if (opus === null) throw new SdpError('sdp: offers no Opus audio (an m=audio line with a=rtpmap:PT opus/48000/2)');
  return { opusPayloadType: opus.pt, stereo: opus.stereo, mLines };
}

/** The Opus fmtp the hub answers: 10 ms frames at least, in-band FEC, and stereo only for an offer that had it. */
export function answerFmtp(stereo: boolean): string {
  return stereo ? 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1' : 'minptime=10;useinbandfec=1';
}

/**
 * werift's answer with the Opus fmtp shaped: the line for Opus's payload type replaced (or added after its rtpmap
 * when werift wrote none). The payload type is read from the answer's own rtpmap.
 */
export function shapeAnswer(sdp: string, stereo: boolean): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  let pt = -1;
  for (const l of lines) {
    const m = /^a=rtpmap:(\d{1,3})\s+opus\/48000/i.exec(l);
    if (m) { pt = Number(m[1]); break; }
  }
  if (pt < 0) return sdp;
  const fmtp = `a=fmtp:${pt} ${answerFmtp(stereo)}`;
  const out: string[] = [];
  let wrote = false;
  for (const l of lines) {
    if (l.startsWith(`a=fmtp:${pt} `)) {
      if (!wrote) out.push(fmtp);
      wrote = true;
      continue;
    }
    out.push(l);
  }
  if (!wrote) {
    const i = out.findIndex((l) => new RegExp(`^a=rtpmap:${pt}\\s`).test(l));
    out.splice(i + 1, 0, fmtp);
  }
  return out.join(eol);
}

/** The host addresses of an answer's candidates (what the tests and the bench read). */
export function candidateAddresses(sdp: string): string[] {
  const out: string[] = [];
  for (const m of sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)/gm)) out.push(`${m[1]} ${m[2]} ${m[3]}`);
  return out;
}
