// Message ids for per-packet messages: as unique as Node-RED's own, for one string instead of its ~20 short-lived ones.
//
// Node-RED gives a message without `_msgid` a fresh id in send() (RED.util.generateId: eight random bytes, each
// turned into a hex string, pushed to an array and joined). On the xcast that runs for every received packet; this
// id is a random 32-bit prefix (drawn again when the counter wraps) and a counter, 16 hex digits like Node-RED's.

let prefix = '';
let counter = 0x100000000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** A 16-hex-digit id, unique within this process and random across processes. */
export function nextMsgId(): string {
  if (counter >= 0x100000000) {
    prefix = hex8(Math.floor(Math.random() * 0x100000000));
    counter = 0;
  }
  return prefix + hex8(counter++);
}
