// Reads .xcev event files: streaming iteration for the offline tools, and random access to one event by its byte offset.
import fs from 'node:fs';
import {
  EVENT_HEADER_BYTES, EventFormatError, EventParser, decodeEventData, isKnownEventType,
  type AudioEvent, type TruncatedEvent,
} from './codec';

/** A malformed event file; the message names the file and the byte offset. */
export class EventFileError extends Error {
  override readonly name = 'EventFileError';
  constructor(
    readonly code: EventFormatError['code'] | 'io',
    readonly path: string,
    readonly offset: number | undefined,
    message: string,
  ) {
    super(`${path}: ${offset === undefined ? '' : `at byte ${offset}: `}${message}`);
  }
}

/** Something wrong with a file that did not stop the reading. */
export interface EventFileWarning {
  code: 'truncated';
  path: string;
  offset: number;
  message: string;
}

export interface ReadEventFileOptions {
  /** Called after each chunk with the bytes read so far and the file size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Called for each warning (they are also collected on the reader). */
  onWarning?: (w: EventFileWarning) => void;
  /** Read size; default 1 MiB. */
  chunkBytes?: number;
  /** See EventParserOptions.maxEventBytes. */
  maxEventBytes?: number;
}

/** The iterable readEventFile returns; after iteration it tells what was found. */
export interface EventFileReader extends AsyncIterable<AudioEvent> {
  readonly path: string;
  /** Warnings so far (a truncated last event, …). */
  readonly warnings: EventFileWarning[];
  /** The incomplete last event, once iteration reached the end. */
  readonly truncated: TruncatedEvent | null;
  /** Events of unknown types skipped. */
  readonly skipped: number;
  /** File size in bytes, once opened. */
  readonly totalBytes: number;
}

function describeTruncation(t: TruncatedEvent): string {
  const what = t.type === null ? 'an event header' : `an event of type 0x${t.type.toString(16).padStart(2, '0')}`;
  const need = t.expectedBytes === null ? `${EVENT_HEADER_BYTES} header bytes` : `${t.expectedBytes} bytes`;
  return `file ends inside ${what} (${t.receivedBytes} of ${need}); the events before it are used`;
}

/**
 * Iterates the events of an .xcev file, in order. A truncated last event (a capture that
 * was killed) becomes a warning with its offset and the events before it are used;
 * malformed data throws EventFileError naming the offset. Buffers in the events are views
 * into fresh read chunks and stay valid.
 */
export function readEventFile(path: string, opts: ReadEventFileOptions = {}): EventFileReader {
  const warnings: EventFileWarning[] = [];
  const state = { truncated: null as TruncatedEvent | null, skipped: 0, totalBytes: 0 };
  const chunkBytes = opts.chunkBytes ?? 1024 * 1024;

  async function* iterate(): AsyncGenerator<AudioEvent> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(path, 'r');
    } catch (err) {
      throw new EventFileError('io', path, undefined, `cannot open: ${(err as Error).message}`);
    }
    try {
      state.totalBytes = (await fh.stat()).size;
      const parser = new EventParser({ maxEventBytes: opts.maxEventBytes });
      const events: AudioEvent[] = [];
      let pos = 0;
      for (;;) {
        // A fresh chunk each read: decoded events keep views into it.
        const chunk = Buffer.allocUnsafe(chunkBytes);
        const { bytesRead } = await fh.read(chunk, 0, chunkBytes, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        events.length = 0;
        let failure: unknown;
        try {
          parser.pushTo(bytesRead === chunkBytes ? chunk : chunk.subarray(0, bytesRead), events);
        } catch (err) {
          failure = err;
        } finally {
          state.skipped = parser.skipped;
        }
        opts.onProgress?.(pos, state.totalBytes);
        // The events this chunk completed before a malformed one are the file's too, whatever the read size.
        for (const e of events) yield e;
        if (failure !== undefined) {
          if (failure instanceof EventFormatError) throw new EventFileError(failure.code, path, failure.offset, stripOffset(failure));
          throw failure;
        }
      }
      const t = parser.end();
      if (t) {
        state.truncated = t;
        const w: EventFileWarning = { code: 'truncated', path, offset: t.offset, message: `${path}: at byte ${t.offset}: ${describeTruncation(t)}` };
        warnings.push(w);
        opts.onWarning?.(w);
      }
    } finally {
      await fh.close();
    }
  }

  return {
    path,
    warnings,
    get truncated() { return state.truncated; },
    get skipped() { return state.skipped; },
    get totalBytes() { return state.totalBytes; },
    [Symbol.asyncIterator]: iterate,
  };
}

function stripOffset(err: EventFormatError): string {
  const prefix = `at byte ${err.offset}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/** Reads all events of a file into an array (for small files and tests). */
export async function readAllEvents(path: string, opts: ReadEventFileOptions = {}): Promise<{ events: AudioEvent[]; warnings: EventFileWarning[] }> {
  const r = readEventFile(path, opts);
  const events: AudioEvent[] = [];
  for await (const e of r) events.push(e);
  return { events, warnings: r.warnings };
}

/**
 * Random access to single events by the byte offset a previous pass found them at.
 * The Buffers in a returned event are views into a scratch buffer that the next
 * read() overwrites: use them before reading again.
 */
export class EventFileRandomAccess {
  private fd: number;
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private readonly header = Buffer.allocUnsafe(EVENT_HEADER_BYTES);

  constructor(readonly path: string) {
    try {
      this.fd = fs.openSync(path, 'r');
    } catch (err) {
      throw new EventFileError('io', path, undefined, `cannot open: ${(err as Error).message}`);
    }
  }

  /** The event starting at `offset`; null for an unknown type. */
  read(offset: number): AudioEvent | null {
    if (this.fd < 0) throw new Error('EventFileRandomAccess is closed');
    this.readExactly(this.header, EVENT_HEADER_BYTES, offset);
    const timestamp = this.header.readUInt32LE(0) + this.header.readUInt32LE(4) * 4294967296;
    const type = this.header[8];
    const len = this.header.readUInt32LE(9);
    if (!isKnownEventType(type)) return null;
    if (this.scratch.length < len) this.scratch = Buffer.allocUnsafe(Math.max(len, this.scratch.length * 2));
    this.readExactly(this.scratch, len, offset + EVENT_HEADER_BYTES, offset);
    try {
      return decodeEventData(type, timestamp, this.scratch.subarray(0, len), offset);
    } catch (err) {
      if (err instanceof EventFormatError) throw new EventFileError(err.code, this.path, offset, stripOffset(err));
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private readExactly(buf: Buffer, n: number, position: number, eventOffset = position): void {
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.fd, buf, got, n - got, position + got);
      if (r === 0) throw new EventFileError('truncated', this.path, eventOffset, `file ends ${n - got} bytes short of the event's end`);
      got += r;
    }
  }
}
