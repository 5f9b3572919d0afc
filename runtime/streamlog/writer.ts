// The stream event log's file: lines appended in batches, rotated by size (file, file.1 … file.K), never in the way.
//
// - write(line) queues the line and returns; the queue is written on the next turn of the event loop (setImmediate)
//   in one write() per batch — never a synchronous write, never one write per event. A batch holds whole lines and
//   never spans two files, so a kill (even SIGKILL) leaves whole lines, the last possibly cut: the kernel has every
//   batch written before it (no user-space buffer but the queue of the current turn).
// - Rotation: a batch that would take the file past maxBytes first rotates it: file.K−1 → file.K … file → file.1,
//   a fresh file. keep = K rotated files kept (0: the file starts afresh). A line longer than maxBytes gets a file to
//   itself. A file already there is appended to, its size counted.
// - Errors (a directory that is not there, a full disk, no permission) never throw: the batch is dropped and counted
//   (linesDropped), onError is called once, and again only after a write has succeeded since. The next batch tries
//   again (the file is opened anew). The queue is bounded (maxQueuedLines): past it lines are dropped and counted.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export interface RotatingLogOptions {
  /** The file (absolute, or relative to the process's cwd: resolve it first). */
  file: string;
  /** Rotate before the file would grow past this; default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (file.1 … file.keep); default 5. */
  keep?: number;
  /** Told of a failure once (and again after a success); never called twice in a row for one spell of failing. */
  onError?: (err: Error) => void;
  /** Lines queued at most while a write is under way; default 100 000. */
  maxQueuedLines?: number;
}

export interface RotatingLogStats {
  linesWritten: number;
  linesDropped: number;
  rotations: number;
  /** Bytes in the current file. */
  bytes: number;
}

export class RotatingLogWriter {
  readonly file: string;
  readonly maxBytes: number;
  readonly keep: number;
  private readonly onError: (err: Error) => void;
  private readonly maxQueued: number;
  private queue: string[] = [];
  private handle: fsp.FileHandle | null = null;
  private size = 0;
  private scheduled = false;
  private running: Promise<void> | null = null;
  private failing = false;
  private closed = false;
  readonly stats: RotatingLogStats = { linesWritten: 0, linesDropped: 0, rotations: 0, bytes: 0 };

  constructor(o: RotatingLogOptions) {
    this.file = o.file;
    this.maxBytes = o.maxBytes ?? 10 * 1024 * 1024;
    this.keep = o.keep ?? 5;
    if (!(Number.isInteger(this.maxBytes) && this.maxBytes >= 1)) throw new RangeError(`maxBytes must be a whole number ≥ 1, got ${o.maxBytes}`);
    if (!(Number.isInteger(this.keep) && this.keep >= 0)) throw new RangeError(`keep must be a whole number ≥ 0, got ${o.keep}`);
    this.onError = o.onError ?? (() => undefined);
    this.maxQueued = o.maxQueuedLines ?? 100_000;
  }

  /** Queues one line (without its newline; one is added). Never throws, never blocks. */
  write(line: string): void {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats.linesDropped++;
      return;
    }
    this.queue.push(line);
    if (!this.scheduled && this.running === null) {
      this.scheduled = true;
      setImmediate(this.kick);
    }
  }

  /** Resolves when every line queued so far is written (or dropped). */
  async flush(): Promise<void> {
    while (this.running !== null || this.queue.length > 0) {
      if (this.running === null) this.kick();
      await this.running;
    }
  }

  /** Writes what is queued, closes the file; later writes are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    const h = this.handle;
    this.handle = null;
    if (h) await h.close().catch(() => undefined);
  }

  private readonly kick = (): void => {
    this.scheduled = false;
    if (this.running !== null || this.queue.length === 0) return;
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.queue.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(this.kick);
      }
    });
  };

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const lines = this.queue;
      this.queue = [];
      // Cut the batch where the file would pass maxBytes: each piece is one write, rotated between.
      let start = 0;
      while (start < lines.length) {
        if (!(await this.ensureOpen())) {
          this.stats.linesDropped += lines.length - start;
          break;
        }
        let bytes = 0;
        let end = start;
        while (end < lines.length) {
          const b = Buffer.byteLength(lines[end], 'utf8') + 1;
          if (this.size + bytes + b > this.maxBytes && (this.size + bytes > 0)) break;
          bytes += b;
          end++;
        }
        if (end === start) {
          // Full: rotate, then the same lines again into the fresh file.
          if (!(await this.rotate())) {
            this.stats.linesDropped += lines.length - start;
            break;
          }
          continue;
        }
        const buf = Buffer.from(lines.slice(start, end).join('\n') + '\n', 'utf8');
        try {
          await (this.handle as fsp.FileHandle).write(buf, 0, buf.length);
          this.size += buf.length;
          this.stats.bytes = this.size;
          this.stats.linesWritten += end - start;
          this.failing = false;
        } catch (err) {
          this.fail(err);
          this.stats.linesDropped += end - start;
          await this.dropHandle();
        }
        start = end;
      }
    }
  }

  private async ensureOpen(): Promise<boolean> {
    if (this.handle) return true;
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      const h = await fsp.open(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
      this.size = (await h.stat()).size;
      this.stats.bytes = this.size;
      this.handle = h;
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  private async rotate(): Promise<boolean> {
    await this.dropHandle();
    try {
      if (this.keep === 0) {
        await fsp.rm(this.file, { force: true });
      } else {
        await fsp.rm(`${this.file}.${this.keep}`, { force: true });
        for (let i = this.keep - 1; i >= 1; i--) await renameIfThere(`${this.file}.${i}`, `${this.file}.${i + 1}`);
        await renameIfThere(this.file, `${this.file}.1`);
      }
      this.stats.rotations++;
      this.size = 0;
      return await this.ensureOpen();
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  private async dropHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (h) await h.close().catch(() => undefined);
  }

  private fail(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    try {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      /* a listener's own failure is not ours to throw */
    }
  }
}

async function renameIfThere(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
