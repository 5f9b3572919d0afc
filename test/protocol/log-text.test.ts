// wireText (runtime/log-text.ts): wire values made safe for one log line; and that no ProtocolError message built from
// a HELLO can carry a line break.

import assert from 'node:assert/strict';
import { wireText } from '../../runtime/log-text';
import { ProtocolError, validateClientHello, validateServerHello, decodeJsonPayload, FrameType } from '../../runtime/protocol/frame';

describe('log-text wireText', () => {
  it('quotes a string and escapes newlines, ESC, quotes, backslashes, U+2028/2029, DEL and C1 controls', () => {
    assert.equal(wireText('alice'), '"alice"');
    assert.equal(wireText('a\n[error] forged'), '"a\\n[error] forged"');
    assert.equal(wireText('\r\t\u001b[31mred'), '"\\r\\t\\u001b[31mred"');
    assert.equal(wireText('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
    assert.equal(wireText('x\u2028y\u2029z'), '"x\\u2028y\\u2029z"');
    assert.equal(wireText('del\u007f c1\u0085'), '"del\\u007f c1\\u0085"');
    assert.equal(wireText('caf\u00e9 \u{1f3b5}'), '"caf\u00e9 \u{1f3b5}"', 'printable non-ASCII stays');
  });

  it('cuts a long string at max characters and says how long it was', () => {
    assert.equal(wireText('x'.repeat(200)), `"${'x'.repeat(80)}"…(200 bytes)`);
    assert.equal(wireText('é'.repeat(10), 4), '"éééé"…(20 bytes)');
    assert.equal(wireText('ab\u{1f3b5}', 3), '"ab"…(6 bytes)', 'never half a surrogate pair');
    const huge = wireText('u'.repeat(900 * 1024));
    assert.ok(huge.length < 120, huge.slice(0, 40));
  });

  it('non-strings: numbers, null, booleans and objects by their JSON, escaped and cut; others by type', () => {
    assert.equal(wireText(42), '42');
    assert.equal(wireText(null), 'null');
    assert.equal(wireText(true), 'true');
    assert.equal(wireText(undefined), 'undefined');
    assert.equal(wireText({ a: 'x\u2028' }), '{"a":"x\\u2028"}');
    assert.equal(wireText([1, 2]), '[1,2]');
    assert.equal(wireText({ k: 'v'.repeat(100) }, 10), '{"k":"vvvv…(108 bytes)');
    assert.equal(wireText(() => 1), 'function');
    assert.equal(wireText(Symbol('s')), 'symbol');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(wireText(cyclic), 'object');
  });

  it('never yields a line break or a control character, whatever the input', () => {
    let all = '';
    for (let c = 0; c < 0x3000; c++) all += String.fromCharCode(c);
    for (let i = 0; i < all.length; i += 50) {
      const out = wireText(all.slice(i, i + 50), 200);
      assert.equal(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(out), false, `chars from ${i}`);
    }
  });
});

describe('protocol ProtocolError messages from wire values', () => {
  const forged = 'a\n[error] forged';

  function messageOf(fn: () => unknown): string {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      return err.message;
    }
    assert.fail('did not throw');
  }

  it('a HELLO with a forged userId, protocol or role cannot put a newline into the message', () => {
    const messages = [
      messageOf(() => validateClientHello({ protocol: 'streamproto1', userId: forged, role: 'peer' })),
      messageOf(() => validateClientHello({ protocol: forged, userId: 'x', role: 'peer' })),
      messageOf(() => validateClientHello({ protocol: 'streamproto1', userId: 'x', role: forged })),
      messageOf(() => validateServerHello({ protocol: forged })),
      messageOf(() => decodeJsonPayload(Buffer.from(`{"userId": "${forged.replace('\n', '\\n')}", \n oops`), FrameType.HELLO)),
    ];
    for (const m of messages) {
      assert.equal(/[\n\r\u2028\u2029]/.test(m), false, m);
      assert.equal(m.includes('forged') && !m.includes('\\n'), false, m);
    }
    assert.equal(messages[0], 'HELLO userId "a\\n[error] forged" contains a control character');
  });

  it('a JSON payload that does not parse is described by length and position, never by its bytes', () => {
    const m = messageOf(() => decodeJsonPayload(Buffer.from('{"token":"hunter2", x}'), FrameType.HELLO));
    assert.equal(m, 'HELLO payload (22 bytes) is not JSON (error at position 20)');
  });
});
