// The stream event log's runtime: the line format (seed 002), connection addresses, and the rotating writer (batches,
// rotation by size, errors said once, whole lines after a SIGKILL).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { formatStreamEvent, parseStreamLogLine, msSinceStart, addressText, formatLeftOut } from '../../runtime/streamlog/format';
import { ConnectionAddresses } from '../../runtime/streamlog/addresses';
import { RotatingLogWriter } from '../../runtime/streamlog/writer';
import type { StreamEvent } from '../../runtime/streamlog/event';
import { tmpDir } from '../support/xcast-process';

const T0 = 1_700_000_000_000;
const ev = (kind: StreamEvent['kind'], over: Partial<StreamEvent> = {}): StreamEvent => ({ kind, userId: 'alice', trackId: 1, connectionId: 'c1', room: 'main', seq: null, count: 0, at: T0 + 12034.7, ...over });

describe('streamlog: the line format', () => {
  it('writes seed 002\'s lines: [ms since start] [address] event', () => {
    const a = '127.0.0.1:51234';
    const lines = [
      formatStreamEvent(ev('new', { seq: 0 }), a, T0),
      formatStreamEvent(ev('repeated', { seq: 17, count: 1 }), a, T0),
      formatStreamEvent(ev('out-of-order', { seq: 39, count: 1 }), a, T0),
      formatStreamEvent(ev('missing', { seq: 40, count: 3 }), a, T0),
      formatStreamEvent(ev('missing', { seq: 44, count: 1 }), a, T0),
      formatStreamEvent(ev('late', { seq: 41, count: 1, filled: true }), a, T0),
      formatStreamEvent(ev('late', { seq: 42, count: 1, filled: false }), a, T0),
      formatStreamEvent(ev('dropped', { timeoutMs: 2000 }), a, T0),
      formatStreamEvent(ev('closed', { room: 'stage' }), '[::1]:7010', T0),
      formatStreamEvent(ev('new', { connectionId: '' }), null, T0),
    ];
    assert.deepEqual(lines, [
      '[12034] [127.0.0.1:51234] new stream "alice"/1',
      '[12034] [127.0.0.1:51234] repeated packet seq 17 ("alice"/1)',
      '[12034] [127.0.0.1:51234] out-of-order packet seq 39 ("alice"/1)',
      '[12034] [127.0.0.1:51234] missing 3 packets from seq 40 ("alice"/1)',
      '[12034] [127.0.0.1:51234] missing 1 packet from seq 44 ("alice"/1)',
      '[12034] [127.0.0.1:51234] late packet seq 41 ("alice"/1), counted missing before',
      '[12034] [127.0.0.1:51234] late packet seq 42 ("alice"/1)',
      '[12034] [127.0.0.1:51234] dropped stream "alice"/1 (nothing for 2000 ms)',
      '[12034] [[::1]:7010] closed stream "alice"/1 in room "stage" (its connection closed)',
      '[12034] [-] new stream "alice"/1',
    ]);
    assert.deepEqual(parseStreamLogLine(lines[8]), { ms: 12034, address: '[::1]:7010', text: 'closed stream "alice"/1 in room "stage" (its connection closed)' });
    assert.equal(formatLeftOut(5, T0 + 1, T0), '[1] [-] 5 stream events left out (more than the mix sends in one tick)');
  });

  it('a userId or address off the wire cannot break or forge a line', () => {
    const line = formatStreamEvent(ev('new', { userId: 'x\n[0] [1.2.3.4:5] new stream "mallory"/1\u2028' }), 'evil] [x\r', T0);
    assert.ok(!/[\n\r\u2028\u2029]/.test(line), line);
    assert.equal(line, '[12034] ["evil] [x\\r"] new stream "x\\n[0] [1.2.3.4:5] new stream \\"mallory\\"/1\\u2028"/1');
    assert.equal(addressText(''), '-');
  });

  it('counts ms from the process\'s start, never below 0', () => {
    assert.equal(msSinceStart(T0 - 5, T0), 0);
    const now = msSinceStart(Date.now());
    assert.ok(now > 0 && now < process.uptime() * 1000 + 1000, `${now} vs uptime ${process.uptime()}`);
  });
});

describe('streamlog: connection addresses', () => {
  it('maps connectionId to the remote of its open event, keeps it past the close, else the id, else -', () => {
    const a = new ConnectionAddresses(4, 2);
    a.onConnectionEvent({ event: 'open', connectionId: 'c1', remote: '10.0.0.1:1000' });
    a.onConnectionEvent({ event: 'open', connectionId: 'c2', remote: '10.0.0.2:2000' });
    a.onConnectionEvent({ event: 'bogus' });
    a.onConnectionEvent(null);
    assert.equal(a.addressOf('c1'), '10.0.0.1:1000');
    a.onConnectionEvent({ event: 'close', connectionId: 'c1' });
    assert.equal(a.addressOf('c1'), '10.0.0.1:1000', 'still known after its close');
    assert.equal(a.addressOf('c9'), 'c9');
    assert.equal(a.addressOf(''), '-');
    for (const id of ['c3', 'c4', 'c5']) { a.onConnectionEvent({ event: 'open', connectionId: id, remote: `r-${id}` }); a.onConnectionEvent({ event: 'close', connectionId: id }); }
    assert.equal(a.addressOf('c1'), 'c1', 'the oldest closed one forgotten past keepClosed');
    assert.equal(a.addressOf('c5'), 'r-c5');
    assert.ok(a.size <= 6);
  });
});

describe('streamlog: the rotating writer', () => {
  it('appends lines in batches and rotates by size: file, file.1 … file.K, never a line split', async () => {
    const dir = tmpDir('xcast-streamlog-');
    const file = path.join(dir, 'stream.log');
    fs.writeFileSync(file, 'old line\n');
    const w = new RotatingLogWriter({ file, maxBytes: 200, keep: 2 });
    const lines = Array.from({ length: 40 }, (_, i) => `[${i}] [-] line number ${String(i).padStart(3, '0')}`);
    for (const l of lines) w.write(l);
    assert.equal(fs.readFileSync(file, 'utf8'), 'old line\n', 'nothing written synchronously');
    await w.flush();
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ['stream.log', 'stream.log.1', 'stream.log.2']);
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      assert.ok(Buffer.byteLength(text) <= 200, `${f}: ${Buffer.byteLength(text)} bytes`);
      assert.ok(text.endsWith('\n'));
    }
    // The newest lines: file.2 then file.1 then file, in order, each whole.
    const kept = ['stream.log.2', 'stream.log.1', 'stream.log'].flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n'));
    assert.deepEqual(kept, lines.slice(lines.length - kept.length));
    assert.ok(w.stats.rotations >= 3);
    assert.equal(w.stats.linesWritten, 40);
    await w.close();
    w.write('after close');
    assert.equal(w.stats.linesDropped, 1);
  });

  it('keep 0: the file starts afresh; a line longer than maxBytes gets a file to itself', async () => {
    const dir = tmpDir('xcast-streamlog-');
    const file = path.join(dir, 'a.log');
    const w = new RotatingLogWriter({ file, maxBytes: 20, keep: 0 });
    w.write('x'.repeat(50));
    await w.flush();
    assert.equal(fs.readFileSync(file, 'utf8'), `${'x'.repeat(50)}\n`);
    w.write('short');
    await w.flush();
    assert.equal(fs.readFileSync(file, 'utf8'), 'short\n');
    assert.deepEqual(fs.readdirSync(dir), ['a.log']);
    await w.close();
  });

  it('a failing file is told once, never thrown; lines are counted dropped; it writes again once it can', async () => {
    const dir = tmpDir('xcast-streamlog-');
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, '');
    const file = path.join(blocker, 'stream.log');
    const errors: Error[] = [];
    const w = new RotatingLogWriter({ file, onError: (e) => errors.push(e) });
    for (let i = 0; i < 3; i++) { w.write(`line ${i}`); await w.flush(); }
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
    assert.match(errors[0].message, /ENOTDIR|EEXIST/);
    assert.equal(w.stats.linesDropped, 3);
    fs.rmSync(blocker);
    w.write('line 3');
    await w.flush();
    assert.equal(fs.readFileSync(file, 'utf8'), 'line 3\n');
    await w.close();
  });

  it('after a SIGKILL mid-stream the file holds whole lines, only the last possibly cut', async function () {
    this.timeout(45000);
    const dir = tmpDir('xcast-streamlog-');
    const file = path.join(dir, 'kill.log');
    const writer = require.resolve('../../runtime/streamlog/writer');
    const script = `
      const { RotatingLogWriter } = require(${JSON.stringify(writer)});
      const w = new RotatingLogWriter({ file: ${JSON.stringify(file)}, maxBytes: 1 << 16, keep: 3 });
      let i = 0;
      const more = () => { for (let k = 0; k < 200; k++, i++) w.write('[' + i + '] [127.0.0.1:5000] missing 3 packets from seq ' + i + ' ("alice"/1) ' + 'x'.repeat(i % 50)); setImmediate(more); };
      more();`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    // A bound, not a wait: the child starts Node and writes; on a loaded CI machine that took over 10 s once.
    const deadline = Date.now() + 30000;
    while (!(fs.existsSync(`${file}.2`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(fs.existsSync(`${file}.2`), 'it rotated twice before the kill');
    const re = /^\[(\d+)\] \[127\.0\.0\.1:5000\] missing 3 packets from seq (\d+) \("alice"\/1\) x*$/;
    let prev = -1;
    for (const f of [`${file}.3`, `${file}.2`, `${file}.1`, file]) {
      if (!fs.existsSync(f)) continue;
      const text = fs.readFileSync(f, 'utf8');
      const lines = text.split('\n');
      const last = lines.pop()!;
      for (const l of lines) {
        const m = re.exec(l);
        assert.ok(m && m[1] === m[2] && l.length - l.indexOf(')') - 2 === Number(m[1]) % 50, `not a whole line in ${path.basename(f)}: ${l.slice(0, 120)}`);
        assert.ok(prev === -1 || Number(m[1]) === prev + 1, `lines in order: ${prev} then ${m[1]}`);
        prev = Number(m[1]);
      }
      if (f !== file) assert.equal(last, '', `${path.basename(f)} ends with a whole line`);
    }
    assert.ok(prev > 1000, `wrote ${prev} lines`);
  });
});
